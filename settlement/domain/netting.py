"""Multilateral netting of a settlement cycle's trades.

Each trade is settled gross through its own escrow lock (that is what makes per-trade refunds
possible), and the engine packs a cycle's locks and releases into a few batch transactions.
The NettingCycle says what that cycle amounts to economically: each broker's net position, and
the smallest set of broker-to-broker obligations that would settle it, so operators and auditors
can see how much liquidity the cycle really moved.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Obligation:
    """payer owes payee an amount: one trade (gross) or what a cycle comes to (net)."""

    payer_id: str
    payee_id: str
    amount_base_units: int


@dataclass(frozen=True)
class NettingCycle:
    gross: tuple[Obligation, ...]
    net_positions: dict[str, int]  # positive: receives, negative: pays
    net_obligations: tuple[Obligation, ...]

    @classmethod
    def of(cls, obligations: Iterable[Obligation]) -> NettingCycle:
        gross = tuple(obligations)
        positions: dict[str, int] = defaultdict(int)
        for o in gross:
            if o.amount_base_units <= 0 or o.payer_id == o.payee_id:
                raise ValueError(f"not a settleable obligation: {o}")
            positions[o.payer_id] -= o.amount_base_units
            positions[o.payee_id] += o.amount_base_units
        return cls(gross, dict(positions), _minimal_transfers(positions))

    @property
    def gross_base_units(self) -> int:
        return sum(o.amount_base_units for o in self.gross)

    @property
    def net_base_units(self) -> int:
        return sum(o.amount_base_units for o in self.net_obligations)


def _minimal_transfers(positions: dict[str, int]) -> tuple[Obligation, ...]:
    """Greedy largest-payer-to-largest-payee matching: at most (brokers - 1) transfers."""
    payers = sorted(((-v, k) for k, v in positions.items() if v < 0), reverse=True)
    payees = sorted(((v, k) for k, v in positions.items() if v > 0), reverse=True)
    result: list[Obligation] = []
    i = j = 0
    owed = [amount for amount, _ in payers]
    due = [amount for amount, _ in payees]
    while i < len(payers) and j < len(payees):
        amount = min(owed[i], due[j])
        result.append(Obligation(payers[i][1], payees[j][1], amount))
        owed[i] -= amount
        due[j] -= amount
        if owed[i] == 0:
            i += 1
        if due[j] == 0:
            j += 1
    return tuple(result)
