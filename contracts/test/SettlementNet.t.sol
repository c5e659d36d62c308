// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {NetFixture} from "./fixtures/NetFixture.sol";
import {SettlementToken} from "../src/SettlementToken.sol";
import {SettlementNet} from "../src/SettlementNet.sol";
import {FeeOnTransferToken} from "./mocks/FeeOnTransferToken.sol";

/// @dev forge's `cool` cheatcode (marks an account's storage cold again), not in the shared Vm.
interface VmCool {
    function cool(address target) external;
}

/// @notice Liquidity (deposit / withdraw), membership, window settlement and its all-or-nothing
///         reverts, trade proofs, pause and rescue.
contract SettlementNetTest is NetFixture {
    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");

    // ---------------------------------------------------------------- constructor and roles

    function test_constructor_setsTokenAndRoles() public view {
        assertEq(address(net.token()), address(token));
        assertTrue(net.hasRole(net.DEFAULT_ADMIN_ROLE(), admin));
        assertTrue(net.hasRole(net.PAUSER_ROLE(), admin));
        assertTrue(net.hasRole(net.RESCUER_ROLE(), admin));
        assertTrue(net.hasRole(net.OPERATOR_ROLE(), admin));
        assertTrue(net.hasRole(net.SETTLEMENT_AGENT_ROLE(), agent));
        assertFalse(net.hasRole(net.SETTLEMENT_AGENT_ROLE(), admin));
        assertFalse(net.hasRole(net.DEFAULT_ADMIN_ROLE(), agent));
        assertFalse(net.hasRole(net.OPERATOR_ROLE(), agent));
        assertEq(net.MAX_PARTICIPANTS(), 256);
        assertEq(net.windowsSettled(), 0);
    }

    function test_roleConstants_areTheirNamesHashes() public view {
        assertEq(net.SETTLEMENT_AGENT_ROLE(), keccak256("SETTLEMENT_AGENT_ROLE"));
        assertEq(net.PAUSER_ROLE(), keccak256("PAUSER_ROLE"));
        assertEq(net.RESCUER_ROLE(), keccak256("RESCUER_ROLE"));
        assertEq(net.OPERATOR_ROLE(), keccak256("OPERATOR_ROLE"));
    }

    function test_constructor_revertsOnZeroAddress() public {
        vm.expectRevert(SettlementNet.ZeroAddress.selector);
        new SettlementNet(IERC20(address(0)), admin, agent);
        vm.expectRevert(SettlementNet.ZeroAddress.selector);
        new SettlementNet(IERC20(address(token)), address(0), agent);
        vm.expectRevert(SettlementNet.ZeroAddress.selector);
        new SettlementNet(IERC20(address(token)), admin, address(0));
    }

    // ---------------------------------------------------------------- membership

    function test_admitParticipant_byOperatorEmits() public {
        vm.expectEmit(true, false, false, true, address(net));
        emit SettlementNet.ParticipantAdmitted(stranger);
        vm.prank(admin);
        net.admitParticipant(stranger);
        assertTrue(net.isParticipant(stranger));
    }

    function test_admitParticipant_revertsWhenNotOperator() public {
        bytes32 role = net.OPERATOR_ROLE();
        vm.prank(agent);
        vm.expectRevert(_roleError(agent, role));
        net.admitParticipant(stranger);
    }

    function test_admitParticipant_revertsWhenAlreadyParticipant() public {
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(SettlementNet.AlreadyParticipant.selector, alice));
        net.admitParticipant(alice);
    }

    function test_admitParticipant_revertsOnZeroOrSelf() public {
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(SettlementNet.InvalidRecipient.selector, address(0)));
        net.admitParticipant(address(0));
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(SettlementNet.InvalidRecipient.selector, address(net)));
        net.admitParticipant(address(net));
    }

    function test_removeParticipant_stopsDepositsNotWithdrawals() public {
        vm.expectEmit(true, false, false, true, address(net));
        emit SettlementNet.ParticipantRemoved(alice);
        vm.prank(admin);
        net.removeParticipant(alice);
        assertFalse(net.isParticipant(alice));

        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(SettlementNet.NotAParticipant.selector, alice));
        net.deposit(ONE);

        vm.prank(alice);
        net.withdraw(FUNDED);
        assertEq(net.balanceOf(alice), 0);
        assertEq(token.balanceOf(alice), WALLET);
    }

    function test_removeParticipant_revertsWhenNotParticipant() public {
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(SettlementNet.NotAParticipant.selector, stranger));
        net.removeParticipant(stranger);
    }

    // ---------------------------------------------------------------- deposit

    function test_deposit_movesCoinsIntoSettlementBalance() public {
        vm.expectEmit(true, false, false, true, address(net));
        emit SettlementNet.Deposited(alice, 5 * ONE, FUNDED + 5 * ONE);
        vm.prank(alice);
        net.deposit(5 * ONE);
        assertEq(net.balanceOf(alice), FUNDED + 5 * ONE);
        assertEq(token.balanceOf(alice), WALLET - FUNDED - 5 * ONE);
        assertEq(net.totalBalances(), 4 * FUNDED + 5 * ONE);
        _assertBacked();
    }

    function test_deposit_revertsWhenNotParticipant() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(SettlementNet.NotAParticipant.selector, stranger));
        net.deposit(ONE);
    }

    function test_deposit_revertsOnZeroAmount() public {
        vm.prank(alice);
        vm.expectRevert(SettlementNet.ZeroAmount.selector);
        net.deposit(0);
    }

    function test_deposit_revertsWhenPaused() public {
        vm.prank(admin);
        net.pause();
        vm.prank(alice);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        net.deposit(ONE);
    }

    function test_deposit_revertsWhenBlacklistedByToken() public {
        vm.prank(issuer);
        token.addBlackList(alice);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(SettlementToken.Blacklisted.selector, alice));
        net.deposit(ONE);
    }

    function test_deposit_revertsOnFeeOnTransferToken() public {
        FeeOnTransferToken feeToken = new FeeOnTransferToken(100); // 1 %
        SettlementNet feeNet = new SettlementNet(IERC20(address(feeToken)), admin, agent);
        vm.prank(admin);
        feeNet.admitParticipant(alice);
        feeToken.mint(alice, 100 * ONE);
        vm.prank(alice);
        feeToken.approve(address(feeNet), type(uint256).max);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(SettlementNet.TransferShortfall.selector, 100 * ONE, 99 * ONE));
        feeNet.deposit(100 * ONE);
    }

    function test_depositWithPermit_needsNoPriorApproval() public {
        uint256 pk = 0xB0B0;
        address broker = vm.addr(pk);
        vm.prank(admin);
        net.admitParticipant(broker);
        vm.prank(issuer);
        token.issue(broker, 100 * ONE);
        uint256 deadline = block.timestamp + 1 hours;
        bytes32 structHash =
            keccak256(abi.encode(PERMIT_TYPEHASH, broker, address(net), 40 * ONE, token.nonces(broker), deadline));
        (uint8 v, bytes32 r, bytes32 s) =
            vm.sign(pk, keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash)));
        vm.prank(broker);
        net.depositWithPermit(40 * ONE, deadline, v, r, s);
        assertEq(net.balanceOf(broker), 40 * ONE);
        assertEq(token.allowance(broker, address(net)), 0);
    }

    // ---------------------------------------------------------------- withdraw

    function test_withdraw_returnsCoinsToOwnWallet() public {
        vm.expectEmit(true, false, false, true, address(net));
        emit SettlementNet.Withdrawn(bob, 3 * ONE, FUNDED - 3 * ONE);
        vm.prank(bob);
        net.withdraw(3 * ONE);
        assertEq(net.balanceOf(bob), FUNDED - 3 * ONE);
        assertEq(token.balanceOf(bob), WALLET - FUNDED + 3 * ONE);
        assertEq(net.totalBalances(), 4 * FUNDED - 3 * ONE);
        _assertBacked();
    }

    function test_withdraw_revertsWhenExceedingBalance() public {
        vm.prank(bob);
        vm.expectRevert(
            abi.encodeWithSelector(SettlementNet.WithdrawalExceedsBalance.selector, bob, FUNDED, FUNDED + 1)
        );
        net.withdraw(FUNDED + 1);
    }

    function test_withdraw_revertsForSomeoneWithoutBalance() public {
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(SettlementNet.WithdrawalExceedsBalance.selector, admin, 0, ONE));
        net.withdraw(ONE);
    }

    function test_withdraw_revertsOnZeroAmount() public {
        vm.prank(bob);
        vm.expectRevert(SettlementNet.ZeroAmount.selector);
        net.withdraw(0);
    }

    function test_withdraw_worksWhilePaused() public {
        vm.prank(admin);
        net.pause();
        vm.prank(bob);
        net.withdraw(FUNDED);
        assertEq(net.balanceOf(bob), 0);
        assertEq(token.balanceOf(bob), WALLET);
    }

    function test_withdraw_revertsWhenBlacklistedByToken() public {
        vm.prank(issuer);
        token.addBlackList(bob);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(SettlementToken.Blacklisted.selector, bob));
        net.withdraw(ONE);
    }

    // ---------------------------------------------------------------- settleWindow: success

    function test_settleWindow_appliesPositionsRecordsRootAndEmits() public {
        (address[] memory parts, int256[] memory positions) =
            _triple(alice, -int256(700 * ONE), bob, int256(500 * ONE), carol, int256(200 * ONE));
        bytes32 root = keccak256("window 7 trades");

        for (uint256 i = 0; i < parts.length; i++) {
            vm.expectEmit(true, true, false, true, address(net));
            emit SettlementNet.NetPositionApplied(7, parts[i], positions[i], uint256(int256(FUNDED) + positions[i]));
        }
        vm.expectEmit(true, false, false, true, address(net));
        emit SettlementNet.WindowSettled(7, root, 4, 3);
        vm.prank(agent);
        net.settleWindow(7, parts, positions, root, 4);

        assertEq(net.balanceOf(alice), FUNDED - 700 * ONE);
        assertEq(net.balanceOf(bob), FUNDED + 500 * ONE);
        assertEq(net.balanceOf(carol), FUNDED + 200 * ONE);
        assertEq(net.balanceOf(dave), FUNDED);
        assertEq(net.totalBalances(), 4 * FUNDED);
        _assertBacked();

        SettlementNet.Window memory w = net.getWindow(7);
        assertEq(w.tradesRoot, root);
        assertEq(uint256(w.tradeCount), 4);
        assertEq(uint256(w.participantCount), 3);
        assertEq(uint256(w.settledAt), block.timestamp);
        assertEq(uint256(w.blockNumber), block.number);
        assertTrue(net.isWindowSettled(7));
        assertFalse(net.isWindowSettled(8));
        assertEq(net.windowsSettled(), 1);
    }

    function test_settleWindow_canTakeABalanceToExactlyZero() public {
        (address[] memory parts, int256[] memory positions) = _pair(alice, -int256(FUNDED), bob, int256(FUNDED));
        _settle(1, parts, positions);
        assertEq(net.balanceOf(alice), 0);
        assertEq(net.balanceOf(bob), 2 * FUNDED);
    }

    function test_settleWindow_acceptsAZeroPosition() public {
        (address[] memory parts, int256[] memory positions) =
            _triple(alice, -int256(ONE), bob, int256(ONE), carol, int256(0));
        _settle(1, parts, positions);
        assertEq(net.balanceOf(carol), FUNDED);
        assertEq(uint256(net.getWindow(1).participantCount), 3);
    }

    function test_settleWindow_idsNeedNotBeConsecutive() public {
        (address[] memory parts, int256[] memory positions) = _pair(alice, -int256(ONE), bob, int256(ONE));
        _settle(9, parts, positions);
        _settle(3, parts, positions);
        assertEq(net.windowsSettled(), 2);
        assertEq(net.balanceOf(bob), FUNDED + 2 * ONE);
    }

    /// @notice The CLS-style retry: the first attempt names the participant that cannot settle,
    ///         the engine drops its trades, recomputes and settles the same window without it.
    function test_settleWindow_failedParticipantLeavesAndTheRestSettles() public {
        // Trades: carol pays alice 300, alice pays bob 100. carol was blacklisted since.
        vm.prank(issuer);
        token.addBlackList(carol);
        (address[] memory parts, int256[] memory positions) =
            _triple(alice, int256(200 * ONE), bob, int256(100 * ONE), carol, -int256(300 * ONE));
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementNet.ParticipantBlacklisted.selector, carol));
        net.settleWindow(1, parts, positions, ROOT, 2);
        assertFalse(net.isWindowSettled(1));

        (parts, positions) = _pair(alice, -int256(100 * ONE), bob, int256(100 * ONE));
        vm.prank(agent);
        net.settleWindow(1, parts, positions, ROOT, 1);
        assertEq(net.balanceOf(alice), FUNDED - 100 * ONE);
        assertEq(net.balanceOf(bob), FUNDED + 100 * ONE);
        assertEq(net.balanceOf(carol), FUNDED);
    }

    // ---------------------------------------------------------------- settleWindow: reverts

    function test_settleWindow_revertsWhenNotAgent() public {
        (address[] memory parts, int256[] memory positions) = _pair(alice, -int256(ONE), bob, int256(ONE));
        bytes32 role = net.SETTLEMENT_AGENT_ROLE();
        address[3] memory callers = [admin, alice, stranger];
        for (uint256 i = 0; i < callers.length; i++) {
            vm.prank(callers[i]);
            vm.expectRevert(_roleError(callers[i], role));
            net.settleWindow(1, parts, positions, ROOT, 1);
        }
    }

    function test_settleWindow_revertsWhenPositionsDoNotSumToZero() public {
        uint256[] memory before = _balances();
        (address[] memory parts, int256[] memory positions) =
            _triple(alice, -int256(100 * ONE), bob, int256(60 * ONE), carol, int256(41 * ONE));
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementNet.PositionsDoNotSumToZero.selector, int256(ONE)));
        net.settleWindow(1, parts, positions, ROOT, 3);
        _assertBalances(before);
        assertFalse(net.isWindowSettled(1));
    }

    /// @notice All or nothing: the shortfall of one participant (checked after others were
    ///         already applied in the loop) leaves every balance and the window untouched.
    function test_settleWindow_revertsOnNegativeBalanceNamingParticipant_allOrNothing() public {
        uint256[] memory before = _balances();
        int256 overdraft = -int256(FUNDED + 1);
        (address[] memory parts, int256[] memory positions) =
            _triple(alice, int256(FUNDED), bob, overdraft, carol, int256(1));
        vm.prank(agent);
        vm.expectRevert(
            abi.encodeWithSelector(SettlementNet.InsufficientSettlementBalance.selector, bob, FUNDED, overdraft)
        );
        net.settleWindow(1, parts, positions, ROOT, 2);
        _assertBalances(before);
        _assertBacked();
        assertFalse(net.isWindowSettled(1));
        assertEq(net.windowsSettled(), 0);
    }

    /// @notice All or nothing when the shortfall is the last participant's: the balances of
    ///         the ones before it were already written in the loop, and the revert undoes them.
    function test_settleWindow_revertsOnShortfallOfTheLastParticipant_allOrNothing() public {
        address[] memory parts = new address[](4);
        int256[] memory positions = new int256[](4);
        for (uint256 i = 0; i < 4; i++) {
            parts[i] = brokers[i];
        }
        (parts, positions) = _sorted(parts, positions);
        int256 credit = int256(FUNDED / 3 + 1);
        for (uint256 i = 0; i < 3; i++) {
            positions[i] = credit;
        }
        positions[3] = -3 * credit; // one unit per credit beyond the last one's balance
        uint256[] memory before = _balances();
        vm.prank(agent);
        vm.expectRevert(
            abi.encodeWithSelector(SettlementNet.InsufficientSettlementBalance.selector, parts[3], FUNDED, -3 * credit)
        );
        net.settleWindow(1, parts, positions, ROOT, 3);
        _assertBalances(before);
        _assertBacked();
        assertFalse(net.isWindowSettled(1));
        assertEq(net.windowsSettled(), 0);
    }

    /// @notice A reverted window records nothing: no root (its trades do not verify), no
    ///         counters, and its id stays free for the resubmission without the defaulter.
    function test_settleWindow_revertedWindowRecordsNoRootAndItsIdStaysFree() public {
        bytes32 id = keccak256("trade in a window that reverts first");
        bytes32 leaf = _leaf(id, alice, bob, ONE);
        int256 overdraft = -int256(FUNDED + ONE);
        (address[] memory parts, int256[] memory positions) = _pair(alice, overdraft, bob, -overdraft);
        vm.prank(agent);
        vm.expectRevert(
            abi.encodeWithSelector(SettlementNet.InsufficientSettlementBalance.selector, alice, FUNDED, overdraft)
        );
        net.settleWindow(1, parts, positions, leaf, 1);
        SettlementNet.Window memory w = net.getWindow(1);
        assertEq(w.tradesRoot, bytes32(0));
        assertEq(uint256(w.settledAt), 0);
        assertEq(uint256(w.tradeCount), 0);
        assertTrue(!net.verifyTrade(1, id, alice, bob, ONE, new bytes32[](0)), "no root after a revert");
        assertEq(net.windowsSettled(), 0);

        (parts, positions) = _pair(alice, -int256(ONE), bob, int256(ONE));
        vm.prank(agent);
        net.settleWindow(1, parts, positions, leaf, 1);
        assertEq(net.getWindow(1).tradesRoot, leaf);
        assertTrue(net.verifyTrade(1, id, alice, bob, ONE, new bytes32[](0)), "root recorded on success");
        assertEq(net.windowsSettled(), 1);
    }

    function test_settleWindow_revertsWhenBalanceWithdrawnDuringTheWindow() public {
        vm.prank(alice);
        net.withdraw(FUNDED - 10 * ONE);
        (address[] memory parts, int256[] memory positions) = _pair(alice, -int256(11 * ONE), bob, int256(11 * ONE));
        vm.prank(agent);
        vm.expectRevert(
            abi.encodeWithSelector(
                SettlementNet.InsufficientSettlementBalance.selector, alice, 10 * ONE, -int256(11 * ONE)
            )
        );
        net.settleWindow(1, parts, positions, ROOT, 1);
    }

    function test_settleWindow_revertsWhenWindowAlreadySettled() public {
        (address[] memory parts, int256[] memory positions) = _pair(alice, -int256(ONE), bob, int256(ONE));
        _settle(5, parts, positions);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementNet.WindowAlreadySettled.selector, uint64(5)));
        net.settleWindow(5, parts, positions, ROOT, 1);
        assertEq(net.balanceOf(bob), FUNDED + ONE);
    }

    function test_settleWindow_revertsOnLengthMismatch() public {
        (address[] memory parts,) = _pair(alice, -int256(ONE), bob, int256(ONE));
        int256[] memory positions = new int256[](3);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementNet.LengthMismatch.selector, 2, 3));
        net.settleWindow(1, parts, positions, ROOT, 1);
    }

    function test_settleWindow_revertsOnEmptyWindow() public {
        vm.prank(agent);
        vm.expectRevert(SettlementNet.EmptyWindow.selector);
        net.settleWindow(1, new address[](0), new int256[](0), ROOT, 1);

        (address[] memory parts, int256[] memory positions) = _pair(alice, -int256(ONE), bob, int256(ONE));
        vm.prank(agent);
        vm.expectRevert(SettlementNet.EmptyWindow.selector);
        net.settleWindow(1, parts, positions, ROOT, 0);
    }

    function test_settleWindow_revertsOnZeroTradesRoot() public {
        (address[] memory parts, int256[] memory positions) = _pair(alice, -int256(ONE), bob, int256(ONE));
        vm.prank(agent);
        vm.expectRevert(SettlementNet.ZeroTradesRoot.selector);
        net.settleWindow(1, parts, positions, bytes32(0), 1);
    }

    function test_settleWindow_revertsOnTooManyParticipants() public {
        address[] memory parts = new address[](257);
        int256[] memory positions = new int256[](257);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementNet.TooManyParticipants.selector, 257, 256));
        net.settleWindow(1, parts, positions, ROOT, 1);
    }

    function test_settleWindow_revertsOnDuplicateParticipant() public {
        (address[] memory parts, int256[] memory positions) =
            _triple(alice, -int256(2 * ONE), bob, int256(ONE), carol, int256(ONE));
        parts[2] = parts[1];
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementNet.DuplicateParticipant.selector, parts[1]));
        net.settleWindow(1, parts, positions, ROOT, 2);
    }

    function test_settleWindow_revertsWhenParticipantsNotAscending() public {
        (address[] memory parts, int256[] memory positions) = _pair(alice, -int256(ONE), bob, int256(ONE));
        (parts[0], parts[1]) = (parts[1], parts[0]);
        (positions[0], positions[1]) = (positions[1], positions[0]);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementNet.ParticipantsNotAscending.selector, 1, parts[1]));
        net.settleWindow(1, parts, positions, ROOT, 1);
    }

    function test_settleWindow_revertsWhenParticipantBlacklistedNamingIt() public {
        vm.prank(issuer);
        token.addBlackList(dave);
        uint256[] memory before = _balances();
        (address[] memory parts, int256[] memory positions) = _pair(alice, -int256(ONE), dave, int256(ONE));
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementNet.ParticipantBlacklisted.selector, dave));
        net.settleWindow(1, parts, positions, ROOT, 1);
        _assertBalances(before);
    }

    function test_settleWindow_revertsForOutsiderOrRemovedParticipant() public {
        (address[] memory parts, int256[] memory positions) = _pair(alice, -int256(ONE), stranger, int256(ONE));
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementNet.NotAParticipant.selector, stranger));
        net.settleWindow(1, parts, positions, ROOT, 1);

        vm.prank(admin);
        net.removeParticipant(bob);
        (parts, positions) = _pair(alice, -int256(ONE), bob, int256(ONE));
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementNet.NotAParticipant.selector, bob));
        net.settleWindow(1, parts, positions, ROOT, 1);
    }

    function test_settleWindow_revertsOnZeroAddressAsNotAParticipant() public {
        (address[] memory parts, int256[] memory positions) = _pair(address(0), -int256(ONE), bob, int256(ONE));
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementNet.NotAParticipant.selector, address(0)));
        net.settleWindow(1, parts, positions, ROOT, 1);
    }

    function test_settleWindow_revertsOnPositionOutOfRange() public {
        int256 huge = net.MAX_ABS_POSITION() + 1;
        (address[] memory parts, int256[] memory positions) = _pair(alice, type(int256).min, bob, huge);
        address first = parts[0];
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementNet.PositionOutOfRange.selector, first, positions[0]));
        net.settleWindow(1, parts, positions, ROOT, 1);
    }

    function test_settleWindow_revertsWhenPaused() public {
        vm.prank(admin);
        net.pause();
        (address[] memory parts, int256[] memory positions) = _pair(alice, -int256(ONE), bob, int256(ONE));
        vm.prank(agent);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        net.settleWindow(1, parts, positions, ROOT, 1);

        vm.prank(admin);
        net.unpause();
        _settle(1, parts, positions);
        assertTrue(net.isWindowSettled(1));
    }

    function test_pause_revertsWhenNotPauser() public {
        bytes32 role = net.PAUSER_ROLE();
        vm.prank(agent);
        vm.expectRevert(_roleError(agent, role));
        net.pause();
    }

    /// @notice A full window (MAX_PARTICIPANTS) fits comfortably in a block: prints its gas
    ///         (forge test -vv) for the engine's gas limit, and bounds it at 10M.
    function test_settleWindow_fullWindowGas() public {
        uint256 n = net.MAX_PARTICIPANTS();
        address[] memory parts = new address[](n);
        int256[] memory positions = new int256[](n);
        for (uint256 i = 0; i < n; i++) {
            parts[i] = address(uint160(0x10000 + i)); // ascending by construction
            vm.prank(admin);
            net.admitParticipant(parts[i]);
            _fund(parts[i], ONE);
            vm.prank(parts[i]);
            net.deposit(ONE);
            positions[i] = i % 2 == 0 ? -int256(ONE) : int256(ONE);
        }
        // Everything above warmed the storage; on chain the window reads it cold.
        VmCool(address(vm)).cool(address(net));
        VmCool(address(vm)).cool(address(token));
        vm.prank(agent);
        uint256 before = gasleft();
        net.settleWindow(1, parts, positions, ROOT, uint32(n));
        uint256 used = before - gasleft();
        _log("settleWindow gas, 256 participants", used);
        assertLe(used, 10_000_000, "full window gas");
        assertEq(net.balanceOf(parts[0]), 0);
        assertEq(net.balanceOf(parts[1]), 2 * ONE);
    }

    // ---------------------------------------------------------------- fuzz

    /// @notice Random positions that sum to zero either settle to exactly the expected balances
    ///         or, when one would go negative, revert naming the first such participant and
    ///         change nothing.
    function testFuzz_settleWindow_zeroSumPositionsGiveExpectedBalances(int256[4] memory raw) public {
        int256[] memory positions = new int256[](4);
        address[] memory parts = new address[](4);
        int256 sum = 0;
        for (uint256 i = 0; i < 3; i++) {
            // Up to 1.5x the balance either way, so some draws overdraw.
            positions[i] = int256(bound(uint256(raw[i]), 0, 3 * FUNDED)) - int256(3 * FUNDED / 2);
            sum += positions[i];
        }
        positions[3] = -sum;
        for (uint256 i = 0; i < 4; i++) {
            parts[i] = brokers[i];
        }
        (parts, positions) = _sorted(parts, positions);

        address firstShort = address(0);
        int256 shortPosition = 0;
        for (uint256 i = 0; i < 4; i++) {
            if (positions[i] < -int256(FUNDED)) {
                (firstShort, shortPosition) = (parts[i], positions[i]);
                break;
            }
        }
        uint256[] memory before = _balances();
        vm.prank(agent);
        if (firstShort != address(0)) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    SettlementNet.InsufficientSettlementBalance.selector, firstShort, FUNDED, shortPosition
                )
            );
            net.settleWindow(1, parts, positions, ROOT, 3);
            _assertBalances(before);
            assertFalse(net.isWindowSettled(1));
        } else {
            net.settleWindow(1, parts, positions, ROOT, 3);
            for (uint256 i = 0; i < 4; i++) {
                assertEq(net.balanceOf(parts[i]), uint256(int256(FUNDED) + positions[i]), "balance after");
            }
            assertTrue(net.isWindowSettled(1));
        }
        _assertBacked();
    }

    /// @notice Positions off by any non-zero amount, either way, revert naming that sum and
    ///         change nothing, although every balance was written before the check.
    function testFuzz_settleWindow_revertsWhenPositionsDoNotSumToZero(uint256 rawDebit, uint256 rawOff, bool below)
        public
    {
        int256 debit = int256(bound(rawDebit, 0, FUNDED));
        int256 off = int256(bound(rawOff, 1, FUNDED));
        if (below) off = -off;
        (address[] memory parts, int256[] memory positions) = _triple(alice, -debit, bob, debit, carol, off);
        uint256[] memory before = _balances();
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(SettlementNet.PositionsDoNotSumToZero.selector, off));
        net.settleWindow(1, parts, positions, ROOT, 2);
        _assertBalances(before);
        _assertBacked();
        assertFalse(net.isWindowSettled(1));
        assertEq(net.getWindow(1).tradesRoot, bytes32(0));
        assertEq(net.windowsSettled(), 0);
    }

    // ---------------------------------------------------------------- trades root and proofs

    function _fiveTrades() internal view returns (bytes32[] memory ids, bytes32[] memory leaves) {
        ids = new bytes32[](5);
        leaves = new bytes32[](5);
        address[5] memory payers = [alice, bob, carol, alice, dave];
        address[5] memory payees = [bob, carol, alice, dave, bob];
        for (uint256 i = 0; i < 5; i++) {
            ids[i] = keccak256(abi.encode("trade", i));
            leaves[i] = _leaf(ids[i], payers[i], payees[i], (i + 1) * ONE);
        }
    }

    function test_verifyTrade_acceptsEveryTradeOfTheWindowWithItsProof() public {
        (bytes32[] memory ids, bytes32[] memory leaves) = _fiveTrades();
        bytes32 root = _root(leaves);
        // Net of the five trades: alice -1+3-4 = -2, bob +1-2+5 = +4, carol +2-3 = -1, dave +4-5 = -1.
        address[] memory parts = new address[](4);
        int256[] memory positions = new int256[](4);
        (parts[0], parts[1], parts[2], parts[3]) = (alice, bob, carol, dave);
        (positions[0], positions[1], positions[2], positions[3]) =
        (-int256(2 * ONE), int256(4 * ONE), -int256(ONE), -int256(ONE));
        (parts, positions) = _sorted(parts, positions);
        vm.prank(agent);
        net.settleWindow(1, parts, positions, root, 5);

        address[5] memory payers = [alice, bob, carol, alice, dave];
        address[5] memory payees = [bob, carol, alice, dave, bob];
        for (uint256 i = 0; i < 5; i++) {
            bytes32[] memory proof = _proof(leaves, i);
            assertEq(net.tradeLeaf(ids[i], payers[i], payees[i], (i + 1) * ONE), leaves[i]);
            assertTrue(net.verifyTrade(1, ids[i], payers[i], payees[i], (i + 1) * ONE, proof), "trade in window");
        }
    }

    function test_verifyTrade_rejectsAlteredTradesAndOtherWindows() public {
        (bytes32[] memory ids, bytes32[] memory leaves) = _fiveTrades();
        (address[] memory parts, int256[] memory positions) = _pair(alice, -int256(ONE), bob, int256(ONE));
        vm.prank(agent);
        net.settleWindow(1, parts, positions, _root(leaves), 5);
        bytes32[] memory proof = _proof(leaves, 0); // trade 0: alice pays bob 1

        assertTrue(net.verifyTrade(1, ids[0], alice, bob, ONE, proof));
        assertTrue(!net.verifyTrade(1, ids[0], alice, bob, ONE + 1, proof), "amount altered");
        assertTrue(!net.verifyTrade(1, ids[0], bob, alice, ONE, proof), "direction swapped");
        assertTrue(!net.verifyTrade(1, ids[1], alice, bob, ONE, proof), "other trade id");
        assertTrue(!net.verifyTrade(2, ids[0], alice, bob, ONE, proof), "window not settled");
        assertTrue(!net.verifyTrade(1, ids[0], alice, bob, ONE, _proof(leaves, 1)), "wrong proof");
    }

    function test_verifyTrade_oneTradeWindowHasTheLeafAsRoot() public {
        bytes32 id = keccak256("only trade");
        bytes32 leaf = _leaf(id, alice, bob, 7 * ONE);
        (address[] memory parts, int256[] memory positions) = _pair(alice, -int256(7 * ONE), bob, int256(7 * ONE));
        vm.prank(agent);
        net.settleWindow(1, parts, positions, leaf, 1);
        assertTrue(net.verifyTrade(1, id, alice, bob, 7 * ONE, new bytes32[](0)));
    }

    /// @notice Reference vectors computed outside Solidity (Python eth_abi + keccak) so the
    ///         service's tree builder can be checked against the same numbers.
    function test_tradeLeafAndRoot_matchReferenceVectors() public view {
        address a = address(0xa1);
        address b = address(0xb2);
        address c = address(0xc3);
        bytes32[] memory leaves = new bytes32[](3);
        leaves[0] = net.tradeLeaf(keccak256("trade-1"), a, b, 1_500_000);
        leaves[1] = net.tradeLeaf(keccak256("trade-2"), b, c, 250_000);
        leaves[2] = net.tradeLeaf(keccak256("trade-3"), c, a, 7);
        assertEq(leaves[0], 0x7e67f3805e553dedeb42716d170267cfb405e11a3e9ca6f3e47168c76b7d6aa4);
        assertEq(leaves[1], 0x6401a85df7af18c1460b8d413ac8f66eb8cfe07442c865b2676432b5e4299061);
        assertEq(leaves[2], 0xe778e6dc8a2b151f56b48a3ec83d5d02ae203784e610fbce278b124fe549328d);
        assertEq(_root(leaves), 0xb0fe4980a11e422a8aed215e049ef0bb24f9839a18d3819497a16a74d7e374e9);
    }

    // ---------------------------------------------------------------- rescue

    function test_rescue_sendsOutOnlyTheSurplus() public {
        vm.prank(stranger);
        token.transfer(address(net), 5 * ONE); // sent directly, by mistake
        assertEq(net.surplusOf(), 5 * ONE);

        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(SettlementNet.RescueExceedsSurplus.selector, 5 * ONE + 1, 5 * ONE));
        net.rescueERC20(IERC20(address(token)), stranger, 5 * ONE + 1);

        vm.expectEmit(true, true, false, true, address(net));
        emit SettlementNet.Rescued(address(token), stranger, 5 * ONE);
        vm.prank(admin);
        net.rescueERC20(IERC20(address(token)), stranger, 5 * ONE);
        assertEq(net.surplusOf(), 0);
        _assertBacked();
    }

    function test_rescue_revertsWhenNotRescuer() public {
        bytes32 role = net.RESCUER_ROLE();
        vm.prank(agent);
        vm.expectRevert(_roleError(agent, role));
        net.rescueERC20(IERC20(address(token)), agent, 1);
    }

    function test_rescue_revertsOnInvalidRecipient() public {
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(SettlementNet.InvalidRecipient.selector, address(net)));
        net.rescueERC20(IERC20(address(token)), address(net), 0);
    }
}
