"""The window Merkle tree: every trade's proof verifies against the root, nothing else does."""

from __future__ import annotations

import pytest
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from settlement.chain.merkle import ZERO_ROOT, TradeLeaf, merkle_proof, merkle_root, verify_proof

ADDRESSES = ["0x" + f"{i:040x}" for i in range(1, 6)]

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
