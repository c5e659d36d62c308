"""Net mode: each trade's settlement mode and window, the settlement windows, each payer's net exposure.

Existing trades are gross (what they were). `open_slot` is unique and set only while a window
is OPEN, so the database itself refuses a second open window.

Revision ID: 0011_net_windows
Revises: 0010_net_debit_cap
Create Date: 2026-12-02
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0011_net_windows"
down_revision: str | None = "0010_net_debit_cap"
branch_labels: str | None = None
depends_on: str | None = None


def _amount() -> sa.types.TypeEngine[Any]:
    """What settlement.ledger.amounts.BaseUnits compiles to on each backend (written out: migrations are frozen)."""
    return sa.Numeric(78, 0).with_variant(sa.Text(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("trade") as batch:
        batch.add_column(sa.Column("settlement_mode", sa.String(length=8), nullable=False, server_default="gross"))
        batch.add_column(sa.Column("window_id", sa.Integer(), nullable=True))
        batch.create_index("ix_trade_settlement_mode", ["settlement_mode"])
        batch.create_index("ix_trade_window_id", ["window_id"])
    op.create_table(
        "settlement_window",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("open_slot", sa.Integer(), nullable=True),
        sa.Column("trade_count", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("close_block", sa.Integer(), nullable=True),
        sa.Column("trades_root", sa.String(length=66), nullable=True),
        sa.Column("positions_json", sa.Text(), nullable=True),
        sa.Column("settlement_tx_hash", sa.String(length=66), nullable=True),
        sa.Column("settlement_block", sa.Integer(), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("open_slot"),
    )
    op.create_index("ix_settlement_window_status", "settlement_window", ["status"])
    op.create_table(
        "net_exposure",
        sa.Column("participant_id", sa.String(length=36), nullable=False),
        sa.Column("exposure_base_units", _amount(), nullable=False),
        sa.ForeignKeyConstraint(["participant_id"], ["participant.id"]),
        sa.PrimaryKeyConstraint("participant_id"),
    )


def downgrade() -> None:
    op.drop_table("net_exposure")
    op.drop_index("ix_settlement_window_status", table_name="settlement_window")
    op.drop_table("settlement_window")
    with op.batch_alter_table("trade") as batch:
        batch.drop_index("ix_trade_window_id")
        batch.drop_index("ix_trade_settlement_mode")
        batch.drop_column("window_id")
        batch.drop_column("settlement_mode")
