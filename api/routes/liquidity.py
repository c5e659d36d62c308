"""Net mode's liquidity: a broker pre-funds its settlement balance, and the operator caps it."""

from __future__ import annotations

from fastapi import APIRouter

from settlement.api.deps import OperatorDep, SelfOrOperatorDep, ServiceDep
from settlement.api.idempotency import idempotent
from settlement.api.problems import responses
from settlement.api.schemas.common import ParticipantIdPath, coins
from settlement.api.schemas.liquidity import (
    NetDebitCapUpdate,
    SettlementBalancePublic,
    SettlementMoveCreate,
    SettlementMovePublic,
)
from settlement.money import coins_to_base_units

router = APIRouter(prefix="/participants", tags=["net settlement"], responses=responses(401, 422))


@router.post(
    "/{participant_id}/settlement-balance/deposit",
    response_model=SettlementMovePublic,
    responses=responses(403, 404, 409),
    summary="Move coins from the broker's wallet into its settlement balance (custodial brokers)",
)
@idempotent("settlement_deposit")
def deposit(
    participant_id: ParticipantIdPath, body: SettlementMoveCreate, service: ServiceDep, actor: SelfOrOperatorDep
) -> SettlementMovePublic:
    """The broker itself or the operator. A broker whose key the service does not hold gets 409
    `not_custodial`: it approves the net settlement contract and calls deposit from its wallet."""
    amount = coins_to_base_units(body.amount)
    tx_hash = service.deposit_settlement_balance(actor, participant_id, amount)
    return SettlementMovePublic(participant_id=participant_id, amount=coins(amount), tx_hash=tx_hash)


@router.post(
    "/{participant_id}/settlement-balance/withdraw",
    response_model=SettlementMovePublic,
    responses=responses(403, 404, 409),
    summary="Move coins from the settlement balance back to the broker's wallet (custodial brokers)",
)
@idempotent("settlement_withdraw")
def withdraw(
    participant_id: ParticipantIdPath, body: SettlementMoveCreate, service: ServiceDep, actor: SelfOrOperatorDep
) -> SettlementMovePublic:
    """More than the balance is 422 `withdrawal_exceeds_balance`."""
    amount = coins_to_base_units(body.amount)
    tx_hash = service.withdraw_settlement_balance(actor, participant_id, amount)
    return SettlementMovePublic(participant_id=participant_id, amount=coins(amount), tx_hash=tx_hash)


@router.get(
    "/{participant_id}/settlement-balance",
    response_model=SettlementBalancePublic,
    responses=responses(403, 404),
    summary="Settlement balance on chain and in the ledger, the operator's cap and the net debit cap",
)
def settlement_balance(
    participant_id: ParticipantIdPath, service: ServiceDep, actor: SelfOrOperatorDep
) -> SettlementBalancePublic:
    return SettlementBalancePublic.of(service.settlement_balance(actor, participant_id))


@router.put(
    "/{participant_id}/net-debit-cap",
    response_model=SettlementBalancePublic,
    responses=responses(403, 404),
    summary="Cap what a window may debit the broker below its settlement balance, or clear the cap (operator)",
)
def set_net_debit_cap(
    participant_id: ParticipantIdPath, body: NetDebitCapUpdate, service: ServiceDep, actor: OperatorDep
) -> SettlementBalancePublic:
    cap = None if body.cap is None else coins_to_base_units(body.cap)
    return SettlementBalancePublic.of(service.set_net_debit_cap(actor, participant_id, cap))
