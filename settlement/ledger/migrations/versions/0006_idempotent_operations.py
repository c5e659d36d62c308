"""Idempotency-Key on every money-moving POST: one row per caller, operation and key.

Why a table of its own (not idempotency_record, which keeps pointing a trade submission at
its trade): these requests return different things, so the first response itself is kept and
replayed; the row is written before the work starts, so a retry never starts it twice.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "idempotent_operation",
        sa.Column("caller", sa.String(length=36), nullable=False),
        sa.Column("operation", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("claim_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_json", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("caller", "operation", "key"),
    )
    op.create_index("ix_idempotent_operation_created_at", "idempotent_operation", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotent_operation_created_at", table_name="idempotent_operation")
    op.drop_table("idempotent_operation")
