"""The double-entry journal, read-only. The operator reads any account; a broker its own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from settlement.api.deps import ActorDep, ServiceDep
from settlement.api.problems import responses
from settlement.api.schemas import JournalEntryPublic, Page, sequence_cursor

router = APIRouter(prefix="/ledger", tags=["ledger"], responses=responses(401, 422))

ACCOUNT_PATTERN = r"^[a-z_]{1,20}:[0-9A-Za-z_-]{1,100}$"
PAGE_ITEMS_MAX = 500


@router.get(
    "/entries",
    response_model=Page[JournalEntryPublic],
    responses=responses(403),
    summary="Journal entries in order, optionally those touching one account",
)
def entries(
    service: ServiceDep,
    actor: ActorDep,
    account: Annotated[
        str | None,
        Query(
            pattern=ACCOUNT_PATTERN,
            description="e.g. `wallet:0xabc…` or `client:<id>`. A broker defaults to its own wallet.",
        ),
    ] = None,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_ITEMS_MAX)] = 100,
) -> Page[JournalEntryPublic]:
    records = service.ledger_entries(actor, account=account, after_seq=sequence_cursor(cursor), limit=limit + 1)
    page, more = records[:limit], len(records) > limit
    return Page[JournalEntryPublic](
        items=[JournalEntryPublic.of(r) for r in page], next_cursor=str(page[-1].seq) if more else None
    )
