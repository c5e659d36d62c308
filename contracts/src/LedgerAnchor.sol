// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title LedgerAnchor
/// @notice Public, append-only record of the service journal's head: each anchor is the
///         journal's sequence number and the hash of the entry at that sequence. Anyone holding
///         a copy of the journal can recompute the hash chain up to an anchored sequence and
///         compare it with the hash stored here, so the operator cannot rewrite history that
///         was anchored without it showing.
/// @dev Used in both settlement modes: at every net window close and on a timer in gross mode.
///      - Its own key. Only ANCHOR_ROLE may anchor, and the constructor does not give that role
///        to the admin; the deployment gives it to a key that is NOT the settlement agent's, so a
///        stolen agent key can move settlement balances but cannot also overwrite the evidence.
///      - Sequences strictly increase (the first must be >= 1: sequence 0 is the empty journal),
///        so an anchor can never be replaced or reordered; the same head can be anchored once.
///      - Nothing here holds coins; there is no pause.
contract LedgerAnchor is AccessControl {
    bytes32 public constant ANCHOR_ROLE = keccak256("ANCHOR_ROLE");

    struct Anchor {
        uint64 sequence; // journal seq of the anchored head entry
        uint64 anchoredAt; // block timestamp of the anchoring transaction
        bytes32 headHash; // that entry's hash
    }

    Anchor[] private _anchors;

    event JournalAnchored(uint256 indexed index, uint64 indexed sequence, bytes32 headHash);

    error SequenceNotIncreasing(uint64 sequence, uint64 latest);
    error ZeroHeadHash();
    error NoAnchors();
    error AnchorIndexOutOfRange(uint256 index, uint256 count);
    error ZeroAddress();

    /// @param admin DEFAULT_ADMIN_ROLE: grants and revokes ANCHOR_ROLE, cannot anchor itself
    ///        unless it grants itself the role (visible on chain as RoleGranted).
    /// @param anchorer The one key that anchors; keep it separate from the settlement agent.
    constructor(address admin, address anchorer) {
        if (admin == address(0) || anchorer == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(ANCHOR_ROLE, anchorer);
    }

    /// @notice Record that the journal's entry `sequence` has hash `headHash`.
    /// @return index The anchor's position, as `anchorAt(index)` reads it back.
    function anchor(uint64 sequence, bytes32 headHash) external onlyRole(ANCHOR_ROLE) returns (uint256 index) {
        if (headHash == bytes32(0)) revert ZeroHeadHash();
        index = _anchors.length;
        uint64 latest = index == 0 ? 0 : _anchors[index - 1].sequence;
        if (sequence <= latest) revert SequenceNotIncreasing(sequence, latest);
        _anchors.push(Anchor({sequence: sequence, anchoredAt: uint64(block.timestamp), headHash: headHash}));
        emit JournalAnchored(index, sequence, headHash);
    }

    // ---------------------------------------------------------------- views

    function anchorCount() external view returns (uint256) {
        return _anchors.length;
    }

    function anchorAt(uint256 index) external view returns (Anchor memory) {
        if (index >= _anchors.length) revert AnchorIndexOutOfRange(index, _anchors.length);
        return _anchors[index];
    }

    /// @notice The most recent anchor; reverts NoAnchors before the first.
    function latestAnchor() external view returns (Anchor memory) {
        uint256 count = _anchors.length;
        if (count == 0) revert NoAnchors();
        return _anchors[count - 1];
    }

    /// @notice The latest anchored sequence, 0 before the first anchor (the next must exceed it).
    function latestSequence() external view returns (uint64) {
        uint256 count = _anchors.length;
        return count == 0 ? 0 : _anchors[count - 1].sequence;
    }
}
