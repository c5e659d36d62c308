// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {CommonBase} from "../base/TestBase.sol";
import {SettlementToken} from "../../src/SettlementToken.sol";
import {SettlementEscrow} from "../../src/SettlementEscrow.sol";

/// @notice Drives the escrow for the invariant test: signed and forged locks, release, refund
///         and the passage of time, with inputs folded into a small world (a few actors, a fixed
///         set of trade ids) so that calls collide: replays, double settlements and expired
///         deadlines all happen.
/// @dev Every escrow call goes through try/catch, so a rejected call is counted rather than
///      aborting the sequence, and after every step the handler re-reads the status of every
///      trade id and records each transition it observes. The invariants then judge that record.
///      A forged lock that succeeds is recorded as a violation the invariants require to be 0.
contract EscrowHandler is CommonBase {
    using TradeIds for uint256;

    uint256 public constant NUM_TRADES = 16;
    uint256 internal constant MAX_AMOUNT = 1_000_000e6;
    uint256 internal constant MAX_TTL = 7 days;
    uint256 internal constant MAX_WARP = 12 hours;

    SettlementEscrow public immutable escrow;
    SettlementToken public immutable token;
    address public immutable agent;
    address public immutable stranger;
    address[] public actors; // payers and payees both come from here
    uint256[] internal keys; // actors[i] == vm.addr(keys[i])

    /// @dev forge does not reliably carry a handler's vm.warp over to the next call, so the
    ///      handler owns the clock and re-applies it at the start of every call.
    uint256 public currentTime;

    // ---- ghost state: what the handler has observed
    mapping(bytes32 => SettlementEscrow.Status) public ghostStatus; // last status seen
    mapping(bytes32 => uint256) public ghostAmount; // amount the successful lock asked for
    mapping(bytes32 => uint256) public ghostLockCount; // successful lock calls per id
    uint256 public ghostIllegalTransitions; // must stay 0
    uint256 public ghostUnauthorisedLocks; // a lock without the payer's intent, or not by the agent

    // ---- call counters, to check by hand that the campaign really exercised the escrow
    uint256 public calls;
    uint256 public locksOk;
    uint256 public locksFailed;
    uint256 public forgedLocksTried;
    uint256 public releasesOk;
    uint256 public releasesFailed;
    uint256 public refundsOk;
    uint256 public refundsFailed;
    uint256 public warps;

    constructor(SettlementEscrow escrow_, SettlementToken token_, address agent_, uint256[] memory keys_) {
        escrow = escrow_;
        token = token_;
        agent = agent_;
        stranger = makeAddr("stranger");
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

    // ---------------------------------------------------------------- actions

    /// @param mode 0-4: the honest path (the agent submits the payer's own intent). 5: the
    ///        intent is signed by another actor's key. 6: the payer submits its own intent.
    ///        7: the agent submits an order that differs (amount + 1) from the signed one.
    ///        Only the honest path may ever succeed.
    function lock(
        uint256 idSeed,
        uint256 payerSeed,
        uint256 payeeSeed,
        uint256 amount,
        uint256 ttl,
        uint256 mode
    ) external step {
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

    function release(uint256 idSeed) external step {
        bytes32 id = _pickId(idSeed);
        vm.prank(agent);
        try escrow.release(id) {
            releasesOk++;
        } catch {
            releasesFailed++;
        }
    }

    function refund(uint256 idSeed, bool byAgent) external step {
        bytes32 id = _pickId(idSeed);
        vm.prank(byAgent ? agent : stranger);
        try escrow.refund(id) {
            refundsOk++;
        } catch {
            refundsFailed++;
        }
    }

    function warp(uint256 secondsForward) external step {
        currentTime += bound(secondsForward, 1, MAX_WARP);
        vm.warp(currentTime);
        warps++;
    }

    /// @dev Three times in four, pick among the trades currently Locked, so releases and refunds
    ///      mostly hit live trades; otherwise (or if none is open) any id, which probes the
    ///      unlocked, already-settled and never-locked cases.
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

    // ---------------------------------------------------------------- observation

    /// @dev Compares every trade's status with the last one seen. Allowed moves: stay put,
    ///      None->Locked, Locked->Released, Locked->Refunded. Anything else is counted as illegal.
    function _observeAll() private {
        for (uint256 i = 0; i < NUM_TRADES; i++) {
            bytes32 id = i.tradeId(NUM_TRADES);
            SettlementEscrow.Status before = ghostStatus[id];
            SettlementEscrow.Status now_ = escrow.statusOf(id);
            if (now_ == before) continue;
            bool legal = (before == SettlementEscrow.Status.None && now_ == SettlementEscrow.Status.Locked)
                || (before == SettlementEscrow.Status.Locked
                    && (now_ == SettlementEscrow.Status.Released || now_ == SettlementEscrow.Status.Refunded));
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
    function tradeId(uint256 seed, uint256 count) internal pure returns (bytes32) {
        return keccak256(abi.encode("trade", seed % count));
    }
}
