// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {EscrowFixture} from "./fixtures/EscrowFixture.sol";
import {SettlementToken} from "../src/SettlementToken.sol";
import {SettlementEscrow} from "../src/SettlementEscrow.sol";
import {NoReturnToken} from "./mocks/NoReturnToken.sol";

/// @notice Finding B: each power sits with its own role, and every lock has an exit. The payer's
///         post-grace refund works while paused; a lock stranded by a double freeze can be
///         recovered after a delay; coins sent by mistake can be rescued, locked coins never.
contract SettlementEscrowExitsTest is EscrowFixture {
    address internal vault; // where a recovery sends stranded coins

    function setUp() public override {
        super.setUp();
        vault = makeAddr("vault");
    }

    function _graceEnd(uint64 deadline) internal view returns (uint256) {
        return uint256(deadline) + escrow.REFUND_GRACE_PERIOD();
    }

    /// @dev Locks `amount` for `id`, then the token freezes both payer and payee.
    function _strand(bytes32 id, uint256 amount) internal returns (uint64 deadline) {
        deadline = _lock(id, amount);
        _blacklist(payer);
        _blacklist(payee);
    }

    function _schedule(bytes32 id, address to) internal returns (uint64 executableAt) {
        vm.prank(admin);
        escrow.scheduleRecovery(id, to);
        (, executableAt) = escrow.pendingRecovery(id);
    }

    // ---------------------------------------------------------------- post-grace refund while paused

    function test_refund_afterGraceWhilePaused_byAnyone() public {
        uint64 deadline = _lock(TRADE, 12 * ONE);
        _pauseEscrow();
        vm.warp(_graceEnd(deadline) + 1);

        vm.expectEmit(true, true, false, true, address(escrow));
        emit SettlementEscrow.Refunded(TRADE, payer, 12 * ONE, stranger);
        vm.prank(stranger);
        escrow.refund(TRADE);

        assertTrue(escrow.paused());
        _assertStatus(TRADE, SettlementEscrow.Status.Refunded);
        assertEq(token.balanceOf(payer), START_BALANCE);
        assertEq(token.balanceOf(stranger), 0);
        _assertEscrowHolds(0);
    }

    function test_refund_afterGraceWhilePaused_byPayer() public {
        uint64 deadline = _lock(TRADE, ONE);
        _pauseEscrow();
        vm.warp(_graceEnd(deadline) + 1);
        vm.prank(payer);
        escrow.refund(TRADE);
        assertEq(token.balanceOf(payer), START_BALANCE);
    }

    function test_refund_beforeGraceEndWhilePaused_reverts() public {
        uint64 deadline = _lock(TRADE, ONE);
        _pauseEscrow();

        // Before the deadline: not even the agent (pause is an emergency stop).
        vm.prank(agent);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        escrow.refund(TRADE);

        // Past the deadline but inside the grace period, up to and including its last second.
        vm.warp(uint256(deadline) + 1);
        vm.prank(stranger);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        escrow.refund(TRADE);
        vm.warp(_graceEnd(deadline));
        vm.prank(payer);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        escrow.refund(TRADE);

        _assertStatus(TRADE, SettlementEscrow.Status.Locked);
        _assertEscrowHolds(ONE);
    }

    function test_refundBatch_afterGraceWhilePaused() public {
        _lock("a", 1 * ONE);
        uint64 deadline = _lock("b", 2 * ONE);
        _pauseEscrow();
        vm.warp(_graceEnd(deadline) + 1);
        vm.prank(stranger);
        escrow.refundBatch(_ids("a", "b"));
        assertEq(token.balanceOf(payer), START_BALANCE);
        _assertEscrowHolds(0);
    }

    function test_refundBatch_whilePaused_oneLockStillInGraceRefundsNothing() public {
        uint64 early = _lock("a", ONE);
        vm.warp(block.timestamp + 1 days);
        _lock("b", ONE); // a day later: still inside its grace period when "a" is past its own
        _pauseEscrow();
        vm.warp(_graceEnd(early) + 1);
        vm.prank(stranger);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        escrow.refundBatch(_ids("a", "b"));
        _assertEscrowHolds(2 * ONE);
    }

    function test_refund_afterGraceStillBlockedByFrozenPayer() public {
        // The escrow cannot override the token: a frozen payer cannot receive its refund. (If
        // the payee is frozen too, recovery is the way out; see below.)
        uint64 deadline = _lock(TRADE, ONE);
        _blacklist(payer);
        vm.warp(_graceEnd(deadline) + 1);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(SettlementToken.Blacklisted.selector, payer));
        escrow.refund(TRADE);
    }

    /// @dev While paused, the exit opens exactly one second after deadline + grace.
    function testFuzz_refund_whilePausedGraceBoundary(uint256 ttl) public {
        ttl = bound(ttl, 1, type(uint64).max - block.timestamp - 2 days);
        SettlementEscrow.LockOrder memory o = _order(TRADE, ONE);
        o.deadline = uint64(block.timestamp + ttl);
        _lockOrder(o);
        _pauseEscrow();

        vm.warp(_graceEnd(o.deadline));
        vm.prank(stranger);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        escrow.refund(TRADE);

        vm.warp(_graceEnd(o.deadline) + 1);
        vm.prank(stranger);
        escrow.refund(TRADE);
        _assertStatus(TRADE, SettlementEscrow.Status.Refunded);
        assertEq(token.balanceOf(payer), START_BALANCE);
    }

    // ---------------------------------------------------------------- recovery: schedule

    function test_scheduleRecovery_recordsAndEmits() public {
        _strand(TRADE, 9 * ONE);
        uint64 expectedAt = uint64(block.timestamp + escrow.RECOVERY_DELAY());
        vm.expectEmit(true, true, false, true, address(escrow));
        emit SettlementEscrow.RecoveryScheduled(TRADE, vault, 9 * ONE, expectedAt);
        vm.prank(admin);
        escrow.scheduleRecovery(TRADE, vault);

        (address to, uint64 executableAt) = escrow.pendingRecovery(TRADE);
        assertEq(to, vault);
        assertEq(uint256(executableAt), uint256(expectedAt));
        _assertStatus(TRADE, SettlementEscrow.Status.Locked); // nothing moved yet
        _assertEscrowHolds(9 * ONE);
    }

    function test_scheduleRecovery_stranded_releaseAndRefundBothFail() public {
        // Why recovery exists: with both parties frozen no ordinary path can move the coins,
        // not even the payer's post-grace exit.
        uint64 deadline = _strand(TRADE, ONE);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementToken.Blacklisted.selector, payee));
        escrow.release(TRADE);
        vm.warp(_graceEnd(deadline) + 1);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(SettlementToken.Blacklisted.selector, payer));
        escrow.refund(TRADE);
    }

    function test_scheduleRecovery_revertsWhenNotBothBlacklisted() public {
        _lock(TRADE, ONE);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.PartiesNotBlacklisted.selector, TRADE));
        escrow.scheduleRecovery(TRADE, vault);

        _blacklist(payer); // only the payer: release to the payee still works
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.PartiesNotBlacklisted.selector, TRADE));
        escrow.scheduleRecovery(TRADE, vault);

        vm.prank(issuer);
        token.removeBlackList(payer);
        _blacklist(payee); // only the payee: refund to the payer still works
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.PartiesNotBlacklisted.selector, TRADE));
        escrow.scheduleRecovery(TRADE, vault);
    }

    function test_scheduleRecovery_revertsWhenNotLocked() public {
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.NotLocked.selector, TRADE));
        escrow.scheduleRecovery(TRADE, vault);

        _lock(TRADE, ONE);
        vm.prank(agent);
        escrow.release(TRADE);
        _blacklist(payer);
        _blacklist(payee);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.NotLocked.selector, TRADE));
        escrow.scheduleRecovery(TRADE, vault);
    }

    function test_scheduleRecovery_revertsOnBadRecipient() public {
        _strand(TRADE, ONE);
        vm.startPrank(admin);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.InvalidParty.selector, address(0)));
        escrow.scheduleRecovery(TRADE, address(0));
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.InvalidParty.selector, address(escrow)));
        escrow.scheduleRecovery(TRADE, address(escrow));
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.InvalidParty.selector, payer));
        escrow.scheduleRecovery(TRADE, payer); // frozen
        vm.stopPrank();
    }

    function test_scheduleRecovery_revertsWhenAlreadyScheduled() public {
        _strand(TRADE, ONE);
        _schedule(TRADE, vault);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.RecoveryAlreadyScheduled.selector, TRADE));
        escrow.scheduleRecovery(TRADE, stranger);
    }

    function test_scheduleRecovery_revertsWhenNotRecoveryRole() public {
        _strand(TRADE, ONE);
        vm.prank(agent);
        vm.expectRevert(_roleError(agent, recoveryRole));
        escrow.scheduleRecovery(TRADE, agent);
        vm.prank(stranger);
        vm.expectRevert(_roleError(stranger, recoveryRole));
        escrow.scheduleRecovery(TRADE, stranger);
    }

    function test_scheduleRecovery_allowedWhilePaused() public {
        // Scheduling moves nothing, so an incident need not wait for unpause to start the clock.
        _strand(TRADE, ONE);
        _pauseEscrow();
        _schedule(TRADE, vault);
        (address to,) = escrow.pendingRecovery(TRADE);
        assertEq(to, vault);
    }

    // ---------------------------------------------------------------- recovery: execute

    function test_executeRecovery_afterDelayMovesLockAndEmits() public {
        _lock("other", 3 * ONE); // an unrelated open lock must be untouched
        _strand(TRADE, 9 * ONE);
        uint64 executableAt = _schedule(TRADE, vault);
        vm.warp(executableAt);

        vm.expectEmit(true, true, false, true, address(escrow));
        emit SettlementEscrow.Recovered(TRADE, vault, 9 * ONE);
        vm.prank(admin);
        escrow.executeRecovery(TRADE);

        _assertStatus(TRADE, SettlementEscrow.Status.Recovered);
        _assertStatus("other", SettlementEscrow.Status.Locked);
        assertEq(token.balanceOf(vault), 9 * ONE);
        _assertEscrowHolds(3 * ONE);
        (address to, uint64 at) = escrow.pendingRecovery(TRADE);
        assertEq(to, address(0));
        assertEq(uint256(at), 0);
        // The lock is deleted, as on release; its outcome keeps the id burnt.
        assertEq(escrow.getLock(TRADE).amount, 0);
        assertEq(escrow.getLock(TRADE).payer, address(0));
    }

    function test_executeRecovery_isTerminal() public {
        _strand(TRADE, ONE);
        uint64 executableAt = _schedule(TRADE, vault);
        vm.warp(executableAt);
        vm.prank(admin);
        escrow.executeRecovery(TRADE);

        vm.prank(issuer);
        token.removeBlackList(payer);
        vm.prank(issuer);
        token.removeBlackList(payee);
        vm.startPrank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.NotLocked.selector, TRADE));
        escrow.release(TRADE);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.NotLocked.selector, TRADE));
        escrow.refund(TRADE);
        vm.stopPrank();
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.RecoveryNotScheduled.selector, TRADE));
        escrow.executeRecovery(TRADE);

        SettlementEscrow.LockOrder memory again = _order(TRADE, ONE);
        bytes memory sig = _signPayer(again);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.AlreadyLocked.selector, TRADE));
        escrow.lock(again, sig);
    }

    function test_executeRecovery_revertsTooEarly() public {
        _strand(TRADE, ONE);
        uint64 executableAt = _schedule(TRADE, vault);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.RecoveryNotReady.selector, TRADE, executableAt));
        escrow.executeRecovery(TRADE);
        vm.warp(uint256(executableAt) - 1);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.RecoveryNotReady.selector, TRADE, executableAt));
        escrow.executeRecovery(TRADE);
        _assertEscrowHolds(ONE);
    }

    function test_executeRecovery_revertsWhenNotScheduled() public {
        _strand(TRADE, ONE);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.RecoveryNotScheduled.selector, TRADE));
        escrow.executeRecovery(TRADE);
    }

    function test_executeRecovery_revertsWhenAPartyWasUnfrozen() public {
        // The delay is there for this: the token unfreezes the payee, so release works again
        // and recovery must not pre-empt it.
        _strand(TRADE, ONE);
        uint64 executableAt = _schedule(TRADE, vault);
        vm.prank(issuer);
        token.removeBlackList(payee);
        vm.warp(executableAt);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.PartiesNotBlacklisted.selector, TRADE));
        escrow.executeRecovery(TRADE);
        _assertStatus(TRADE, SettlementEscrow.Status.Locked);
    }

    function test_executeRecovery_revertsWhenLockSettledMeanwhile() public {
        uint64 deadline = _strand(TRADE, ONE);
        uint64 executableAt = _schedule(TRADE, vault);
        vm.prank(issuer);
        token.removeBlackList(payer);
        vm.warp(executableAt > deadline ? executableAt : deadline + 1);
        vm.prank(stranger);
        escrow.refund(TRADE); // the payer's ordinary exit, now that it is unfrozen
        _blacklist(payer);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.NotLocked.selector, TRADE));
        escrow.executeRecovery(TRADE);
        assertEq(token.balanceOf(vault), 0);
    }

    function test_executeRecovery_revertsWhenRecipientFrozenMeanwhile() public {
        _strand(TRADE, ONE);
        uint64 executableAt = _schedule(TRADE, vault);
        _blacklist(vault);
        vm.warp(executableAt);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.InvalidParty.selector, vault));
        escrow.executeRecovery(TRADE);
    }

    function test_executeRecovery_revertsWhenPaused() public {
        _strand(TRADE, ONE);
        uint64 executableAt = _schedule(TRADE, vault);
        _pauseEscrow();
        vm.warp(executableAt);
        vm.prank(admin);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        escrow.executeRecovery(TRADE);
    }

    function test_executeRecovery_revertsWhenNotRecoveryRole() public {
        _strand(TRADE, ONE);
        uint64 executableAt = _schedule(TRADE, vault);
        vm.warp(executableAt);
        vm.prank(agent);
        vm.expectRevert(_roleError(agent, recoveryRole));
        escrow.executeRecovery(TRADE);
        vm.prank(vault);
        vm.expectRevert(_roleError(vault, recoveryRole));
        escrow.executeRecovery(TRADE);
    }

    // ---------------------------------------------------------------- recovery: cancel

    function test_cancelRecovery_clearsAndEmits() public {
        _strand(TRADE, ONE);
        uint64 executableAt = _schedule(TRADE, vault);
        vm.expectEmit(true, false, false, true, address(escrow));
        emit SettlementEscrow.RecoveryCancelled(TRADE);
        vm.prank(admin);
        escrow.cancelRecovery(TRADE);

        (address to, uint64 at) = escrow.pendingRecovery(TRADE);
        assertEq(to, address(0));
        assertEq(uint256(at), 0);
        vm.warp(executableAt);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.RecoveryNotScheduled.selector, TRADE));
        escrow.executeRecovery(TRADE);
    }

    function test_cancelRecovery_thenRescheduleRestartsTheClock() public {
        _strand(TRADE, ONE);
        _schedule(TRADE, vault);
        vm.warp(block.timestamp + 1 days);
        vm.prank(admin);
        escrow.cancelRecovery(TRADE);
        uint64 executableAt = _schedule(TRADE, vault);
        assertEq(uint256(executableAt), block.timestamp + escrow.RECOVERY_DELAY());
    }

    function test_cancelRecovery_revertsWhenNotScheduled() public {
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.RecoveryNotScheduled.selector, TRADE));
        escrow.cancelRecovery(TRADE);
    }

    function test_cancelRecovery_revertsWhenNotRecoveryRole() public {
        _strand(TRADE, ONE);
        _schedule(TRADE, vault);
        vm.prank(stranger);
        vm.expectRevert(_roleError(stranger, recoveryRole));
        escrow.cancelRecovery(TRADE);
    }

    // ---------------------------------------------------------------- rescue

    function test_rescueERC20_returnsSurplusOfSettlementToken() public {
        _lock(TRADE, 10 * ONE);
        vm.prank(payer);
        token.transfer(address(escrow), 5 * ONE); // by mistake

        vm.expectEmit(true, true, false, true, address(escrow));
        emit SettlementEscrow.Rescued(address(token), payer, 5 * ONE);
        vm.prank(admin);
        escrow.rescueERC20(IERC20(address(token)), payer, 5 * ONE);

        assertEq(token.balanceOf(payer), START_BALANCE - 10 * ONE);
        _assertEscrowHolds(10 * ONE);
    }

    function test_rescueERC20_cannotTouchLockedFunds() public {
        _lock(TRADE, 10 * ONE);
        vm.prank(payer);
        token.transfer(address(escrow), 5 * ONE);

        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.RescueExceedsSurplus.selector, 5 * ONE + 1, 5 * ONE));
        escrow.rescueERC20(IERC20(address(token)), admin, 5 * ONE + 1);
        vm.prank(admin);
        escrow.rescueERC20(IERC20(address(token)), admin, 5 * ONE);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.RescueExceedsSurplus.selector, 1, 0));
        escrow.rescueERC20(IERC20(address(token)), admin, 1);

        _assertEscrowHolds(10 * ONE);
        // The lock still settles in full.
        vm.prank(agent);
        escrow.release(TRADE);
        assertEq(token.balanceOf(payee), 10 * ONE);
    }

    function test_rescueERC20_returnsAnotherTokenInFull() public {
        NoReturnToken other = new NoReturnToken();
        other.mint(address(escrow), 77);
        vm.prank(admin);
        escrow.rescueERC20(IERC20(address(other)), stranger, 77);
        assertEq(other.balanceOf(stranger), 77);
    }

    function test_rescueERC20_revertsWhenNotRescuer() public {
        vm.prank(payer);
        token.transfer(address(escrow), ONE);
        vm.prank(agent);
        vm.expectRevert(_roleError(agent, rescuerRole));
        escrow.rescueERC20(IERC20(address(token)), agent, ONE);
        vm.prank(payer);
        vm.expectRevert(_roleError(payer, rescuerRole));
        escrow.rescueERC20(IERC20(address(token)), payer, ONE);
    }

    function test_rescueERC20_revertsOnBadRecipient() public {
        vm.prank(payer);
        token.transfer(address(escrow), ONE);
        vm.startPrank(admin);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.InvalidParty.selector, address(0)));
        escrow.rescueERC20(IERC20(address(token)), address(0), ONE);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.InvalidParty.selector, address(escrow)));
        escrow.rescueERC20(IERC20(address(token)), address(escrow), ONE);
        vm.stopPrank();
    }

    function test_rescueERC20_noSurplusWhenBalanceBelowLocked() public {
        // If the token ever burns the escrow's coins (e.g. it blacklists and destroys them),
        // the surplus is zero rather than an underflow.
        _lock(TRADE, 10 * ONE);
        _blacklist(address(escrow));
        vm.prank(issuer);
        token.destroyBlackFunds(address(escrow));
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.RescueExceedsSurplus.selector, 1, 0));
        escrow.rescueERC20(IERC20(address(token)), admin, 1);
    }

    /// @dev Whatever is locked and whatever was sent by mistake, rescue can take the mistake and
    ///      not one unit more; the open locks stay fully backed.
    function testFuzz_rescue_neverTouchesLockedFunds(uint256 locked, uint256 donated, uint256 amount) public {
        locked = bound(locked, 1, START_BALANCE / 2);
        donated = bound(donated, 0, START_BALANCE / 2);
        amount = bound(amount, 0, locked + donated);
        _lock(TRADE, locked);
        vm.prank(payer);
        token.transfer(address(escrow), donated);

        vm.prank(admin);
        if (amount > donated) {
            vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.RescueExceedsSurplus.selector, amount, donated));
            escrow.rescueERC20(IERC20(address(token)), stranger, amount);
        } else {
            escrow.rescueERC20(IERC20(address(token)), stranger, amount);
            assertEq(token.balanceOf(stranger), amount);
        }
        assertEq(escrow.totalLocked(), locked);
        assertTrue(token.balanceOf(address(escrow)) >= escrow.totalLocked(), "locks under-backed");
    }

    // ---------------------------------------------------------------- role separation

    function test_roles_eachPowerNeedsItsOwnRole() public {
        // The admin hands each power to its own key and drops its own copies.
        address pauserKey = makeAddr("pauserKey");
        address rescuerKey = makeAddr("rescuerKey");
        address recoveryKey = makeAddr("recoveryKey");
        vm.startPrank(admin);
        escrow.grantRole(pauserRole, pauserKey);
        escrow.grantRole(rescuerRole, rescuerKey);
        escrow.grantRole(recoveryRole, recoveryKey);
        escrow.renounceRole(pauserRole, admin);
        escrow.renounceRole(rescuerRole, admin);
        escrow.renounceRole(recoveryRole, admin);
        vm.stopPrank();

        _strand(TRADE, ONE);
        address[5] memory callers = [admin, agent, pauserKey, rescuerKey, recoveryKey];
        for (uint256 i = 0; i < callers.length; i++) {
            address c = callers[i];
            if (c != pauserKey) {
                vm.prank(c);
                vm.expectRevert(_roleError(c, pauserRole));
                escrow.pause();
            }
            if (c != rescuerKey) {
                vm.prank(c);
                vm.expectRevert(_roleError(c, rescuerRole));
                escrow.rescueERC20(IERC20(address(token)), c, 0);
            }
            if (c != recoveryKey) {
                vm.prank(c);
                vm.expectRevert(_roleError(c, recoveryRole));
                escrow.scheduleRecovery(TRADE, vault);
                vm.prank(c);
                vm.expectRevert(_roleError(c, recoveryRole));
                escrow.cancelRecovery(TRADE);
                vm.prank(c);
                vm.expectRevert(_roleError(c, recoveryRole));
                escrow.executeRecovery(TRADE);
            }
            if (c != agent) {
                vm.prank(c);
                vm.expectRevert(_roleError(c, agentRole));
                escrow.release(TRADE);
            }
        }

        // And each key can do its own job.
        vm.prank(rescuerKey);
        escrow.rescueERC20(IERC20(address(token)), rescuerKey, 0);
        vm.prank(recoveryKey);
        escrow.scheduleRecovery(TRADE, vault);
        vm.prank(pauserKey);
        escrow.pause();
        assertTrue(escrow.paused());
    }

    function test_roles_onlyAdminGrants() public {
        vm.prank(agent);
        vm.expectRevert(_roleError(agent, bytes32(0)));
        escrow.grantRole(recoveryRole, agent);
        vm.prank(stranger);
        vm.expectRevert(_roleError(stranger, bytes32(0)));
        escrow.grantRole(agentRole, stranger);
    }
}
