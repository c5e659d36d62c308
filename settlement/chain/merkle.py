"""The Merkle tree of a settlement window's trades, exactly as the net settlement contract checks it.

Why here and not in the domain: the leaf and node rules are the contract's (keccak, ABI encoding),
and a proof is only worth something if it verifies on chain with OpenZeppelin's `MerkleProof`.

The rules, shared with `SettlementNet.verifyTrade`:
- leaf = keccak256(keccak256(abi.encode(bytes32 tradeId, address payer, address payee, uint256 amount)))
  (hashed twice, OpenZeppelin's convention, so a leaf can never be read as an inner node);
- node = keccak256(min(a, b) ‖ max(a, b)) (sorted pairs, so a proof needs no left/right flags);
- leaves are sorted before the tree is built, and a level's odd last node moves up unchanged.
The empty window has the zero root.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from settlement.chain.keccak import address_word, keccak

ZERO_ROOT = bytes(32)
WINDOW_TRADES_MAX = 1_000_000  # a proof then has at most 20 siblings


@dataclass(frozen=True)
class TradeLeaf:
    """What a window's root commits to for one trade: the escrow-style key, both wallets, the amount."""

    chain_trade_id: bytes
    payer: str
    payee: str
    amount_base_units: int

    def hash(self) -> bytes:
        """keccak256(keccak256(abi.encode(bytes32, address, address, uint256))), encoded by hand:
        four 32-byte words (a window hashes thousands of leaves; eth_abi's encoder is 10x slower)."""
        if len(self.chain_trade_id) != 32 or not 0 <= self.amount_base_units < 2**256:
            raise ValueError("a leaf holds a 32-byte trade id and a uint256 amount")
        encoded = b"".join(
            (
                self.chain_trade_id,
                address_word(self.payer),
                address_word(self.payee),
                self.amount_base_units.to_bytes(32, "big"),
            )
        )
        return keccak(keccak(encoded))


def hash_pair(a: bytes, b: bytes) -> bytes:
    return keccak(a + b) if a < b else keccak(b + a)


def _levels(leaf_hashes: Sequence[bytes]) -> list[list[bytes]]:
    if len(leaf_hashes) > WINDOW_TRADES_MAX:
        raise ValueError(f"a window holds at most {WINDOW_TRADES_MAX} trades")
    level = sorted(leaf_hashes)
    levels = [level]
    while len(level) > 1:
        parents = [hash_pair(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            parents.append(level[-1])
        level = parents
        levels.append(level)
    return levels


def merkle_root(leaves: Sequence[TradeLeaf]) -> bytes:
    if not leaves:
        return ZERO_ROOT
    return _levels([leaf.hash() for leaf in leaves])[-1][0]


def merkle_proof(leaves: Sequence[TradeLeaf], leaf: TradeLeaf) -> list[bytes]:
    """The sibling hashes from the leaf up to the root; ValueError if the leaf is not in the window."""
    levels = _levels([item.hash() for item in leaves])
    target = leaf.hash()
    try:
        index = levels[0].index(target)
    except ValueError:
        raise ValueError("the trade is not in this window") from None
    proof: list[bytes] = []
    for level in levels[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            proof.append(level[sibling])
        index //= 2
    return proof


def verify_proof(leaf: TradeLeaf, proof: Sequence[bytes], root: bytes) -> bool:
    """OpenZeppelin's MerkleProof.verify, off chain: what the contract's verifyTrade computes."""
    node = leaf.hash()
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node == root


@dataclass(frozen=True)
class TradeProof:
    """What a counterparty needs to check one trade against the chain: the window, the leaf, the
    sibling hashes, and the root the service says the window recorded."""

    window_id: int
    leaf: TradeLeaf
    siblings: tuple[bytes, ...]
    root: bytes

    def as_json(self) -> dict[str, object]:
        return {
            "window_id": self.window_id,
            "chain_trade_id": "0x" + self.leaf.chain_trade_id.hex(),
            "payer": self.leaf.payer,
            "payee": self.leaf.payee,
            "amount_base_units": str(self.leaf.amount_base_units),
            "proof": ["0x" + s.hex() for s in self.siblings],
            "root": "0x" + self.root.hex(),
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> TradeProof:
        def as_bytes(value: object) -> bytes:
            text = str(value)
            return bytes.fromhex(text[2:] if text.startswith("0x") else text)

        proof = data.get("proof")
        if not isinstance(proof, list):
            raise ValueError("proof must be a list of 0x-hex hashes")
        leaf = TradeLeaf(
            as_bytes(data["chain_trade_id"]),
            str(data["payer"]),
            str(data["payee"]),
            int(str(data["amount_base_units"])),
        )
        return cls(int(str(data["window_id"])), leaf, tuple(as_bytes(s) for s in proof), as_bytes(data["root"]))
