// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {TestBase} from "./base/TestBase.sol";
import {LedgerAnchor} from "../src/LedgerAnchor.sol";

/// @notice Journal anchoring: only the anchor key, strictly increasing sequences, readable back.
contract LedgerAnchorTest is TestBase {
    LedgerAnchor internal anchors;
    address internal admin;
    address internal anchorer;
    address internal agent; // the settlement agent's key: must not be able to anchor
    address internal stranger;
    bytes32 internal anchorRole;

    bytes32 internal constant HEAD_1 = keccak256("head at seq 10");
    bytes32 internal constant HEAD_2 = keccak256("head at seq 25");

    function setUp() public {
        vm.warp(1_700_000_000);
        admin = makeAddr("admin");
        anchorer = makeAddr("anchorer");
        agent = makeAddr("agent");
        stranger = makeAddr("stranger");
        anchors = new LedgerAnchor(admin, anchorer);
        anchorRole = anchors.ANCHOR_ROLE();
    }

    function _roleError(address account) internal view returns (bytes memory) {
        return abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, account, anchorRole);
    }

    // ---------------------------------------------------------------- constructor

    function test_constructor_givesAnchorRoleOnlyToAnchorer() public view {
        assertEq(anchorRole, keccak256("ANCHOR_ROLE"));
        assertTrue(anchors.hasRole(anchorRole, anchorer));
        assertFalse(anchors.hasRole(anchorRole, admin));
        assertTrue(anchors.hasRole(anchors.DEFAULT_ADMIN_ROLE(), admin));
        assertFalse(anchors.hasRole(anchors.DEFAULT_ADMIN_ROLE(), anchorer));
        assertEq(anchors.anchorCount(), 0);
        assertEq(uint256(anchors.latestSequence()), 0);
    }

    function test_constructor_revertsOnZeroAddress() public {
        vm.expectRevert(LedgerAnchor.ZeroAddress.selector);
        new LedgerAnchor(address(0), anchorer);
        vm.expectRevert(LedgerAnchor.ZeroAddress.selector);
        new LedgerAnchor(admin, address(0));
    }

    // ---------------------------------------------------------------- anchor

    function test_anchor_storesAndEmits() public {
        vm.expectEmit(true, true, false, true, address(anchors));
        emit LedgerAnchor.JournalAnchored(0, 10, HEAD_1);
        vm.prank(anchorer);
        uint256 index = anchors.anchor(10, HEAD_1);
        assertEq(index, 0);

        vm.warp(block.timestamp + 60);
        vm.expectEmit(true, true, false, true, address(anchors));
        emit LedgerAnchor.JournalAnchored(1, 25, HEAD_2);
        vm.prank(anchorer);
        assertEq(anchors.anchor(25, HEAD_2), 1);

        assertEq(anchors.anchorCount(), 2);
        LedgerAnchor.Anchor memory first = anchors.anchorAt(0);
        assertEq(uint256(first.sequence), 10);
        assertEq(first.headHash, HEAD_1);
        assertEq(uint256(first.anchoredAt), 1_700_000_000);
        LedgerAnchor.Anchor memory latest = anchors.latestAnchor();
        assertEq(uint256(latest.sequence), 25);
        assertEq(latest.headHash, HEAD_2);
        assertEq(uint256(latest.anchoredAt), 1_700_000_060);
        assertEq(uint256(anchors.latestSequence()), 25);
    }

    function test_anchor_revertsWhenNotAnchorer() public {
        address[3] memory callers = [agent, admin, stranger];
        for (uint256 i = 0; i < callers.length; i++) {
            vm.prank(callers[i]);
            vm.expectRevert(_roleError(callers[i]));
            anchors.anchor(1, HEAD_1);
        }
        assertEq(anchors.anchorCount(), 0);
    }

    function test_anchor_revertsWhenSequenceNotIncreasing() public {
        vm.prank(anchorer);
        vm.expectRevert(abi.encodeWithSelector(LedgerAnchor.SequenceNotIncreasing.selector, uint64(0), uint64(0)));
        anchors.anchor(0, HEAD_1); // sequence 0 is the empty journal

        vm.prank(anchorer);
        anchors.anchor(10, HEAD_1);
        vm.prank(anchorer);
        vm.expectRevert(abi.encodeWithSelector(LedgerAnchor.SequenceNotIncreasing.selector, uint64(10), uint64(10)));
        anchors.anchor(10, HEAD_2);
        vm.prank(anchorer);
        vm.expectRevert(abi.encodeWithSelector(LedgerAnchor.SequenceNotIncreasing.selector, uint64(9), uint64(10)));
        anchors.anchor(9, HEAD_2);
        assertEq(anchors.anchorCount(), 1);
        assertEq(anchors.latestAnchor().headHash, HEAD_1);
    }

    function test_anchor_revertsOnZeroHeadHash() public {
        vm.prank(anchorer);
        vm.expectRevert(LedgerAnchor.ZeroHeadHash.selector);
        anchors.anchor(1, bytes32(0));
    }

    function test_anchor_followsRoleRotation() public {
        address next = makeAddr("next anchorer");
        vm.startPrank(admin);
        anchors.grantRole(anchorRole, next);
        anchors.revokeRole(anchorRole, anchorer);
        vm.stopPrank();

        vm.prank(anchorer);
        vm.expectRevert(_roleError(anchorer));
        anchors.anchor(1, HEAD_1);
        vm.prank(next);
        anchors.anchor(1, HEAD_1);
        assertEq(anchors.anchorCount(), 1);
    }

    /// @notice The anchor key anchors and nothing more: it cannot hand the role on or take the admin's.
    function test_anchor_anchorerCannotGrantRoles() public {
        bytes32 adminRole = anchors.DEFAULT_ADMIN_ROLE();
        bytes memory notAdmin =
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, anchorer, adminRole);
        vm.prank(anchorer);
        vm.expectRevert(notAdmin);
        anchors.grantRole(anchorRole, stranger);
        vm.prank(anchorer);
        vm.expectRevert(notAdmin);
        anchors.grantRole(adminRole, anchorer);
        assertFalse(anchors.hasRole(anchorRole, stranger));
        assertFalse(anchors.hasRole(adminRole, anchorer));
    }

    // ---------------------------------------------------------------- views

    function test_latestAnchor_revertsBeforeTheFirst() public {
        vm.expectRevert(LedgerAnchor.NoAnchors.selector);
        anchors.latestAnchor();
    }

    function test_anchorAt_revertsOutOfRange() public {
        vm.prank(anchorer);
        anchors.anchor(3, HEAD_1);
        vm.expectRevert(abi.encodeWithSelector(LedgerAnchor.AnchorIndexOutOfRange.selector, 1, 1));
        anchors.anchorAt(1);
    }

    // ---------------------------------------------------------------- fuzz

    /// @notice No caller but the anchor key can anchor, whatever the sequence and hash.
    function testFuzz_anchor_revertsForAnyoneButTheAnchorer(address caller, uint64 sequence, bytes32 head) public {
        vm.assume(caller != anchorer);
        vm.prank(caller);
        vm.expectRevert(_roleError(caller));
        anchors.anchor(sequence, head);
        assertEq(anchors.anchorCount(), 0);
    }

    /// @notice Whatever sequences are offered, the stored ones strictly increase and each
    ///         accepted call is exactly one that exceeded the latest.
    function testFuzz_anchor_storedSequencesStrictlyIncrease(uint64[8] memory sequences) public {
        uint64 latest = 0;
        uint256 accepted = 0;
        for (uint256 i = 0; i < sequences.length; i++) {
            uint64 seq = uint64(bound(sequences[i], 0, 20));
            bytes32 head = keccak256(abi.encode(seq));
            vm.prank(anchorer);
            if (seq > latest) {
                anchors.anchor(seq, head);
                latest = seq;
                accepted++;
            } else {
                vm.expectRevert(abi.encodeWithSelector(LedgerAnchor.SequenceNotIncreasing.selector, seq, latest));
                anchors.anchor(seq, head);
            }
        }
        assertEq(anchors.anchorCount(), accepted);
        for (uint256 i = 1; i < accepted; i++) {
            assertGt(anchors.anchorAt(i).sequence, anchors.anchorAt(i - 1).sequence);
        }
        assertEq(uint256(anchors.latestSequence()), uint256(latest));
    }
}
