// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TestBase} from "./base/TestBase.sol";

/// @notice Tests for the hand-written test base itself. A wrong cheatcode signature in Vm.sol
///         would make forge reject the call, and a broken assertion would let bugs through,
///         so every declared cheatcode and every assertion is exercised here at least once.
contract TestBaseTest is TestBase {
    event Ping(uint256 indexed id, uint256 value);

    /// @dev External wrappers: expectRevert only observes reverts of external calls.
    function emitPing(uint256 id, uint256 value) external {
        emit Ping(id, value);
    }

    function failAssertEqUint(uint256 a, uint256 b) external pure {
        assertEq(a, b);
    }

    function failAssertEqAddress(address a, address b) external pure {
        assertEq(a, b);
    }

    function failAssertTrue() external pure {
        assertTrue(false);
    }

    function failAssertGt(uint256 a, uint256 b) external pure {
        assertGt(a, b);
    }

    function revertWithoutData() external pure {
        revert();
    }

    // ---------------------------------------------------------------- assertions

    function test_assertions_passOnEqualValues() public pure {
        assertEq(uint256(1), uint256(1));
        assertEq(address(1), address(1));
        assertEq(bytes32("x"), bytes32("x"));
        assertEq(true, true);
        assertEq(string("abc"), "abc");
        assertTrue(true);
        assertFalse(false);
        assertGt(2, 1);
        assertLe(1, 1, "le");
    }

    function test_assertions_revertWithBothValuesInMessage() public {
        vm.expectRevert(bytes("assertEq(uint256) failed: 1 vs 2"));
        this.failAssertEqUint(1, 2);
        vm.expectRevert(
            bytes(
                "assertEq(address) failed: 0x0000000000000000000000000000000000000001 vs 0x0000000000000000000000000000000000000002"
            )
        );
        this.failAssertEqAddress(address(1), address(2));
        vm.expectRevert(bytes("assertTrue failed"));
        this.failAssertTrue();
        vm.expectRevert(bytes("assertGt failed: 1 vs 1"));
        this.failAssertGt(1, 1);
    }

    // ---------------------------------------------------------------- bound / makeAddr

    function testFuzz_bound_staysWithinLimits(uint256 x, uint256 min, uint256 max) public pure {
        vm.assume(min <= max);
        uint256 y = bound(x, min, max);
        assertTrue(y >= min && y <= max, "out of range");
        if (x >= min && x <= max) assertEq(y, x, "in-range value changed");
    }

    function test_makeAddr_isDeterministicAndDistinct() public {
        assertEq(makeAddr("alice"), makeAddr("alice"));
        assertTrue(makeAddr("alice") != makeAddr("bob"));
    }

    // ---------------------------------------------------------------- cheatcodes

    function test_cheatcodes_warpPrankAndKeys() public {
        vm.warp(12345);
        assertEq(block.timestamp, 12345);

        uint256 pk = 0xC0FFEE;
        address signer = vm.addr(pk);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(pk, keccak256("msg"));
        assertEq(ecrecover(keccak256("msg"), v, r, s), signer);

        vm.prank(signer);
        assertEq(this.whoCalls(), signer);
        vm.startPrank(signer);
        assertEq(this.whoCalls(), signer);
        assertEq(this.whoCalls(), signer);
        vm.stopPrank();
        assertEq(this.whoCalls(), address(this));
    }

    function whoCalls() external view returns (address) {
        return msg.sender;
    }

    function test_cheatcodes_expectRevertAnyAndPartial() public {
        vm.expectRevert();
        this.revertWithoutData();
        vm.expectPartialRevert(bytes4(keccak256("Error(string)")));
        this.failAssertTrue();
    }

    function test_cheatcodes_expectEmitWithAndWithoutEmitter() public {
        vm.expectEmit(true, false, false, true);
        emit Ping(1, 2);
        this.emitPing(1, 2);

        vm.expectEmit(true, false, false, true, address(this));
        emit Ping(3, 4);
        this.emitPing(3, 4);
    }

    function test_targets_areRecorded() public {
        targetContract(address(0xBEEF));
        bytes4[] memory selectors = new bytes4[](1);
        selectors[0] = this.emitPing.selector;
        targetSelector(FuzzSelector({addr: address(0xBEEF), selectors: selectors}));

        assertEq(targetContracts().length, 1);
        assertEq(targetContracts()[0], address(0xBEEF));
        assertEq(targetSelectors()[0].addr, address(0xBEEF));
        assertEq(bytes32(targetSelectors()[0].selectors[0]), bytes32(this.emitPing.selector));
    }
}
