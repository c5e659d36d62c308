"""Keccak-256 straight from pycryptodome (eth-hash's own backend).

Why not eth_utils.keccak: its wrappers double the cost of a hash, and the engine hashes a lot at
once (two per Merkle leaf and one per node of a window; three per lock intent of a batch).
"""

from __future__ import annotations

from Crypto.Hash import keccak as _keccak


def keccak(data: bytes) -> bytes:
    return bytes(_keccak.new(digest_bits=256, data=data).digest())


def address_word(address: str) -> bytes:
    """An address as its 32-byte ABI word (left-padded)."""
    raw = bytes.fromhex(address[2:] if address.startswith(("0x", "0X")) else address)
    if len(raw) != 20:
        raise ValueError(f"not an address: {address}")
    return bytes(12) + raw
