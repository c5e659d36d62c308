"""Each payer's reservation as a running figure: one row per payer (and per client) in payer_reservation.

Why: intake summed the payer's PENDING trades on every submission, so each submission cost grew
with the number of open trades. The figure is now updated with every status change into or out
of PENDING; this migration backfills it from the trades already pending (summed in Python: on
SQLite amounts are text, and a SQL SUM would go through 64-bit integers or floats).

Revision ID: 0009_reservations
Revises: 0008_realign
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0009_reservations"
down_revision: str | None = "0008_realign"
branch_labels: str | None = None
depends_on: str | None = None

PAYER_TOTAL = ""


def _amount() -> sa.types.TypeEngine[Any]:
    """What settlement.ledger.amounts.BaseUnits compiles to on each backend (written out: migrations are frozen)."""
    return sa.Numeric(78, 0).with_variant(sa.Text(), "sqlite")


def upgrade() -> None:
    table = op.create_table(
        "payer_reservation",
        sa.Column("participant_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("reserved_base_units", _amount(), nullable=False),
        sa.ForeignKeyConstraint(["participant_id"], ["participant.id"]),
        sa.PrimaryKeyConstraint("participant_id", "client_id"),
    )
    bind = op.get_bind()
    trade = sa.table(
        "trade",
        sa.column("buyer_id"),
        sa.column("buyer_client_id"),
        sa.column("settlement_amount_base_units"),
        sa.column("status"),
    )
    totals: dict[tuple[str, str], int] = defaultdict(int)
    pending = bind.execute(
        sa.select(trade.c.buyer_id, trade.c.buyer_client_id, trade.c.settlement_amount_base_units).where(
            trade.c.status == "PENDING"
        )
    )
    for buyer_id, client_id, amount in pending:
        totals[(buyer_id, PAYER_TOTAL)] += int(amount)
        if client_id is not None:
            totals[(buyer_id, client_id)] += int(amount)
    sqlite = bind.dialect.name == "sqlite"
    rows = [
        {"participant_id": payer, "client_id": client, "reserved_base_units": str(total) if sqlite else total}
        for (payer, client), total in totals.items()
    ]
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_table("payer_reservation")
