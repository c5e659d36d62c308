// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

/// @notice The one call the escrow makes on a token beyond ERC-20: is an account frozen?
interface IBlacklistable {
    function isBlackListed(address account) external view returns (bool);
}

/// @title SettlementEscrow
/// @notice Holds a payer's coins for one trade until delivery is confirmed (release to the
///         payee) or the trade is cancelled / expires (refund to the payer).
/// @dev Design choices, each tested:
///      - Consent. Only the settlement agent creates locks, and every lock carries the payer's
///        EIP-712 signature over `LockIntent(tradeId, payer, payee, amount, deadline)` for this
///        escrow (domain "SettlementEscrow", version "1", chain id, this address). EOAs sign with
///        ECDSA, smart-contract wallets answer ERC-1271. Agent-only creation means no stranger
///        can squat a trade id with a lock of its own (the service would otherwise adopt it);
///        the payer's signature means the agent (or an admin who grants itself the agent role)
///        cannot spend an approved payer's allowance or a bare permit on a trade, payee or
///        amount the payer did not sign. A payer cannot lock by itself either: it signs, the
///        agent submits. The intent's deadline is the lock's deadline, so an expired intent
///        cannot be used. There is no nonce: the trade id is in the signed struct and a trade
///        id can be locked once, ever, so every signature is usable at most once.
///      - Tokens that return nothing from transfer/approve (USDT) work through SafeERC20.
///      - Fee-on-transfer tokens are REJECTED: lock measures what actually arrived and reverts
///        with TransferShortfall if it is less than `amount`. The escrow therefore always holds
///        at least the sum of open locks (exactly that, plus whatever was sent here by mistake),
///        and the ledger never has to guess at a fee.
///      - Batch calls are all-or-nothing: one bad item reverts the batch, and the caller
///        falls back to single calls. That keeps every event paired with a state change.
///      - release is allowed only up to the deadline; after it the trade can only be refunded,
///        and then by anyone, so a payer is never stuck if the agent disappears.
///      - pause is an emergency stop for every movement, with one exit that it cannot block:
///        once `deadline + REFUND_GRACE_PERIOD` has passed, anyone may refund the lock to its
///        payer even while paused. The pauser can hold coins for an incident, not forever.
///      - Storage is freed as trades settle. Release, refund and recovery delete the whole
///        lock (its three slots, with their gas refund) and keep only its outcome, in two bits
///        of a shared word: 128 trade ids that differ only in their low 7 bits share one slot.
///        The outcome is what makes each signed intent usable once (a trade id with an outcome
///        can never be locked again). The service numbers its trade ids in sequence under a
///        random prefix, so 100,000 settled trades hold about 800 slots, not 100,000; ids in
///        any other form still work and take one word each. The deleted terms live on in the
///        Locked and Released / Refunded / Recovered events. A node's per-block cost grows with
///        the storage it holds, so without this every settled trade would slow every later one.
///      - Least privilege. Roles: DEFAULT_ADMIN_ROLE (grants roles), SETTLEMENT_AGENT_ROLE
///        (locks with a payer's intent, releases, cancels), PAUSER_ROLE, RESCUER_ROLE (sends out
///        tokens sent here by mistake, never the locked sum), RECOVERY_ROLE (time-locked
///        recovery of a lock whose payer and payee are BOTH frozen by the token, so neither
///        release nor refund can ever move it). No role can pull coins from a payer's wallet
///        without that payer's signed intent for exactly that trade. Recovery is the one path
///        that sends a locked amount to neither payer nor payee: it needs the token to have
///        frozen both, and announces itself RECOVERY_DELAY ahead (RecoveryScheduled).
contract SettlementEscrow is AccessControl, Pausable, ReentrancyGuard, EIP712 {
    using SafeERC20 for IERC20;

    bytes32 public constant SETTLEMENT_AGENT_ROLE = keccak256("SETTLEMENT_AGENT_ROLE");
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    bytes32 public constant RESCUER_ROLE = keccak256("RESCUER_ROLE");
    bytes32 public constant RECOVERY_ROLE = keccak256("RECOVERY_ROLE");

    /// @notice EIP-712 type hash of what a payer signs to authorise one lock.
    bytes32 public constant LOCK_INTENT_TYPEHASH =
        keccak256("LockIntent(bytes32 tradeId,address payer,address payee,uint256 amount,uint64 deadline)");

    /// @notice Most items in one batch call: a lockBatch of 200 uses ~16M gas, within a 30M block.
    uint256 public constant MAX_BATCH = 200;
    /// @notice After `deadline + REFUND_GRACE_PERIOD` a lock can be refunded to its payer by
    ///         anyone, even while the escrow is paused.
    uint256 public constant REFUND_GRACE_PERIOD = 1 days;
    /// @notice Time between scheduling and executing a recovery: long enough for the token's
    ///         blacklister to lift a freeze, or for anyone watching to raise the alarm.
    uint256 public constant RECOVERY_DELAY = 2 days;

    enum Status {
        None,
        Locked,
        Released,
        Refunded,
        Recovered
    }

    struct Lock {
        address payer;
        uint64 deadline;
        Status status;
        address payee;
        uint256 amount;
    }

    /// @notice One lock as the payer signed it (the fields of LockIntent, in the same order).
    struct LockOrder {
        bytes32 tradeId;
        address payer;
        address payee;
        uint256 amount;
        uint64 deadline;
    }

    struct PendingRecovery {
        address to;
        uint64 executableAt; // 0: none scheduled
    }

    IERC20 public immutable token;
    uint256 public totalLocked;
    /// @dev Open locks only: a settled lock is deleted and its outcome moves to `_outcomes`.
    mapping(bytes32 tradeId => Lock) private _locks;
    /// @dev Settled outcomes, two bits a trade id (0 none, else Status - 1), 128 ids a word:
    ///      word `uint256(tradeId) >> 7`, bits at `(uint256(tradeId) & 127) * 2`.
    mapping(uint256 word => uint256 outcomes) private _outcomes;
    mapping(bytes32 tradeId => PendingRecovery) private _recoveries;

    event Locked(
        bytes32 indexed tradeId, address indexed payer, address indexed payee, uint256 amount, uint64 deadline
    );
    event Released(bytes32 indexed tradeId, address indexed payee, uint256 amount);
    event Refunded(bytes32 indexed tradeId, address indexed payer, uint256 amount, address by);
    event RecoveryScheduled(bytes32 indexed tradeId, address indexed to, uint256 amount, uint64 executableAt);
    event Recovered(bytes32 indexed tradeId, address indexed to, uint256 amount);
    event RecoveryCancelled(bytes32 indexed tradeId);
    event Rescued(address indexed token, address indexed to, uint256 amount);

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
    error BatchLengthMismatch(uint256 orders, uint256 signatures);
    error InvalidLockSignature(bytes32 tradeId, address payer);
    error PartiesNotBlacklisted(bytes32 tradeId);
    error RecoveryAlreadyScheduled(bytes32 tradeId);
    error RecoveryNotScheduled(bytes32 tradeId);
    error RecoveryNotReady(bytes32 tradeId, uint64 executableAt);
    error RescueExceedsSurplus(uint256 amount, uint256 surplus);

    /// @dev The admin also gets PAUSER_ROLE, RESCUER_ROLE and RECOVERY_ROLE; it may hand them to
    ///      separate keys and renounce its own. It does NOT get the agent role.
    constructor(IERC20 token_, address admin, address agent) EIP712("SettlementEscrow", "1") {
        token = token_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
        _grantRole(RESCUER_ROLE, admin);
        _grantRole(RECOVERY_ROLE, admin);
        _grantRole(SETTLEMENT_AGENT_ROLE, agent);
    }

    /// @dev Lock creation reports a non-agent caller as NotAuthorized (the payer included).
    modifier onlyAgent() {
        if (!hasRole(SETTLEMENT_AGENT_ROLE, msg.sender)) revert NotAuthorized(msg.sender);
        _;
    }

    // ---------------------------------------------------------------- lock

    /// @notice Pull `order.amount` from `order.payer` (by allowance) into escrow for
    ///         `order.tradeId`, authorised by the payer's EIP-712 LockIntent `signature`.
    /// @param signature For an EOA payer the 65-byte r ‖ s ‖ v form (the 64-byte ERC-2098 form
    ///        is refused); for a contract payer, whatever its ERC-1271 isValidSignature accepts.
    function lock(LockOrder calldata order, bytes calldata signature) external whenNotPaused nonReentrant onlyAgent {
        _lock(order, signature);
    }

    /// @notice Same as lock, with the payer's EIP-2612 permit in the same call so the payer
    ///         need not have approved the escrow beforehand. The permit only sets an allowance:
    ///         the LockIntent signature is still required, so the permit funds this one trade.
    /// @dev A permit that fails (for example, front-run and already used) is ignored when the
    ///      allowance is already enough; otherwise transferFrom reverts for lack of allowance.
    function lockWithPermit(
        LockOrder calldata order,
        bytes calldata signature,
        uint256 permitValue,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external whenNotPaused nonReentrant onlyAgent {
        try IERC20Permit(address(token)).permit(order.payer, address(this), permitValue, permitDeadline, v, r, s) {}
            catch {}
        _lock(order, signature);
    }

    /// @notice Lock every order, each with its own payer signature (`signatures[i]` for
    ///         `orders[i]`). All or nothing.
    function lockBatch(LockOrder[] calldata orders, bytes[] calldata signatures)
        external
        whenNotPaused
        nonReentrant
        onlyAgent
    {
        if (orders.length != signatures.length) {
            revert BatchLengthMismatch(orders.length, signatures.length);
        }
        _checkBatch(orders.length);
        for (uint256 i = 0; i < orders.length; i++) {
            _lock(orders[i], signatures[i]);
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
    ///         release (a cancel); anyone may refund once the deadline has passed. While the
    ///         escrow is paused, only a lock past `deadline + REFUND_GRACE_PERIOD` can be
    ///         refunded (by anyone): the payer's exit that no pause can block.
    function refund(bytes32 tradeId) external nonReentrant {
        _refund(tradeId);
    }

    function refundBatch(bytes32[] calldata tradeIds) external nonReentrant {
        _checkBatch(tradeIds.length);
        for (uint256 i = 0; i < tradeIds.length; i++) {
            _refund(tradeIds[i]);
        }
    }

    // ---------------------------------------------------------------- recovery

    /// @notice Start the clock on moving a stranded lock to `to`. Only for a Locked trade whose
    ///         payer AND payee are both blacklisted by the token, so that neither release nor
    ///         refund can ever transfer it. Executable after RECOVERY_DELAY.
    function scheduleRecovery(bytes32 tradeId, address to) external onlyRole(RECOVERY_ROLE) {
        Lock storage l = _locks[tradeId];
        if (l.status != Status.Locked) revert NotLocked(tradeId);
        if (!_bothBlacklisted(l)) revert PartiesNotBlacklisted(tradeId);
        if (to == address(0) || to == address(this) || _isBlacklisted(to)) revert InvalidParty(to);
        if (_recoveries[tradeId].executableAt != 0) revert RecoveryAlreadyScheduled(tradeId);
        uint64 executableAt = uint64(block.timestamp + RECOVERY_DELAY);
        _recoveries[tradeId] = PendingRecovery({to: to, executableAt: executableAt});
        emit RecoveryScheduled(tradeId, to, l.amount, executableAt);
    }

    /// @notice Move a stranded lock to the scheduled recipient once the delay has passed. The
    ///         conditions are checked again: if a party was unfrozen meanwhile, the ordinary
    ///         release/refund paths work again and recovery is refused.
    function executeRecovery(bytes32 tradeId) external whenNotPaused nonReentrant onlyRole(RECOVERY_ROLE) {
        PendingRecovery memory pending = _recoveries[tradeId];
        if (pending.executableAt == 0) revert RecoveryNotScheduled(tradeId);
        if (block.timestamp < pending.executableAt) revert RecoveryNotReady(tradeId, pending.executableAt);
        Lock storage l = _locks[tradeId];
        if (l.status != Status.Locked) revert NotLocked(tradeId);
        if (!_bothBlacklisted(l)) revert PartiesNotBlacklisted(tradeId);
        if (_isBlacklisted(pending.to)) revert InvalidParty(pending.to);

        delete _recoveries[tradeId];
        (,, uint256 amount) = _settle(tradeId, Status.Recovered);
        token.safeTransfer(pending.to, amount);
        emit Recovered(tradeId, pending.to, amount);
    }

    function cancelRecovery(bytes32 tradeId) external onlyRole(RECOVERY_ROLE) {
        if (_recoveries[tradeId].executableAt == 0) revert RecoveryNotScheduled(tradeId);
        delete _recoveries[tradeId];
        emit RecoveryCancelled(tradeId);
    }

    // ---------------------------------------------------------------- admin

    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    /// @notice Send out tokens sent to the escrow by mistake. Of the settlement token, only the
    ///         surplus over the open locks (`balanceOf(escrow) - totalLocked`) can be rescued.
    function rescueERC20(IERC20 token_, address to, uint256 amount) external nonReentrant onlyRole(RESCUER_ROLE) {
        if (to == address(0) || to == address(this)) revert InvalidParty(to);
        if (address(token_) == address(token)) {
            uint256 balance = token.balanceOf(address(this));
            uint256 surplus = balance > totalLocked ? balance - totalLocked : 0;
            if (amount > surplus) revert RescueExceedsSurplus(amount, surplus);
        }
        token_.safeTransfer(to, amount);
        emit Rescued(address(token_), to, amount);
    }

    // ---------------------------------------------------------------- views

    /// @notice An open lock's terms; a settled lock shows only its status (its terms are in
    ///         its Locked and settling events); an unknown trade id shows all zeros.
    function getLock(bytes32 tradeId) external view returns (Lock memory lock_) {
        lock_ = _locks[tradeId];
        if (lock_.status == Status.None) lock_.status = _outcome(tradeId);
    }

    function statusOf(bytes32 tradeId) public view returns (Status) {
        Status status = _locks[tradeId].status;
        return status == Status.None ? _outcome(tradeId) : status;
    }

    /// @notice The EIP-712 digest a payer signs for `order` (for off-chain encoding checks).
    function hashLockIntent(LockOrder calldata order) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(LOCK_INTENT_TYPEHASH, order.tradeId, order.payer, order.payee, order.amount, order.deadline)
            )
        );
    }

    /// @notice The recovery scheduled for `tradeId`, if any (executableAt 0: none).
    function pendingRecovery(bytes32 tradeId) external view returns (address to, uint64 executableAt) {
        PendingRecovery memory pending = _recoveries[tradeId];
        return (pending.to, pending.executableAt);
    }

    // ---------------------------------------------------------------- internals

    function _lock(LockOrder calldata order, bytes calldata signature) private {
        if (statusOf(order.tradeId) != Status.None) revert AlreadyLocked(order.tradeId);
        if (order.amount == 0) revert ZeroAmount();
        if (order.payer == address(0)) revert InvalidParty(order.payer);
        if (order.payee == address(0) || order.payee == order.payer || order.payee == address(this)) {
            revert InvalidParty(order.payee);
        }
        if (order.deadline <= block.timestamp) revert InvalidDeadline(order.deadline);
        if (!SignatureChecker.isValidSignatureNowCalldata(order.payer, hashLockIntent(order), signature)) {
            revert InvalidLockSignature(order.tradeId, order.payer);
        }

        _locks[order.tradeId] = Lock({
            payer: order.payer,
            deadline: order.deadline,
            status: Status.Locked,
            payee: order.payee,
            amount: order.amount
        });
        totalLocked += order.amount;

        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(order.payer, address(this), order.amount);
        uint256 received = token.balanceOf(address(this)) - before;
        if (received != order.amount) revert TransferShortfall(order.amount, received);

        emit Locked(order.tradeId, order.payer, order.payee, order.amount, order.deadline);
    }

    function _release(bytes32 tradeId) private {
        Lock storage l = _locks[tradeId];
        if (l.status != Status.Locked) revert NotLocked(tradeId);
        if (block.timestamp > l.deadline) revert DeadlinePassed(tradeId, l.deadline);
        (, address payee, uint256 amount) = _settle(tradeId, Status.Released);
        token.safeTransfer(payee, amount);
        emit Released(tradeId, payee, amount);
    }

    function _refund(bytes32 tradeId) private {
        Lock storage l = _locks[tradeId];
        if (l.status != Status.Locked) revert NotLocked(tradeId);
        if (block.timestamp <= uint256(l.deadline) + REFUND_GRACE_PERIOD) {
            // Within the grace period the usual rules apply, and pause stops refunds too.
            _requireNotPaused();
            if (!hasRole(SETTLEMENT_AGENT_ROLE, msg.sender) && block.timestamp <= l.deadline) {
                revert DeadlineNotReached(tradeId, l.deadline);
            }
        }
        (address payer,, uint256 amount) = _settle(tradeId, Status.Refunded);
        token.safeTransfer(payer, amount);
        emit Refunded(tradeId, payer, amount, msg.sender);
    }

    /// @dev Deletes an open lock, records its outcome and returns its parties and amount for the
    ///      payout and its event. The outcome keeps the trade id, and so its intent, spent.
    function _settle(bytes32 tradeId, Status outcome)
        private
        returns (address payer, address payee, uint256 amount)
    {
        Lock storage l = _locks[tradeId];
        (payer, payee, amount) = (l.payer, l.payee, l.amount);
        delete _locks[tradeId];
        (uint256 word, uint256 shift) = _outcomeSlot(tradeId);
        _outcomes[word] |= (uint256(outcome) - 1) << shift;
        totalLocked -= amount;
    }

    function _outcome(bytes32 tradeId) private view returns (Status) {
        (uint256 word, uint256 shift) = _outcomeSlot(tradeId);
        uint256 bits = (_outcomes[word] >> shift) & 3;
        return bits == 0 ? Status.None : Status(bits + 1);
    }

    function _outcomeSlot(bytes32 tradeId) private pure returns (uint256 word, uint256 shift) {
        return (uint256(tradeId) >> 7, (uint256(tradeId) & 127) * 2);
    }

    function _bothBlacklisted(Lock storage l) private view returns (bool) {
        return _isBlacklisted(l.payer) && _isBlacklisted(l.payee);
    }

    /// @dev False for a token without `isBlackListed` (the call reverts, returns nothing or
    ///      returns anything but `true`), so recovery simply never applies to such a token. A
    ///      low-level call rather than try/catch: try/catch would still revert on undecodable
    ///      return data.
    function _isBlacklisted(address account) private view returns (bool) {
        (bool ok, bytes memory data) =
            address(token).staticcall(abi.encodeCall(IBlacklistable.isBlackListed, (account)));
        return ok && data.length >= 32 && abi.decode(data, (uint256)) == 1;
    }

    function _checkBatch(uint256 size) private pure {
        if (size == 0) revert EmptyBatch();
        if (size > MAX_BATCH) revert BatchTooLarge(size, MAX_BATCH);
    }
}
