"""Exports for auditors: the journal, the trades, a reconciliation, a participant's statement.

Each is taken at one point (the service indexes to the chain head, then reads the journal head)
and stamped with the block number, block hash and journal head hash, as CSV or JSON. The same
policy as the reads: a broker exports only its own trades, accounts and statement; the
reconciliation is the operator's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from settlement import errors
from settlement.api.deps import ActorDep, ServiceDep
from settlement.api.export_formats import ExportFormat, render
from settlement.api.problems import responses
from settlement.api.routes.ledger import ACCOUNT_PATTERN
from settlement.api.schemas import ParticipantIdPath
from settlement.domain.trade import TradeStatus
from settlement.views import Period

router = APIRouter(prefix="/exports", tags=["exports"], responses=responses(401, 403, 422))

FORMATTED: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The export, stamped (CSV with `# key=value` lines first, or JSON)",
        "content": {"text/csv": {}, "application/json": {}},
    }
}
FormatQuery = Annotated[ExportFormat, Query(alias="format", description="csv or json")]
# ISO 8601 with an explicit offset: a bare number would otherwise pass as a Unix time.
MOMENT_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})$"
FromQuery = Annotated[
    str | None,
    Query(alias="from", pattern=MOMENT_PATTERN, description="Period start (inclusive), ISO 8601 with offset"),
]
ToQuery = Annotated[
    str | None, Query(alias="to", pattern=MOMENT_PATTERN, description="Period end (exclusive), ISO 8601 with offset")
]


def _moment(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        raise errors.ValidationFailed(f"{name} is not a valid ISO 8601 time") from None


def _period(start: str | None, end: str | None) -> Period:
    return Period(_moment(start, "from"), _moment(end, "to"))


@router.get("/journal", response_class=Response, responses=FORMATTED, summary="The journal, one row per posting")
def journal(
    service: ServiceDep,
    actor: ActorDep,
    fmt: FormatQuery = ExportFormat.JSON,
    account: Annotated[str | None, Query(pattern=ACCOUNT_PATTERN)] = None,
    start: FromQuery = None,
    end: ToQuery = None,
) -> Response:
    """Every entry up to the stamp's journal head (a broker: the postings to its wallet and clients)."""
    return render(service.export_journal(actor, account=account, period=_period(start, end)), fmt, "journal")


@router.get("/trades", response_class=Response, responses=FORMATTED, summary="Trades with their terms and txs")
def trades(
    service: ServiceDep, actor: ActorDep, fmt: FormatQuery = ExportFormat.JSON, status: TradeStatus | None = None
) -> Response:
    return render(service.export_trades(actor, status=status), fmt, "trades")


@router.get(
    "/reconciliation", response_class=Response, responses=FORMATTED, summary="Reconciliation at the stamp's block"
)
def reconciliation(service: ServiceDep, actor: ActorDep, fmt: FormatQuery = ExportFormat.JSON) -> Response:
    """One row per break (none when balanced); the summary says balanced, checks and the block."""
    return render(service.export_reconciliation(actor), fmt, "reconciliation")


@router.get(
    "/statements/{participant_id}",
    response_class=Response,
    responses={**FORMATTED, **responses(404)},
    summary="A participant's statement: opening balance, movements, closing balance per account",
)
def statement(
    participant_id: ParticipantIdPath,
    service: ServiceDep,
    actor: ActorDep,
    fmt: FormatQuery = ExportFormat.JSON,
    start: FromQuery = None,
    end: ToQuery = None,
) -> Response:
    export = service.export_statement(actor, participant_id, _period(start, end))
    return render(export, fmt, f"statement-{participant_id}")
