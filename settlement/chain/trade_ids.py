"""The escrow's bytes32 key for a trade.

New trades are numbered in sequence under a random prefix (`ChainTradeKeys`): the escrow keeps a
settled trade's outcome in two bits of a word shared by the 128 ids that differ only in their low
seven bits, so sequential ids leave one storage slot per 128 settled trades instead of one each.
"""

from __future__ import annotations

import secrets
import threading

from eth_utils.crypto import keccak

PREFIX_BYTES = 16  # random per allocator: two allocators (processes, restarts) never meet
SEQUENCE_BYTES = 16


def chain_trade_id(trade_id: str) -> bytes:
    """keccak of our id under a fixed prefix: never collides across trades or with other uses.
    The escrow takes any bytes32; ids of this form simply do not share outcome words."""
    return keccak(text=f"settlement-trade:{trade_id}")


def chain_trade_key(chain_trade_id_hex: str) -> bytes:
    """A stored '0x…' chain trade id back to the 32 bytes the escrow takes."""
    return bytes.fromhex(chain_trade_id_hex[2:])


class ChainTradeKeys:
    """Hands out chain trade ids: a random 16-byte prefix, then a 16-byte counter from zero.

    Why not a database sequence: uniqueness needs no coordination (each API process and each
    restart draws its own 128-bit prefix), and the ids one process hands out are consecutive, which
    is all the escrow's packing needs. Numbers lost to a refused trade are harmless gaps."""

    def __init__(self) -> None:
        self._prefix = secrets.token_bytes(PREFIX_BYTES)
        self._next = 0
        self._lock = threading.Lock()

    def next_id(self) -> bytes:
        with self._lock:
            sequence = self._next
            self._next += 1
        return self._prefix + sequence.to_bytes(SEQUENCE_BYTES, "big")
