"""The journal's head anchored on chain, and the rule that checks a journal against its anchors.

Why: the hash chain alone proves only that the journal is self-consistent. Someone with write
access to the database can rewrite entries from some point on and recompute every later hash and
the head; verify then passes. An anchor is the head (sequence and hash) written to a contract by
a key of its own: a rewrite of anything at or before an anchored sequence changes that entry's
hash, and no database access can change the anchor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class AnchoredHead:
    """One anchor as the contract holds it: journal sequence, that entry's hash (hex, no 0x)."""

    index: int
    sequence: int
    head_hash: str
    anchored_at_s: int


def anchor_problems(anchors: Sequence[AnchoredHead], stored_hashes: Mapping[int, str]) -> list[tuple[int, str]]:
    """(seq, message) for every anchor the journal no longer matches.

    `stored_hashes` maps each anchored sequence to the entry hash the journal now holds there
    (absent: the entry is gone). Together with the hash-chain check, a match at the latest anchor
    proves every entry up to it is as it was when anchored."""
    problems: list[tuple[int, str]] = []
    for anchor in anchors:
        stored = stored_hashes.get(anchor.sequence)
        if stored is None:
            problems.append(
                (anchor.sequence, f"anchored entry missing: anchor #{anchor.index} holds seq {anchor.sequence}")
            )
        elif stored.lower() != anchor.head_hash.lower():
            problems.append(
                (
                    anchor.sequence,
                    f"rewritten after anchoring: anchor #{anchor.index} holds hash {anchor.head_hash[:16]}… "
                    f"for seq {anchor.sequence}, the journal has {stored[:16]}…",
                )
            )
    return problems
