// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {Ownable, Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

/// @title SettlementToken
/// @notice A USDT-like stablecoin for the devnet: 6 decimals, issuer-only issue and redeem,
///         pause, blacklist with destroy-black-funds, and EIP-2612 permit so brokers can
///         authorise escrow locks without handing over a key.
/// @dev The owner is the issuer. Ownership moves in two steps so a typo cannot lose the issuer.
contract SettlementToken is ERC20, ERC20Permit, Ownable2Step, Pausable {
    mapping(address account => bool) public isBlackListed;

    event Issue(address indexed to, uint256 amount);
    event Redeem(uint256 amount);
    event AddedBlackList(address indexed account);
    event RemovedBlackList(address indexed account);
    event DestroyedBlackFunds(address indexed account, uint256 amount);

    error Blacklisted(address account);
    error NotBlacklisted(address account);
    error ZeroAmount();

    constructor(string memory name_, string memory symbol_, address issuer)
        ERC20(name_, symbol_)
        ERC20Permit(name_)
        Ownable(issuer)
    {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice Mint new coins to `to` (the issuer's "issue", backed off chain by reserves).
    function issue(address to, uint256 amount) external onlyOwner {
        if (amount == 0) revert ZeroAmount();
        _mint(to, amount);
        emit Issue(to, amount);
    }

    /// @notice Burn coins from the issuer's own balance (redemption for fiat off chain).
    function redeem(uint256 amount) external onlyOwner {
        if (amount == 0) revert ZeroAmount();
        _burn(msg.sender, amount);
        emit Redeem(amount);
    }

    function pause() external onlyOwner {
        _pause();
    }

    function unpause() external onlyOwner {
        _unpause();
    }

    function addBlackList(address account) external onlyOwner {
        isBlackListed[account] = true;
        emit AddedBlackList(account);
    }

    function removeBlackList(address account) external onlyOwner {
        isBlackListed[account] = false;
        emit RemovedBlackList(account);
    }

    /// @notice Burn the whole balance of a blacklisted account (a regulator's seizure order).
    function destroyBlackFunds(address account) external onlyOwner {
        if (!isBlackListed[account]) revert NotBlacklisted(account);
        uint256 amount = balanceOf(account);
        // Bypass the blacklist check in _update: burning is the one movement allowed.
        super._update(account, address(0), amount);
        emit DestroyedBlackFunds(account, amount);
    }

    /// @dev Every balance movement passes here: pause stops all of them, and a blacklisted
    ///      address can neither send nor receive. Mint and burn by the issuer are checked too.
    function _update(address from, address to, uint256 value) internal override whenNotPaused {
        if (isBlackListed[from]) revert Blacklisted(from);
        if (isBlackListed[to]) revert Blacklisted(to);
        super._update(from, to, value);
    }
}
