"""The dashboard's reads: the overview and the devnet's mini explorer (a decoded transaction).

Same authentication and policy as every other route: a broker's overview holds only itself, and
it opens only transactions that moved its own trades or accounts (others are 404).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from settlement.api.deps import ActorDep, ServiceDep
from settlement.api.problems import responses
from settlement.api.schemas.dashboard import OverviewPublic, TransactionPublic

router = APIRouter(tags=["dashboard"], responses=responses(401))

TX_HASH_PATTERN = r"^0x[0-9a-fA-F]{64}$"


@router.get("/overview", response_model=OverviewPublic, summary="Trades by status, balances three ways, audit head")
def overview(service: ServiceDep, actor: ActorDep) -> OverviewPublic:
    return OverviewPublic.of(service.overview(actor))


@router.get(
    "/transactions/{tx_hash}",
    response_model=TransactionPublic,
    responses=responses(404, 422),
    summary="A transaction decoded with the deployment's ABIs: call, arguments, events, gas",
)
def transaction(
    tx_hash: Annotated[str, Path(pattern=TX_HASH_PATTERN)], service: ServiceDep, actor: ActorDep
) -> TransactionPublic:
    return TransactionPublic.of(service.transaction(actor, tx_hash))
