// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

/// @title SettlementEscrow
/// @notice Holds a payer's coins for one trade until delivery is confirmed (release to the
///         payee) or the trade is cancelled / expires (refund to the payer).
/// @dev Design choices, each tested:
///      - A tradeId is locked once, ever. Released or refunded ids stay burnt, so a replayed
///        lock, release or refund reverts.
///      - Tokens that return nothing from transfer/approve (USDT) work through SafeERC20.
///      - Fee-on-transfer tokens are REJECTED: lock measures what actually arrived and reverts
///        with TransferShortfall if it is less than `amount`. The escrow therefore always holds
///        exactly the sum of open locks, and the ledger never has to guess at a fee.
///      - Batch calls are all-or-nothing: one bad item reverts the batch, and the caller
///        falls back to single calls. That keeps every event paired with a state change.
///      - release is allowed only up to the deadline; after it the trade can only be refunded,
///        and then by anyone, so a payer is never stuck if the agent disappears.
///      - pause is an emergency stop for every movement, refunds included: while paused, the
///        pauser role can hold locked coins. That power sits with the admin on purpose.
contract SettlementEscrow is AccessControl, Pausable, ReentrancyGuard {
    using SafeERC20 for IERC20;

    bytes32 public constant SETTLEMENT_AGENT_ROLE = keccak256("SETTLEMENT_AGENT_ROLE");
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    uint256 public constant MAX_BATCH = 100;

    enum Status {
        None,
        Locked,
        Released,
        Refunded
    }

    struct Lock {
        address payer;
        uint64 deadline;
        Status status;
        address payee;
        uint256 amount;
    }

    struct LockRequest {
        bytes32 tradeId;
        address payer;
        address payee;
        uint256 amount;
        uint64 deadline;
    }

    IERC20 public immutable token;
    uint256 public totalLocked;
    mapping(bytes32 tradeId => Lock) private _locks;

    event Locked(
        bytes32 indexed tradeId, address indexed payer, address indexed payee, uint256 amount, uint64 deadline
    );
    event Released(bytes32 indexed tradeId, address indexed payee, uint256 amount);
    event Refunded(bytes32 indexed tradeId, address indexed payer, uint256 amount, address by);

    error AlreadyLocked(bytes32 tradeId);
    error NotLocked(bytes32 tradeId);
    error DeadlineNotReached(bytes32 tradeId, uint64 deadline);
    error DeadlinePassed(bytes32 tradeId, uint64 deadline);
    error InvalidDeadline(uint64 deadline);
    error InvalidParty(address party);
    error ZeroAmount();
    error NotAuthorized(address caller);
    error TransferShortfall(uint256 expected, uint256 received);
    error BatchTooLarge(uint256 size, uint256 max);
    error EmptyBatch();

    constructor(IERC20 token_, address admin, address agent) {
        token = token_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
        _grantRole(SETTLEMENT_AGENT_ROLE, agent);
    }

    // ---------------------------------------------------------------- lock

    /// @notice Pull `amount` from `payer` (by allowance) into escrow for `tradeId`.
    /// @dev The payer may lock its own coins; only the agent may lock on a payer's behalf.
    function lock(bytes32 tradeId, address payer, address payee, uint256 amount, uint64 deadline)
        external
        whenNotPaused
        nonReentrant
    {
        _lock(LockRequest(tradeId, payer, payee, amount, deadline));
    }

    /// @notice Same as lock, authorised by the payer's EIP-2612 permit in the same call, so the
    ///         service never needs the payer's key.
    /// @dev A permit that fails (for example, front-run and already used) is ignored when the
    ///      allowance is already enough; otherwise transferFrom reverts for lack of allowance.
    function lockWithPermit(
        LockRequest calldata request,
        uint256 permitValue,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external whenNotPaused nonReentrant {
        try IERC20Permit(address(token)).permit(
            request.payer, address(this), permitValue, permitDeadline, v, r, s
        ) {} catch {}
        _lock(request);
    }

    function lockBatch(LockRequest[] calldata requests) external whenNotPaused nonReentrant {
        _checkBatch(requests.length);
        for (uint256 i = 0; i < requests.length; i++) {
            _lock(requests[i]);
        }
    }

    // ---------------------------------------------------------------- release

    /// @notice Pay the locked coins to the payee: delivery has been confirmed.
    function release(bytes32 tradeId) external whenNotPaused nonReentrant onlyRole(SETTLEMENT_AGENT_ROLE) {
        _release(tradeId);
    }

    function releaseBatch(bytes32[] calldata tradeIds)
        external
        whenNotPaused
        nonReentrant
        onlyRole(SETTLEMENT_AGENT_ROLE)
    {
        _checkBatch(tradeIds.length);
        for (uint256 i = 0; i < tradeIds.length; i++) {
            _release(tradeIds[i]);
        }
    }

    // ---------------------------------------------------------------- refund

    /// @notice Return the locked coins to the payer. The agent may refund at any time before
    ///         release (a cancel); anyone may refund once the deadline has passed.
    function refund(bytes32 tradeId) external whenNotPaused nonReentrant {
        _refund(tradeId);
    }

    function refundBatch(bytes32[] calldata tradeIds) external whenNotPaused nonReentrant {
        _checkBatch(tradeIds.length);
        for (uint256 i = 0; i < tradeIds.length; i++) {
            _refund(tradeIds[i]);
        }
    }

    // ---------------------------------------------------------------- admin

    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    // ---------------------------------------------------------------- views

    function getLock(bytes32 tradeId) external view returns (Lock memory) {
        return _locks[tradeId];
    }

    function statusOf(bytes32 tradeId) external view returns (Status) {
        return _locks[tradeId].status;
    }

    // ---------------------------------------------------------------- internals

    function _lock(LockRequest memory req) private {
        if (msg.sender != req.payer && !hasRole(SETTLEMENT_AGENT_ROLE, msg.sender)) {
            revert NotAuthorized(msg.sender);
        }
        if (_locks[req.tradeId].status != Status.None) revert AlreadyLocked(req.tradeId);
        if (req.amount == 0) revert ZeroAmount();
        if (req.payer == address(0)) revert InvalidParty(req.payer);
        if (req.payee == address(0) || req.payee == req.payer || req.payee == address(this)) {
            revert InvalidParty(req.payee);
        }
        if (req.deadline <= block.timestamp) revert InvalidDeadline(req.deadline);

        _locks[req.tradeId] = Lock({
            payer: req.payer, deadline: req.deadline, status: Status.Locked, payee: req.payee, amount: req.amount
        });
        totalLocked += req.amount;

        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(req.payer, address(this), req.amount);
        uint256 received = token.balanceOf(address(this)) - before;
        if (received != req.amount) revert TransferShortfall(req.amount, received);

        emit Locked(req.tradeId, req.payer, req.payee, req.amount, req.deadline);
    }

    function _release(bytes32 tradeId) private {
        Lock storage l = _locks[tradeId];
        if (l.status != Status.Locked) revert NotLocked(tradeId);
        if (block.timestamp > l.deadline) revert DeadlinePassed(tradeId, l.deadline);
        l.status = Status.Released;
        totalLocked -= l.amount;
        token.safeTransfer(l.payee, l.amount);
        emit Released(tradeId, l.payee, l.amount);
    }

    function _refund(bytes32 tradeId) private {
        Lock storage l = _locks[tradeId];
        if (l.status != Status.Locked) revert NotLocked(tradeId);
        if (!hasRole(SETTLEMENT_AGENT_ROLE, msg.sender) && block.timestamp <= l.deadline) {
            revert DeadlineNotReached(tradeId, l.deadline);
        }
        l.status = Status.Refunded;
        totalLocked -= l.amount;
        token.safeTransfer(l.payer, l.amount);
        emit Refunded(tradeId, l.payer, l.amount, msg.sender);
    }

    function _checkBatch(uint256 size) private pure {
        if (size == 0) revert EmptyBatch();
        if (size > MAX_BATCH) revert BatchTooLarge(size, MAX_BATCH);
    }
}
