"""Money columns that hold any uint256 (and its negative, for postings) without losing a unit.

The chain counts in uint256; a 64-bit column overflows once a wallet holds more than about
9.2 x 10^18 base units (9.2 trillion coins), and so does SQLite's SUM over such a column.

- PostgreSQL: NUMERIC(78, 0), 78 digits being enough for 2^256. SUM over NUMERIC is exact.
- SQLite: the canonical decimal text of the integer (TEXT affinity keeps it as written). A
  NUMERIC column would not do: SQLite turns integers beyond 64 bits into REAL (a float). SQLite's
  own SUM would do the same to the text, so sums go through `exact_sum`, which SQLite runs as an
  aggregate written in Python (registered on every connection by `register_sqlite_functions`).

Python sees plain `int` either way. Sum amounts in SQL only with `exact_sum` (and add two with
`exact_add`, a scalar function registered the same way), and do not compare
or order by them in SQL: on SQLite that would compare text.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from typing import Any

from sqlalchemy import Numeric, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator, TypeEngine

# 2^256 has 78 decimal digits; a signed posting may be as large in magnitude as an unsigned balance.
AMOUNT_DIGITS = 78
AMOUNT_MAGNITUDE_MAX = 10**AMOUNT_DIGITS - 1
SQLITE_SUM_FUNCTION = "exact_sum_base_units"
SQLITE_ADD_FUNCTION = "exact_add_base_units"


def _checked(value: object) -> int:
    """An int that fits the column; bools and floats are refused (money is never a float)."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise TypeError(f"an amount in base units must be an int, got {type(value).__name__}")
    number = int(value)
    if number != value:
        raise ValueError(f"an amount in base units must be whole, got {value}")
    if abs(number) > AMOUNT_MAGNITUDE_MAX:
        raise ValueError(f"amount has more than {AMOUNT_DIGITS} digits")
    return number


class BaseUnits(TypeDecorator[int]):
    """A signed integer of up to 78 digits: NUMERIC(78, 0) on PostgreSQL, decimal text on SQLite."""

    impl = Numeric(AMOUNT_DIGITS, 0)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Text())
        return dialect.type_descriptor(Numeric(AMOUNT_DIGITS, 0, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        number = _checked(value)
        return str(number) if dialect.name == "sqlite" else Decimal(number)

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("an amount came back as a float: it was not stored by BaseUnits")
        return int(value)

    @property
    def python_type(self) -> type[int]:
        return int


class exact_sum(FunctionElement[int]):
    """SUM over a BaseUnits column that stays exact on both backends; NULL over no rows, like SUM."""

    type = BaseUnits()
    name = "exact_sum"
    inherit_cache = True


@compiles(exact_sum)
def _sum_everywhere_else(element: exact_sum, compiler: SQLCompiler, **kw: Any) -> str:
    return f"SUM({compiler.process(element.clauses, **kw)})"


@compiles(exact_sum, "sqlite")
def _sum_on_sqlite(element: exact_sum, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{SQLITE_SUM_FUNCTION}({compiler.process(element.clauses, **kw)})"


class exact_add(FunctionElement[int]):
    """a + b over BaseUnits values, exact on both backends: for running figures updated in place
    (`SET x = exact_add(x, :delta)`) without reading them into Python first."""

    type = BaseUnits()
    name = "exact_add"
    inherit_cache = True


@compiles(exact_add)
def _add_everywhere_else(element: exact_add, compiler: SQLCompiler, **kw: Any) -> str:
    left, right = list(element.clauses)
    return f"({compiler.process(left, **kw)} + {compiler.process(right, **kw)})"


@compiles(exact_add, "sqlite")
def _add_on_sqlite(element: exact_add, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{SQLITE_ADD_FUNCTION}({compiler.process(element.clauses, **kw)})"


def _exact_add(left: object, right: object) -> str:
    """The SQLite scalar function: decimal text (or small ints) in, decimal text out."""
    if not isinstance(left, int | str) or not isinstance(right, int | str):  # a REAL or NULL would not add exactly
        raise TypeError(f"{type(left).__name__} + {type(right).__name__} in an amount column")
    return str(int(left) + int(right))


class _ExactSum:
    """The SQLite aggregate: Python ints in, decimal text out (SQLite integers stop at 64 bits)."""

    def __init__(self) -> None:
        self.total = 0
        self.rows = 0

    def step(self, value: object) -> None:
        if value is None:
            return
        if not isinstance(value, int | str):  # a REAL would not sum exactly
            raise TypeError(f"{type(value).__name__} in an amount column")
        self.total += int(value)
        self.rows += 1

    def finalize(self) -> str | None:
        return str(self.total) if self.rows else None


def register_sqlite_functions(connection: sqlite3.Connection) -> None:
    """Make `exact_sum` and `exact_add` available on a new SQLite connection."""
    # typeshed says an aggregate's finalize returns int; SQLite takes any value, here text.
    connection.create_aggregate(SQLITE_SUM_FUNCTION, 1, _ExactSum)  # type: ignore[arg-type]
    connection.create_function(SQLITE_ADD_FUNCTION, 2, _exact_add, deterministic=True)
