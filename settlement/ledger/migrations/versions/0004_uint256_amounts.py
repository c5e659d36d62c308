"""Money columns hold any uint256: NUMERIC(78, 0) on PostgreSQL, decimal text on SQLite.

Why: BIGINT stops at 2^63 - 1 (about 9.2 trillion coins) while the token counts in uint256, so a
wallet holding more made every balance read fail. The values are converted, not re-read from
the chain: PostgreSQL widens bigint to numeric in place; on SQLite the tables are copied (batch
mode) with CAST(amount AS TEXT), which writes an integer's exact decimal digits. The journal's
hashes cover amounts as integers, so they still verify afterwards.

Downgrade narrows back to BIGINT and refuses (before changing anything) if any amount no longer fits.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

INT64_MAX = 2**63 - 1
# (table, column): every money column in base units.
AMOUNT_COLUMNS = (("posting", "amount_base_units"), ("trade", "settlement_amount_base_units"))


def _amount() -> sa.types.TypeEngine[Any]:
    """What settlement.ledger.amounts.BaseUnits compiles to on each backend (written out: migrations are frozen)."""
    return sa.Numeric(78, 0).with_variant(sa.Text(), "sqlite")


def upgrade() -> None:
    for table, column in AMOUNT_COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, existing_type=sa.BigInteger(), type_=_amount(), existing_nullable=False)


def downgrade() -> None:
    bind = op.get_bind()
    for table, column in AMOUNT_COLUMNS:
        # Checked in Python: on SQLite a numeric comparison would go through REAL and blur the edge.
        rows: list[Any] = list(bind.execute(sa.select(sa.column(column)).select_from(sa.table(table))))
        too_big = sum(1 for (amount,) in rows if not -INT64_MAX - 1 <= int(amount) <= INT64_MAX)
        if too_big:
            raise RuntimeError(f"{too_big} row(s) of {table}.{column} do not fit in BIGINT: cannot downgrade")
    for table, column in AMOUNT_COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, existing_type=_amount(), type_=sa.BigInteger(), existing_nullable=False)
