"""Request dependencies: the service, and who is calling.

Identification only: `Authorization: Bearer <key>` becomes an Actor (the operator or one
participant) through the service. What an actor may do is decided by the service's policy
(settlement/domain/access.py), never here or in a route.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from settlement import errors
from settlement.api.schemas import ParticipantIdPath
from settlement.api.throttle import FailedAuthThrottle
from settlement.domain import access
from settlement.domain.access import Actor
from settlement.service import SettlementService

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="The operator key, or the API key a participant received when it was created.",
)


def get_service(request: Request) -> SettlementService:
    service: SettlementService = request.app.state.service
    return service


ServiceDep = Annotated[SettlementService, Depends(get_service)]


def get_actor(
    request: Request,
    service: ServiceDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Actor:
    """A client past its failed-authentication limit gets 429 without its key being looked at."""
    throttle: FailedAuthThrottle = request.app.state.auth_throttle
    client = request.client.host if request.client else "unknown"
    retry_after_s = throttle.retry_after_s(client)
    if retry_after_s is not None:
        raise errors.TooManyFailedAuth(
            f"too many failed authentications from this client; retry in {retry_after_s} s",
            retry_after_s=retry_after_s,
        )
    try:
        if credentials is None:
            raise errors.Unauthenticated("send the header Authorization: Bearer <api key>")
        return service.authenticate(credentials.credentials)
    except errors.Unauthenticated:
        throttle.failed(client)
        raise


ActorDep = Annotated[Actor, Depends(get_actor)]


def operator_actor(actor: ActorDep) -> Actor:
    """Operator-only routes refuse other callers before the body is even looked at (403, not 422)."""
    access.require_operator(actor)
    return actor


OperatorDep = Annotated[Actor, Depends(operator_actor)]


def actor_for_participant(participant_id: ParticipantIdPath, actor: ActorDep) -> Actor:
    """For /participants/{participant_id}/...: that participant itself, or the operator."""
    access.require_acts_for(actor, participant_id)
    return actor


SelfOrOperatorDep = Annotated[Actor, Depends(actor_for_participant)]
