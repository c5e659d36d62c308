// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {TestBase} from "./base/TestBase.sol";
import {SettlementToken} from "../src/SettlementToken.sol";
import {SettlementEscrow} from "../src/SettlementEscrow.sol";
import {EscrowHandler, TradeIds} from "./handlers/EscrowHandler.sol";

/// @notice Stateful fuzzing: forge calls the handler's actions in random order and depth,
///         and after every call checks the properties below.
contract SettlementEscrowInvariantTest is TestBase {
    using TradeIds for uint256;

    uint256 internal constant START_BALANCE = 1_000_000_000e6; // far above what a run can lock

    SettlementToken internal token;
    SettlementEscrow internal escrow;
    EscrowHandler internal handler;
    address[] internal actors;

    function setUp() public {
        vm.warp(1_700_000_000);
        address issuer = makeAddr("issuer");
        address admin = makeAddr("admin");
        address agent = makeAddr("agent");
        token = new SettlementToken("Settlement USD", "SUSD", issuer, issuer, issuer, issuer, issuer);
        vm.prank(issuer);
        token.configureMinter(issuer, type(uint256).max);
        escrow = new SettlementEscrow(IERC20(address(token)), admin, agent);

        uint256[] memory keys = new uint256[](3);
        keys[0] = 0xA11CE;
        keys[1] = 0xB0B;
        keys[2] = 0xCA201;
        for (uint256 i = 0; i < keys.length; i++) {
            actors.push(vm.addr(keys[i]));
            vm.prank(issuer);
            token.issue(actors[i], START_BALANCE);
            vm.prank(actors[i]);
            token.approve(address(escrow), type(uint256).max);
        }

        handler = new EscrowHandler(escrow, token, agent, admin, issuer, keys);

        // Only the handler's actions are fuzzed: not its ghost getters, not the escrow directly.
        bytes4[] memory selectors = new bytes4[](13);
        selectors[0] = EscrowHandler.lock.selector;
        selectors[1] = EscrowHandler.release.selector;
        selectors[2] = EscrowHandler.refund.selector;
        selectors[3] = EscrowHandler.warp.selector;
        selectors[4] = EscrowHandler.setPaused.selector;
        selectors[5] = EscrowHandler.freeze.selector;
        selectors[6] = EscrowHandler.scheduleRecovery.selector;
        selectors[7] = EscrowHandler.executeRecovery.selector;
        selectors[8] = EscrowHandler.cancelRecovery.selector;
        selectors[9] = EscrowHandler.donate.selector;
        selectors[10] = EscrowHandler.rescue.selector;
        selectors[11] = EscrowHandler.strand.selector;
        selectors[12] = EscrowHandler.lock.selector; // twice: locks feed everything else
        targetContract(address(handler));
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    /// @notice (a) The escrow holds the open locks plus what was sent by mistake: its balance,
    ///         its counter, the handler's tally of trades seen Locked and of unrescued mistakes
    ///         all agree, and the open locks are always fully backed.
    function invariant_escrowBalanceEqualsOpenLocks() public view {
        uint256 balance = token.balanceOf(address(escrow));
        assertEq(escrow.totalLocked(), handler.ghostLockedSum(), "totalLocked vs ghost sum of Locked trades");
        assertEq(balance, escrow.totalLocked() + handler.ghostSurplus(), "balance vs totalLocked + surplus");
        assertTrue(balance >= escrow.totalLocked(), "open locks under-backed");
    }

    /// @notice (b) Every trade goes None -> Locked -> Released | Refunded | Recovered, once: no
    ///         status ever moved backwards or out of a terminal state, no id was locked twice.
    function invariant_tradesSettleAtMostOnce() public view {
        assertEq(handler.ghostIllegalTransitions(), 0, "illegal status transitions");
        uint256 numTrades = handler.NUM_TRADES();
        for (uint256 i = 0; i < numTrades; i++) {
            bytes32 id = i.tradeId(numTrades);
            uint256 lockCount = handler.ghostLockCount(id);
            assertLe(lockCount, 1, "trade locked more than once");
            // A trade that left None did so through exactly one successful lock.
            bool touched = escrow.statusOf(id) != SettlementEscrow.Status.None;
            assertEq(lockCount, touched ? 1 : 0, "lock count vs status");
        }
    }

    /// @notice (b') A settled lock is deleted: only its outcome remains (the lock-count
    ///         invariant above shows that outcome still keeps the trade id from a second lock).
    function invariant_settledLocksFreeTheirStorage() public view {
        uint256 numTrades = handler.NUM_TRADES();
        for (uint256 i = 0; i < numTrades; i++) {
            SettlementEscrow.Lock memory l = escrow.getLock(i.tradeId(numTrades));
            if (l.status == SettlementEscrow.Status.None || l.status == SettlementEscrow.Status.Locked) continue;
            assertTrue(l.payee == address(0) && l.payer == address(0), "settled lock keeps a party");
            assertEq(l.amount, 0, "settled lock keeps its amount");
            assertEq(uint256(l.deadline), 0, "settled lock keeps its deadline");
        }
    }

    /// @notice (c) Coins are only moved, never made or lost: actors, escrow, the recovery vault
    ///         and the rescue sink hold the whole supply.
    function invariant_tokensConserved() public view {
        uint256 sum = token.balanceOf(address(escrow)) + token.balanceOf(handler.vault())
            + token.balanceOf(handler.sink()) + token.balanceOf(handler.stranger());
        for (uint256 i = 0; i < actors.length; i++) {
            sum += token.balanceOf(actors[i]);
        }
        assertEq(sum, token.totalSupply(), "supply");
        assertEq(token.totalSupply(), START_BALANCE * actors.length, "supply changed");
    }

    /// @notice (d) Consent: no lock ever succeeded without the payer's intent for exactly that
    ///         order, or from anyone but the agent.
    function invariant_everyLockSignedByPayerAndSubmittedByAgent() public view {
        assertEq(handler.ghostUnauthorisedLocks(), 0, "lock without consent");
    }

    /// @notice (e) Pause holds coins only until deadline + grace: no refund slipped through a
    ///         pause earlier, and none past it was refused for an unfrozen payer.
    function invariant_pauseHoldsOnlyUntilGraceEnd() public view {
        assertEq(handler.ghostEarlyPausedRefunds(), 0, "refund while paused before grace end");
        assertEq(handler.ghostBlockedExits(), 0, "payer's post-grace exit refused");
    }

    /// @notice (f) Recovery only ever moved a lock whose payer and payee were both frozen, and
    ///         only after its delay; rescue never took more than the mistaken surplus.
    function invariant_recoveryAndRescueStayInBounds() public view {
        assertEq(handler.ghostBadRecoveries(), 0, "recovery out of bounds");
        assertEq(handler.ghostOverRescues(), 0, "rescue beyond surplus");
    }

    /// @notice Not a property: prints the handler's counters (forge test -vv) so a human can
    ///         confirm the campaign really exercised each path rather than reverting.
    ///         It checks nothing, so a few runs are enough; the budget goes to the real invariants.
    /// forge-config: default.invariant.runs = 8
    /// forge-config: ci.invariant.runs = 8
    function invariant_callSummary() public view {
        _log("calls", handler.calls());
        _log("locks ok", handler.locksOk());
        _log("locks failed", handler.locksFailed());
        _log("forged locks tried", handler.forgedLocksTried());
        _log("releases ok", handler.releasesOk());
        _log("releases failed", handler.releasesFailed());
        _log("refunds ok", handler.refundsOk());
        _log("refunds failed", handler.refundsFailed());
        _log("paused exits ok", handler.pausedExitsOk());
        _log("pause toggles", handler.pauseToggles());
        _log("freezes", handler.freezes());
        _log("strands", handler.strands());
        _log("recoveries scheduled", handler.recoveriesScheduled());
        _log("recoveries executed", handler.recoveriesExecuted());
        _log("recoveries cancelled", handler.recoveriesCancelled());
        _log("recovery calls failed", handler.recoveryCallsFailed());
        _log("donations", handler.donations());
        _log("rescues ok", handler.rescuesOk());
        _log("rescues failed", handler.rescuesFailed());
        _log("warps", handler.warps());
    }

    /// @notice Called by forge at the end of every run: the handler must have been exercised.
    function afterInvariant() public view {
        assertGt(handler.calls(), 0, "handler never called");
    }
}
