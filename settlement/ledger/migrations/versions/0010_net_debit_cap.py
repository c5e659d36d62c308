"""Net mode: the operator's net debit cap per broker, below its settlement balance.

Revision ID: 0010_net_debit_cap
Revises: 0009_reservations
Create Date: 2026-12-02
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0010_net_debit_cap"
down_revision: str | None = "0009_reservations"
branch_labels: str | None = None
depends_on: str | None = None


def _amount() -> sa.types.TypeEngine[Any]:
    """What settlement.ledger.amounts.BaseUnits compiles to on each backend (written out: migrations are frozen)."""
    return sa.Numeric(78, 0).with_variant(sa.Text(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "net_debit_cap",
        sa.Column("participant_id", sa.String(length=36), nullable=False),
        sa.Column("cap_base_units", _amount(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["participant_id"], ["participant.id"]),
        sa.PrimaryKeyConstraint("participant_id"),
    )


def downgrade() -> None:
    op.drop_table("net_debit_cap")
