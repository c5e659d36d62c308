"""The window Merkle tree: every trade's proof verifies against the root, nothing else does."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from settlement.chain import merkle
from settlement.chain.merkle import ZERO_ROOT, TradeLeaf, TradeProof, merkle_proof, merkle_root, verify_proof

ADDRESSES = ["0x" + f"{i:040x}" for i in range(1, 6)]
OTHER_ADDRESSES = ["0x" + f"{i:040x}" for i in (0xDEAD, 2**160 - 1)]  # wallets in no window

leaves = st.lists(
    st.builds(
        TradeLeaf,
        chain_trade_id=st.binary(min_size=32, max_size=32),
        payer=st.sampled_from(ADDRESSES),
        payee=st.sampled_from(ADDRESSES),
        amount_base_units=st.integers(1, 2**256 - 1),
    ),
    min_size=1,
    max_size=40,
    unique_by=lambda leaf: leaf.chain_trade_id,
)


@settings(max_examples=60)
@given(leaves)
def test_every_leaf_proves_its_inclusion(window: list[TradeLeaf]) -> None:
    root = merkle_root(window)
    for leaf in window:
        assert verify_proof(leaf, merkle_proof(window, leaf), root)


@settings(max_examples=60)
@given(leaves)
def test_a_changed_amount_does_not_verify(window: list[TradeLeaf]) -> None:
    root = merkle_root(window)
    leaf = window[0]
    forged = TradeLeaf(leaf.chain_trade_id, leaf.payer, leaf.payee, leaf.amount_base_units ^ 1)
    assert not verify_proof(forged, merkle_proof(window, leaf), root)


@given(leaves)
def test_the_root_does_not_depend_on_order(window: list[TradeLeaf]) -> None:
    assert merkle_root(window) == merkle_root(list(reversed(window)))


def test_the_empty_window_has_the_zero_root() -> None:
    assert merkle_root([]) == ZERO_ROOT


def test_a_trade_outside_the_window_has_no_proof() -> None:
    inside = TradeLeaf(b"\x01" * 32, ADDRESSES[0], ADDRESSES[1], 5)
    outside = TradeLeaf(b"\x02" * 32, ADDRESSES[0], ADDRESSES[1], 5)
    with pytest.raises(ValueError, match="not in this window"):
        merkle_proof([inside], outside)


def test_a_single_trade_is_its_own_root() -> None:
    only = TradeLeaf(b"\x03" * 32, ADDRESSES[2], ADDRESSES[3], 7)
    assert merkle_root([only]) == only.hash()
    assert merkle_proof([only], only) == []


def test_leaves_and_root_match_the_contracts_reference_vectors() -> None:
    """The same vectors as SettlementNet.t.sol's test_tradeLeafAndRoot_matchReferenceVectors."""
    a, b, c = ("0x" + f"{n:040x}" for n in (0xA1, 0xB2, 0xC3))
    leaves = [
        TradeLeaf(keccak(text="trade-1"), a, b, 1_500_000),
        TradeLeaf(keccak(text="trade-2"), b, c, 250_000),
        TradeLeaf(keccak(text="trade-3"), c, a, 7),
    ]
    assert [leaf.hash().hex() for leaf in leaves] == [
        "7e67f3805e553dedeb42716d170267cfb405e11a3e9ca6f3e47168c76b7d6aa4",
        "6401a85df7af18c1460b8d413ac8f66eb8cfe07442c865b2676432b5e4299061",
        "e778e6dc8a2b151f56b48a3ec83d5d02ae203784e610fbce278b124fe549328d",
    ]
    assert merkle_root(leaves).hex() == "b0fe4980a11e422a8aed215e049ef0bb24f9839a18d3819497a16a74d7e374e9"


two_or_more = leaves.filter(lambda window: len(window) >= 2)


def _flip(value: bytes, bit: int) -> bytes:
    """`value` with one bit flipped (bit counted from the last byte's lowest bit)."""
    as_int = int.from_bytes(value, "big") ^ (1 << (bit % (8 * len(value))))
    return as_int.to_bytes(len(value), "big")


