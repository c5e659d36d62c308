"""Wire models: what the API accepts (XCreate) and returns (XPublic).

Conventions: snake_case fields; money as decimal strings in coin units (never JSON numbers, which
many clients parse into floats); timestamps ISO 8601 in UTC. Conversion to the domain's integer
base units happens here, at the edge, with settlement.money.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Context, Decimal
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Path
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
)

from settlement import errors
from settlement.money import format_coins

# No exponent: "1e400" is not a way to write money. Wide enough for absurd magnitudes to reach
# the domain's own checks (amount_too_large), narrow enough to fit the decimal columns.
DECIMAL_PATTERN = r"^-?[0-9]{1,30}(\.[0-9]{1,9})?$"
_DECIMAL_RE = re.compile(DECIMAL_PATTERN)
_WIDE = Context(prec=100)
# Ids are UUIDs; the pattern only keeps junk (NUL bytes, 10 kB strings) away from the database.
ID_PATTERN = r"^[A-Za-z0-9_-]{1,36}$"
# Free text: printable, no control characters.
TEXT_PATTERN = r"^[^\x00-\x1f\x7f]+$"
UTC_EXAMPLE = "2025-06-30T08:00:00Z"

Id = Annotated[str, Field(pattern=ID_PATTERN, examples=["3f1c9a6e-5b7d-4e8a-9c2f-1a2b3c4d5e6f"])]
ParticipantIdPath = Annotated[str, Path(pattern=ID_PATTERN)]
TradeIdPath = Annotated[str, Path(pattern=ID_PATTERN)]
ClientIdPath = Annotated[str, Path(pattern=ID_PATTERN)]


def _parse_decimal(value: object) -> Decimal:
    """Accept only decimal strings: a JSON number may already have been through a float."""
    if isinstance(value, Decimal):
        return value
    if not isinstance(value, str) or not _DECIMAL_RE.fullmatch(value):
        raise ValueError('must be a decimal string such as "1250.50" (no exponent, no JSON number)')
    return Decimal(value)


def format_decimal(value: Decimal) -> str:
    # normalize() rounds to the context's precision (28 digits by default): the pattern allows 39.
    text = format(value.normalize(_WIDE), "f") if value != 0 else "0"
    return text


DecimalString = Annotated[
    Decimal,
    PlainValidator(_parse_decimal),
    PlainSerializer(format_decimal, return_type=str),
    WithJsonSchema({"type": "string", "pattern": DECIMAL_PATTERN, "examples": ["1250.50"]}),
]
"""A decimal number carried as a JSON string. The domain decides what range is valid."""


def _to_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _require_string(value: object) -> object:
    """A timestamp is an ISO 8601 string on the wire, not a number of seconds."""
    if not isinstance(value, str | datetime):
        raise ValueError("must be an ISO 8601 timestamp string with an offset, e.g. 2025-06-30T08:00:00Z")
    return value


UtcDatetime = Annotated[AwareDatetime, BeforeValidator(_require_string), AfterValidator(_to_utc)]
"""A timestamp with an explicit offset (ISO 8601), normalised to UTC."""


def utc(moment: datetime) -> datetime:
    """Stored timestamps are UTC; SQLite hands them back naive."""
    return _to_utc(moment)


def coins(base_units: int) -> str:
    return format_coins(base_units)


class RequestModel(BaseModel):
    """Request bodies: unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")


T = TypeVar("T")


def sequence_cursor(cursor: str | None) -> int | None:
    """A cursor that is a position in a sequence (journal seq, event id), as the API hands it out."""
    if cursor is None:
        return None
    if not cursor.isdigit():
        raise errors.ValidationFailed("cursor is not one this API returned")
    return int(cursor)


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page; null on the last page.")


# --------------------------------------------------------------------------- problems


class Problem(BaseModel):
    """RFC 9457 problem details, with a stable machine-readable `code`."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["urn:settlement:problem:not_found"])
    title: str
    status: int
    detail: str
    code: str = Field(examples=["not_found"])
    instance: str = Field(examples=["/v1/trades/9b1d..."])
    errors: list[dict[str, Any]] | None = Field(default=None, description="Field errors (validation only).")


# --------------------------------------------------------------------------- health


class HealthPublic(BaseModel):
    status: str = Field(description='"ok", or "degraded" when the chain, database or worker has a problem.')
    chain_id: int
    latest_block: int | None
    indexer_head: int | None
    indexer_lag: int | None
    database_ok: bool
    worker_last_cycle_at: datetime | None
    worker_error: str | None
    worker_role: str = Field(
        description='This server\'s worker: "active" (holds the ledger\'s worker lease and settles), "standby" '
        '(another server holds it; this one takes over if it dies), "api-only" (SETTLEMENT_WORKER_ENABLED=false) '
        'or "stopped".'
    )
    worker_live: bool = Field(description="Some server's worker holds this ledger's lease and is renewing it.")
