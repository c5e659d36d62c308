// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {TestBase} from "./base/TestBase.sol";
import {SettlementToken} from "../src/SettlementToken.sol";
import {SettlementNet} from "../src/SettlementNet.sol";
import {NetHandler} from "./handlers/NetHandler.sol";

/// @notice Stateful fuzzing of net settlement: forge calls the handler's actions in random order
///         and depth, and after every call checks the properties below.
contract SettlementNetInvariantTest is TestBase {
    uint256 internal constant START_BALANCE = 1_000_000_000e6;

    SettlementToken internal token;
    SettlementNet internal net;
    NetHandler internal handler;
    address[] internal actors;

    function setUp() public {
        vm.warp(1_700_000_000);
        address issuer = makeAddr("issuer");
        address admin = makeAddr("admin");
        address agent = makeAddr("agent");
        token = new SettlementToken("Settlement USD", "SUSD", issuer, issuer, issuer, issuer, issuer);
        vm.prank(issuer);
        token.configureMinter(issuer, type(uint256).max);
        net = new SettlementNet(IERC20(address(token)), admin, agent);

        string[5] memory names = ["alice", "bob", "carol", "dave", "outsider"];
        address[] memory members = new address[](4);
        for (uint256 i = 0; i < names.length; i++) {
            address actor = makeAddr(names[i]);
            actors.push(actor);
            vm.prank(issuer);
            token.issue(actor, START_BALANCE);
            vm.prank(actor);
            token.approve(address(net), type(uint256).max);
            if (i < 4) {
                members[i] = actor;
                vm.prank(admin);
                net.admitParticipant(actor);
            }
        }

        handler = new NetHandler(net, token, agent, admin, issuer, actors, members);

        bytes4[] memory selectors = new bytes4[](10);
        selectors[0] = NetHandler.deposit.selector;
        selectors[1] = NetHandler.withdraw.selector;
        selectors[2] = NetHandler.settle.selector;
        selectors[3] = NetHandler.setPaused.selector;
        selectors[4] = NetHandler.freeze.selector;
        selectors[5] = NetHandler.setMembership.selector;
        selectors[6] = NetHandler.donate.selector;
        selectors[7] = NetHandler.rescue.selector;
        selectors[8] = NetHandler.deposit.selector; // twice: balances feed the windows
        selectors[9] = NetHandler.settle.selector; // twice: the subject under test
        targetContract(address(handler));
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    /// @notice (a) Σ settlement balances == totalBalances == the contract's token balance, less
    ///         only what was sent here by mistake and not yet rescued.
    function invariant_balancesSumToTokensHeld() public view {
        uint256 sum = 0;
        for (uint256 i = 0; i < actors.length; i++) {
            sum += net.balanceOf(actors[i]);
        }
        assertEq(sum, net.totalBalances(), "sum of balances vs totalBalances");
        assertEq(token.balanceOf(address(net)), sum + handler.ghostSurplus(), "tokens held vs sum + surplus");
        assertEq(net.surplusOf(), handler.ghostSurplus(), "surplus");
    }

    /// @notice (b) Every balance is exactly what the handler's own bookkeeping expects.
    function invariant_balancesMatchGhost() public view {
        for (uint256 i = 0; i < actors.length; i++) {
            assertEq(net.balanceOf(actors[i]), handler.ghostBalance(actors[i]), "balance vs ghost");
        }
    }

    /// @notice (c) Windows are all or nothing and settle exactly when they may: no reverted
    ///         window left a trace, no settled one a wrong balance, no call had the wrong outcome.
    function invariant_windowsAllOrNothing() public view {
        assertEq(handler.ghostPartialSettlements(), 0, "reverted window changed a balance");
        assertEq(handler.ghostWrongBalances(), 0, "settled window left a wrong balance");
        assertEq(handler.ghostWrongOutcomes(), 0, "call outcome differs from prediction");
        assertEq(net.windowsSettled(), handler.ghostWindows(), "windows settled");
    }

    /// @notice (d) Coins are only moved, never made or lost.
    function invariant_tokensConserved() public view {
        uint256 sum =
            token.balanceOf(address(net)) + token.balanceOf(handler.sink()) + token.balanceOf(handler.stranger());
        for (uint256 i = 0; i < actors.length; i++) {
            sum += token.balanceOf(actors[i]);
        }
        assertEq(sum, token.totalSupply(), "supply");
    }

    /// @notice Not a property: prints the handler's counters (forge test -vv) to confirm the
    ///         campaign exercised each path.
    /// forge-config: default.invariant.runs = 8
    /// forge-config: ci.invariant.runs = 8
    function invariant_callSummary() public view {
        _log("calls", handler.calls());
        _log("deposits ok", handler.depositsOk());
        _log("deposits failed", handler.depositsFailed());
        _log("withdrawals ok", handler.withdrawalsOk());
        _log("withdrawals failed", handler.withdrawalsFailed());
        _log("windows ok", handler.windowsOk());
        _log("windows failed", handler.windowsFailed());
        _log("  of which malformed", handler.windowsMalformed());
        _log("  of which paused", handler.windowsWhilePaused());
        _log("pause toggles", handler.pauseToggles());
        _log("freezes", handler.freezes());
        _log("membership changes", handler.membershipChanges());
        _log("donations", handler.donations());
        _log("rescues", handler.rescues());
    }

    function afterInvariant() public view {
        assertGt(handler.calls(), 0, "handler never called");
    }
}
