// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {CommonBase} from "../base/TestBase.sol";
import {SettlementToken} from "../../src/SettlementToken.sol";
import {SettlementNet} from "../../src/SettlementNet.sol";

/// @notice Drives SettlementNet for the invariant test: deposits, withdrawals, window
///         settlements (honest and malformed), pause, token freezes, membership changes,
///         mistaken direct transfers and their rescue. A few actors and overlapping windows make
///         overdrafts, frozen participants, replayed window ids and paused calls all happen.
/// @dev For every call the handler predicts from its own ghost state whether the call must
///      succeed, and counts a violation when the contract disagrees. After a settlement it
///      checks every balance: the expected ones after success, the unchanged ones after a
///      revert (all or nothing).
contract NetHandler is CommonBase {
    uint256 internal constant ONE = 1e6;
    uint256 internal constant MAX_DONATION = 1_000 * ONE;

    SettlementNet public immutable net;
    SettlementToken public immutable token;
    address public immutable agent;
    address public immutable admin; // pauser, rescuer, operator of the net contract
    address public immutable issuer; // token blacklister
    address public immutable stranger; // sends coins to the contract by mistake
    address public immutable sink; // rescue destination
    address[] public actors; // the last one is never admitted at the start

    // ---- ghost state
    mapping(address => uint256) public ghostBalance;
    mapping(address => bool) public ghostMember;
    mapping(address => bool) public ghostFrozen;
    bool public ghostPaused;
    uint256 public ghostSurplus; // sent here by mistake, not yet rescued
    uint256 public ghostWindows; // windows settled
    uint64 public nextWindowId = 1;

    // ---- violations: each must stay 0
    uint256 public ghostWrongOutcomes; // a call succeeded that had to fail, or the reverse
    uint256 public ghostPartialSettlements; // a reverted window changed a balance
    uint256 public ghostWrongBalances; // a settled window left a balance other than expected

    // ---- call counters
    uint256 public calls;
    uint256 public depositsOk;
    uint256 public depositsFailed;
    uint256 public withdrawalsOk;
    uint256 public withdrawalsFailed;
    uint256 public windowsOk;
    uint256 public windowsFailed;
    uint256 public windowsMalformed; // of the failed: malformed on purpose
    uint256 public windowsWhilePaused; // of the failed: well formed, but paused
    uint256 public pauseToggles;
    uint256 public freezes;
    uint256 public membershipChanges;
    uint256 public donations;
    uint256 public rescues;

    constructor(
        SettlementNet net_,
        SettlementToken token_,
        address agent_,
        address admin_,
        address issuer_,
        address[] memory actors_,
        address[] memory members
    ) {
        net = net_;
        token = token_;
        agent = agent_;
        admin = admin_;
        issuer = issuer_;
        stranger = makeAddr("stranger");
        sink = makeAddr("sink");
        actors = actors_;
        for (uint256 i = 0; i < members.length; i++) {
            ghostMember[members[i]] = true;
        }
    }

    modifier step() {
        calls++;
        _;
    }

    // ---------------------------------------------------------------- liquidity

    function deposit(uint256 actorSeed, uint256 amount) external step {
        address actor = actors[actorSeed % actors.length];
        uint256 wallet = token.balanceOf(actor);
        amount = bound(amount, 0, wallet + 1);
        bool mustSucceed = amount > 0 && amount <= wallet && ghostMember[actor] && !ghostFrozen[actor] && !ghostPaused;
        vm.prank(actor);
        try net.deposit(amount) {
            depositsOk++;
            ghostBalance[actor] += amount;
            if (!mustSucceed) ghostWrongOutcomes++;
        } catch {
            depositsFailed++;
            if (mustSucceed) ghostWrongOutcomes++;
        }
    }

    /// @dev Pause does not enter the prediction: withdrawals must work while paused.
    function withdraw(uint256 actorSeed, uint256 amount) external step {
        address actor = actors[actorSeed % actors.length];
        uint256 balance = ghostBalance[actor];
        amount = bound(amount, 0, balance + 1);
        bool mustSucceed = amount > 0 && amount <= balance && !ghostFrozen[actor];
        vm.prank(actor);
        try net.withdraw(amount) {
            withdrawalsOk++;
            ghostBalance[actor] -= amount;
            if (!mustSucceed) ghostWrongOutcomes++;
        } catch {
            withdrawalsFailed++;
            if (mustSucceed) ghostWrongOutcomes++;
        }
    }

    // ---------------------------------------------------------------- settlement

    /// @param mask Which actors take part (bit i: actors[i]).
    /// @param mode 0-5: a well-formed window (positions sum to zero, ascending participants);
    ///        6: participants in descending order; 7: positions off by one; 8: a window id that
    ///        was already settled (if any); 9: a duplicated participant.
    function settle(uint256 mask, uint256[5] memory seeds, uint256 mode) external step {
        mode = uint256(keccak256(abi.encode(mode))) % 10; // the fuzzer's favourite values skew % 10
        // Modes 0-3 take eligible actors only (members, not frozen), so most windows can settle
        // bar overdrafts; the others any actors. An empty pick falls back to all of them.
        mask = _pick(mask, mode < 4 ? _eligibleMask() : (1 << actors.length) - 1);
        (address[] memory parts, int256[] memory positions) = _window(mask, seeds);
        uint256 n = parts.length;
        uint64 windowId = nextWindowId;
        bool wellFormed = n > 0;
        if (mode == 6 && n > 1) {
            _reverse(parts, positions);
            wellFormed = false;
        } else if (mode == 7 && n > 0) {
            positions[0] += 1;
            wellFormed = false;
        } else if (mode == 8 && nextWindowId > 1) {
            windowId = uint64(bound(seeds[0], 1, nextWindowId - 1));
            wellFormed = n > 0 && !net.isWindowSettled(windowId); // an abandoned id is still free
        } else if (mode == 9 && n > 0) {
            (parts, positions) = _withDuplicate(parts, positions);
            wellFormed = false;
        }
        bool mustSucceed = wellFormed && !ghostPaused && _allCanSettle(parts, positions);
        if (!wellFormed) windowsMalformed++;
        else if (ghostPaused) windowsWhilePaused++;

        uint256[] memory before = _snapshot();
        vm.prank(agent);
        try net.settleWindow(windowId, parts, positions, keccak256(abi.encode(windowId, mask)), uint32(n)) {
            windowsOk++;
            ghostWindows++;
            if (!mustSucceed) ghostWrongOutcomes++;
            for (uint256 i = 0; i < parts.length; i++) {
                ghostBalance[parts[i]] = uint256(int256(ghostBalance[parts[i]]) + positions[i]);
            }
            for (uint256 i = 0; i < actors.length; i++) {
                if (net.balanceOf(actors[i]) != ghostBalance[actors[i]]) ghostWrongBalances++;
            }
        } catch {
            windowsFailed++;
            if (mustSucceed) ghostWrongOutcomes++;
            uint256[] memory after_ = _snapshot();
            for (uint256 i = 0; i < actors.length; i++) {
                if (after_[i] != before[i]) ghostPartialSettlements++;
            }
        }
        if (windowId == nextWindowId) nextWindowId++; // fresh ids advance whether or not they settled
    }

    // ---------------------------------------------------------------- operations

    /// @dev Pauses a quarter of the time, unpauses otherwise, so most calls run unpaused.
    function setPaused(uint256 seed) external step {
        bool paused = seed % 4 == 0;
        if (paused == ghostPaused) return;
        vm.prank(admin);
        if (paused) net.pause();
        else net.unpause();
        ghostPaused = paused;
        pauseToggles++;
    }

    /// @dev Freezes a quarter of the time, unfreezes otherwise, so most actors stay usable.
    function freeze(uint256 actorSeed, uint256 seed) external step {
        address actor = actors[actorSeed % actors.length];
        bool frozen = seed % 4 == 0;
        vm.prank(issuer);
        if (frozen) token.addBlackList(actor);
        else token.removeBlackList(actor);
        ghostFrozen[actor] = frozen;
        freezes++;
    }

    /// @dev Removes a quarter of the time, admits otherwise, so most actors stay members.
    function setMembership(uint256 actorSeed, uint256 seed) external step {
        address actor = actors[actorSeed % actors.length];
        bool member = seed % 4 != 0;
        if (member == ghostMember[actor]) return;
        vm.prank(admin);
        if (member) net.admitParticipant(actor);
        else net.removeParticipant(actor);
        ghostMember[actor] = member;
        membershipChanges++;
    }

    function donate(uint256 amount) external step {
        amount = bound(amount, 1, MAX_DONATION);
        vm.prank(issuer);
        token.issue(stranger, amount);
        vm.prank(stranger);
        token.transfer(address(net), amount);
        ghostSurplus += amount;
        donations++;
    }

    function rescue(uint256 amount) external step {
        amount = bound(amount, 0, ghostSurplus + 1);
        bool mustSucceed = amount <= ghostSurplus;
        vm.prank(admin);
        try net.rescueERC20(IERC20(address(token)), sink, amount) {
            ghostSurplus -= amount;
            rescues++;
            if (!mustSucceed) ghostWrongOutcomes++;
        } catch {
            if (mustSucceed) ghostWrongOutcomes++;
        }
    }

    // ---------------------------------------------------------------- window building

    /// @dev Nets a handful of random trades among the chosen actors, each for up to 1.125 x
    ///      what its payer has left, so most windows settle and some overdraw a participant.
    ///      Ascending order.
    function _window(uint256 mask, uint256[5] memory seeds)
        private
        view
        returns (address[] memory parts, int256[] memory positions)
    {
        uint256 count = 0;
        for (uint256 i = 0; i < actors.length; i++) {
            if (mask & (1 << i) != 0) count++;
        }
        parts = new address[](count);
        positions = new int256[](count);
        uint256[] memory left = new uint256[](count);
        uint256 k = 0;
        for (uint256 i = 0; i < actors.length; i++) {
            if (mask & (1 << i) == 0) continue;
            parts[k] = actors[i];
            left[k] = ghostBalance[actors[i]];
            k++;
        }
        for (uint256 t = 0; count > 1 && t < seeds.length; t++) {
            uint256 seed = seeds[t];
            uint256 payer = seed % count;
            uint256 payee = (payer + 1 + (seed >> 8) % (count - 1)) % count;
            uint256 amount = bound(seed >> 16, 1, left[payer] + left[payer] / 8 + 1);
            left[payer] = amount > left[payer] ? 0 : left[payer] - amount;
            positions[payer] -= int256(amount);
            positions[payee] += int256(amount);
        }
        _sort(parts, positions);
    }

    function _pick(uint256 mask, uint256 pool) private pure returns (uint256) {
        return mask & pool == 0 ? pool : mask & pool;
    }

    function _eligibleMask() private view returns (uint256 mask) {
        for (uint256 i = 0; i < actors.length; i++) {
            if (ghostMember[actors[i]] && !ghostFrozen[actors[i]]) mask |= 1 << i;
        }
    }

    function _allCanSettle(address[] memory parts, int256[] memory positions) private view returns (bool) {
        for (uint256 i = 0; i < parts.length; i++) {
            if (!ghostMember[parts[i]] || ghostFrozen[parts[i]]) return false;
            if (positions[i] < 0 && uint256(-positions[i]) > ghostBalance[parts[i]]) return false;
        }
        return true;
    }

    function _sort(address[] memory parts, int256[] memory positions) private pure {
        for (uint256 i = 1; i < parts.length; i++) {
            for (uint256 j = i; j > 0 && parts[j - 1] > parts[j]; j--) {
                (parts[j - 1], parts[j]) = (parts[j], parts[j - 1]);
                (positions[j - 1], positions[j]) = (positions[j], positions[j - 1]);
            }
        }
    }

    function _reverse(address[] memory parts, int256[] memory positions) private pure {
        uint256 n = parts.length;
        for (uint256 i = 0; i < n / 2; i++) {
            (parts[i], parts[n - 1 - i]) = (parts[n - 1 - i], parts[i]);
            (positions[i], positions[n - 1 - i]) = (positions[n - 1 - i], positions[i]);
        }
    }

    /// @dev Appends a copy of the last participant with position 0 (sum and order otherwise fine).
    function _withDuplicate(address[] memory parts, int256[] memory positions)
        private
        pure
        returns (address[] memory p2, int256[] memory q2)
    {
        uint256 n = parts.length;
        p2 = new address[](n + 1);
        q2 = new int256[](n + 1);
        for (uint256 i = 0; i < n; i++) {
            (p2[i], q2[i]) = (parts[i], positions[i]);
        }
        p2[n] = parts[n - 1];
    }

    function _snapshot() private view returns (uint256[] memory balances) {
        balances = new uint256[](actors.length);
        for (uint256 i = 0; i < actors.length; i++) {
            balances[i] = net.balanceOf(actors[i]);
        }
    }

    // ---------------------------------------------------------------- views for the invariants

    function actorCount() external view returns (uint256) {
        return actors.length;
    }
}