@st.composite
def tampered_leaves(draw: st.DrawFn, leaf: TradeLeaf) -> TradeLeaf:
    """The same trade with one field changed: its id, either wallet, or its amount."""
    field = draw(st.sampled_from(["chain_trade_id", "payer", "payee", "amount_base_units"]))
    if field == "chain_trade_id":
        return replace(leaf, chain_trade_id=_flip(leaf.chain_trade_id, draw(st.integers(0, 255))))
    if field == "payer":
        return replace(leaf, payer=draw(st.sampled_from([a for a in ADDRESSES + OTHER_ADDRESSES if a != leaf.payer])))
    if field == "payee":
        return replace(leaf, payee=draw(st.sampled_from([a for a in ADDRESSES + OTHER_ADDRESSES if a != leaf.payee])))
    amount = draw(st.integers(0, 2**256 - 1).filter(lambda a: a != leaf.amount_base_units))
    return replace(leaf, amount_base_units=amount)


@settings(max_examples=60)
@given(leaves, st.data())
def test_a_tampered_leaf_does_not_verify(window: list[TradeLeaf], data: st.DataObject) -> None:
    root = merkle_root(window)
    leaf = data.draw(st.sampled_from(window))
    forged = data.draw(tampered_leaves(leaf))
    assert not verify_proof(forged, merkle_proof(window, leaf), root)


@settings(max_examples=60)
@given(two_or_more, st.data())
def test_a_tampered_sibling_does_not_verify(window: list[TradeLeaf], data: st.DataObject) -> None:
    root = merkle_root(window)
    leaf = data.draw(st.sampled_from(window))
    proof = merkle_proof(window, leaf)
    assert proof  # two or more leaves: at least one sibling
    at = data.draw(st.integers(0, len(proof) - 1))
    proof[at] = _flip(proof[at], data.draw(st.integers(0, 255)))
    assert not verify_proof(leaf, proof, root)


@settings(max_examples=60)
@given(leaves, st.data())
def test_a_tampered_root_does_not_verify(window: list[TradeLeaf], data: st.DataObject) -> None:
    leaf = data.draw(st.sampled_from(window))
    forged_root = _flip(merkle_root(window), data.draw(st.integers(0, 255)))
    assert not verify_proof(leaf, merkle_proof(window, leaf), forged_root)


@settings(max_examples=60)
@given(two_or_more, st.data())
def test_a_shortened_or_lengthened_proof_does_not_verify(window: list[TradeLeaf], data: st.DataObject) -> None:
    root = merkle_root(window)
    leaf = data.draw(st.sampled_from(window))
    proof = merkle_proof(window, leaf)
    assert not verify_proof(leaf, proof[:-1], root)
    assert not verify_proof(leaf, [*proof, data.draw(st.binary(min_size=32, max_size=32))], root)


@settings(max_examples=60)
@given(two_or_more, st.data())
def test_one_trades_proof_does_not_verify_another_trade(window: list[TradeLeaf], data: st.DataObject) -> None:
    root = merkle_root(window)
    first, second = data.draw(st.lists(st.sampled_from(window), min_size=2, max_size=2, unique=True))
    assert not verify_proof(second, merkle_proof(window, first), root)


@given(leaves)
def test_a_proof_has_at_most_ceil_log2_siblings(window: list[TradeLeaf]) -> None:
    depth = math.ceil(math.log2(len(window))) if len(window) > 1 else 0
    for leaf in window:
        assert len(merkle_proof(window, leaf)) <= depth


@given(leaves, st.data(), st.integers(0, 2**64 - 1))
def test_a_proof_survives_its_json_form(window: list[TradeLeaf], data: st.DataObject, window_id: int) -> None:
    """What the API hands out and `settlement verify-proof` reads back: the same proof, still valid."""
    leaf = data.draw(st.sampled_from(window))
    root = merkle_root(window)
    proof = TradeProof(window_id, leaf, tuple(merkle_proof(window, leaf)), root)
    back = TradeProof.from_json(json.loads(json.dumps(proof.as_json())))
    assert back == proof
    assert verify_proof(back.leaf, back.siblings, back.root)


def test_a_window_beyond_the_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(merkle, "WINDOW_TRADES_MAX", 2)
    window = [TradeLeaf(bytes([n]) * 32, ADDRESSES[0], ADDRESSES[1], n) for n in (1, 2, 3)]
    with pytest.raises(ValueError, match="at most 2 trades"):
        merkle_root(window)
    with pytest.raises(ValueError, match="at most 2 trades"):
        merkle_proof(window, window[0])
    assert merkle_root(window[:2])
