"""What one settlement cycle did, summed over its transactions."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from settlement.domain.netting import NettingCycle, Obligation


@dataclass
class CycleReport:
    locked: int = 0
    released: int = 0
    refunded: int = 0
    failed: int = 0
    transactions: int = 0
    gas_used: int = 0
    realigned: int = 0  # trades moved to what the escrow says (lost receipt, reorg, recovery)
    windows_settled: int = 0  # net windows seen settled on chain this cycle
    released_obligations: list[Obligation] = field(default_factory=list)

    def add(self, other: CycleReport) -> None:
        """Every count summed: the int fields themselves, so a new count needs no list kept beside them."""
        for count in fields(self):
            value = getattr(self, count.name)
            if isinstance(value, int):
                setattr(self, count.name, value + getattr(other, count.name))
        self.released_obligations.extend(other.released_obligations)

    def netting(self) -> NettingCycle:
        """What the releases of this cycle come to, net, per broker (see domain/netting.py)."""
        return NettingCycle.of(self.released_obligations)
