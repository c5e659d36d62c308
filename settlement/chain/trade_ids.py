"""The escrow's bytes32 key for a trade, derived from our own trade id."""

from __future__ import annotations

from eth_utils.crypto import keccak


def chain_trade_id(trade_id: str) -> bytes:
    """keccak of our id under a fixed prefix: it never collides across trades or with other uses."""
    return keccak(text=f"settlement-trade:{trade_id}")


def chain_trade_key(chain_trade_id_hex: str) -> bytes:
    """A stored '0x…' chain trade id back to the 32 bytes the escrow takes."""
    return bytes.fromhex(chain_trade_id_hex[2:])
