"""Encodes token and escrow calls into `Call`s the sender can sign; one place for calldata."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from hexbytes import HexBytes

from settlement.chain.client import ChainClient, LockStatus, OnChainLock
from settlement.chain.sender import Call
from settlement.chain.trade_ids import chain_trade_key

MAX_UINT256 = 2**256 - 1
LOCK_TERMS = ("payer", "payee", "amount", "deadline")


@dataclass(frozen=True)
class LockOrder:
    """One lock as the escrow takes it; `signature` is the payer's EIP-712 LockIntent signature."""

    trade_id: bytes
    payer: str
    payee: str
    amount_base_units: int
    deadline: int
    signature: bytes = b""

    @classmethod
    def for_trade(
        cls, chain_trade_id_hex: str, payer: str, payee: str, amount_base_units: int, deadline: datetime
    ) -> LockOrder:
        """The lock a trade asks for: what the payer signs, the cycle sends and reconcile expects.
        A naive deadline is UTC (SQLite returns them naive)."""
        aware = deadline if deadline.tzinfo else deadline.replace(tzinfo=UTC)
        return cls(chain_trade_key(chain_trade_id_hex), payer, payee, amount_base_units, int(aware.timestamp()))

    def differences(self, lock: OnChainLock) -> list[str]:
        """The terms (payer, payee, amount, deadline) on which a lock on chain is not this one.

        A settled lock (released, refunded, recovered) has no terms to compare: the escrow
        deletes it and keeps only its outcome. The terms live on in its Locked and settling
        events, and so in the ledger, which reconcile checks against the chain's balances."""
        if lock.status not in (LockStatus.NONE, LockStatus.LOCKED):
            return []
        ours = (self.payer.lower(), self.payee.lower(), self.amount_base_units, self.deadline)
        theirs = (lock.payer.lower(), lock.payee.lower(), lock.amount_base_units, lock.deadline)
        return [name for name, a, b in zip(LOCK_TERMS, ours, theirs, strict=True) if a != b]

    def as_tuple(self) -> tuple[bytes, str, str, int, int]:
        return (self.trade_id, str(self.payer), str(self.payee), self.amount_base_units, self.deadline)


def approvals_to_cover(current: int, needed: int, approve: Callable[[int], Call]) -> list[Call]:
    """The approve calls that let a spender take `needed`: none if `current` covers it, else the
    maximum, with approve(0) first when an allowance exists (USDT-style tokens refuse to change a
    non-zero allowance). One rule for the escrow's and the net settlement contract's allowances."""
    if current >= needed:
        return []
    return ([approve(0)] if current > 0 else []) + [approve(MAX_UINT256)]


def _label(trade_ids: Sequence[bytes]) -> str:
    shown = ",".join("0x" + t.hex()[:12] for t in trade_ids[:3])
    return shown + (f",+{len(trade_ids) - 3}" if len(trade_ids) > 3 else "")


# Gas of a batch call, from its shape rather than an eth_estimateGas per batch (anvil simulates
# a 50-lock batch in ~0.1 s; on a busy cycle that was the largest cost). Measured on the devnet:
# ~80k a lock (signature check, three new storage slots, transferFrom), ~30k a release or refund;
# the limits below leave half again as much. A batch that still runs short reverts and is retried
# trade by trade, and single calls are estimated (they are what catches a revert before sending).
BATCH_GAS_BASE = 60_000
LOCK_GAS_PER_ORDER = 120_000
PAYOUT_GAS_PER_TRADE = 50_000


class ContractCalls:
    def __init__(self, chain: ChainClient) -> None:
        self.chain = chain
        self.escrow_address = str(chain.escrow.address)
        self.token_address = str(chain.token.address)

    def lock_batch(self, orders: Sequence[LockOrder]) -> Call:
        if len(orders) == 1:
            data = self.chain.escrow_calldata.encode("lock", [orders[0].as_tuple(), orders[0].signature])
        else:
            data = self.chain.escrow_calldata.encode(
                "lockBatch", [[o.as_tuple() for o in orders], [o.signature for o in orders]]
            )
        gas = None if len(orders) == 1 else BATCH_GAS_BASE + LOCK_GAS_PER_ORDER * len(orders)
        return Call(self.escrow_address, data, f"lock {_label([o.trade_id for o in orders])}", gas)

    def lock_with_permit(self, order: LockOrder, value: int, deadline: int, v: int, r: str, s: str) -> Call:
        data = self.chain.escrow_calldata.encode(
            "lockWithPermit",
            [order.as_tuple(), order.signature, value, deadline, v, bytes(HexBytes(r)), bytes(HexBytes(s))],
        )
        return Call(self.escrow_address, data, f"lockWithPermit {_label([order.trade_id])}")

    def release_batch(self, trade_ids: Sequence[bytes]) -> Call:
        if len(trade_ids) == 1:
            data = self.chain.escrow_calldata.encode("release", [trade_ids[0]])
        else:
            data = self.chain.escrow_calldata.encode("releaseBatch", [list(trade_ids)])
        gas = None if len(trade_ids) == 1 else BATCH_GAS_BASE + PAYOUT_GAS_PER_TRADE * len(trade_ids)
        return Call(self.escrow_address, data, f"release {_label(trade_ids)}", gas)

    def refund_batch(self, trade_ids: Sequence[bytes]) -> Call:
        if len(trade_ids) == 1:
            data = self.chain.escrow_calldata.encode("refund", [trade_ids[0]])
        else:
            data = self.chain.escrow_calldata.encode("refundBatch", [list(trade_ids)])
        gas = None if len(trade_ids) == 1 else BATCH_GAS_BASE + PAYOUT_GAS_PER_TRADE * len(trade_ids)
        return Call(self.escrow_address, data, f"refund {_label(trade_ids)}", gas)

    def approve(self, amount_base_units: int = MAX_UINT256) -> Call:
        data = self.chain.token_calldata.encode("approve", [str(self.escrow_address), amount_base_units])
        return Call(self.token_address, data, f"approve escrow {amount_base_units}")

    def issue(self, to: str, amount_base_units: int) -> Call:
        data = self.chain.token_calldata.encode("issue", [str(to), amount_base_units])
        return Call(self.token_address, data, f"issue {amount_base_units} to {to}")
