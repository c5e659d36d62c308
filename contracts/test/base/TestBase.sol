// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {Vm} from "./Vm.sol";

/// @notice What both tests and invariant handlers need: the cheatcode handle, `bound` and
///         `makeAddr`. Handlers inherit only this, so they expose no test-looking functions.
abstract contract CommonBase {
    Vm internal constant vm = Vm(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);

    /// @dev Folds `x` into [min, max]. Values already in range pass through unchanged, so the
    ///      fuzzer's edge cases (min, max) survive; others wrap around by modulo.
    function bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        require(min <= max, "bound: min > max");
        if (x >= min && x <= max) return x;
        uint256 size = max - min;
        if (size == type(uint256).max) return x;
        return min + (x % (size + 1));
    }

    /// @dev A deterministic address per name, labelled so traces read "payer" instead of hex.
    function makeAddr(string memory name) internal returns (address account) {
        account = address(uint160(uint256(keccak256(abi.encodePacked(name)))));
        vm.label(account, name);
    }
}

/// @notice A minimal stand-in for forge-std's Test: require-based assertions (forge reports a
///         revert in a test as a failure) and the invariant target hooks forge reads.
abstract contract TestBase is CommonBase {
    /// @dev Layout forge expects from `targetSelectors()`.
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    address[] private _targetedContracts;
    FuzzSelector[] private _targetedSelectors;

    // ---------------------------------------------------------------- invariant targets

    function targetContract(address target) internal {
        _targetedContracts.push(target);
    }

    function targetSelector(FuzzSelector memory selector) internal {
        _targetedSelectors.push(selector);
    }

    /// @notice Read by forge: only these contracts are called during invariant runs.
    function targetContracts() public view returns (address[] memory) {
        return _targetedContracts;
    }

    /// @notice Read by forge: only these functions of the targets are called.
    function targetSelectors() public view returns (FuzzSelector[] memory) {
        return _targetedSelectors;
    }

    // ---------------------------------------------------------------- assertions

    function assertTrue(bool condition) internal pure {
        require(condition, "assertTrue failed");
    }

    function assertTrue(bool condition, string memory message) internal pure {
        require(condition, message);
    }

    function assertFalse(bool condition) internal pure {
        require(!condition, "assertFalse failed");
    }

    function assertEq(uint256 a, uint256 b) internal pure {
        assertEq(a, b, "assertEq(uint256) failed");
    }

    function assertEq(uint256 a, uint256 b, string memory message) internal pure {
        if (a != b) revert(_pair(message, Strings.toString(a), Strings.toString(b)));
    }

    function assertEq(address a, address b) internal pure {
        if (a != b) revert(_pair("assertEq(address) failed", Strings.toHexString(a), Strings.toHexString(b)));
    }

    function assertEq(bytes32 a, bytes32 b) internal pure {
        if (a != b) {
            revert(
                _pair(
                    "assertEq(bytes32) failed", Strings.toHexString(uint256(a), 32), Strings.toHexString(uint256(b), 32)
                )
            );
        }
    }

    function assertEq(bool a, bool b) internal pure {
        if (a != b) revert(_pair("assertEq(bool) failed", a ? "true" : "false", b ? "true" : "false"));
    }

    function assertEq(string memory a, string memory b) internal pure {
        if (keccak256(bytes(a)) != keccak256(bytes(b))) revert(_pair("assertEq(string) failed", a, b));
    }

    function assertGt(uint256 a, uint256 b) internal pure {
        assertGt(a, b, "assertGt failed");
    }

    function assertGt(uint256 a, uint256 b, string memory message) internal pure {
        if (a <= b) revert(_pair(message, Strings.toString(a), Strings.toString(b)));
    }

    function assertLe(uint256 a, uint256 b, string memory message) internal pure {
        if (a > b) revert(_pair(message, Strings.toString(a), Strings.toString(b)));
    }

    function _pair(string memory message, string memory a, string memory b) private pure returns (string memory) {
        return string.concat(message, ": ", a, " vs ", b);
    }

    // ---------------------------------------------------------------- logging

    /// @dev forge decodes calls to this address as console.log and prints them with -vv.
    address private constant CONSOLE = 0x000000000000000000636F6e736F6c652e6c6f67;

    function _log(string memory label_, uint256 value) internal view {
        (bool ok,) = CONSOLE.staticcall(abi.encodeWithSignature("log(string,uint256)", label_, value));
        ok; // console calls never matter to the test outcome
    }
}
