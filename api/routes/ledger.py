"""The double-entry journal, read-only. The operator reads any account; a broker its own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Caller, CallerDep, ServiceDep
from api.problems import responses
from api.schemas import JournalEntryPublic, Page
from settlement import errors
from settlement.domain.journal import client_account, wallet_account
from settlement.service import SettlementService

router = APIRouter(prefix="/ledger", tags=["ledger"], responses=responses(401, 422))

ACCOUNT_PATTERN = r"^[a-z_]{1,20}:[0-9A-Za-z_-]{1,100}$"
MAX_PAGE = 500


def _own_accounts(service: SettlementService, caller: Caller) -> set[str]:
    assert caller.participant is not None
    clients = service.clients_of(caller.participant.id)
    return {wallet_account(caller.participant.address), *(client_account(c.id) for c in clients)}


def _cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isdigit():
        raise errors.ValidationFailed("cursor is not one this API returned")
    return int(cursor)


@router.get(
    "/entries",
    response_model=Page[JournalEntryPublic],
    responses=responses(403),
    summary="Journal entries in order, optionally those touching one account",
)
def entries(
    service: ServiceDep,
    caller: CallerDep,
    account: Annotated[
        str | None,
        Query(
            pattern=ACCOUNT_PATTERN,
            description="e.g. `wallet:0xabc…` or `client:<id>`. A broker defaults to its own wallet.",
        ),
    ] = None,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> Page[JournalEntryPublic]:
    if caller.participant is not None:
        own = _own_accounts(service, caller)
        if account is None:
            account = wallet_account(caller.participant.address)
        elif account.lower() not in {a.lower() for a in own}:
            raise errors.Forbidden("a broker may read only its own wallet and client accounts")
    if account is not None and account.startswith("wallet:"):
        account = account.lower()
    records = service.journal.entries(account=account, after_seq=_cursor(cursor), limit=limit + 1)
    page, more = records[:limit], len(records) > limit
    return Page[JournalEntryPublic](
        items=[JournalEntryPublic.of(r) for r in page], next_cursor=str(page[-1].seq) if more else None
    )
