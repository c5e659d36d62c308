"""Settlement windows for net mode: their lifecycle, the liquidity-cover check, and who can settle.

Why windows: CLS and Mojaloop settle a period's trades on net positions, one transfer per
participant instead of one per trade. A window is OPEN while trades join it, CLOSED at a block
the indexer has confirmed (so no in-flight trade falls between two windows), PENDING_SETTLEMENT
once its one settlement transaction is sent, and SETTLED when that transaction is confirmed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from settlement.domain.netting import Obligation


class WindowStatus(StrEnum):
    OPEN = "OPEN"
    CLOSED = "CLOSED"
    PENDING_SETTLEMENT = "PENDING_SETTLEMENT"
    SETTLED = "SETTLED"


# A CLOSED window whose participants cannot all settle loses the defaulters' trades before it is
# sent (they roll to the next window, or are refused); a sent one that reverts goes back to CLOSED
# and is split again. A window all of whose trades left settles with nothing to send. A settled
# window whose transaction a reorg dropped goes back to PENDING_SETTLEMENT (its obligations reversed).
WINDOW_TRANSITIONS: dict[WindowStatus, frozenset[WindowStatus]] = {
    WindowStatus.OPEN: frozenset({WindowStatus.CLOSED}),
    WindowStatus.CLOSED: frozenset({WindowStatus.PENDING_SETTLEMENT, WindowStatus.SETTLED}),
    WindowStatus.PENDING_SETTLEMENT: frozenset({WindowStatus.SETTLED, WindowStatus.CLOSED}),
    # A reorg undid the settlement transaction the service saw mined: the chain's word decides again.
    WindowStatus.SETTLED: frozenset({WindowStatus.PENDING_SETTLEMENT}),
}


def can_move(current: WindowStatus, target: WindowStatus) -> bool:
    return target in WINDOW_TRANSITIONS[current]


@dataclass(frozen=True)
class LiquidityCover:
    """A participant's net debit cap: its pre-funded settlement balance, or a lower cap the operator set."""

    settlement_balance_base_units: int
    operator_cap_base_units: int | None = None

    @property
    def cap_base_units(self) -> int:
        if self.operator_cap_base_units is None:
            return self.settlement_balance_base_units
        return min(self.settlement_balance_base_units, self.operator_cap_base_units)

    def headroom_base_units(self, net_debit_base_units: int) -> int:
        """What the participant may still owe on top of `net_debit_base_units` (its current debit)."""
        return self.cap_base_units - net_debit_base_units

    def covers(self, net_debit_base_units: int, new_debit_base_units: int) -> bool:
        """Mojaloop's liquidity-cover check: the payer's net debit after this trade stays within its cap.

        `net_debit_base_units` is what the payer owes net in the open window plus what its matched,
        unconfirmed trades reserve (they may join the window at any moment)."""
        if new_debit_base_units <= 0:
            raise ValueError("a trade debits a positive amount")
        return net_debit_base_units + new_debit_base_units <= self.cap_base_units


def net_positions(obligations: Iterable[Obligation]) -> dict[str, int]:
    """Each participant's net position (positive: receives); they always sum to zero."""
    positions: dict[str, int] = {}
    for o in obligations:
        positions[o.payer_id] = positions.get(o.payer_id, 0) - o.amount_base_units
        positions[o.payee_id] = positions.get(o.payee_id, 0) + o.amount_base_units
    return positions


@dataclass(frozen=True)
class WindowSplit:
    """What settles now and what leaves the window (to roll into the next one, or be refused)."""

    settling: tuple[Obligation, ...]
    leaving: tuple[Obligation, ...]
    excluded_participants: frozenset[str]
    positions: dict[str, int]


def split_settleable(
    obligations: Iterable[Obligation], balances: Mapping[str, int], blocked: Iterable[str] = ()
) -> WindowSplit:
    """CLS-style: drop every trade of a participant that cannot settle, recompute, repeat.

    A participant cannot settle when it is blocked (blacklisted since, say) or when its settlement
    balance would go negative. Removing its trades changes the others' positions, so the removal
    runs to a fixed point, one short participant a round: the one furthest below zero (ties by
    id), since dropping it may be what pushed the others short (its payments to them go too, but
    so do theirs to it). At most one round per participant."""
    everything = tuple(obligations)
    excluded = set(blocked)
    while True:
        settling = [o for o in everything if o.payer_id not in excluded and o.payee_id not in excluded]
        positions = net_positions(settling)
        shortfalls = {p: balances.get(p, 0) + position for p, position in positions.items()}
        short = [p for p, after in shortfalls.items() if after < 0]
        if not short:
            break
        excluded.add(min(short, key=lambda p: (shortfalls[p], p)))
    leaving = tuple(o for o in everything if o.payer_id in excluded or o.payee_id in excluded)
    return WindowSplit(tuple(settling), leaving, frozenset(excluded), positions)


@dataclass(frozen=True)
class ParticipantFigures:
    """One participant's part of a window: what its trades pay and receive gross, and the net."""

    pays_base_units: int
    receives_base_units: int

    @property
    def net_base_units(self) -> int:
        return self.receives_base_units - self.pays_base_units


@dataclass(frozen=True)
class WindowFigures:
    """What a window comes to: gross per participant, the net positions, and the liquidity saved."""

    participants: dict[str, ParticipantFigures]

    @classmethod
    def of(cls, obligations: Iterable[Obligation]) -> WindowFigures:
        pays: dict[str, int] = {}
        receives: dict[str, int] = {}
        for o in obligations:
            pays[o.payer_id] = pays.get(o.payer_id, 0) + o.amount_base_units
            receives[o.payee_id] = receives.get(o.payee_id, 0) + o.amount_base_units
        return cls(
            {p: ParticipantFigures(pays.get(p, 0), receives.get(p, 0)) for p in sorted(pays.keys() | receives.keys())}
        )

    @property
    def gross_total_base_units(self) -> int:
        return sum(f.pays_base_units for f in self.participants.values())

    @property
    def net_total_base_units(self) -> int:
        """What actually moves: the sum of the net payers' debits (equal to the receivers' credits)."""
        return sum(-f.net_base_units for f in self.participants.values() if f.net_base_units < 0)

    def liquidity_saved_ratio(self) -> Decimal:
        """1 - net/gross, to 4 decimals: the share of gross payments netting made unnecessary."""
        gross = self.gross_total_base_units
        if gross == 0:
            return Decimal(0)
        return (1 - Decimal(self.net_total_base_units) / Decimal(gross)).quantize(Decimal("0.0001"))

    def as_json(self) -> dict[str, object]:
        return {p: [str(f.pays_base_units), str(f.receives_base_units)] for p, f in self.participants.items()}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> WindowFigures:
        parsed: dict[str, ParticipantFigures] = {}
        for participant, pair in data.items():
            pays, receives = pair if isinstance(pair, list) else (0, 0)
            parsed[participant] = ParticipantFigures(int(pays), int(receives))
        return cls(parsed)
