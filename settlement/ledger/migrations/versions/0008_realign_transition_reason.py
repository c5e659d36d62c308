"""A trade's step may be the chain's word rather than its own call's outcome: record which.

Why: a lost receipt, a reorg or an admin recovery moves a trade only after the escrow has been
read; the trail says so (reason "realigned_from_chain"), so nobody mistakes it for a receipt.

Revision ID: 0008_realign
Revises: 0007_lease
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008_realign"
down_revision: str | None = "0007_lease"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("trade_transition") as batch:
        batch.add_column(sa.Column("reason", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trade_transition") as batch:
        batch.drop_column("reason")
