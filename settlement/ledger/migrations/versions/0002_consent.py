"""Consent: alleged and matched trades, each side's reference, two-sided cancel, lock signatures;
and FX rates recorded past the jump limit say so (forced).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("fx_rate") as batch:
        batch.add_column(sa.Column("forced", sa.Boolean(), nullable=False, server_default=sa.false()))
    # batch mode: SQLite cannot add constraints to an existing table in place.
    with op.batch_alter_table("trade") as batch:
        batch.add_column(sa.Column("buyer_ref", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("seller_ref", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("matched_by", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("matched_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("affirmed_by", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("mismatch_json", sa.Text(), nullable=True))
        batch.add_column(sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("lock_signature", sa.Text(), nullable=True))
        batch.add_column(sa.Column("buyer_cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("seller_cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.create_unique_constraint("uq_trade_buyer_ref", ["buyer_id", "buyer_ref"])
        batch.create_unique_constraint("uq_trade_seller_ref", ["seller_id", "seller_ref"])


def downgrade() -> None:
    with op.batch_alter_table("fx_rate") as batch:
        batch.drop_column("forced")
    with op.batch_alter_table("trade") as batch:
        batch.drop_constraint("uq_trade_seller_ref", type_="unique")
        batch.drop_constraint("uq_trade_buyer_ref", type_="unique")
        for column in (
            "seller_cancel_requested",
            "buyer_cancel_requested",
            "lock_signature",
            "delivered_at",
            "mismatch_json",
            "affirmed_by",
            "matched_at",
            "matched_by",
            "seller_ref",
            "buyer_ref",
        ):
            batch.drop_column(column)
