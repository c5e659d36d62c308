// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {TestBase} from "./base/TestBase.sol";
import {SettlementToken} from "../src/SettlementToken.sol";
import {SettlementEscrow} from "../src/SettlementEscrow.sol";
import {NoReturnToken} from "./mocks/NoReturnToken.sol";
import {FeeOnTransferToken} from "./mocks/FeeOnTransferToken.sol";

/// @notice Shared fixture: a SettlementToken, an escrow on it, and the cast of parties.
abstract contract EscrowFixture is TestBase {
    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");
    uint256 internal constant ONE = 1e6;
    uint256 internal constant PAYER_PK = 0xA11CE;
    uint256 internal constant START_BALANCE = 1_000_000 * ONE;
    uint64 internal constant TTL = 1 days;
    bytes32 internal constant TRADE = keccak256("trade-1");

    SettlementToken internal token;
    SettlementEscrow internal escrow;
    address internal issuer; // every token role: the token's powers are not under test here
    address internal admin;
    address internal agent;
    address internal payer;
    address internal payee;
    address internal stranger;
    bytes32 internal agentRole;
    bytes32 internal pauserRole;

    function setUp() public virtual {
        vm.warp(1_700_000_000); // a realistic clock, far from zero
        issuer = makeAddr("issuer");
        admin = makeAddr("admin");
        agent = makeAddr("agent");
        payee = makeAddr("payee");
        stranger = makeAddr("stranger");
        payer = vm.addr(PAYER_PK); // a known key, so the payer can sign permits
        vm.label(payer, "payer");

        token = new SettlementToken("Settlement USD", "SUSD", issuer, issuer, issuer, issuer, issuer);
        vm.prank(issuer);
        token.configureMinter(issuer, type(uint256).max);
        escrow = new SettlementEscrow(IERC20(address(token)), admin, agent);
        agentRole = escrow.SETTLEMENT_AGENT_ROLE();
        pauserRole = escrow.PAUSER_ROLE();

        vm.prank(issuer);
        token.issue(payer, START_BALANCE);
        vm.prank(payer);
        token.approve(address(escrow), type(uint256).max);
    }

    // ---------------------------------------------------------------- helpers

    function _deadline() internal view returns (uint64) {
        return uint64(block.timestamp) + TTL;
    }

    /// @dev The common case: the agent locks `amount` of the payer's coins for `id`.
    function _lock(bytes32 id, uint256 amount) internal returns (uint64 deadline) {
        deadline = _deadline();
        vm.prank(agent);
        escrow.lock(id, payer, payee, amount, deadline);
    }

    function _req(bytes32 id, uint256 amount) internal view returns (SettlementEscrow.LockRequest memory) {
        return SettlementEscrow.LockRequest(id, payer, payee, amount, _deadline());
    }

    function _ids(bytes32 a, bytes32 b) internal pure returns (bytes32[] memory ids) {
        ids = new bytes32[](2);
        ids[0] = a;
        ids[1] = b;
    }

    function _roleError(address account, bytes32 role) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, account, role);
    }

    function _signPermit(uint256 pk, address owner, uint256 value, uint256 deadline)
        internal
        view
        returns (uint8 v, bytes32 r, bytes32 s)
    {
        bytes32 structHash =
            keccak256(abi.encode(PERMIT_TYPEHASH, owner, address(escrow), value, token.nonces(owner), deadline));
        return vm.sign(pk, keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash)));
    }

    function _assertStatus(bytes32 id, SettlementEscrow.Status expected) internal view {
        assertEq(uint256(escrow.statusOf(id)), uint256(expected), "status");
    }

    /// @dev The escrow must always hold exactly the sum of open locks: nothing more, nothing less.
    function _assertEscrowHolds(uint256 amount) internal view {
        assertEq(escrow.totalLocked(), amount, "totalLocked");
        assertEq(token.balanceOf(address(escrow)), amount, "escrow balance");
    }
}

