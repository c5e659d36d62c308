"""Brokers, their clients, coin issuance and balances."""

from __future__ import annotations

from fastapi import APIRouter

from settlement.api.deps import ActorDep, OperatorDep, SelfOrOperatorDep, ServiceDep
from settlement.api.idempotency import idempotent
from settlement.api.problems import responses
from settlement.api.schemas import (
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
from settlement.money import coins_to_base_units

router = APIRouter(prefix="/participants", tags=["participants"], responses=responses(401, 422))


@router.post(
    "",
    status_code=201,
    response_model=ParticipantCreated,
    responses=responses(403, 409),
    summary="Register a broker (operator)",
)
def create_participant(body: ParticipantCreate, service: ServiceDep, actor: OperatorDep) -> ParticipantCreated:
    """Returns the participant's API key, once. On the devnet, no address means a fresh devnet account."""
    participant, api_key = service.register_participant(actor, body.name, body.jurisdiction, body.address)
    return ParticipantCreated(**ParticipantPublic.of(participant).model_dump(), api_key=api_key)


@router.get("", response_model=list[ParticipantPublic], summary="The participant directory")
def list_participants(service: ServiceDep, _: ActorDep) -> list[ParticipantPublic]:
    """Every broker's id, name, jurisdiction and wallet: counterparties need each other's ids."""
    return [ParticipantPublic.of(p) for p in service.participant_directory()]


@router.get("/{participant_id}", response_model=ParticipantPublic, responses=responses(404))
def get_participant(participant_id: ParticipantIdPath, service: ServiceDep, _: ActorDep) -> ParticipantPublic:
    return ParticipantPublic.of(service.participant(participant_id))


@router.post(
    "/{participant_id}/issue",
    response_model=IssuePublic,
    responses=responses(403, 404, 409),
    summary="Mint coins to a participant's wallet (operator, as the devnet issuer)",
)
@idempotent("issue")
def issue(participant_id: ParticipantIdPath, body: IssueCreate, service: ServiceDep, actor: OperatorDep) -> IssuePublic:
    amount = coins_to_base_units(body.amount)
    tx_hash = service.issue(actor, participant_id, amount)
    return IssuePublic(participant_id=participant_id, amount=coins(amount), tx_hash=tx_hash)


@router.get(
    "/{participant_id}/balances",
    response_model=BalancesPublic,
    responses=responses(403, 404),
    summary="On-chain and ledger balances, escrowed amount, per-client balances",
)
def balances(participant_id: ParticipantIdPath, service: ServiceDep, actor: SelfOrOperatorDep) -> BalancesPublic:
    return BalancesPublic.of(service.balances(actor, participant_id))


@router.post(
    "/{participant_id}/clients",
    status_code=201,
    response_model=ClientPublic,
    responses=responses(403, 404, 409),
    summary="Open a client sub-account (the broker itself, or the operator)",
)
def create_client(
    participant_id: ParticipantIdPath, body: ClientCreate, service: ServiceDep, actor: SelfOrOperatorDep
) -> ClientPublic:
    return ClientPublic.of(service.add_client(actor, participant_id, body.name))


@router.get(
    "/{participant_id}/clients",
    response_model=list[ClientPublic],
    responses=responses(403, 404),
)
def list_clients(
    participant_id: ParticipantIdPath, service: ServiceDep, actor: SelfOrOperatorDep
) -> list[ClientPublic]:
    return [ClientPublic.of(c) for c in service.clients(actor, participant_id)]


@router.post(
    "/{participant_id}/clients/{client_id}/allocate",
    response_model=AllocationPublic,
    responses=responses(403, 404, 409),
    summary="Earmark part of the broker's unallocated balance for one client (ledger only)",
)
@idempotent("allocate")
def allocate(
    participant_id: ParticipantIdPath,
    client_id: ClientIdPath,
    body: AllocationCreate,
    service: ServiceDep,
    actor: SelfOrOperatorDep,
) -> AllocationPublic:
    amount = coins_to_base_units(body.amount)
    client_balance = service.allocate(actor, participant_id, client_id, amount)
    return AllocationPublic(
        participant_id=participant_id, client_id=client_id, amount=coins(amount), client_balance=coins(client_balance)
    )
