"""The authorization policy, one case a line: every action x every kind of caller."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from settlement import errors
from settlement.domain import access
from settlement.domain.access import Actor


@dataclass(frozen=True)
class _Trade:
    buyer_id: str
    seller_id: str


TRADE = _Trade(buyer_id="buyer", seller_id="seller")


@dataclass(frozen=True)
class _Alleged:
    buyer_id: str
    seller_id: str
    submitted_by: str


ALLEGED_BY_BUYER = _Alleged(buyer_id="buyer", seller_id="seller", submitted_by="buyer")
OPERATOR = Actor.operator()
BUYER = Actor.participant("buyer")
SELLER = Actor.participant("seller")
OTHER = Actor.participant("other")


@pytest.mark.parametrize(
    ("rule", "actor", "allowed"),
    [
        ("see", OPERATOR, True),
        ("see", BUYER, True),
        ("see", SELLER, True),
        ("see", OTHER, False),
        ("submit", OPERATOR, True),
        ("submit", BUYER, True),
        ("submit", SELLER, True),
        ("submit", OTHER, False),
        ("confirm", OPERATOR, True),
        ("confirm", BUYER, True),
        ("confirm", SELLER, False),
        ("confirm", OTHER, False),
        ("report_delivery", OPERATOR, False),
        ("report_delivery", BUYER, False),
        ("report_delivery", SELLER, True),
        ("report_delivery", OTHER, False),
        ("affirm_buyer_alleged", OPERATOR, False),
        ("affirm_buyer_alleged", BUYER, False),
        ("affirm_buyer_alleged", SELLER, True),
        ("affirm_buyer_alleged", OTHER, False),
        ("withdraw_buyer_alleged", OPERATOR, True),
        ("withdraw_buyer_alleged", BUYER, True),
        ("withdraw_buyer_alleged", SELLER, False),
        ("withdraw_buyer_alleged", OTHER, False),
        ("authorize_lock", OPERATOR, False),
        ("authorize_lock", BUYER, True),
        ("authorize_lock", SELLER, False),
        ("authorize_lock", OTHER, False),
        ("cancel", OPERATOR, True),
        ("cancel", BUYER, True),
        ("cancel", SELLER, True),
        ("cancel", OTHER, False),
        ("act_for_buyer", OPERATOR, True),
        ("act_for_buyer", BUYER, True),
        ("act_for_buyer", SELLER, False),
        ("act_for_buyer", OTHER, False),
        ("read_own_wallet", OPERATOR, True),
        ("read_own_wallet", BUYER, True),
        ("read_other_wallet", BUYER, False),
        ("read_other_wallet", OPERATOR, True),
    ],
)
def test_policy(rule: str, actor: Actor, allowed: bool) -> None:
    decisions = {
        "see": lambda: access.may_see_trade(actor, TRADE),
        "submit": lambda: access.may_submit(actor, TRADE.buyer_id, TRADE.seller_id),
        "confirm": lambda: access.may_confirm(actor, TRADE),
        "report_delivery": lambda: access.may_report_delivery(actor, TRADE),
        "affirm_buyer_alleged": lambda: access.may_affirm(actor, ALLEGED_BY_BUYER),
        "withdraw_buyer_alleged": lambda: access.may_withdraw(actor, ALLEGED_BY_BUYER),
        "authorize_lock": lambda: access.may_authorize_lock(actor, TRADE),
        "cancel": lambda: access.may_cancel(actor, TRADE),
        "act_for_buyer": lambda: access.may_act_for(actor, "buyer"),
        "read_own_wallet": lambda: access.may_read_account(actor, "wallet:0xAB", {"wallet:0xab", "client:c1"}),
        "read_other_wallet": lambda: access.may_read_account(actor, "wallet:0xcd", {"wallet:0xab"}),
    }
    assert decisions[rule]() is allowed


def test_a_trade_a_broker_may_not_see_is_not_found_not_forbidden() -> None:
    with pytest.raises(errors.NotFound):
        access.require_visible(OTHER, TRADE, "t-1")
    access.require_visible(BUYER, TRADE, "t-1")  # and the parties pass


def test_operator_only_and_own_account_refusals_are_forbidden() -> None:
    with pytest.raises(errors.Forbidden):
        access.require_operator(BUYER)
    with pytest.raises(errors.Forbidden):
        access.require_acts_for(BUYER, "seller")
    access.require_operator(OPERATOR)
    access.require_acts_for(OPERATOR, "seller")


def test_the_operator_acts_under_one_stable_id() -> None:
    assert OPERATOR.is_operator and OPERATOR.id == access.OPERATOR_ID
    assert not BUYER.is_operator and BUYER.id == "buyer"