contract SettlementEscrowTest is EscrowFixture {
    // ---------------------------------------------------------------- constructor

    function test_constructor_setsTokenAndRoles() public view {
        assertEq(address(escrow.token()), address(token));
        assertTrue(escrow.hasRole(escrow.DEFAULT_ADMIN_ROLE(), admin));
        assertTrue(escrow.hasRole(pauserRole, admin));
        assertTrue(escrow.hasRole(agentRole, agent));
        assertFalse(escrow.hasRole(agentRole, admin));
        assertFalse(escrow.hasRole(pauserRole, agent));
        assertEq(escrow.MAX_BATCH(), 100);
        _assertEscrowHolds(0);
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

    function test_lock_byPayerItself() public {
        vm.prank(payer);
        escrow.lock(TRADE, payer, payee, 5 * ONE, _deadline());
        _assertStatus(TRADE, SettlementEscrow.Status.Locked);
        _assertEscrowHolds(5 * ONE);
    }

    function test_lock_revertsWhenStrangerLocksForPayer() public {
        // The payer approved the escrow, but that must not let anyone spend it.
        uint64 deadline = _deadline();
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.NotAuthorized.selector, stranger));
        escrow.lock(TRADE, payer, payee, ONE, deadline);
    }

    function test_lock_revertsWhenAlreadyLocked() public {
        _lock(TRADE, ONE);
        uint64 deadline = _deadline();
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.AlreadyLocked.selector, TRADE));
        escrow.lock(TRADE, payer, payee, ONE, deadline);
    }

    function test_lock_revertsWhenReplayedAfterRelease() public {
        _lock(TRADE, ONE);
        vm.prank(agent);
        escrow.release(TRADE);
        uint64 deadline = _deadline();
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.AlreadyLocked.selector, TRADE));
        escrow.lock(TRADE, payer, payee, ONE, deadline);
    }

    function test_lock_revertsWhenReplayedAfterRefund() public {
        _lock(TRADE, ONE);
        vm.prank(agent);
        escrow.refund(TRADE);
        uint64 deadline = _deadline();
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.AlreadyLocked.selector, TRADE));
        escrow.lock(TRADE, payer, payee, ONE, deadline);
    }

    function test_lock_revertsOnZeroAmount() public {
        uint64 deadline = _deadline();
        vm.prank(agent);
        vm.expectRevert(SettlementEscrow.ZeroAmount.selector);
        escrow.lock(TRADE, payer, payee, 0, deadline);
    }

    function test_lock_revertsOnZeroPayer() public {
        uint64 deadline = _deadline();
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.InvalidParty.selector, address(0)));
        escrow.lock(TRADE, address(0), payee, ONE, deadline);
    }

    function test_lock_revertsOnZeroPayee() public {
        uint64 deadline = _deadline();
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.InvalidParty.selector, address(0)));
        escrow.lock(TRADE, payer, address(0), ONE, deadline);
    }

    function test_lock_revertsWhenPayeeIsPayer() public {
        uint64 deadline = _deadline();
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.InvalidParty.selector, payer));
        escrow.lock(TRADE, payer, payer, ONE, deadline);
    }

    function test_lock_revertsWhenPayeeIsEscrow() public {
        uint64 deadline = _deadline();
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.InvalidParty.selector, address(escrow)));
        escrow.lock(TRADE, payer, address(escrow), ONE, deadline);
    }

    function test_lock_revertsWhenDeadlineIsNow() public {
        uint64 deadline = uint64(block.timestamp);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.InvalidDeadline.selector, deadline));
        escrow.lock(TRADE, payer, payee, ONE, deadline);
    }

    function test_lock_revertsWhenAllowanceTooLow() public {
        vm.prank(payer);
        token.approve(address(escrow), ONE - 1);
        uint64 deadline = _deadline();
        vm.prank(agent);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(escrow), ONE - 1, ONE)
        );
        escrow.lock(TRADE, payer, payee, ONE, deadline);
        _assertStatus(TRADE, SettlementEscrow.Status.None);
    }

    function test_lock_revertsWhenBalanceTooLow() public {
        uint64 deadline = _deadline();
        vm.prank(agent);
        vm.expectRevert(
            abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientBalance.selector, payer, START_BALANCE, START_BALANCE + 1
            )
        );
        escrow.lock(TRADE, payer, payee, START_BALANCE + 1, deadline);
        _assertEscrowHolds(0);
    }

    function test_lock_revertsWhenPaused() public {
        vm.prank(admin);
        escrow.pause();
        uint64 deadline = _deadline();
        vm.prank(agent);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        escrow.lock(TRADE, payer, payee, ONE, deadline);
    }

    function test_lock_revertsWhenPayerBlacklisted() public {
        vm.prank(issuer);
        token.addBlackList(payer);
        uint64 deadline = _deadline();
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementToken.Blacklisted.selector, payer));
        escrow.lock(TRADE, payer, payee, ONE, deadline);
    }

    function test_lock_revertsWhenTokenPaused() public {
        vm.prank(issuer);
        token.pause();
        uint64 deadline = _deadline();
        vm.prank(agent);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        escrow.lock(TRADE, payer, payee, ONE, deadline);
    }

    // ---------------------------------------------------------------- lockWithPermit

    function test_lockWithPermit_worksWithoutPriorApprove() public {
        vm.prank(payer);
        token.approve(address(escrow), 0);
        uint256 permitDeadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(PAYER_PK, payer, 10 * ONE, permitDeadline);

        vm.prank(agent);
        escrow.lockWithPermit(_req(TRADE, 10 * ONE), 10 * ONE, permitDeadline, v, r, s);

        _assertStatus(TRADE, SettlementEscrow.Status.Locked);
        _assertEscrowHolds(10 * ONE);
        assertEq(token.nonces(payer), 1);
        assertEq(token.allowance(payer, address(escrow)), 0);
    }

    function test_lockWithPermit_badPermitWithEnoughAllowanceStillLocks() public {
        // Signed by the wrong key, so permit fails, but the standing approval covers the lock.
        uint256 permitDeadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(0xBAD, payer, 10 * ONE, permitDeadline);

        vm.prank(agent);
        escrow.lockWithPermit(_req(TRADE, 10 * ONE), 10 * ONE, permitDeadline, v, r, s);

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

        vm.prank(agent);
        escrow.lockWithPermit(_req(TRADE, 10 * ONE), 10 * ONE, permitDeadline, v, r, s);
        _assertStatus(TRADE, SettlementEscrow.Status.Locked);
    }

    function test_lockWithPermit_revertsWhenBadPermitAndNoAllowance() public {
        vm.prank(payer);
        token.approve(address(escrow), 0);
        uint256 permitDeadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(0xBAD, payer, 10 * ONE, permitDeadline);
        SettlementEscrow.LockRequest memory req = _req(TRADE, 10 * ONE);

        vm.prank(agent);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(escrow), 0, 10 * ONE)
        );
        escrow.lockWithPermit(req, 10 * ONE, permitDeadline, v, r, s);
        _assertStatus(TRADE, SettlementEscrow.Status.None);
    }

    function test_lockWithPermit_revertsWhenExpiredPermitAndNoAllowance() public {
        vm.prank(payer);
        token.approve(address(escrow), 0);
        uint256 permitDeadline = block.timestamp - 1;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(PAYER_PK, payer, 10 * ONE, permitDeadline);
        SettlementEscrow.LockRequest memory req = _req(TRADE, 10 * ONE);

        vm.prank(agent);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(escrow), 0, 10 * ONE)
        );
        escrow.lockWithPermit(req, 10 * ONE, permitDeadline, v, r, s);
    }

    function test_lockWithPermit_revertsWhenStrangerCallsWithValidPermit() public {
        // A valid permit is not an authorisation to choose the payee: only payer or agent may lock.
        uint256 permitDeadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(PAYER_PK, payer, 10 * ONE, permitDeadline);
        SettlementEscrow.LockRequest memory req = _req(TRADE, 10 * ONE);

        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.NotAuthorized.selector, stranger));
        escrow.lockWithPermit(req, 10 * ONE, permitDeadline, v, r, s);
        assertEq(token.nonces(payer), 0); // the whole call reverted, permit included
    }

    function test_lockWithPermit_revertsWhenPaused() public {
        vm.prank(admin);
        escrow.pause();
        uint256 permitDeadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(PAYER_PK, payer, 10 * ONE, permitDeadline);
        SettlementEscrow.LockRequest memory req = _req(TRADE, 10 * ONE);

        vm.prank(agent);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        escrow.lockWithPermit(req, 10 * ONE, permitDeadline, v, r, s);
    }

    // ---------------------------------------------------------------- lockBatch

    function test_lockBatch_locksEveryItem() public {
        SettlementEscrow.LockRequest[] memory reqs = new SettlementEscrow.LockRequest[](3);
        reqs[0] = _req("a", 1 * ONE);
        reqs[1] = _req("b", 2 * ONE);
        reqs[2] = _req("c", 3 * ONE);

        vm.expectEmit(true, true, true, true, address(escrow));
        emit SettlementEscrow.Locked("a", payer, payee, 1 * ONE, reqs[0].deadline);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit SettlementEscrow.Locked("c", payer, payee, 3 * ONE, reqs[2].deadline);
        vm.prank(agent);
        escrow.lockBatch(reqs);

        _assertStatus("a", SettlementEscrow.Status.Locked);
        _assertStatus("b", SettlementEscrow.Status.Locked);
        _assertStatus("c", SettlementEscrow.Status.Locked);
        _assertEscrowHolds(6 * ONE);
    }

    function test_lockBatch_byPayerItself() public {
        SettlementEscrow.LockRequest[] memory reqs = new SettlementEscrow.LockRequest[](1);
        reqs[0] = _req(TRADE, ONE);
        vm.prank(payer);
        escrow.lockBatch(reqs);
        _assertStatus(TRADE, SettlementEscrow.Status.Locked);
    }

    function test_lockBatch_revertsWhenEmpty() public {
        SettlementEscrow.LockRequest[] memory reqs = new SettlementEscrow.LockRequest[](0);
        vm.prank(agent);
        vm.expectRevert(SettlementEscrow.EmptyBatch.selector);
        escrow.lockBatch(reqs);
    }

    function test_lockBatch_revertsWhenTooLarge() public {
        SettlementEscrow.LockRequest[] memory reqs = new SettlementEscrow.LockRequest[](101);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.BatchTooLarge.selector, 101, 100));
        escrow.lockBatch(reqs);
    }

    function test_lockBatch_oneBadItemLocksNothing() public {
        SettlementEscrow.LockRequest[] memory reqs = new SettlementEscrow.LockRequest[](3);
        reqs[0] = _req("a", 1 * ONE);
        reqs[1] = _req("b", 2 * ONE);
        reqs[2] = _req("c", 0); // bad: zero amount, last so the good ones ran first

        vm.prank(agent);
        vm.expectRevert(SettlementEscrow.ZeroAmount.selector);
        escrow.lockBatch(reqs);

        _assertStatus("a", SettlementEscrow.Status.None);
        _assertStatus("b", SettlementEscrow.Status.None);
        _assertEscrowHolds(0);
        assertEq(token.balanceOf(payer), START_BALANCE);
    }

    function test_lockBatch_revertsOnDuplicateIdInBatch() public {
        SettlementEscrow.LockRequest[] memory reqs = new SettlementEscrow.LockRequest[](2);
        reqs[0] = _req(TRADE, ONE);
        reqs[1] = _req(TRADE, ONE);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.AlreadyLocked.selector, TRADE));
        escrow.lockBatch(reqs);
        _assertStatus(TRADE, SettlementEscrow.Status.None);
        _assertEscrowHolds(0);
    }

    function test_lockBatch_revertsWhenStrangerCalls() public {
        SettlementEscrow.LockRequest[] memory reqs = new SettlementEscrow.LockRequest[](1);
        reqs[0] = _req(TRADE, ONE);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.NotAuthorized.selector, stranger));
        escrow.lockBatch(reqs);
    }

    function test_lockBatch_revertsWhenPaused() public {
        vm.prank(admin);
        escrow.pause();
        SettlementEscrow.LockRequest[] memory reqs = new SettlementEscrow.LockRequest[](1);
        reqs[0] = _req(TRADE, ONE);
        vm.prank(agent);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        escrow.lockBatch(reqs);
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
        // The record is kept (status flipped), so the trade stays auditable.
        assertEq(escrow.getLock(TRADE).amount, 40 * ONE);
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
        vm.prank(issuer);
        token.addBlackList(payee);
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
        vm.prank(admin);
        escrow.pause();
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
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.BatchTooLarge.selector, 101, 100));
        escrow.releaseBatch(new bytes32[](101));
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
        bytes32[] memory ids = new bytes32[](1);
        ids[0] = "a";
        vm.prank(stranger);
        vm.expectRevert(_roleError(stranger, agentRole));
        escrow.releaseBatch(ids);
    }

    function test_releaseBatch_revertsWhenPaused() public {
        _lock("a", ONE);
        vm.prank(admin);
        escrow.pause();
        bytes32[] memory ids = new bytes32[](1);
        ids[0] = "a";
        vm.prank(agent);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        escrow.releaseBatch(ids);
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
        vm.prank(issuer);
        token.addBlackList(payer);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementToken.Blacklisted.selector, payer));
        escrow.refund(TRADE);
        _assertStatus(TRADE, SettlementEscrow.Status.Locked);
        _assertEscrowHolds(ONE);
    }

    function test_refund_revertsWhenPaused() public {
        _lock(TRADE, ONE);
        vm.prank(admin);
        escrow.pause();
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
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.BatchTooLarge.selector, 101, 100));
        escrow.refundBatch(new bytes32[](101));
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
        bytes32[] memory ids = new bytes32[](1);
        ids[0] = "a";
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.DeadlineNotReached.selector, bytes32("a"), deadline));
        escrow.refundBatch(ids);
    }

    function test_refundBatch_revertsWhenPaused() public {
        _lock("a", ONE);
        vm.prank(admin);
        escrow.pause();
        bytes32[] memory ids = new bytes32[](1);
        ids[0] = "a";
        vm.prank(agent);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        escrow.refundBatch(ids);
    }

    // ---------------------------------------------------------------- pause / unpause

    function test_pause_byPauserAndEmits() public {
        vm.expectEmit(false, false, false, true, address(escrow));
        emit Pausable.Paused(admin);
        vm.prank(admin);
        escrow.pause();
        assertTrue(escrow.paused());
    }

    function test_pause_revertsWhenNotPauser() public {
        // The agent runs settlement but cannot stop it.
        vm.prank(agent);
        vm.expectRevert(_roleError(agent, pauserRole));
        escrow.pause();
    }

    function test_unpause_byPauserRestoresLocking() public {
        vm.prank(admin);
        escrow.pause();
        vm.expectEmit(false, false, false, true, address(escrow));
        emit Pausable.Unpaused(admin);
        vm.prank(admin);
        escrow.unpause();
        assertFalse(escrow.paused());
        _lock(TRADE, ONE);
        _assertStatus(TRADE, SettlementEscrow.Status.Locked);
    }

    function test_unpause_revertsWhenNotPauser() public {
        vm.prank(admin);
        escrow.pause();
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

        vm.prank(agent);
        escrow.lock(TRADE, payer, payee, amount, uint64(block.timestamp + ttl));
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

        vm.prank(agent);
        escrow.lock(TRADE, payer, payee, amount, uint64(block.timestamp + ttl));
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
        uint64 deadline = uint64(block.timestamp + ttl);
        vm.prank(agent);
        escrow.lock(TRADE, payer, payee, ONE, deadline);

        vm.warp(deadline);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.DeadlineNotReached.selector, TRADE, deadline));
        escrow.refund(TRADE);

        vm.warp(uint256(deadline) + 1);
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
        vm.startPrank(agent);
        escrow.lock("on-time", payer, payee, ONE, deadline);
        escrow.lock("late", payer, payee, ONE, deadline);

        vm.warp(deadline);
        escrow.release("on-time");
        _assertStatus("on-time", SettlementEscrow.Status.Released);

        vm.warp(uint256(deadline) + 1);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.DeadlinePassed.selector, bytes32("late"), deadline));
        escrow.release("late");
        vm.stopPrank();
        _assertStatus("late", SettlementEscrow.Status.Locked);
    }

    /// @dev Nobody but the payer or an agent can spend the payer's allowance, whoever they are.
    function testFuzz_lock_revertsWhenCallerNotPayerOrAgent(address caller) public {
        vm.assume(caller != payer && caller != agent);
        uint64 deadline = _deadline();
        vm.prank(caller);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.NotAuthorized.selector, caller));
        escrow.lock(TRADE, payer, payee, ONE, deadline);
    }

    /// @dev Any deadline at or before now is rejected, so a lock can never be born expired.
    function testFuzz_lock_revertsWhenDeadlineNotInFuture(uint256 deadline) public {
        deadline = bound(deadline, 0, block.timestamp);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.InvalidDeadline.selector, uint64(deadline)));
        escrow.lock(TRADE, payer, payee, ONE, uint64(deadline));
    }

    /// @dev Any allowance short of the amount fails the whole lock and leaves no record.
    function testFuzz_lock_revertsWhenAllowanceShort(uint256 amount, uint256 allowance) public {
        amount = bound(amount, 1, START_BALANCE);
        allowance = bound(allowance, 0, amount - 1);
        vm.prank(payer);
        token.approve(address(escrow), allowance);
        uint64 deadline = _deadline();

        vm.prank(agent);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(escrow), allowance, amount)
        );
        escrow.lock(TRADE, payer, payee, amount, deadline);
        _assertStatus(TRADE, SettlementEscrow.Status.None);
        _assertEscrowHolds(0);
    }
}

