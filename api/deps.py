"""Request dependencies: the service, and who is calling (operator or a participant).

Authorization rules live next to the routes that need them; here is only identification:
`Authorization: Bearer <key>` is either the operator key (compared in constant time) or a
participant's API key (looked up by its hash). Missing or unknown keys are 401.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.schemas import ParticipantIdPath
from settlement import errors
from settlement.ledger.models import Participant, Trade
from settlement.service import SettlementService

OPERATOR = "operator"
"""The `submitted_by` of trades the operator submits (participants are identified by id)."""

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="The operator key, or the API key a participant received when it was created.",
)


@dataclass(frozen=True)
class Caller:
    """The authenticated caller: the operator (participant is None) or one participant."""

    participant: Participant | None

    @property
    def is_operator(self) -> bool:
        return self.participant is None

    @property
    def id(self) -> str:
        return OPERATOR if self.participant is None else self.participant.id

    def is_party_to(self, trade: Trade) -> bool:
        return self.participant is None or self.participant.id in (trade.buyer_id, trade.seller_id)

    def acts_for(self, participant_id: str) -> bool:
        return self.participant is None or self.participant.id == participant_id


def get_service(request: Request) -> SettlementService:
    service: SettlementService = request.app.state.service
    return service


ServiceDep = Annotated[SettlementService, Depends(get_service)]


def get_caller(
    service: ServiceDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Caller:
    if credentials is None:
        raise errors.Unauthenticated("send the header Authorization: Bearer <api key>")
    key = credentials.credentials
    if hmac.compare_digest(key.encode(), service.settings.operator_key.encode()):
        return Caller(participant=None)
    participant = service.participants.authenticate(key)
    if participant is None:
        raise errors.Unauthenticated("unknown API key")
    return Caller(participant=participant)


CallerDep = Annotated[Caller, Depends(get_caller)]


def require_operator(caller: CallerDep) -> Caller:
    if not caller.is_operator:
        raise errors.Forbidden("only the operator may do this")
    return caller


OperatorDep = Annotated[Caller, Depends(require_operator)]


def require_self_or_operator(participant_id: ParticipantIdPath, caller: CallerDep) -> Caller:
    """For /participants/{participant_id}/...: that participant itself, or the operator."""
    if not caller.acts_for(participant_id):
        raise errors.Forbidden("a participant may only see and act on its own account")
    return caller


SelfOrOperatorDep = Annotated[Caller, Depends(require_self_or_operator)]
