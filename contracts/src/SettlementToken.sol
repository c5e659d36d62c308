// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {Ownable, Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

/// @title SettlementToken
/// @notice A USDT/USDC-like stablecoin for the devnet: 6 decimals, minter-only issue and redeem,
///         pause, blacklist with destroy-black-funds, rescue of tokens sent here by mistake, and
///         EIP-2612 permit.
/// @dev Least privilege, modelled on Circle's FiatToken role split. Each power has its own key:
///      - owner (two-step transfer, can never be renounced): appoints the masterMinter, pauser,
///        blacklister and rescuer, and nothing else. It cannot mint, pause or freeze by itself
///        (though it can appoint itself to a role, which is visible on chain as an event).
///      - masterMinter: configures minters and their allowances, removes minters.
///      - minter: `issue` up to its remaining allowance (each issue consumes it), `redeem` burns
///        from its own balance only.
///      - pauser: pause / unpause every balance movement.
///      - blacklister: freeze / unfreeze accounts and burn a frozen account's balance.
///      - rescuer: send out other ERC-20 tokens (or this one) that were sent to this contract.
///      A stolen minter key is bounded by its allowance; a stolen pauser or blacklister key can
///      stop transfers but not move coins; only the owner key can re-appoint the others.
contract SettlementToken is ERC20, ERC20Permit, Ownable2Step, Pausable {
    using SafeERC20 for IERC20;

    address public masterMinter;
    address public pauser;
    address public blacklister;
    address public rescuer;

    mapping(address account => bool) public isBlackListed;
    mapping(address account => bool) public isMinter;
    mapping(address minter => uint256) public minterAllowance;

    event Issue(address indexed to, uint256 amount);
    event Redeem(uint256 amount);
    event AddedBlackList(address indexed account);
    event RemovedBlackList(address indexed account);
    event DestroyedBlackFunds(address indexed account, uint256 amount);
    event MasterMinterChanged(address indexed newMasterMinter);
    event PauserChanged(address indexed newPauser);
    event BlacklisterChanged(address indexed newBlacklister);
    event RescuerChanged(address indexed newRescuer);
    event MinterConfigured(address indexed minter, uint256 minterAllowedAmount);
    event MinterRemoved(address indexed oldMinter);
    event Rescued(address indexed token, address indexed to, uint256 amount);

    error Blacklisted(address account);
    error NotBlacklisted(address account);
    error ZeroAmount();
    error ZeroAddress();
    error NotMasterMinter(address caller);
    error NotMinter(address caller);
    error NotPauser(address caller);
    error NotBlacklister(address caller);
    error NotRescuer(address caller);
    error MinterAllowanceExceeded(address minter, uint256 allowance, uint256 amount);
    error OwnershipCannotBeRenounced();

    modifier onlyMasterMinter() {
        if (msg.sender != masterMinter) revert NotMasterMinter(msg.sender);
        _;
    }

    modifier onlyMinter() {
        if (!isMinter[msg.sender]) revert NotMinter(msg.sender);
        _;
    }

    modifier onlyPauser() {
        if (msg.sender != pauser) revert NotPauser(msg.sender);
        _;
    }

    modifier onlyBlacklister() {
        if (msg.sender != blacklister) revert NotBlacklister(msg.sender);
        _;
    }

    modifier onlyRescuer() {
        if (msg.sender != rescuer) revert NotRescuer(msg.sender);
        _;
    }

    /// @dev Every role is named at deployment (none defaults to the owner), and no minter exists
    ///      until the masterMinter configures one.
    constructor(
        string memory name_,
        string memory symbol_,
        address owner_,
        address masterMinter_,
        address pauser_,
        address blacklister_,
        address rescuer_
    ) ERC20(name_, symbol_) ERC20Permit(name_) Ownable(owner_) {
        _setMasterMinter(masterMinter_);
        _setPauser(pauser_);
        _setBlacklister(blacklister_);
        _setRescuer(rescuer_);
    }

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    // ---------------------------------------------------------------- owner: appoint roles

    function updateMasterMinter(address newMasterMinter) external onlyOwner {
        _setMasterMinter(newMasterMinter);
    }

    function updatePauser(address newPauser) external onlyOwner {
        _setPauser(newPauser);
    }

    function updateBlacklister(address newBlacklister) external onlyOwner {
        _setBlacklister(newBlacklister);
    }

    function updateRescuer(address newRescuer) external onlyOwner {
        _setRescuer(newRescuer);
    }

    /// @notice Disabled: an ownerless token could never re-appoint a lost or compromised role.
    function renounceOwnership() public view override onlyOwner {
        revert OwnershipCannotBeRenounced();
    }

    // ---------------------------------------------------------------- masterMinter: minters

    /// @notice Make `minter` a minter that may issue up to `allowance` more coins (replaces any
    ///         previous allowance; it is not added to it).
    function configureMinter(address minter, uint256 allowance) external onlyMasterMinter {
        if (minter == address(0)) revert ZeroAddress();
        isMinter[minter] = true;
        minterAllowance[minter] = allowance;
        emit MinterConfigured(minter, allowance);
    }

    function removeMinter(address minter) external onlyMasterMinter {
        if (!isMinter[minter]) revert NotMinter(minter);
        isMinter[minter] = false;
        minterAllowance[minter] = 0;
        emit MinterRemoved(minter);
    }

    // ---------------------------------------------------------------- minter: issue / redeem

    /// @notice Mint new coins to `to` (backed off chain by reserves), within the caller's
    ///         remaining minter allowance, which this consumes.
    function issue(address to, uint256 amount) external onlyMinter {
        if (amount == 0) revert ZeroAmount();
        if (isBlackListed[msg.sender]) revert Blacklisted(msg.sender);
        uint256 allowance = minterAllowance[msg.sender];
        if (amount > allowance) revert MinterAllowanceExceeded(msg.sender, allowance, amount);
        minterAllowance[msg.sender] = allowance - amount;
        _mint(to, amount);
        emit Issue(to, amount);
    }

    /// @notice Burn coins from the minter's own balance (redemption for fiat off chain). It does
    ///         not restore minter allowance: only the masterMinter grants allowance.
    function redeem(uint256 amount) external onlyMinter {
        if (amount == 0) revert ZeroAmount();
        _burn(msg.sender, amount);
        emit Redeem(amount);
    }

    // ---------------------------------------------------------------- pauser

    function pause() external onlyPauser {
        _pause();
    }

    function unpause() external onlyPauser {
        _unpause();
    }

    // ---------------------------------------------------------------- blacklister

    function addBlackList(address account) external onlyBlacklister {
        isBlackListed[account] = true;
        emit AddedBlackList(account);
    }

    function removeBlackList(address account) external onlyBlacklister {
        isBlackListed[account] = false;
        emit RemovedBlackList(account);
    }

    /// @notice Burn the whole balance of a blacklisted account (a regulator's seizure order).
    function destroyBlackFunds(address account) external onlyBlacklister {
        if (!isBlackListed[account]) revert NotBlacklisted(account);
        uint256 amount = balanceOf(account);
        // Bypass the blacklist check in _update: burning is the one movement allowed.
        super._update(account, address(0), amount);
        emit DestroyedBlackFunds(account, amount);
    }

    // ---------------------------------------------------------------- rescuer

    /// @notice Send out `amount` of `token` held by this contract (sent here by mistake).
    /// @dev For this token itself the ordinary transfer rules apply (pause, blacklist).
    function rescueERC20(IERC20 token, address to, uint256 amount) external onlyRescuer {
        if (to == address(0)) revert ZeroAddress();
        token.safeTransfer(to, amount);
        emit Rescued(address(token), to, amount);
    }

    // ---------------------------------------------------------------- internals

    function _setMasterMinter(address account) private {
        if (account == address(0)) revert ZeroAddress();
        masterMinter = account;
        emit MasterMinterChanged(account);
    }

    function _setPauser(address account) private {
        if (account == address(0)) revert ZeroAddress();
        pauser = account;
        emit PauserChanged(account);
    }

    function _setBlacklister(address account) private {
        if (account == address(0)) revert ZeroAddress();
        blacklister = account;
        emit BlacklisterChanged(account);
    }

    function _setRescuer(address account) private {
        if (account == address(0)) revert ZeroAddress();
        rescuer = account;
        emit RescuerChanged(account);
    }

    /// @dev Every balance movement passes here: pause stops all of them, and a blacklisted
    ///      address can neither send nor receive. Mint and burn by a minter are checked too.
    function _update(address from, address to, uint256 value) internal override whenNotPaused {
        if (isBlackListed[from]) revert Blacklisted(from);
        if (isBlackListed[to]) revert Blacklisted(to);
        super._update(from, to, value);
    }
}
