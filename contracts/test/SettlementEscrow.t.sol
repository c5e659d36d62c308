// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {TestBase} from "./base/TestBase.sol";
import {EscrowFixture} from "./fixtures/EscrowFixture.sol";
import {SettlementToken} from "../src/SettlementToken.sol";
import {SettlementEscrow} from "../src/SettlementEscrow.sol";
import {NoReturnToken} from "./mocks/NoReturnToken.sol";
import {FeeOnTransferToken} from "./mocks/FeeOnTransferToken.sol";

/// @notice The lock / release / refund life cycle, batches, pause and views. Consent (who may
///         lock, signatures) is in SettlementEscrow.consent.t.sol; exits, recovery, rescue and
///         roles in SettlementEscrow.exits.t.sol.
contract SettlementEscrowTest is EscrowFixture {
    // ---------------------------------------------------------------- constructor

    function test_constructor_setsTokenAndRoles() public view {
        assertEq(address(escrow.token()), address(token));
        assertTrue(escrow.hasRole(escrow.DEFAULT_ADMIN_ROLE(), admin));
        assertTrue(escrow.hasRole(pauserRole, admin));
        assertTrue(escrow.hasRole(rescuerRole, admin));
        assertTrue(escrow.hasRole(recoveryRole, admin));
        assertTrue(escrow.hasRole(agentRole, agent));
        assertFalse(escrow.hasRole(agentRole, admin));
        assertFalse(escrow.hasRole(pauserRole, agent));
        assertFalse(escrow.hasRole(rescuerRole, agent));
        assertFalse(escrow.hasRole(recoveryRole, agent));
        assertFalse(escrow.hasRole(escrow.DEFAULT_ADMIN_ROLE(), agent));
        assertEq(escrow.MAX_BATCH(), 200);
        assertEq(escrow.REFUND_GRACE_PERIOD(), 1 days);
        assertEq(escrow.RECOVERY_DELAY(), 2 days);
        _assertEscrowHolds(0);
    }

    function test_roleConstants_areTheirNamesHashes() public view {
        assertEq(agentRole, keccak256("SETTLEMENT_AGENT_ROLE"));
        assertEq(pauserRole, keccak256("PAUSER_ROLE"));
        assertEq(rescuerRole, keccak256("RESCUER_ROLE"));
        assertEq(recoveryRole, keccak256("RECOVERY_ROLE"));
    }

    // ---------------------------------------------------------------- lock

    function test_lock_byAgentPullsFundsAndRecordsLock() public {
        uint64 deadline = _deadline();
        vm.expectEmit(true, true, true, true, address(escrow));
        emit SettlementEscrow.Locked(TRADE, payer, payee, 100 * ONE, deadline);
        _lock(TRADE, 100 * ONE);

        SettlementEscrow.Lock memory l = escrow.getLock(TRADE);
        assertEq(l.payer, payer);
        assertEq(l.payee, payee);
        assertEq(l.amount, 100 * ONE);
        assertEq(uint256(l.deadline), uint256(deadline));
        assertEq(uint256(l.status), uint256(SettlementEscrow.Status.Locked));
        assertEq(token.balanceOf(payer), START_BALANCE - 100 * ONE);
        _assertEscrowHolds(100 * ONE);
    }

    function test_lock_revertsWhenAlreadyLocked() public {
        _lock(TRADE, ONE);
        SettlementEscrow.LockOrder memory o = _order(TRADE, ONE);
        bytes memory sig = _signPayer(o);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.AlreadyLocked.selector, TRADE));
        escrow.lock(o, sig);
    }

    function test_lock_revertsWhenReplayedAfterRelease() public {
        _lock(TRADE, ONE);
        vm.prank(agent);
        escrow.release(TRADE);
        SettlementEscrow.LockOrder memory o = _order(TRADE, ONE);
        bytes memory sig = _signPayer(o);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.AlreadyLocked.selector, TRADE));
        escrow.lock(o, sig);
    }

    function test_lock_revertsWhenReplayedAfterRefund() public {
        _lock(TRADE, ONE);
        vm.prank(agent);
        escrow.refund(TRADE);
        SettlementEscrow.LockOrder memory o = _order(TRADE, ONE);
        bytes memory sig = _signPayer(o);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.AlreadyLocked.selector, TRADE));
        escrow.lock(o, sig);
    }

    function test_lock_revertsOnZeroAmount() public {
        SettlementEscrow.LockOrder memory o = _order(TRADE, 0);
        bytes memory sig = _signPayer(o);
        vm.prank(agent);
        vm.expectRevert(SettlementEscrow.ZeroAmount.selector);
        escrow.lock(o, sig);
    }

    function test_lock_revertsOnZeroPayer() public {
        SettlementEscrow.LockOrder memory o = _order(TRADE, ONE);
        o.payer = address(0);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.InvalidParty.selector, address(0)));
        escrow.lock(o, "");
    }

    function test_lock_revertsOnZeroPayee() public {
        SettlementEscrow.LockOrder memory o = _order(TRADE, ONE);
        o.payee = address(0);
        bytes memory sig = _signPayer(o);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.InvalidParty.selector, address(0)));
        escrow.lock(o, sig);
    }

    function test_lock_revertsWhenPayeeIsPayer() public {
        SettlementEscrow.LockOrder memory o = _order(TRADE, ONE);
        o.payee = payer;
        bytes memory sig = _signPayer(o);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.InvalidParty.selector, payer));
        escrow.lock(o, sig);
    }

    function test_lock_revertsWhenPayeeIsEscrow() public {
        SettlementEscrow.LockOrder memory o = _order(TRADE, ONE);
        o.payee = address(escrow);
        bytes memory sig = _signPayer(o);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.InvalidParty.selector, address(escrow)));
        escrow.lock(o, sig);
    }

    function test_lock_revertsWhenDeadlineIsNow() public {
        SettlementEscrow.LockOrder memory o = _order(TRADE, ONE);
        o.deadline = uint64(block.timestamp);
        bytes memory sig = _signPayer(o);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.InvalidDeadline.selector, o.deadline));
        escrow.lock(o, sig);
    }

    function test_lock_revertsWhenAllowanceTooLow() public {
        vm.prank(payer);
        token.approve(address(escrow), ONE - 1);
        SettlementEscrow.LockOrder memory o = _order(TRADE, ONE);
        bytes memory sig = _signPayer(o);
        vm.prank(agent);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(escrow), ONE - 1, ONE)
        );
        escrow.lock(o, sig);
        _assertStatus(TRADE, SettlementEscrow.Status.None);
    }

    function test_lock_revertsWhenBalanceTooLow() public {
        SettlementEscrow.LockOrder memory o = _order(TRADE, START_BALANCE + 1);
        bytes memory sig = _signPayer(o);
        vm.prank(agent);
        vm.expectRevert(
            abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientBalance.selector, payer, START_BALANCE, START_BALANCE + 1
            )
        );
        escrow.lock(o, sig);
        _assertEscrowHolds(0);
    }

    function test_lock_revertsWhenPaused() public {
        _pauseEscrow();
        SettlementEscrow.LockOrder memory o = _order(TRADE, ONE);
        bytes memory sig = _signPayer(o);
        vm.prank(agent);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        escrow.lock(o, sig);
    }

    function test_lock_revertsWhenPayerBlacklisted() public {
        _blacklist(payer);
        SettlementEscrow.LockOrder memory o = _order(TRADE, ONE);
        bytes memory sig = _signPayer(o);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementToken.Blacklisted.selector, payer));
        escrow.lock(o, sig);
    }

    function test_lock_revertsWhenTokenPaused() public {
        vm.prank(issuer);
        token.pause();
        SettlementEscrow.LockOrder memory o = _order(TRADE, ONE);
        bytes memory sig = _signPayer(o);
        vm.prank(agent);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        escrow.lock(o, sig);
    }

    // ---------------------------------------------------------------- lockWithPermit

    function test_lockWithPermit_worksWithoutPriorApprove() public {
        vm.prank(payer);
        token.approve(address(escrow), 0);
        uint256 permitDeadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(PAYER_PK, payer, 10 * ONE, permitDeadline);
        SettlementEscrow.LockOrder memory o = _order(TRADE, 10 * ONE);
        bytes memory sig = _signPayer(o);

        vm.prank(agent);
        escrow.lockWithPermit(o, sig, 10 * ONE, permitDeadline, v, r, s);

        _assertStatus(TRADE, SettlementEscrow.Status.Locked);
        _assertEscrowHolds(10 * ONE);
        assertEq(token.nonces(payer), 1);
        assertEq(token.allowance(payer, address(escrow)), 0);
    }

    function test_lockWithPermit_badPermitWithEnoughAllowanceStillLocks() public {
        // Signed by the wrong key, so permit fails, but the standing approval covers the lock
        // (and the payer's intent authorises it).
        uint256 permitDeadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(0xBAD, payer, 10 * ONE, permitDeadline);
        SettlementEscrow.LockOrder memory o = _order(TRADE, 10 * ONE);
        bytes memory sig = _signPayer(o);

        vm.prank(agent);
        escrow.lockWithPermit(o, sig, 10 * ONE, permitDeadline, v, r, s);

        _assertStatus(TRADE, SettlementEscrow.Status.Locked);
        assertEq(token.nonces(payer), 0);
    }

    function test_lockWithPermit_worksWhenPermitWasFrontRun() public {
        // Someone submits the payer's permit first; the lock must not be griefed by that.
        vm.prank(payer);
        token.approve(address(escrow), 0);
        uint256 permitDeadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(PAYER_PK, payer, 10 * ONE, permitDeadline);
        vm.prank(stranger);
        token.permit(payer, address(escrow), 10 * ONE, permitDeadline, v, r, s);
        SettlementEscrow.LockOrder memory o = _order(TRADE, 10 * ONE);
        bytes memory sig = _signPayer(o);

        vm.prank(agent);
        escrow.lockWithPermit(o, sig, 10 * ONE, permitDeadline, v, r, s);
        _assertStatus(TRADE, SettlementEscrow.Status.Locked);
    }

    function test_lockWithPermit_revertsWhenBadPermitAndNoAllowance() public {
        vm.prank(payer);
        token.approve(address(escrow), 0);
        uint256 permitDeadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(0xBAD, payer, 10 * ONE, permitDeadline);
        SettlementEscrow.LockOrder memory o = _order(TRADE, 10 * ONE);
        bytes memory sig = _signPayer(o);

        vm.prank(agent);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(escrow), 0, 10 * ONE)
        );
        escrow.lockWithPermit(o, sig, 10 * ONE, permitDeadline, v, r, s);
        _assertStatus(TRADE, SettlementEscrow.Status.None);
    }

    function test_lockWithPermit_revertsWhenExpiredPermitAndNoAllowance() public {
        vm.prank(payer);
        token.approve(address(escrow), 0);
        uint256 permitDeadline = block.timestamp - 1;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(PAYER_PK, payer, 10 * ONE, permitDeadline);
        SettlementEscrow.LockOrder memory o = _order(TRADE, 10 * ONE);
        bytes memory sig = _signPayer(o);

        vm.prank(agent);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(escrow), 0, 10 * ONE)
        );
        escrow.lockWithPermit(o, sig, 10 * ONE, permitDeadline, v, r, s);
    }

    function test_lockWithPermit_revertsWhenStrangerCallsWithValidPermitAndIntent() public {
        // Even holding both of the payer's signatures, only the agent may submit the lock.
        uint256 permitDeadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(PAYER_PK, payer, 10 * ONE, permitDeadline);
        SettlementEscrow.LockOrder memory o = _order(TRADE, 10 * ONE);
        bytes memory sig = _signPayer(o);

        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.NotAuthorized.selector, stranger));
        escrow.lockWithPermit(o, sig, 10 * ONE, permitDeadline, v, r, s);
        assertEq(token.nonces(payer), 0); // the whole call reverted, permit included
    }

    function test_lockWithPermit_revertsWhenPaused() public {
        _pauseEscrow();
        uint256 permitDeadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(PAYER_PK, payer, 10 * ONE, permitDeadline);
        SettlementEscrow.LockOrder memory o = _order(TRADE, 10 * ONE);
        bytes memory sig = _signPayer(o);

        vm.prank(agent);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        escrow.lockWithPermit(o, sig, 10 * ONE, permitDeadline, v, r, s);
    }

    // ---------------------------------------------------------------- lockBatch

    function test_lockBatch_locksEveryItem() public {
        SettlementEscrow.LockOrder[] memory orders = new SettlementEscrow.LockOrder[](3);
        orders[0] = _order("a", 1 * ONE);
        orders[1] = _order("b", 2 * ONE);
        orders[2] = _order("c", 3 * ONE);
        bytes[] memory sigs = _signAll(orders);

        vm.expectEmit(true, true, true, true, address(escrow));
        emit SettlementEscrow.Locked("a", payer, payee, 1 * ONE, orders[0].deadline);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit SettlementEscrow.Locked("c", payer, payee, 3 * ONE, orders[2].deadline);
        vm.prank(agent);
        escrow.lockBatch(orders, sigs);

        _assertStatus("a", SettlementEscrow.Status.Locked);
        _assertStatus("b", SettlementEscrow.Status.Locked);
        _assertStatus("c", SettlementEscrow.Status.Locked);
        _assertEscrowHolds(6 * ONE);
    }

    function test_lockBatch_revertsWhenEmpty() public {
        vm.prank(agent);
        vm.expectRevert(SettlementEscrow.EmptyBatch.selector);
        escrow.lockBatch(new SettlementEscrow.LockOrder[](0), new bytes[](0));
    }

    function test_lockBatch_revertsWhenTooLarge() public {
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.BatchTooLarge.selector, 201, 200));
        escrow.lockBatch(new SettlementEscrow.LockOrder[](201), new bytes[](201));
    }

    function test_lockBatch_oneBadItemLocksNothing() public {
        SettlementEscrow.LockOrder[] memory orders = new SettlementEscrow.LockOrder[](3);
        orders[0] = _order("a", 1 * ONE);
        orders[1] = _order("b", 2 * ONE);
        orders[2] = _order("c", 0); // bad: zero amount, last so the good ones ran first
        bytes[] memory sigs = _signAll(orders);

        vm.prank(agent);
        vm.expectRevert(SettlementEscrow.ZeroAmount.selector);
        escrow.lockBatch(orders, sigs);

        _assertStatus("a", SettlementEscrow.Status.None);
        _assertStatus("b", SettlementEscrow.Status.None);
        _assertEscrowHolds(0);
        assertEq(token.balanceOf(payer), START_BALANCE);
    }

    function test_lockBatch_oneBadSignatureLocksNothing() public {
        SettlementEscrow.LockOrder[] memory orders = new SettlementEscrow.LockOrder[](2);
        orders[0] = _order("a", 1 * ONE);
        orders[1] = _order("b", 2 * ONE);
        bytes[] memory sigs = _signAll(orders);
        sigs[1] = sigs[0]; // a's signature does not authorise b

        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.InvalidLockSignature.selector, bytes32("b"), payer));
        escrow.lockBatch(orders, sigs);
        _assertStatus("a", SettlementEscrow.Status.None);
        _assertEscrowHolds(0);
    }

    function test_lockBatch_revertsOnDuplicateIdInBatch() public {
        SettlementEscrow.LockOrder[] memory orders = new SettlementEscrow.LockOrder[](2);
        orders[0] = _order(TRADE, ONE);
        orders[1] = _order(TRADE, ONE);
        bytes[] memory sigs = _signAll(orders);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.AlreadyLocked.selector, TRADE));
        escrow.lockBatch(orders, sigs);
        _assertStatus(TRADE, SettlementEscrow.Status.None);
        _assertEscrowHolds(0);
    }

    function test_lockBatch_revertsWhenStrangerCalls() public {
        SettlementEscrow.LockOrder[] memory orders = new SettlementEscrow.LockOrder[](1);
        orders[0] = _order(TRADE, ONE);
        bytes[] memory sigs = _signAll(orders);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.NotAuthorized.selector, stranger));
        escrow.lockBatch(orders, sigs);
    }

    function test_lockBatch_revertsWhenPayerCallsItself() public {
        SettlementEscrow.LockOrder[] memory orders = new SettlementEscrow.LockOrder[](1);
        orders[0] = _order(TRADE, ONE);
        bytes[] memory sigs = _signAll(orders);
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.NotAuthorized.selector, payer));
        escrow.lockBatch(orders, sigs);
    }

    function test_lockBatch_revertsOnLengthMismatch() public {
        SettlementEscrow.LockOrder[] memory orders = new SettlementEscrow.LockOrder[](2);
        orders[0] = _order("a", ONE);
        orders[1] = _order("b", ONE);
        bytes[] memory sigs = new bytes[](1);
        sigs[0] = _signPayer(orders[0]);

        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.BatchLengthMismatch.selector, 2, 1));
        escrow.lockBatch(orders, sigs);

        bytes[] memory tooMany = new bytes[](3);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.BatchLengthMismatch.selector, 2, 3));
        escrow.lockBatch(orders, tooMany);
        _assertEscrowHolds(0);
    }

    function test_lockBatch_revertsWhenPaused() public {
        _pauseEscrow();
        SettlementEscrow.LockOrder[] memory orders = new SettlementEscrow.LockOrder[](1);
        orders[0] = _order(TRADE, ONE);
        bytes[] memory sigs = _signAll(orders);
        vm.prank(agent);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        escrow.lockBatch(orders, sigs);
    }

    // ---------------------------------------------------------------- release

    function test_release_paysPayeeAndEmits() public {
        _lock(TRADE, 40 * ONE);
        vm.expectEmit(true, true, false, true, address(escrow));
        emit SettlementEscrow.Released(TRADE, payee, 40 * ONE);
        vm.prank(agent);
        escrow.release(TRADE);

        _assertStatus(TRADE, SettlementEscrow.Status.Released);
        assertEq(token.balanceOf(payee), 40 * ONE);
        assertEq(token.balanceOf(payer), START_BALANCE - 40 * ONE);
        _assertEscrowHolds(0);
        _assertLockDeleted(TRADE);
    }

    function test_release_deletesTheLockButKeepsTheIntentSpent() public {
        (SettlementEscrow.LockOrder memory o, bytes memory sig) = _lockSigned(40 * ONE);
        vm.prank(agent);
        escrow.release(TRADE);
        _assertLockDeleted(TRADE);
        _assertIntentSpent(o, sig);
        assertEq(token.balanceOf(payer), START_BALANCE - 40 * ONE);
    }

    function test_refund_deletesTheLockButKeepsTheIntentSpent() public {
        (SettlementEscrow.LockOrder memory o, bytes memory sig) = _lockSigned(40 * ONE);
        vm.prank(agent);
        escrow.refund(TRADE);
        _assertStatus(TRADE, SettlementEscrow.Status.Refunded);
        _assertLockDeleted(TRADE);
        _assertIntentSpent(o, sig);
        assertEq(token.balanceOf(payer), START_BALANCE);
    }

    function _lockSigned(uint256 amount) private returns (SettlementEscrow.LockOrder memory o, bytes memory sig) {
        o = _order(TRADE, amount);
        sig = _signPayer(o);
        vm.prank(agent);
        escrow.lock(o, sig);
    }

    /// @dev Every term is gone (they live on in the events); only the outcome is left.
    function _assertLockDeleted(bytes32 id) private view {
        SettlementEscrow.Lock memory l = escrow.getLock(id);
        assertEq(l.payer, address(0));
        assertEq(l.payee, address(0));
        assertEq(l.amount, 0);
        assertEq(uint256(l.deadline), 0);
        assertTrue(l.status != SettlementEscrow.Status.None && l.status != SettlementEscrow.Status.Locked);
    }

    /// @notice 128 trade ids numbered in sequence under one prefix (as the service numbers
    ///         them) leave ONE storage slot behind once settled, however they settle: the
    ///         outcome word. Before, every settled lock kept a slot of its own.
    function test_settle_sequentialTradeIdsShareOneOutcomeSlot() public {
        bytes32[] memory ids = new bytes32[](128);
        for (uint256 i = 0; i < ids.length; i++) {
            ids[i] = bytes32((uint256(keccak256("prefix")) << 128) | i);
            _lock(ids[i], ONE);
        }
        vm.record();
        for (uint256 i = 0; i < ids.length; i++) {
            vm.prank(agent);
            if (i % 2 == 0) escrow.release(ids[i]);
            else escrow.refund(ids[i]);
        }
        (, bytes32[] memory writes) = vm.accesses(address(escrow));
        uint256 kept = 0;
        bytes32 outcomeSlot;
        for (uint256 i = 0; i < writes.length; i++) {
            bytes32 value = vm.load(address(escrow), writes[i]);
            if (value == bytes32(0) || writes[i] == outcomeSlot) continue;
            // The reentrancy guard's status word is written (back to NOT_ENTERED) by every call.
            if (uint256(value) == 1) continue;
            kept++;
            outcomeSlot = writes[i];
        }
        assertEq(kept, 1, "settled locks left more than their shared outcome word");
        assertEq(escrow.totalLocked(), 0);
        for (uint256 i = 0; i < ids.length; i++) {
            _assertLockDeleted(ids[i]);
            _assertStatus(ids[i], i % 2 == 0 ? SettlementEscrow.Status.Released : SettlementEscrow.Status.Refunded);
        }
    }

    /// @notice An outcome stays with its own trade id: neighbours in the same word are neither
    ///         marked settled nor kept from locking, and each keeps its own outcome.
    function test_settle_outcomeDoesNotSpillToNeighbouringTradeIds() public {
        bytes32 first = bytes32(uint256(1) << 128);
        bytes32 second = bytes32(uint256(first) | 1);
        bytes32 last = bytes32(uint256(first) | 127);
        _lock(second, ONE);
        vm.prank(agent);
        escrow.refund(second);
        _assertStatus(first, SettlementEscrow.Status.None);
        _assertStatus(last, SettlementEscrow.Status.None);
        _lock(first, ONE);
        _lock(last, ONE);
        vm.prank(agent);
        escrow.release(last);
        _assertStatus(first, SettlementEscrow.Status.Locked);
        _assertStatus(second, SettlementEscrow.Status.Refunded);
        _assertStatus(last, SettlementEscrow.Status.Released);
        assertEq(escrow.getLock(first).amount, ONE);
    }

    /// @dev The same signed intent again, before its deadline: the kept outcome refuses it.
    function _assertIntentSpent(SettlementEscrow.LockOrder memory o, bytes memory sig) private {
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.AlreadyLocked.selector, o.tradeId));
        escrow.lock(o, sig);
    }

    function test_release_revertsWhenNotAgent() public {
        _lock(TRADE, ONE);
        // Neither the payer nor the admin may release: only the agent confirms delivery.
        vm.prank(payer);
        vm.expectRevert(_roleError(payer, agentRole));
        escrow.release(TRADE);
        vm.prank(admin);
        vm.expectRevert(_roleError(admin, agentRole));
        escrow.release(TRADE);
        _assertStatus(TRADE, SettlementEscrow.Status.Locked);
    }

    function test_release_revertsWhenNotLocked() public {
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.NotLocked.selector, TRADE));
        escrow.release(TRADE);
    }

    function test_release_revertsWhenAlreadyReleased() public {
        _lock(TRADE, ONE);
        vm.prank(agent);
        escrow.release(TRADE);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.NotLocked.selector, TRADE));
        escrow.release(TRADE);
    }

    function test_release_revertsWhenRefunded() public {
        _lock(TRADE, ONE);
        vm.prank(agent);
        escrow.refund(TRADE);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.NotLocked.selector, TRADE));
        escrow.release(TRADE);
    }

    function test_release_revertsWhenDeadlinePassed() public {
        uint64 deadline = _lock(TRADE, ONE);
        vm.warp(uint256(deadline) + 1);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.DeadlinePassed.selector, TRADE, deadline));
        escrow.release(TRADE);
    }

    function test_release_worksAtDeadline() public {
        uint64 deadline = _lock(TRADE, ONE);
        vm.warp(deadline);
        vm.prank(agent);
        escrow.release(TRADE);
        _assertStatus(TRADE, SettlementEscrow.Status.Released);
    }

    function test_release_revertsWhenPayeeBlacklisted() public {
        _lock(TRADE, ONE);
        _blacklist(payee);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementToken.Blacklisted.selector, payee));
        escrow.release(TRADE);
        _assertStatus(TRADE, SettlementEscrow.Status.Locked);

        // The way out: the agent cancels and the payer gets the coins back.
        vm.prank(agent);
        escrow.refund(TRADE);
        assertEq(token.balanceOf(payer), START_BALANCE);
    }

    function test_release_revertsWhenPaused() public {
        _lock(TRADE, ONE);
        _pauseEscrow();
        vm.prank(agent);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        escrow.release(TRADE);
    }

    function test_release_revertsWhenPausedEvenAfterGrace() public {
        // The grace period opens an exit for the payer, never a payment to the payee.
        uint64 deadline = _lock(TRADE, ONE);
        _pauseEscrow();
        vm.warp(uint256(deadline) + escrow.REFUND_GRACE_PERIOD() + 1);
        vm.prank(agent);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        escrow.release(TRADE);
    }

    // ---------------------------------------------------------------- releaseBatch

    function test_releaseBatch_releasesEveryItem() public {
        _lock("a", 1 * ONE);
        _lock("b", 2 * ONE);
        vm.expectEmit(true, true, false, true, address(escrow));
        emit SettlementEscrow.Released("a", payee, 1 * ONE);
        vm.expectEmit(true, true, false, true, address(escrow));
        emit SettlementEscrow.Released("b", payee, 2 * ONE);
        vm.prank(agent);
        escrow.releaseBatch(_ids("a", "b"));

        _assertStatus("a", SettlementEscrow.Status.Released);
        _assertStatus("b", SettlementEscrow.Status.Released);
        assertEq(token.balanceOf(payee), 3 * ONE);
        _assertEscrowHolds(0);
    }

    function test_releaseBatch_revertsWhenEmpty() public {
        vm.prank(agent);
        vm.expectRevert(SettlementEscrow.EmptyBatch.selector);
        escrow.releaseBatch(new bytes32[](0));
    }

    function test_releaseBatch_revertsWhenTooLarge() public {
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.BatchTooLarge.selector, 201, 200));
        escrow.releaseBatch(new bytes32[](201));
    }

    function test_releaseBatch_oneBadItemReleasesNothing() public {
        _lock("a", ONE);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.NotLocked.selector, bytes32("never")));
        escrow.releaseBatch(_ids("a", "never"));
        _assertStatus("a", SettlementEscrow.Status.Locked);
        assertEq(token.balanceOf(payee), 0);
        _assertEscrowHolds(ONE);
    }

    function test_releaseBatch_revertsWhenNotAgent() public {
        _lock("a", ONE);
        vm.prank(stranger);
        vm.expectRevert(_roleError(stranger, agentRole));
        escrow.releaseBatch(_id("a"));
    }

    function test_releaseBatch_revertsWhenPaused() public {
        _lock("a", ONE);
        _pauseEscrow();
        vm.prank(agent);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        escrow.releaseBatch(_id("a"));
    }

    // ---------------------------------------------------------------- refund

    function test_refund_byAgentBeforeDeadline() public {
        _lock(TRADE, 30 * ONE);
        vm.expectEmit(true, true, false, true, address(escrow));
        emit SettlementEscrow.Refunded(TRADE, payer, 30 * ONE, agent);
        vm.prank(agent);
        escrow.refund(TRADE);

        _assertStatus(TRADE, SettlementEscrow.Status.Refunded);
        assertEq(token.balanceOf(payer), START_BALANCE);
        _assertEscrowHolds(0);
    }

    function test_refund_byAgentAfterDeadline() public {
        uint64 deadline = _lock(TRADE, ONE);
        vm.warp(uint256(deadline) + 1);
        vm.prank(agent);
        escrow.refund(TRADE);
        _assertStatus(TRADE, SettlementEscrow.Status.Refunded);
    }

    function test_refund_revertsWhenStrangerBeforeDeadline() public {
        uint64 deadline = _lock(TRADE, ONE);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.DeadlineNotReached.selector, TRADE, deadline));
        escrow.refund(TRADE);
    }

    function test_refund_revertsWhenPayerBeforeDeadline() public {
        // The payer cannot pull coins back from under a trade in progress.
        uint64 deadline = _lock(TRADE, ONE);
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.DeadlineNotReached.selector, TRADE, deadline));
        escrow.refund(TRADE);
    }

    function test_refund_byStrangerAfterDeadline() public {
        uint64 deadline = _lock(TRADE, 8 * ONE);
        vm.warp(uint256(deadline) + 1);
        vm.expectEmit(true, true, false, true, address(escrow));
        emit SettlementEscrow.Refunded(TRADE, payer, 8 * ONE, stranger);
        vm.prank(stranger);
        escrow.refund(TRADE);

        // Coins go to the payer, never to whoever called.
        assertEq(token.balanceOf(payer), START_BALANCE);
        assertEq(token.balanceOf(stranger), 0);
        _assertEscrowHolds(0);
    }

    function test_refund_revertsWhenNotLocked() public {
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.NotLocked.selector, TRADE));
        escrow.refund(TRADE);
    }

    function test_refund_revertsWhenAlreadyRefunded() public {
        _lock(TRADE, ONE);
        vm.prank(agent);
        escrow.refund(TRADE);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.NotLocked.selector, TRADE));
        escrow.refund(TRADE);
    }

    function test_refund_revertsWhenReleased() public {
        _lock(TRADE, ONE);
        vm.prank(agent);
        escrow.release(TRADE);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.NotLocked.selector, TRADE));
        escrow.refund(TRADE);
    }

    function test_refund_revertsWhilePayerBlacklisted() public {
        // A frozen payer cannot receive; the lock waits until the issuer lifts the freeze.
        _lock(TRADE, ONE);
        _blacklist(payer);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementToken.Blacklisted.selector, payer));
        escrow.refund(TRADE);
        _assertStatus(TRADE, SettlementEscrow.Status.Locked);
        _assertEscrowHolds(ONE);
    }

    function test_refund_revertsWhenPaused() public {
        _lock(TRADE, ONE);
        _pauseEscrow();
        vm.prank(agent);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        escrow.refund(TRADE);
    }

    // ---------------------------------------------------------------- refundBatch

    function test_refundBatch_refundsEveryItem() public {
        _lock("a", 1 * ONE);
        _lock("b", 2 * ONE);
        vm.expectEmit(true, true, false, true, address(escrow));
        emit SettlementEscrow.Refunded("a", payer, 1 * ONE, agent);
        vm.expectEmit(true, true, false, true, address(escrow));
        emit SettlementEscrow.Refunded("b", payer, 2 * ONE, agent);
        vm.prank(agent);
        escrow.refundBatch(_ids("a", "b"));

        _assertStatus("a", SettlementEscrow.Status.Refunded);
        _assertStatus("b", SettlementEscrow.Status.Refunded);
        assertEq(token.balanceOf(payer), START_BALANCE);
        _assertEscrowHolds(0);
    }

    function test_refundBatch_byStrangerAfterDeadline() public {
        _lock("a", ONE);
        uint64 deadline = _lock("b", ONE);
        vm.warp(uint256(deadline) + 1);
        vm.prank(stranger);
        escrow.refundBatch(_ids("a", "b"));
        _assertEscrowHolds(0);
    }

    function test_refundBatch_revertsWhenEmpty() public {
        vm.prank(agent);
        vm.expectRevert(SettlementEscrow.EmptyBatch.selector);
        escrow.refundBatch(new bytes32[](0));
    }

    function test_refundBatch_revertsWhenTooLarge() public {
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.BatchTooLarge.selector, 201, 200));
        escrow.refundBatch(new bytes32[](201));
    }

    function test_refundBatch_oneBadItemRefundsNothing() public {
        _lock("a", ONE);
        _lock("b", ONE);
        vm.prank(agent);
        escrow.release("b");

        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.NotLocked.selector, bytes32("b")));
        escrow.refundBatch(_ids("a", "b"));
        _assertStatus("a", SettlementEscrow.Status.Locked);
        _assertEscrowHolds(ONE);
    }

    function test_refundBatch_revertsWhenStrangerBeforeDeadline() public {
        uint64 deadline = _lock("a", ONE);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.DeadlineNotReached.selector, bytes32("a"), deadline));
        escrow.refundBatch(_id("a"));
    }

    function test_refundBatch_revertsWhenPaused() public {
        _lock("a", ONE);
        _pauseEscrow();
        vm.prank(agent);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        escrow.refundBatch(_id("a"));
    }

    // ---------------------------------------------------------------- pause / unpause

    function test_pause_byPauserAndEmits() public {
        vm.expectEmit(false, false, false, true, address(escrow));
        emit Pausable.Paused(admin);
        _pauseEscrow();
        assertTrue(escrow.paused());
    }

    function test_pause_revertsWhenNotPauser() public {
        // The agent runs settlement but cannot stop it.
        vm.prank(agent);
        vm.expectRevert(_roleError(agent, pauserRole));
        escrow.pause();
    }

    function test_unpause_byPauserRestoresLocking() public {
        _pauseEscrow();
        vm.expectEmit(false, false, false, true, address(escrow));
        emit Pausable.Unpaused(admin);
        vm.prank(admin);
        escrow.unpause();
        assertFalse(escrow.paused());
        _lock(TRADE, ONE);
        _assertStatus(TRADE, SettlementEscrow.Status.Locked);
    }

    function test_unpause_revertsWhenNotPauser() public {
        _pauseEscrow();
        vm.prank(stranger);
        vm.expectRevert(_roleError(stranger, pauserRole));
        escrow.unpause();
    }

    function test_pause_grantedPauserCanPause() public {
        vm.prank(admin);
        escrow.grantRole(pauserRole, stranger);
        vm.prank(stranger);
        escrow.pause();
        assertTrue(escrow.paused());
    }

    // ---------------------------------------------------------------- views

    function test_views_unknownTradeIsEmpty() public view {
        SettlementEscrow.Lock memory l = escrow.getLock(TRADE);
        assertEq(l.payer, address(0));
        assertEq(l.payee, address(0));
        assertEq(l.amount, 0);
        assertEq(uint256(l.deadline), 0);
        _assertStatus(TRADE, SettlementEscrow.Status.None);
        (address to, uint64 executableAt) = escrow.pendingRecovery(TRADE);
        assertEq(to, address(0));
        assertEq(uint256(executableAt), 0);
    }

    function test_views_totalLockedTracksOpenLocksOnly() public {
        _lock("a", 1 * ONE);
        _lock("b", 2 * ONE);
        _lock("c", 4 * ONE);
        _assertEscrowHolds(7 * ONE);
        vm.prank(agent);
        escrow.release("a");
        _assertEscrowHolds(6 * ONE);
        vm.prank(agent);
        escrow.refund("c");
        _assertEscrowHolds(2 * ONE);
        _assertStatus("a", SettlementEscrow.Status.Released);
        _assertStatus("b", SettlementEscrow.Status.Locked);
        _assertStatus("c", SettlementEscrow.Status.Refunded);
    }

    // ---------------------------------------------------------------- fuzz

    /// @dev Every coin leaves the payer, sits in escrow, and reaches the payee: none created or lost.
    function testFuzz_lockRelease_conservesBalances(uint256 amount, uint256 ttl, uint256 elapsed) public {
        amount = bound(amount, 1, START_BALANCE);
        ttl = bound(ttl, 1, 365 days);
        elapsed = bound(elapsed, 0, ttl);
        uint256 supply = token.totalSupply();

        SettlementEscrow.LockOrder memory o = _order(TRADE, amount);
        o.deadline = uint64(block.timestamp + ttl);
        _lockOrder(o);
        assertEq(token.balanceOf(payer), START_BALANCE - amount);
        _assertEscrowHolds(amount);

        vm.warp(block.timestamp + elapsed);
        vm.prank(agent);
        escrow.release(TRADE);

        assertEq(token.balanceOf(payer), START_BALANCE - amount);
        assertEq(token.balanceOf(payee), amount);
        _assertEscrowHolds(0);
        assertEq(token.totalSupply(), supply);
    }

    /// @dev A refund returns exactly what was locked, whoever triggers it (agent any time,
    ///      a stranger only after the deadline).
    function testFuzz_lockRefund_conservesBalances(uint256 amount, uint256 ttl, uint256 elapsed, bool byAgent) public {
        amount = bound(amount, 1, START_BALANCE);
        ttl = bound(ttl, 1, 365 days);
        // Agent: anywhere in [0, 2*ttl]. Stranger: strictly after the deadline.
        elapsed = byAgent ? bound(elapsed, 0, 2 * ttl) : bound(elapsed, ttl + 1, 2 * ttl + 1);

        SettlementEscrow.LockOrder memory o = _order(TRADE, amount);
        o.deadline = uint64(block.timestamp + ttl);
        _lockOrder(o);
        vm.warp(block.timestamp + elapsed);
        vm.prank(byAgent ? agent : stranger);
        escrow.refund(TRADE);

        assertEq(token.balanceOf(payer), START_BALANCE);
        assertEq(token.balanceOf(payee), 0);
        assertEq(token.balanceOf(stranger), 0);
        _assertEscrowHolds(0);
    }

    /// @dev Several locks at once: the escrow balance always equals the sum of open locks.
    function testFuzz_severalLocks_totalLockedMatchesBalance(uint256 a, uint256 b, uint256 c, bool releaseB) public {
        a = bound(a, 1, START_BALANCE / 3);
        b = bound(b, 1, START_BALANCE / 3);
        c = bound(c, 1, START_BALANCE / 3);
        _lock("a", a);
        _lock("b", b);
        _lock("c", c);
        _assertEscrowHolds(a + b + c);

        vm.prank(agent);
        if (releaseB) escrow.release("b");
        else escrow.refund("b");
        _assertEscrowHolds(a + c);
        assertEq(token.balanceOf(payer) + token.balanceOf(payee) + a + c, START_BALANCE);
    }

    /// @dev Stranger refund boundary: at the deadline it is still too early; one second later it works.
    function testFuzz_refund_strangerDeadlineBoundary(uint256 ttl) public {
        ttl = bound(ttl, 1, type(uint64).max - block.timestamp - 1);
        SettlementEscrow.LockOrder memory o = _order(TRADE, ONE);
        o.deadline = uint64(block.timestamp + ttl);
        _lockOrder(o);

        vm.warp(o.deadline);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.DeadlineNotReached.selector, TRADE, o.deadline));
        escrow.refund(TRADE);

        vm.warp(uint256(o.deadline) + 1);
        vm.prank(stranger);
        escrow.refund(TRADE);
        _assertStatus(TRADE, SettlementEscrow.Status.Refunded);
    }

    /// @dev Release boundary, the mirror image: release works at the deadline, not one second
    ///      after. Together with the refund boundary there is no instant where both or neither
    ///      party can act.
    function testFuzz_release_deadlineBoundary(uint256 ttl) public {
        ttl = bound(ttl, 1, type(uint64).max - block.timestamp - 1);
        uint64 deadline = uint64(block.timestamp + ttl);
        SettlementEscrow.LockOrder memory onTime = _order("on-time", ONE);
        SettlementEscrow.LockOrder memory late = _order("late", ONE);
        onTime.deadline = deadline;
        late.deadline = deadline;
        _lockOrder(onTime);
        _lockOrder(late);

        vm.startPrank(agent);
        vm.warp(deadline);
        escrow.release("on-time");
        _assertStatus("on-time", SettlementEscrow.Status.Released);

        vm.warp(uint256(deadline) + 1);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.DeadlinePassed.selector, bytes32("late"), deadline));
        escrow.release("late");
        vm.stopPrank();
        _assertStatus("late", SettlementEscrow.Status.Locked);
    }

    /// @dev Any deadline at or before now is rejected, so a lock can never be born expired.
    function testFuzz_lock_revertsWhenDeadlineNotInFuture(uint256 deadline) public {
        deadline = bound(deadline, 0, block.timestamp);
        SettlementEscrow.LockOrder memory o = _order(TRADE, ONE);
        o.deadline = uint64(deadline);
        bytes memory sig = _signPayer(o);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.InvalidDeadline.selector, uint64(deadline)));
        escrow.lock(o, sig);
    }

    /// @dev Any allowance short of the amount fails the whole lock and leaves no record.
    function testFuzz_lock_revertsWhenAllowanceShort(uint256 amount, uint256 allowance) public {
        amount = bound(amount, 1, START_BALANCE);
        allowance = bound(allowance, 0, amount - 1);
        vm.prank(payer);
        token.approve(address(escrow), allowance);
        SettlementEscrow.LockOrder memory o = _order(TRADE, amount);
        bytes memory sig = _signPayer(o);

        vm.prank(agent);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(escrow), allowance, amount)
        );
        escrow.lock(o, sig);
        _assertStatus(TRADE, SettlementEscrow.Status.None);
        _assertEscrowHolds(0);
    }
}

