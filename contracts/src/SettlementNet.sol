// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {IBlacklistable} from "./SettlementEscrow.sol";

/// @title SettlementNet
/// @notice Net settlement: each broker pre-funds a settlement balance here, and the settlement
///         engine settles a whole window of trades in one call that applies every broker's net
///         position at once, all or nothing, and records the Merkle root of the window's trades.
/// @dev Design choices, each tested:
///      - Liquidity. `deposit` moves coins from the broker's wallet into its settlement balance
///        (the lock); `withdraw` moves them back to the broker's own wallet (the release). The
///        balance is the hard net debit cap: no window can take a balance below zero. Lower caps
///        and the reservation of balance for an open window are the service's job, off chain; a
///        broker that withdraws during an open window makes that window revert with
///        InsufficientSettlementBalance naming it, and the engine settles the rest without it.
///      - Membership. Only participants admitted by OPERATOR_ROLE may deposit or appear in a
///        window. A stolen agent key can then only reshuffle balances between admitted brokers
///        (each window's trades are public through its root), never credit an outsider.
///      - One window, one call, all or nothing. `settleWindow` reverts with a custom error that
///        names the first participant that cannot settle (not admitted, blacklisted by the
///        token, position beyond its balance), so the engine can drop that participant's trades,
///        recompute the positions and resubmit (CLS-style). Participants are passed in strictly
///        ascending address order (one comparison per entry rules out duplicates).
///      - Window ids are each settled at most once (WindowAlreadySettled); they need not be
///        consecutive, so a window the engine abandons leaves a gap, not a block.
///      - Trades root. leaf = keccak256(bytes.concat(keccak256(abi.encode(bytes32 tradeId,
///        address payer, address payee, uint256 amount)))) — OpenZeppelin's double-hashed leaf
///        (as in the OpenZeppelin merkle-tree package, StandardMerkleTree). An inner node is
///        keccak256(min(a, b) ‖ max(a, b)) over the two 32-byte children compared as unsigned
///        integers (commutative, so a proof needs no left/right flags); a one-trade window's
///        root is its leaf. `verifyTrade` checks a proof against the stored root with
///        OpenZeppelin's MerkleProof, so anyone can check a trade with only this address.
///      - Pause stops deposits and settlement, not withdrawals: the pauser can halt the engine
///        during an incident but can never trap a broker's own balance.
///      - Fee-on-transfer tokens are rejected (TransferShortfall), so Σ balances is always
///        exactly what the contract holds, plus whatever was sent here directly by mistake,
///        which RESCUER_ROLE may send out (never more than that surplus).
///      - Least privilege. DEFAULT_ADMIN_ROLE grants roles and moves no coins itself (it could
///        grant itself the agent role, visible on chain as RoleGranted); the admin also starts
///        with PAUSER_ROLE, RESCUER_ROLE and OPERATOR_ROLE and may hand them to other keys.
///        SETTLEMENT_AGENT_ROLE only settles windows: it can move balances between admitted
///        participants, which is what settlement is, and nothing else. Only a broker can
///        withdraw its balance, and only to its own address.
contract SettlementNet is AccessControl, Pausable, ReentrancyGuard {
    using SafeERC20 for IERC20;

    bytes32 public constant SETTLEMENT_AGENT_ROLE = keccak256("SETTLEMENT_AGENT_ROLE");
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    bytes32 public constant RESCUER_ROLE = keccak256("RESCUER_ROLE");
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");

    /// @notice Most participants one window may have (bounds the call's gas).
    uint256 public constant MAX_PARTICIPANTS = 256;
    /// @notice Largest |net position| accepted: far beyond any real supply, and small enough that
    ///         a window's sum can never overflow.
    int256 public constant MAX_ABS_POSITION = int256(uint256(type(uint128).max));

    struct Window {
        bytes32 tradesRoot;
        uint64 settledAt; // block timestamp; 0: not settled
        uint64 blockNumber;
        uint32 tradeCount;
        uint32 participantCount;
    }

    IERC20 public immutable token;
    /// @notice Σ of all settlement balances: what the contract owes its participants.
    uint256 public totalBalances;
    /// @notice Number of windows settled so far.
    uint256 public windowsSettled;
    mapping(address participant => bool) public isParticipant;
    mapping(address participant => uint256) private _balances;
    mapping(uint64 windowId => Window) private _windows;

    event ParticipantAdmitted(address indexed participant);
    event ParticipantRemoved(address indexed participant);
    event Deposited(address indexed participant, uint256 amount, uint256 balanceAfter);
    event Withdrawn(address indexed participant, uint256 amount, uint256 balanceAfter);
    event NetPositionApplied(
        uint64 indexed windowId, address indexed participant, int256 position, uint256 balanceAfter
    );
    event WindowSettled(uint64 indexed windowId, bytes32 tradesRoot, uint32 tradeCount, uint32 participantCount);
    event Rescued(address indexed token, address indexed to, uint256 amount);

    error ZeroAddress();
    error ZeroAmount();
    error NotAParticipant(address account);
    error AlreadyParticipant(address account);
    error ParticipantBlacklisted(address participant);
    error TransferShortfall(uint256 expected, uint256 received);
    error WithdrawalExceedsBalance(address participant, uint256 balance, uint256 amount);
    error WindowAlreadySettled(uint64 windowId);
    error EmptyWindow();
    error ZeroTradesRoot();
    error LengthMismatch(uint256 participants, uint256 positions);
    error TooManyParticipants(uint256 count, uint256 max);
    error DuplicateParticipant(address participant);
    error ParticipantsNotAscending(uint256 index, address participant);
    error PositionOutOfRange(address participant, int256 position);
    error InsufficientSettlementBalance(address participant, uint256 balance, int256 position);
    error PositionsDoNotSumToZero(int256 sum);
    error InvalidRecipient(address to);
    error RescueExceedsSurplus(uint256 amount, uint256 surplus);

    constructor(IERC20 token_, address admin, address agent) {
        if (address(token_) == address(0) || admin == address(0) || agent == address(0)) revert ZeroAddress();
        token = token_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
        _grantRole(RESCUER_ROLE, admin);
        _grantRole(OPERATOR_ROLE, admin);
        _grantRole(SETTLEMENT_AGENT_ROLE, agent);
    }

    // ---------------------------------------------------------------- membership

    function admitParticipant(address account) external onlyRole(OPERATOR_ROLE) {
        if (account == address(0) || account == address(this)) revert InvalidRecipient(account);
        if (isParticipant[account]) revert AlreadyParticipant(account);
        isParticipant[account] = true;
        emit ParticipantAdmitted(account);
    }

    /// @notice Stop `account` from depositing and settling. Its balance stays its own and can
    ///         still be withdrawn.
    function removeParticipant(address account) external onlyRole(OPERATOR_ROLE) {
        if (!isParticipant[account]) revert NotAParticipant(account);
        isParticipant[account] = false;
        emit ParticipantRemoved(account);
    }

    // ---------------------------------------------------------------- liquidity

    /// @notice Move `amount` from the caller's wallet (by allowance) into its settlement balance.
    function deposit(uint256 amount) external whenNotPaused nonReentrant {
        _deposit(amount);
    }

    /// @notice Same as deposit, with the caller's EIP-2612 permit so no prior approve is needed.
    /// @dev A failing permit (for example, front-run and already used) is ignored when the
    ///      allowance is already enough; otherwise transferFrom reverts for lack of allowance.
    function depositWithPermit(uint256 amount, uint256 permitDeadline, uint8 v, bytes32 r, bytes32 s)
        external
        whenNotPaused
        nonReentrant
    {
        try IERC20Permit(address(token)).permit(msg.sender, address(this), amount, permitDeadline, v, r, s) {} catch {}
        _deposit(amount);
    }

    /// @notice Move `amount` of the caller's settlement balance back to the caller's wallet.
    ///         Works while paused and after removal from membership.
    function withdraw(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        uint256 balance = _balances[msg.sender];
        if (amount > balance) revert WithdrawalExceedsBalance(msg.sender, balance, amount);
        unchecked {
            _balances[msg.sender] = balance - amount;
            totalBalances -= amount; // totalBalances >= balance >= amount
        }
        token.safeTransfer(msg.sender, amount);
        emit Withdrawn(msg.sender, amount, balance - amount);
    }

    // ---------------------------------------------------------------- settlement

    /// @notice Settle window `windowId`: apply `netPositions[i]` to `participants[i]`'s balance
    ///         (positive: receives, negative: pays), all or nothing, and record the window.
    /// @param participants Strictly ascending addresses, each an admitted participant the token
    ///        has not blacklisted; at most MAX_PARTICIPANTS.
    /// @param netPositions Same length; must sum to zero; no balance may go below zero.
    /// @param tradesRoot Merkle root of the window's trades (leaf and node rules: contract NatSpec).
    /// @param tradeCount Number of trades (leaves) under `tradesRoot`; at least one.
    function settleWindow(
        uint64 windowId,
        address[] calldata participants,
        int256[] calldata netPositions,
        bytes32 tradesRoot,
        uint32 tradeCount
    ) external whenNotPaused onlyRole(SETTLEMENT_AGENT_ROLE) {
        if (_windows[windowId].settledAt != 0) revert WindowAlreadySettled(windowId);
        uint256 count = participants.length;
        if (count != netPositions.length) revert LengthMismatch(count, netPositions.length);
        if (count == 0 || tradeCount == 0) revert EmptyWindow();
        if (count > MAX_PARTICIPANTS) revert TooManyParticipants(count, MAX_PARTICIPANTS);
        if (tradesRoot == bytes32(0)) revert ZeroTradesRoot();

        int256 sum = 0;
        address previous = address(0);
        for (uint256 i = 0; i < count; i++) {
            address participant = participants[i];
            int256 position = netPositions[i];
            if (i > 0 && participant <= previous) {
                if (participant == previous) revert DuplicateParticipant(participant);
                revert ParticipantsNotAscending(i, participant);
            }
            previous = participant;
            if (!isParticipant[participant]) revert NotAParticipant(participant);
            if (_isBlacklisted(participant)) revert ParticipantBlacklisted(participant);
            if (position > MAX_ABS_POSITION || position < -MAX_ABS_POSITION) {
                revert PositionOutOfRange(participant, position);
            }
            sum += position; // cannot overflow: |position| < 2^128, count <= 256

            uint256 balance = _balances[participant];
            if (position < 0) {
                uint256 debit = uint256(-position);
                if (debit > balance) revert InsufficientSettlementBalance(participant, balance, position);
                unchecked {
                    balance -= debit;
                }
            } else {
                balance += uint256(position);
            }
            _balances[participant] = balance;
            emit NetPositionApplied(windowId, participant, position, balance);
        }
        // Credits equal debits, so totalBalances is unchanged.
        if (sum != 0) revert PositionsDoNotSumToZero(sum);

        _windows[windowId] = Window({
            tradesRoot: tradesRoot,
            settledAt: uint64(block.timestamp),
            blockNumber: uint64(block.number),
            tradeCount: tradeCount,
            participantCount: uint32(count)
        });
        windowsSettled += 1;
        emit WindowSettled(windowId, tradesRoot, tradeCount, uint32(count));
    }

    // ---------------------------------------------------------------- admin

    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    /// @notice Send out tokens sent here directly by mistake. Of the settlement token, only the
    ///         surplus over the settlement balances (`balanceOf(this) - totalBalances`).
    function rescueERC20(IERC20 token_, address to, uint256 amount) external nonReentrant onlyRole(RESCUER_ROLE) {
        if (to == address(0) || to == address(this)) revert InvalidRecipient(to);
        if (address(token_) == address(token)) {
            uint256 surplus = surplusOf();
            if (amount > surplus) revert RescueExceedsSurplus(amount, surplus);
        }
        token_.safeTransfer(to, amount);
        emit Rescued(address(token_), to, amount);
    }

    // ---------------------------------------------------------------- views

    /// @notice `participant`'s settlement balance (not an ERC-20 balance: it cannot be transferred).
    function balanceOf(address participant) external view returns (uint256) {
        return _balances[participant];
    }

    /// @notice What a settled window recorded; all zero for a window not settled.
    function getWindow(uint64 windowId) external view returns (Window memory) {
        return _windows[windowId];
    }

    function isWindowSettled(uint64 windowId) external view returns (bool) {
        return _windows[windowId].settledAt != 0;
    }

    /// @notice The settlement token held here beyond the settlement balances.
    function surplusOf() public view returns (uint256) {
        uint256 held = token.balanceOf(address(this));
        return held > totalBalances ? held - totalBalances : 0;
    }

    /// @notice The Merkle leaf of one trade, exactly as the trades root commits to it.
    function tradeLeaf(bytes32 tradeId, address payer, address payee, uint256 amount) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(tradeId, payer, payee, amount))));
    }

    /// @notice Whether the trade (tradeId, payer, payee, amount) is in settled window
    ///         `windowId`, given its Merkle `proof` (sibling hashes from leaf to root). False for
    ///         a window not settled.
    function verifyTrade(
        uint64 windowId,
        bytes32 tradeId,
        address payer,
        address payee,
        uint256 amount,
        bytes32[] calldata proof
    ) external view returns (bool) {
        bytes32 root = _windows[windowId].tradesRoot;
        if (root == bytes32(0)) return false;
        return MerkleProof.verifyCalldata(proof, root, tradeLeaf(tradeId, payer, payee, amount));
    }

    // ---------------------------------------------------------------- internals

    function _deposit(uint256 amount) private {
        if (amount == 0) revert ZeroAmount();
        if (!isParticipant[msg.sender]) revert NotAParticipant(msg.sender);
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = token.balanceOf(address(this)) - before;
        if (received != amount) revert TransferShortfall(amount, received);
        uint256 balance = _balances[msg.sender] + amount;
        _balances[msg.sender] = balance;
        totalBalances += amount;
        emit Deposited(msg.sender, amount, balance);
    }

    /// @dev False for a token without `isBlackListed` (the call reverts, returns nothing or
    ///      anything but `true`), as in SettlementEscrow.
    function _isBlacklisted(address account) private view returns (bool) {
        (bool ok, bytes memory data) =
            address(token).staticcall(abi.encodeCall(IBlacklistable.isBlackListed, (account)));
        return ok && data.length >= 32 && abi.decode(data, (uint256)) == 1;
    }
}