/// @notice The escrow on a USDT-style token whose transfer/approve return nothing.
contract SettlementEscrowNoReturnTokenTest is TestBase {
    NoReturnToken internal usdt;
    SettlementEscrow internal escrow;
    address internal agent;
    address internal payer;
    address internal payee;
    uint256 internal constant AMOUNT = 250e6;

    function setUp() public {
        agent = makeAddr("agent");
        payer = makeAddr("payer");
        payee = makeAddr("payee");
        usdt = new NoReturnToken();
        escrow = new SettlementEscrow(IERC20(address(usdt)), makeAddr("admin"), agent);
        usdt.mint(payer, AMOUNT);
        vm.prank(payer);
        usdt.approve(address(escrow), AMOUNT);
        vm.prank(agent);
        escrow.lock("t", payer, payee, AMOUNT, uint64(block.timestamp + 1 days));
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
        uint64 deadline = uint64(block.timestamp + 1 days);
        usdt.mint(payer, 1);
        vm.prank(agent);
        vm.expectRevert(bytes("allowance"));
        escrow.lock("t2", payer, payee, 1, deadline);
    }

    function test_noReturnToken_lockWithPermitFallsBackToAllowance() public {
        // NoReturnToken has no permit(): the failed call is swallowed and the allowance is used.
        usdt.mint(payer, AMOUNT);
        vm.startPrank(payer);
        usdt.approve(address(escrow), 0);
        usdt.approve(address(escrow), AMOUNT);
        vm.stopPrank();
        SettlementEscrow.LockRequest memory req =
            SettlementEscrow.LockRequest("t2", payer, payee, AMOUNT, uint64(block.timestamp + 1 days));
        vm.prank(agent);
        escrow.lockWithPermit(req, AMOUNT, block.timestamp, 27, bytes32(0), bytes32(0));
        assertEq(escrow.totalLocked(), 2 * AMOUNT);
        assertEq(usdt.balanceOf(address(escrow)), 2 * AMOUNT);
    }
}