/// @notice A minimal fixture for escrows on other tokens: a payer with a key signs intents.
abstract contract OtherTokenEscrowBase is TestBase {
    uint256 internal constant PAYER_PK = 0xA11CE;
    SettlementEscrow internal escrow;
    address internal admin;
    address internal agent;
    address internal payer;
    address internal payee;

    function _cast() internal {
        admin = makeAddr("admin");
        agent = makeAddr("agent");
        payer = vm.addr(PAYER_PK);
        payee = makeAddr("payee");
    }

    function _signedOrder(bytes32 id, uint256 amount)
        internal
        view
        returns (SettlementEscrow.LockOrder memory order, bytes memory signature)
    {
        order = SettlementEscrow.LockOrder(id, payer, payee, amount, uint64(block.timestamp + 1 days));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(PAYER_PK, escrow.hashLockIntent(order));
        signature = abi.encodePacked(r, s, v);
    }
}

/// @notice The escrow on a USDT-style token whose transfer/approve return nothing.
contract SettlementEscrowNoReturnTokenTest is OtherTokenEscrowBase {
    NoReturnToken internal usdt;
    uint256 internal constant AMOUNT = 250e6;

    function setUp() public {
        _cast();
        usdt = new NoReturnToken();
        escrow = new SettlementEscrow(IERC20(address(usdt)), admin, agent);
        usdt.mint(payer, AMOUNT);
        vm.prank(payer);
        usdt.approve(address(escrow), AMOUNT);
        (SettlementEscrow.LockOrder memory o, bytes memory sig) = _signedOrder("t", AMOUNT);
        vm.prank(agent);
        escrow.lock(o, sig);
    }

    function test_noReturnToken_lockThenRelease() public {
        assertEq(usdt.balanceOf(address(escrow)), AMOUNT);
        assertEq(usdt.balanceOf(payer), 0);
        vm.prank(agent);
        escrow.release("t");
        assertEq(usdt.balanceOf(payee), AMOUNT);
        assertEq(usdt.balanceOf(address(escrow)), 0);
        assertEq(escrow.totalLocked(), 0);
    }

    function test_noReturnToken_lockThenRefund() public {
        vm.prank(agent);
        escrow.refund("t");
        assertEq(usdt.balanceOf(payer), AMOUNT);
        assertEq(usdt.balanceOf(address(escrow)), 0);
        assertEq(escrow.totalLocked(), 0);
    }

    function test_noReturnToken_lockRevertsWithTokenReasonWhenAllowanceUsedUp() public {
        // The token's own revert string bubbles up through SafeERC20.
        usdt.mint(payer, 1);
        (SettlementEscrow.LockOrder memory o, bytes memory sig) = _signedOrder("t2", 1);
        vm.prank(agent);
        vm.expectRevert(bytes("allowance"));
        escrow.lock(o, sig);
    }

    function test_noReturnToken_lockWithPermitFallsBackToAllowance() public {
        // NoReturnToken has no permit(): the failed call is swallowed and the allowance is used.
        usdt.mint(payer, AMOUNT);
        vm.startPrank(payer);
        usdt.approve(address(escrow), 0);
        usdt.approve(address(escrow), AMOUNT);
        vm.stopPrank();
        (SettlementEscrow.LockOrder memory o, bytes memory sig) = _signedOrder("t2", AMOUNT);
        vm.prank(agent);
        escrow.lockWithPermit(o, sig, AMOUNT, block.timestamp, 27, bytes32(0), bytes32(0));
        assertEq(escrow.totalLocked(), 2 * AMOUNT);
        assertEq(usdt.balanceOf(address(escrow)), 2 * AMOUNT);
    }

    function test_noReturnToken_recoveryNeverApplies() public {
        // The token has no isBlackListed: the escrow reads that as "not frozen" instead of
        // reverting, so a stranded-lock recovery can never be scheduled on such a token.
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.PartiesNotBlacklisted.selector, bytes32("t")));
        escrow.scheduleRecovery("t", admin);
    }

    function test_noReturnToken_rescueOnlyTheSurplus() public {
        usdt.mint(address(escrow), 7);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.RescueExceedsSurplus.selector, 8, 7));
        escrow.rescueERC20(IERC20(address(usdt)), admin, 8);
        vm.prank(admin);
        escrow.rescueERC20(IERC20(address(usdt)), admin, 7);
        assertEq(usdt.balanceOf(address(escrow)), AMOUNT);
        assertEq(escrow.totalLocked(), AMOUNT);
    }
}

