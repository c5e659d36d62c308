"""Brokers, their clients, coin issuance and balances."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CallerDep, OperatorDep, SelfOrOperatorDep, ServiceDep
from api.problems import responses
from api.schemas import (
    AllocationCreate,
    AllocationPublic,
    BalancesPublic,
    ClientCreate,
    ClientIdPath,
    ClientPublic,
    IssueCreate,
    IssuePublic,
    ParticipantCreate,
    ParticipantCreated,
    ParticipantIdPath,
    ParticipantPublic,
    coins,
)
from settlement import errors
from settlement.domain.journal import client_account
from settlement.ledger.models import Participant
from settlement.money import coins_to_base_units
from settlement.service import SettlementService


def _existing(service: SettlementService, participant_id: str) -> Participant:
    """A participant named in the path: unknown is 404 here (in a trade body it is a 422)."""
    try:
        return service.participants.get(participant_id)
    except errors.UnknownParticipant:
        raise errors.NotFound(f"no participant {participant_id}") from None


router = APIRouter(prefix="/participants", tags=["participants"], responses=responses(401, 422))


@router.post(
    "",
    status_code=201,
    response_model=ParticipantCreated,
    responses=responses(403, 409),
    summary="Register a broker (operator)",
)
def create_participant(body: ParticipantCreate, service: ServiceDep, _: OperatorDep) -> ParticipantCreated:
    """Returns the participant's API key, once. On the devnet, no address means a fresh devnet account."""
    participant, api_key = service.participants.register(body.name, body.jurisdiction, body.address)
    return ParticipantCreated(**ParticipantPublic.of(participant).model_dump(), api_key=api_key)


@router.get("", response_model=list[ParticipantPublic], summary="The participant directory")
def list_participants(service: ServiceDep, _: CallerDep) -> list[ParticipantPublic]:
    """Every broker's id, name, jurisdiction and wallet: counterparties need each other's ids."""
    return [ParticipantPublic.of(p) for p in service.participant_directory()]


@router.get("/{participant_id}", response_model=ParticipantPublic, responses=responses(404))
def get_participant(participant_id: ParticipantIdPath, service: ServiceDep, _: CallerDep) -> ParticipantPublic:
    return ParticipantPublic.of(_existing(service, participant_id))


@router.post(
    "/{participant_id}/issue",
    response_model=IssuePublic,
    responses=responses(403, 404),
    summary="Mint coins to a participant's wallet (operator, as the devnet issuer)",
)
def issue(participant_id: ParticipantIdPath, body: IssueCreate, service: ServiceDep, _: OperatorDep) -> IssuePublic:
    _existing(service, participant_id)
    amount = coins_to_base_units(body.amount)
    tx_hash = service.participants.issue(participant_id, amount)
    service.wake()  # mirror the mint into the ledger without waiting for the next tick
    return IssuePublic(participant_id=participant_id, amount=coins(amount), tx_hash=tx_hash)


@router.get(
    "/{participant_id}/balances",
    response_model=BalancesPublic,
    responses=responses(403, 404),
    summary="On-chain and ledger balances, escrowed amount, per-client balances",
)
def balances(participant_id: ParticipantIdPath, service: ServiceDep, _: SelfOrOperatorDep) -> BalancesPublic:
    _existing(service, participant_id)
    return BalancesPublic.of(service.participants.balances(participant_id))


@router.post(
    "/{participant_id}/clients",
    status_code=201,
    response_model=ClientPublic,
    responses=responses(403, 404, 409),
    summary="Open a client sub-account (the broker itself, or the operator)",
)
def create_client(
    participant_id: ParticipantIdPath, body: ClientCreate, service: ServiceDep, _: SelfOrOperatorDep
) -> ClientPublic:
    _existing(service, participant_id)
    return ClientPublic.of(service.participants.add_client(participant_id, body.name))


@router.get(
    "/{participant_id}/clients",
    response_model=list[ClientPublic],
    responses=responses(403, 404),
)
def list_clients(participant_id: ParticipantIdPath, service: ServiceDep, _: SelfOrOperatorDep) -> list[ClientPublic]:
    _existing(service, participant_id)
    return [ClientPublic.of(c) for c in service.clients_of(participant_id)]


@router.post(
    "/{participant_id}/clients/{client_id}/allocate",
    response_model=AllocationPublic,
    responses=responses(403, 404),
    summary="Earmark part of the broker's unallocated balance for one client (ledger only)",
)
def allocate(
    participant_id: ParticipantIdPath,
    client_id: ClientIdPath,
    body: AllocationCreate,
    service: ServiceDep,
    _: SelfOrOperatorDep,
) -> AllocationPublic:
    _existing(service, participant_id)
    amount = coins_to_base_units(body.amount)
    try:
        service.participants.allocate(participant_id, client_id, amount)
    except errors.UnknownClientAccount as exc:
        raise errors.NotFound(exc.detail) from None
    return AllocationPublic(
        participant_id=participant_id,
        client_id=client_id,
        amount=coins(amount),
        client_balance=coins(service.journal.balance(client_account(client_id))),
    )
