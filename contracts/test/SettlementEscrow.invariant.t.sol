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
        address agent = makeAddr("agent");
        token = new SettlementToken("Settlement USD", "SUSD", issuer, issuer, issuer, issuer, issuer);
        vm.prank(issuer);
        token.configureMinter(issuer, type(uint256).max);
        escrow = new SettlementEscrow(IERC20(address(token)), makeAddr("admin"), agent);

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

        handler = new EscrowHandler(escrow, token, agent, keys);

        // Only the handler's actions are fuzzed: not its ghost getters, not the escrow directly.
        bytes4[] memory selectors = new bytes4[](4);
        selectors[0] = EscrowHandler.lock.selector;
        selectors[1] = EscrowHandler.release.selector;
        selectors[2] = EscrowHandler.refund.selector;
        selectors[3] = EscrowHandler.warp.selector;
        targetContract(address(handler));
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    /// @notice (a) The escrow holds exactly the open locks: its token balance, its own counter
    ///         and the handler's independent tally of trades seen Locked all agree.
    function invariant_escrowBalanceEqualsOpenLocks() public view {
        uint256 balance = token.balanceOf(address(escrow));
        assertEq(balance, escrow.totalLocked(), "balance vs totalLocked");
        assertEq(balance, handler.ghostLockedSum(), "balance vs ghost sum of Locked trades");
    }

    /// @notice (b) Every trade goes None -> Locked -> Released | Refunded, once: no status ever
    ///         moved backwards or out of a terminal state, and no id was locked twice.
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

    /// @notice (c) Coins are only moved, never made or lost: actors plus escrow hold the supply.
    function invariant_tokensConserved() public view {
        uint256 sum = token.balanceOf(address(escrow));
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

    /// @notice Not a property: prints the handler's counters (forge test -vv) so a human can
    ///         confirm the campaign really locked, released and refunded rather than reverting.
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
        _log("warps", handler.warps());
    }

    /// @notice Called by forge at the end of every run: the handler must have been exercised.
    function afterInvariant() public view {
        assertGt(handler.calls(), 0, "handler never called");
    }
}