/// @notice The escrow must refuse fee-on-transfer tokens instead of booking coins it never got.
contract SettlementEscrowFeeTokenTest is OtherTokenEscrowBase {
    FeeOnTransferToken internal feeToken;

    function setUp() public {
        _cast();
        feeToken = new FeeOnTransferToken(100); // 1 %
        escrow = new SettlementEscrow(IERC20(address(feeToken)), admin, agent);
        feeToken.mint(payer, 1_000e6);
        vm.prank(payer);
        feeToken.approve(address(escrow), type(uint256).max);
    }

    function test_feeToken_lockRevertsWithTransferShortfall() public {
        (SettlementEscrow.LockOrder memory o, bytes memory sig) = _signedOrder("t", 1_000e6);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.TransferShortfall.selector, 1_000e6, 990e6));
        escrow.lock(o, sig);
        assertEq(uint256(escrow.statusOf("t")), uint256(SettlementEscrow.Status.None));
        assertEq(escrow.totalLocked(), 0);
        assertEq(feeToken.balanceOf(payer), 1_000e6);
    }

    function testFuzz_feeToken_lockRevertsWheneverFeeIsCharged(uint256 amount) public {
        // Below 100 units the 1 % fee rounds to zero and the lock is exact, so it is accepted.
        amount = bound(amount, 100, 1_000e6);
        uint256 fee = (amount * 100) / 10_000;
        (SettlementEscrow.LockOrder memory o, bytes memory sig) = _signedOrder("t", amount);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.TransferShortfall.selector, amount, amount - fee));
        escrow.lock(o, sig);
    }
}
