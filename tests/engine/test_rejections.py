"""Bad input: each case is a clear domain error with a stable code, and nothing is written or sent."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlmodel import Session, func, select

from settlement import errors
from settlement.chain.lock_intents import sign_lock_intent
from settlement.chain.permits import sign_permit
from settlement.domain.access import Actor
from settlement.domain.requests import PermitSignature, TradeRequest
from settlement.domain.trade import TradeStatus
from settlement.ledger.models import JournalEntry, Participant, Trade
from settlement.service import SettlementService
from tests.engine.conftest import OPERATOR, Brokers
from tests.engine.test_lifecycle import hkd_trade, token_admin

Setup = Callable[[SettlementService, Brokers], dict[str, object]]
PAST = datetime(2020, 1, 1, tzinfo=UTC)


def nothing(service: SettlementService, brokers: Brokers) -> dict[str, object]:
    return {}


def blacklist_seller(service: SettlementService, brokers: Brokers) -> dict[str, object]:
    token_admin(service, "addBlackList", brokers.sg.address)
    return {}


def pause_token(service: SettlementService, brokers: Brokers) -> dict[str, object]:
    token_admin(service, "pause")
    return {}


def foreign_client(service: SettlementService, brokers: Brokers) -> dict[str, object]:
    return {"buyer_client_id": service.participants.add_client(brokers.sg.id, "not yours").id}


CASES: list[tuple[str, dict[str, object], Setup, type[errors.SettlementError], str]] = [
    ("unknown buyer", {"buyer_id": "no-such-broker"}, nothing, errors.UnknownParticipant, "unknown_participant"),
    ("unknown seller", {"seller_id": "no-such-broker"}, nothing, errors.UnknownParticipant, "unknown_participant"),
    ("buyer is seller", {"seller_id": "<hk>"}, nothing, errors.SameParty, "same_party"),
    ("zero quantity", {"quantity": Decimal("0")}, nothing, errors.NonPositiveValue, "non_positive_value"),
    ("negative quantity", {"quantity": Decimal("-5")}, nothing, errors.NonPositiveValue, "non_positive_value"),
    ("zero price", {"price": Decimal("0")}, nothing, errors.NonPositiveValue, "non_positive_value"),
    (
        "rounds to zero",
        {"currency": "USD", "quantity": Decimal("1"), "price": Decimal("0.0000004")},
        nothing,
        errors.ZeroSettlementAmount,
        "zero_settlement_amount",
    ),
    (
        "absurd magnitude",
        {"quantity": Decimal("1e30"), "price": Decimal("1e30")},
        nothing,
        errors.AmountTooLarge,
        "amount_too_large",
    ),
    ("unknown currency", {"currency": "XYZ"}, nothing, errors.UnknownCurrency, "unknown_currency"),
    ("missing fx rate", {"currency": "EUR"}, nothing, errors.MissingFxRate, "missing_fx_rate"),
    ("deadline in past", {"deadline": PAST}, nothing, errors.DeadlineInPast, "deadline_in_past"),
    ("client of other broker", {}, foreign_client, errors.UnknownClientAccount, "unknown_client_account"),
    (
        "unknown client",
        {"buyer_client_id": "no-such-client"},
        nothing,
        errors.UnknownClientAccount,
        "unknown_client_account",
    ),
    ("blacklisted party", {}, blacklist_seller, errors.Blacklisted, "blacklisted"),
    ("paused token", {}, pause_token, errors.Paused, "paused"),
    (
        "balance too low",
        {"currency": "USD", "quantity": Decimal("2000000"), "price": Decimal("1")},
        nothing,
        errors.InsufficientFunds,
        "insufficient_funds",
    ),
]


def counts(service: SettlementService) -> tuple[int, int, int]:
    with Session(service.db) as session:
        trades = session.exec(select(func.count()).select_from(Trade)).one()
        entries = session.exec(select(func.count()).select_from(JournalEntry)).one()
    return trades, entries, service.chain.block_number()


@pytest.mark.parametrize(("name", "overrides", "setup", "error", "code"), CASES, ids=[c[0] for c in CASES])
def test_bad_trade_is_rejected_and_leaves_no_trace(
    service: SettlementService,
    brokers: Brokers,
    name: str,
    overrides: dict[str, object],
    setup: Setup,
    error: type[errors.SettlementError],
    code: str,
) -> None:
    overrides = {**overrides, **setup(service, brokers)}
    if overrides.get("seller_id") == "<hk>":
        overrides["seller_id"] = brokers.hk.id
    service.indexer.run_until_head()
    before = counts(service)

    with pytest.raises(error) as info:
        service.intake.submit(hkd_trade(brokers, f"bad-{name}", **overrides), OPERATOR)

    assert info.value.code == code
    service.settle_until_idle()
    assert counts(service) == before  # no trade row, no journal entry, no transaction


def test_non_custodial_payer_without_allowance_is_rejected(
    service: SettlementService, brokers: Brokers, outside_broker: Callable[[int], tuple[Participant, LocalAccount]]
) -> None:
    payer, _ = outside_broker(10_000)
    service.indexer.run_until_head()
    before = counts(service)
    with pytest.raises(errors.InsufficientAllowance) as info:
        service.intake.submit(hkd_trade(brokers, "no-allowance", buyer_id=payer.id), OPERATOR)
    assert info.value.code == "insufficient_allowance"
    assert counts(service) == before


def test_permit_signed_by_someone_else_is_rejected(
    service: SettlementService, brokers: Brokers, outside_broker: Callable[[int], tuple[Participant, LocalAccount]]
) -> None:
    payer, _ = outside_broker(10_000)
    _, impostor = outside_broker(0)
    deadline = service.chain.latest_timestamp() + 3600
    forged = sign_permit(service.chain, impostor, 10_000 * 10**6, deadline)
    with pytest.raises(errors.InvalidPermit):
        service.intake.submit(hkd_trade(brokers, "forged", buyer_id=payer.id, permit=forged), OPERATOR)


def test_permit_lock_never_needs_the_payers_key(
    service: SettlementService, brokers: Brokers, outside_broker: Callable[[int], tuple[Participant, LocalAccount]]
) -> None:
    payer, account = outside_broker(10_000)
    deadline = service.chain.latest_timestamp() + 3600
    permit: PermitSignature = sign_permit(service.chain, account, 10_000 * 10**6, deadline)
    request: TradeRequest = hkd_trade(brokers, "permit", buyer_id=payer.id, permit=permit)
    trade, _ = service.intake.submit(request, OPERATOR)
    service.settle_until_idle()
    # No lock without the buyer's own signature of this trade's lock: the permit alone is not enough.
    assert service.trade(OPERATOR, trade.id).status == TradeStatus.PENDING
    assert service.chain.permit_nonce(account.address) == 0

    intent = service.instructions.lock_intent(trade.id)
    as_buyer = Actor.participant(payer.id)
    with pytest.raises(errors.Forbidden):  # not even the operator signs for the buyer
        service.authorize_lock(OPERATOR, trade.id, sign_lock_intent(service.chain, account, intent))
    with pytest.raises(errors.InvalidLockAuthorization):  # someone else's signature is refused
        service.authorize_lock(as_buyer, trade.id, sign_lock_intent(service.chain, Account.create(), intent))
    service.authorize_lock(as_buyer, trade.id, sign_lock_intent(service.chain, account, intent))
    service.settle_until_idle()
    with Session(service.db) as session:
        locked = session.get(Trade, trade.id)
        assert locked is not None and locked.status == TradeStatus.LOCKED
    assert service.chain.w3.eth.get_transaction_count(account.address) == 0  # the broker sent nothing
    assert service.chain.permit_nonce(account.address) == 1
    assert service.reconcile(Actor.operator()).balanced


def test_deadline_default_is_the_settlement_window(service: SettlementService, brokers: Brokers) -> None:
    trade, _ = service.intake.submit(hkd_trade(brokers, "default-deadline"), OPERATOR)
    expected = datetime.now(UTC) + timedelta(seconds=service.settings.default_settlement_window_s)
    deadline = trade.deadline if trade.deadline.tzinfo else trade.deadline.replace(tzinfo=UTC)
    assert abs((deadline - expected).total_seconds()) < 120
