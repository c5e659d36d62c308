"""Reconciliation against the chain and verification of the journal's hash chain (operator)."""

from __future__ import annotations

from fastapi import APIRouter

from settlement.api.deps import OperatorDep, ServiceDep
from settlement.api.problems import responses
from settlement.api.schemas import AnchorPublic, ReconciliationPublic, VerifyProblemPublic, VerifyPublic

router = APIRouter(tags=["audit"], responses=responses(401, 403))


@router.get("/audit/verify", response_model=VerifyPublic, summary="Recompute the journal's hash chain")
def verify(service: ServiceDep, actor: OperatorDep) -> VerifyPublic:
    """`ok` is false if any entry was edited, deleted, inserted or reordered; `problems` names them."""
    result = service.verify_journal(actor)
    return VerifyPublic(
        ok=result.ok,
        entries=result.entries,
        head_hash=result.head_hash,
        problems=[VerifyProblemPublic(seq=seq, problem=message) for seq, message in result.problems],
        anchors_checked=result.anchors_checked,
        latest_anchor=None if result.latest_anchor is None else AnchorPublic.of(result.latest_anchor),
    )


@router.get("/audit/anchors", response_model=list[AnchorPublic], summary="The journal heads anchored on chain")
def anchors(service: ServiceDep, actor: OperatorDep) -> list[AnchorPublic]:
    """Oldest first, as LedgerAnchor holds them (anchorAt(i)); anyone can read the same from the chain."""
    return [AnchorPublic.of(a) for a in service.journal_anchors(actor)]


@router.post(
    "/audit/anchors",
    response_model=AnchorPublic | None,
    summary="Anchor the journal's head on chain now",
    responses=responses(503),
)
def anchor_now(service: ServiceDep, actor: OperatorDep) -> AnchorPublic | None:
    """Indexes to the chain head, then anchors the head (null when it is already anchored)."""
    anchored = service.anchor_journal(actor)
    return None if anchored is None else AnchorPublic.of(anchored)


@router.get(
    "/reconciliation",
    response_model=ReconciliationPublic,
    summary="Compare every on-chain balance with the ledger at one block height",
)
def reconciliation(service: ServiceDep, actor: OperatorDep) -> ReconciliationPublic:
    """Indexes to the chain head first, then reads chain and ledger at the same block."""
    return ReconciliationPublic.of(service.reconcile(actor))
