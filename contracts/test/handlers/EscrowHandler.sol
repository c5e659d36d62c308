// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {CommonBase} from "../base/TestBase.sol";
import {SettlementToken} from "../../src/SettlementToken.sol";
import {SettlementEscrow} from "../../src/SettlementEscrow.sol";

/// @notice Drives the escrow for the invariant test: signed and unsigned locks, release, refund
///         (also while paused), pause, token freezes, time-locked recovery, mistaken transfers
///         and their rescue, and the passage of time. Inputs fold into a small world (a few
///         actors, a fixed set of trade ids) so that calls collide: replays, double settlements,
///         expired deadlines, paused exits and stranded locks all happen.
/// @dev Every escrow call goes through try/catch, so a rejected call is counted rather than
///      aborting the sequence. Where a call's success or failure is itself a property (a lock
///      without the payer's signature, a refund blocked past the grace period, ...), the handler
///      records a violation in a ghost counter that the invariants require to stay zero. After
///      every step it re-reads the status of every trade id and records each transition.
contract EscrowHandler is CommonBase {
    using TradeIds for uint256;

    uint256 public constant NUM_TRADES = 16;
    uint256 internal constant MAX_AMOUNT = 1_000_000e6;
    uint256 internal constant MAX_TTL = 3 days;
    uint256 internal constant MAX_WARP = 18 hours;
    uint256 internal constant MAX_DONATION = 1_000e6;

    SettlementEscrow public immutable escrow;
    SettlementToken public immutable token;
    address public immutable agent;
    address public immutable admin; // escrow pauser, rescuer and recovery role
    address public immutable issuer; // token blacklister
    address public immutable stranger;
    address public immutable vault; // recovery destination
    address public immutable sink; // rescue destination
    address[] public actors; // payers and payees both come from here
    uint256[] internal keys; // actors[i] == vm.addr(keys[i])

    /// @dev forge does not reliably carry a handler's vm.warp over to the next call, so the
    ///      handler owns the clock and re-applies it at the start of every call.
    uint256 public currentTime;

    // ---- ghost state: what the handler has observed
    mapping(bytes32 => SettlementEscrow.Status) public ghostStatus; // last status seen
    mapping(bytes32 => uint256) public ghostAmount; // amount the successful lock asked for
    mapping(bytes32 => uint256) public ghostLockCount; // successful lock calls per id
    mapping(bytes32 => bool) public ghostRecoveryPending; // scheduled, not executed or cancelled
    uint256 public ghostIllegalTransitions; // must stay 0
    uint256 public ghostSurplus; // coins sent to the escrow by mistake and not yet rescued

    // ---- violations: each must stay 0
    uint256 public ghostUnauthorisedLocks; // a lock without the payer's intent, or not by the agent
    uint256 public ghostEarlyPausedRefunds; // a refund while paused before deadline + grace
    uint256 public ghostBlockedExits; // a post-grace refund of an unfrozen payer refused while paused
    uint256 public ghostBadRecoveries; // a recovery too early, or without both parties frozen
    uint256 public ghostOverRescues; // a rescue of more than the surplus

    // ---- call counters, to check by hand that the campaign really exercised the escrow
    uint256 public calls;
    uint256 public locksOk;
    uint256 public locksFailed;
    uint256 public forgedLocksTried;
    uint256 public releasesOk;
    uint256 public releasesFailed;
    uint256 public refundsOk;
    uint256 public refundsFailed;
    uint256 public pausedExitsOk;
    uint256 public pauseToggles;
    uint256 public freezes;
    uint256 public strands;
    uint256 public recoveriesScheduled;
    uint256 public recoveriesExecuted;
    uint256 public recoveriesCancelled;
    uint256 public recoveryCallsFailed;
    uint256 public donations;
    uint256 public rescuesOk;
    uint256 public rescuesFailed;
    uint256 public warps;

    constructor(
        SettlementEscrow escrow_,
        SettlementToken token_,
        address agent_,
        address admin_,
        address issuer_,
        uint256[] memory keys_
    ) {
        escrow = escrow_;
        token = token_;
        agent = agent_;
        admin = admin_;
        issuer = issuer_;
        stranger = makeAddr("stranger");
        vault = makeAddr("vault");
        sink = makeAddr("sink");
        keys = keys_;
        for (uint256 i = 0; i < keys_.length; i++) {
            actors.push(vm.addr(keys_[i]));
        }
        currentTime = block.timestamp;
    }

    modifier step() {
        vm.warp(currentTime);
        calls++;
        _;
        _observeAll();
    }

    // ---------------------------------------------------------------- locks

    /// @param mode 0-4: the honest path (the agent submits the payer's own intent). 5: the
    ///        intent is signed by another actor's key. 6: the payer submits its own intent.
    ///        7: the agent submits an order that differs (amount + 1) from the signed one.
    ///        Only the honest path may ever succeed.
    function lock(uint256 idSeed, uint256 payerSeed, uint256 payeeSeed, uint256 amount, uint256 ttl, uint256 mode)
        external
        step
    {
        bytes32 id = idSeed.tradeId(NUM_TRADES);
        uint256 n = actors.length;
        uint256 p = payerSeed % n;
        // Offset 1..n-1 from the payer, so payee != payer: an invalid party is not what we probe here.
        address payee = actors[(p + 1 + payeeSeed % (n - 1)) % n];
        SettlementEscrow.LockOrder memory order = SettlementEscrow.LockOrder(
            id, actors[p], payee, bound(amount, 1, MAX_AMOUNT), uint64(currentTime + bound(ttl, 1, MAX_TTL))
        );
        mode = mode % 8;

        SettlementEscrow.LockOrder memory signedOrder = order;
        if (mode == 7) {
            signedOrder = SettlementEscrow.LockOrder(id, order.payer, payee, order.amount + 1, order.deadline);
        }
        uint256 signingKey = mode == 5 ? keys[(p + 1) % n] : keys[p];
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(signingKey, escrow.hashLockIntent(signedOrder));
        bool honest = mode < 5;
        if (!honest) forgedLocksTried++;

        vm.prank(mode == 6 ? order.payer : agent);
        try escrow.lock(order, abi.encodePacked(r, s, v)) {
            if (!honest) ghostUnauthorisedLocks++;
            locksOk++;
            ghostLockCount[id]++;
            ghostAmount[id] = order.amount;
        } catch {
            locksFailed++;
        }
    }

    // ---------------------------------------------------------------- release / refund

    function release(uint256 idSeed) external step {
        bytes32 id = _pickId(idSeed);
        vm.prank(agent);
        try escrow.release(id) {
            releasesOk++;
        } catch {
            releasesFailed++;
        }
    }

    /// @param callerSeed 0: the agent, 1: a stranger, 2: the lock's payer.
    /// @param patient The caller first waits out the lock's grace period (the clock jumps past
    ///        deadline + REFUND_GRACE_PERIOD), so post-grace exits, also while paused, happen
    ///        often enough to be tested at every depth.
    function refund(uint256 idSeed, uint256 callerSeed, bool patient) external step {
        bytes32 id = _pickId(idSeed);
        SettlementEscrow.Lock memory l = escrow.getLock(id);
        if (patient && l.status == SettlementEscrow.Status.Locked) {
            _advanceTo(uint256(l.deadline) + escrow.REFUND_GRACE_PERIOD() + 1);
        }
        bool paused = escrow.paused();
        bool locked = l.status == SettlementEscrow.Status.Locked;
        bool pastGrace = currentTime > uint256(l.deadline) + escrow.REFUND_GRACE_PERIOD();
        uint256 who = callerSeed % 3;
        address caller = who == 0 ? agent : who == 1 ? stranger : (l.payer == address(0) ? stranger : l.payer);

        vm.prank(caller);
        try escrow.refund(id) {
            refundsOk++;
            if (paused) {
                if (pastGrace) pausedExitsOk++;
                else ghostEarlyPausedRefunds++;
            }
        } catch {
            refundsFailed++;
            // The payer's exit: past the grace period a Locked trade must refund, paused or not,
            // unless the token itself refuses (a frozen payer).
            if (locked && pastGrace && !token.isBlackListed(l.payer)) ghostBlockedExits++;
        }
    }

    // ---------------------------------------------------------------- pause and freezes

    /// @dev Pauses one time in four, otherwise unpauses, so the escrow runs mostly unpaused.
    function setPaused(uint256 seed) external step {
        bool wantPaused = seed % 4 == 0;
        if (wantPaused == escrow.paused()) return;
        vm.prank(admin);
        if (wantPaused) escrow.pause();
        else escrow.unpause();
        pauseToggles++;
    }

    /// @dev The token freezes an actor one time in three, otherwise unfreezes it.
    function freeze(uint256 actorSeed, uint256 seed) external step {
        address account = actors[actorSeed % actors.length];
        vm.startPrank(issuer);
        if (seed % 3 == 0) token.addBlackList(account);
        else token.removeBlackList(account);
        vm.stopPrank();
        freezes++;
    }

    /// @dev The token freezes both parties of a (usually open) trade: the stranded case that
    ///      recovery exists for, which independent freezes would rarely produce.
    function strand(uint256 idSeed) external step {
        SettlementEscrow.Lock memory l = escrow.getLock(_pickId(idSeed));
        if (l.payee == address(0)) return; // no lock, or a settled one (its payee is freed)
        vm.startPrank(issuer);
        token.addBlackList(l.payer);
        token.addBlackList(l.payee);
        vm.stopPrank();
        strands++;
    }

    // ---------------------------------------------------------------- recovery

    /// @dev Usually to the vault; one time in four to an actor (who may be frozen).
    function scheduleRecovery(uint256 idSeed, uint256 toSeed) external step {
        bytes32 id = _pickId(idSeed);
        address to = toSeed % 4 == 0 ? actors[(toSeed / 4) % actors.length] : vault;
        SettlementEscrow.Lock memory l = escrow.getLock(id);
        bool stranded = token.isBlackListed(l.payer) && token.isBlackListed(l.payee);
        vm.prank(admin);
        try escrow.scheduleRecovery(id, to) {
            recoveriesScheduled++;
            ghostRecoveryPending[id] = true;
            if (!stranded || l.status != SettlementEscrow.Status.Locked) ghostBadRecoveries++;
        } catch {
            recoveryCallsFailed++;
        }
    }

    /// @param patient The recovery role first waits out the delay (the clock jumps to the
    ///        scheduled time); otherwise it tries now, which is often too early.
    function executeRecovery(uint256 idSeed, bool patient) external step {
        bytes32 id = _pickPending(idSeed);
        (, uint64 executableAt) = escrow.pendingRecovery(id);
        if (patient) _advanceTo(executableAt);
        SettlementEscrow.Lock memory l = escrow.getLock(id);
        bool stranded = token.isBlackListed(l.payer) && token.isBlackListed(l.payee);
        vm.prank(admin);
        try escrow.executeRecovery(id) {
            recoveriesExecuted++;
            ghostRecoveryPending[id] = false;
            if (executableAt == 0 || currentTime < executableAt || !stranded) ghostBadRecoveries++;
        } catch {
            recoveryCallsFailed++;
        }
    }

    /// @dev Cancels one time in eight; otherwise does nothing, so schedules mostly live to run.
    function cancelRecovery(uint256 idSeed) external step {
        if (idSeed % 8 != 0) return;
        bytes32 id = _pickPending(idSeed / 4);
        vm.prank(admin);
        try escrow.cancelRecovery(id) {
            recoveriesCancelled++;
            ghostRecoveryPending[id] = false;
        } catch {
            recoveryCallsFailed++;
        }
    }

    // ---------------------------------------------------------------- mistakes and rescue

    /// @dev An actor sends coins straight to the escrow instead of through a lock.
    function donate(uint256 actorSeed, uint256 amount) external step {
        address from = actors[actorSeed % actors.length];
        amount = bound(amount, 1, MAX_DONATION);
        vm.prank(from);
        try token.transfer(address(escrow), amount) {
            ghostSurplus += amount;
            donations++;
        } catch {}
    }

    /// @dev Asks for up to the surplus plus a margin: the margin must always be refused.
    function rescue(uint256 amount) external step {
        amount = bound(amount, 0, ghostSurplus + 10e6);
        vm.prank(admin);
        try escrow.rescueERC20(IERC20(address(token)), sink, amount) {
            rescuesOk++;
            if (amount > ghostSurplus) ghostOverRescues++;
            else ghostSurplus -= amount;
        } catch {
            rescuesFailed++;
        }
    }

    function warp(uint256 secondsForward) external step {
        _advanceTo(currentTime + bound(secondsForward, 1, MAX_WARP));
        warps++;
    }

    /// @dev Time only moves forward.
    function _advanceTo(uint256 time) private {
        if (time <= currentTime) return;
        currentTime = time;
        vm.warp(currentTime);
    }

    /// @dev Three times in four, pick among the trades currently Locked, so settlements mostly
    ///      hit live trades; otherwise (or if none is open) any id, which probes the unlocked,
    ///      already-settled and never-locked cases.
    function _pickId(uint256 seed) private view returns (bytes32) {
        if (seed % 4 != 0) {
            bytes32[] memory open = new bytes32[](NUM_TRADES);
            uint256 count;
            for (uint256 i = 0; i < NUM_TRADES; i++) {
                bytes32 id = i.tradeId(NUM_TRADES);
                if (ghostStatus[id] == SettlementEscrow.Status.Locked) open[count++] = id;
            }
            if (count > 0) return open[(seed / 4) % count];
        }
        return seed.tradeId(NUM_TRADES);
    }

    /// @dev Three times in four, pick among the trades with a recovery scheduled; otherwise
    ///      (or if there is none) any id as _pickId would.
    function _pickPending(uint256 seed) private view returns (bytes32) {
        if (seed % 4 != 0) {
            bytes32[] memory pending = new bytes32[](NUM_TRADES);
            uint256 count;
            for (uint256 i = 0; i < NUM_TRADES; i++) {
                bytes32 id = i.tradeId(NUM_TRADES);
                if (ghostRecoveryPending[id]) pending[count++] = id;
            }
            if (count > 0) return pending[(seed / 4) % count];
        }
        return _pickId(seed / 4);
    }

    // ---------------------------------------------------------------- observation

    /// @dev Compares every trade's status with the last one seen. Allowed moves: stay put,
    ///      None->Locked, Locked->Released|Refunded|Recovered. Anything else is counted as illegal.
    function _observeAll() private {
        for (uint256 i = 0; i < NUM_TRADES; i++) {
            bytes32 id = i.tradeId(NUM_TRADES);
            SettlementEscrow.Status before = ghostStatus[id];
            SettlementEscrow.Status now_ = escrow.statusOf(id);
            if (now_ == before) continue;
            bool legal = (before == SettlementEscrow.Status.None && now_ == SettlementEscrow.Status.Locked)
                || (before == SettlementEscrow.Status.Locked
                    && (now_ == SettlementEscrow.Status.Released
                        || now_ == SettlementEscrow.Status.Refunded
                        || now_ == SettlementEscrow.Status.Recovered));
            if (!legal) ghostIllegalTransitions++;
            ghostStatus[id] = now_;
        }
    }

    // ---------------------------------------------------------------- views for the invariants

    /// @dev Sum of the amounts of trades the handler last saw in Locked status.
    function ghostLockedSum() external view returns (uint256 sum) {
        for (uint256 i = 0; i < NUM_TRADES; i++) {
            bytes32 id = i.tradeId(NUM_TRADES);
            if (ghostStatus[id] == SettlementEscrow.Status.Locked) sum += ghostAmount[id];
        }
    }

    function actorCount() external view returns (uint256) {
        return actors.length;
    }
}

/// @dev Maps any fuzzed number onto one of a fixed set of trade ids.
library TradeIds {
    /// @dev Numbered in sequence under one prefix, as the service numbers them, so the trades
    ///      share an outcome word and the invariants see neighbours settle side by side.
    function tradeId(uint256 seed, uint256 count) internal pure returns (bytes32) {
        return bytes32((uint256(keccak256("trade")) << 128) | (seed % count));
    }
}
