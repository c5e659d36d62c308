"""Net settlement windows: list, read, and the operator's close."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from settlement.api.deps import ActorDep, OperatorDep, ServiceDep
from settlement.api.problems import responses
from settlement.api.schemas import WindowPublic, WindowsPublic
from settlement.domain.window import WindowStatus

router = APIRouter(prefix="/windows", tags=["net settlement"], responses=responses(401, 422))

WindowIdPath = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.get("", response_model=WindowsPublic, summary="Settlement windows, newest first")
def list_windows(
    service: ServiceDep,
    actor: ActorDep,
    status: WindowStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> WindowsPublic:
    return WindowsPublic(items=[WindowPublic.of(w) for w in service.windows(actor, status, limit)])


@router.get("/{window_id}", response_model=WindowPublic, responses=responses(404))
def get_window(window_id: WindowIdPath, service: ServiceDep, actor: ActorDep) -> WindowPublic:
    """State, gross and net per broker (a broker sees only its own figures)."""
    return WindowPublic.of(service.window(actor, window_id))


@router.post(
    "/{window_id}/close",
    status_code=202,
    response_model=WindowPublic,
    responses=responses(403, 404, 409),
    summary="Close an open window now (operator); the worker settles it in one transaction",
)
def close_window(window_id: WindowIdPath, service: ServiceDep, actor: OperatorDep) -> WindowPublic:
    """Closing again, or a window already closed, is a no-op that answers its state."""
    return WindowPublic.of(service.close_window(actor, window_id))