/// @notice The escrow must refuse fee-on-transfer tokens instead of booking coins it never got.
contract SettlementEscrowFeeTokenTest is TestBase {
    FeeOnTransferToken internal feeToken;
    SettlementEscrow internal escrow;
    address internal agent;
    address internal payer;
    address internal payee;

    function setUp() public {
        agent = makeAddr("agent");
        payer = makeAddr("payer");
        payee = makeAddr("payee");
        feeToken = new FeeOnTransferToken(100); // 1 %
        escrow = new SettlementEscrow(IERC20(address(feeToken)), makeAddr("admin"), agent);
        feeToken.mint(payer, 1_000e6);
        vm.prank(payer);
        feeToken.approve(address(escrow), type(uint256).max);
    }

    function test_feeToken_lockRevertsWithTransferShortfall() public {
        uint64 deadline = uint64(block.timestamp + 1 days);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.TransferShortfall.selector, 1_000e6, 990e6));
        escrow.lock("t", payer, payee, 1_000e6, deadline);
        assertEq(uint256(escrow.statusOf("t")), uint256(SettlementEscrow.Status.None));
        assertEq(escrow.totalLocked(), 0);
        assertEq(feeToken.balanceOf(payer), 1_000e6);
    }

    function testFuzz_feeToken_lockRevertsWheneverFeeIsCharged(uint256 amount) public {
        // Below 100 units the 1 % fee rounds to zero and the lock is exact, so it is accepted.
        amount = bound(amount, 100, 1_000e6);
        uint256 fee = (amount * 100) / 10_000;
        uint64 deadline = uint64(block.timestamp + 1 days);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementEscrow.TransferShortfall.selector, amount, amount - fee));
        escrow.lock("t", payer, payee, amount, deadline);
    }
}
