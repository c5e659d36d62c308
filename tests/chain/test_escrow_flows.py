"""Happy paths of the escrow against the real anvil: lock -> release, lock -> refund, permit
locks and batches. Every lock is sent by the settlement agent with the payer's EIP-712 LockIntent
signature (made off chain with settlement.chain.lock_intents). Every amount and status is read
back from the chain after the fact."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account.messages import encode_typed_data
from web3.logs import DISCARD
from web3.types import TxReceipt

from settlement.chain.client import LockStatus
from settlement.chain.contract_calls import ContractCalls, LockOrder
from settlement.chain.lock_intents import lock_intent_signer, lock_intent_typed_data
from settlement.config import Settings
from tests.chain.support import BROKER_FUNDING, COIN, ONE_HOUR, Env, eip712_digest, trade_id

pytestmark = pytest.mark.chain


def events(env: Env, receipt: TxReceipt, name: str) -> list[dict[str, Any]]:
    logs = env.chain.escrow.events[name]().process_receipt(receipt, errors=DISCARD)
    return [dict(log["args"]) for log in logs]


def test_devnet_starts_with_funded_brokers_and_an_empty_escrow(env: Env) -> None:
    state = env.state()
    assert state.balances["payer"] == BROKER_FUNDING
    assert state.balances["payee"] == BROKER_FUNDING
    assert state.balances["stranger"] == 0
    assert state.escrow_balance == 0
    assert state.total_locked == 0


def test_agent_locks_for_approving_payer_then_releases_to_payee(env: Env) -> None:
    tid = trade_id("agent-lock-release")
    amount = 1_234_567_891  # 1234.567891 coins: odd on purpose, nothing may be rounded
    deadline = env.deadline()

    env.approve(env.payer, amount)
    assert env.chain.allowance(env.payer.address) == amount
    receipt = env.lock(tid, amount, deadline=deadline, approve=False)

    assert events(env, receipt, "Locked") == [
        {"tradeId": tid, "payer": env.payer.address, "payee": env.payee.address, "amount": amount, "deadline": deadline}
    ]
    lock = env.chain.get_lock(tid)
    assert lock.status is LockStatus.LOCKED
    assert (lock.payer, lock.payee, lock.amount_base_units, lock.deadline) == (
        env.payer.address,
        env.payee.address,
        amount,
        deadline,
    )
    assert env.balance(env.payer) == BROKER_FUNDING - amount
    assert env.balance(env.payee) == BROKER_FUNDING
    assert env.balance(env.escrow_address) == amount
    assert env.chain.total_locked() == amount
    assert env.chain.allowance(env.payer.address) == 0  # the lock used the allowance up exactly
    assert env.state(tid).locks[tid] == lock  # the batched snapshot reads locks the way ChainClient does

    receipt = env.release(tid)

    assert events(env, receipt, "Released") == [{"tradeId": tid, "payee": env.payee.address, "amount": amount}]
    assert env.chain.get_lock(tid).status is LockStatus.RELEASED
    settled = env.chain.get_lock(tid)  # the lock is deleted; only its outcome (the status) stays
    assert (int(settled.payer, 16), settled.deadline, int(settled.payee, 16), settled.amount_base_units) == (0, 0, 0, 0)
    assert env.balance(env.payer) == BROKER_FUNDING - amount
    assert env.balance(env.payee) == BROKER_FUNDING + amount
    assert env.balance(env.escrow_address) == 0
    assert env.chain.total_locked() == 0


def test_payer_signs_its_own_lock_and_sends_only_the_approve(env: Env) -> None:
    """The payer no longer sends the lock itself (the escrow refuses it, see test_lock_consent):
    it approves and signs the LockIntent off chain; the agent sends the lock and releases."""
    tid = trade_id("self-lock")
    amount = 42 * COIN + 1

    env.lock(tid, amount)

    assert len(env.payer.sender.broadcasts) == 1  # the approve, nothing else
    assert len(env.agent.sender.broadcasts) == 1  # the lock
    assert env.chain.get_lock(tid).status is LockStatus.LOCKED
    assert env.chain.get_lock(tid).payer == env.payer.address
    assert env.balance(env.payer) == BROKER_FUNDING - amount
    assert env.balance(env.escrow_address) == amount

    env.release(tid)

    assert env.chain.get_lock(tid).status is LockStatus.RELEASED
    assert env.balance(env.payee) == BROKER_FUNDING + amount
    assert env.balance(env.escrow_address) == env.chain.total_locked() == 0


def test_lock_intent_helpers_match_the_escrow(env: Env) -> None:
    """The typed data Python signs hashes to the escrow's own hashLockIntent, the signer is
    recovered from it, and ContractCalls encodes lock/lockBatch exactly as the ABI does."""
    order = env.order(trade_id("digest"), 12 * COIN + 3, env.deadline())
    typed = lock_intent_typed_data(env.chain, order)
    on_chain = bytes(env.chain.escrow.functions.hashLockIntent(order.as_tuple()).call())
    assert eip712_digest(encode_typed_data(full_message=typed)) == on_chain
    domain = env.chain.escrow.functions.eip712Domain().call()
    assert (domain[1], domain[2], domain[3], domain[4]) == (
        "SettlementEscrow",
        "1",
        env.chain.chain_id,
        env.escrow_address,
    )
    assert len(order.signature) == 65
    assert lock_intent_signer(env.chain, order, order.signature) == env.payer.address.lower()
    assert lock_intent_signer(env.chain, order, order.signature[:64]) is None
    other_terms = LockOrder(order.trade_id, order.payer, order.payee, order.amount_base_units + 1, order.deadline)
    assert lock_intent_signer(env.chain, other_terms, order.signature) != env.payer.address.lower()

    calls = ContractCalls(env.chain)
    second = env.order(trade_id("digest-2"), COIN, env.deadline())
    assert calls.lock_batch([order]).data == env.lock_call(order).data
    assert calls.lock_batch([order, second]).data == env.lock_batch_call([order, second]).data


def test_payer_can_lock_its_whole_balance(env: Env) -> None:
    tid = trade_id("everything")

    env.lock(tid, BROKER_FUNDING)

    assert env.balance(env.payer) == 0
    assert env.balance(env.escrow_address) == env.chain.total_locked() == BROKER_FUNDING
    env.release(tid)
    assert env.balance(env.payee) == 2 * BROKER_FUNDING


def test_two_open_locks_are_tracked_separately(env: Env) -> None:
    first, second = trade_id("one"), trade_id("two")
    env.lock(first, 100 * COIN)
    env.lock(second, 7 * COIN, payer=env.other_payer)

    assert env.chain.total_locked() == env.balance(env.escrow_address) == 107 * COIN
    env.release(first)
    assert env.chain.total_locked() == env.balance(env.escrow_address) == 7 * COIN
    assert env.chain.get_lock(second).status is LockStatus.LOCKED
    assert env.balance(env.other_payer) == BROKER_FUNDING - 7 * COIN


def test_agent_refunds_before_deadline(env: Env) -> None:
    tid = trade_id("cancel")
    amount = 500 * COIN
    env.lock(tid, amount)
    assert env.now() < env.chain.get_lock(tid).deadline

    receipt = env.refund(tid)

    assert events(env, receipt, "Refunded") == [
        {"tradeId": tid, "payer": env.payer.address, "amount": amount, "by": env.agent.address}
    ]
    assert env.chain.get_lock(tid).status is LockStatus.REFUNDED
    assert env.balance(env.payer) == BROKER_FUNDING
    assert env.balance(env.payee) == BROKER_FUNDING  # the payee got nothing
    assert env.balance(env.escrow_address) == env.chain.total_locked() == 0


def test_anyone_refunds_after_deadline(env: Env) -> None:
    tid = trade_id("expired")
    amount = 3 * COIN
    deadline = env.deadline(ONE_HOUR)
    env.lock(tid, amount, deadline=deadline)

    env.net.increase_time(ONE_HOUR + 1)
    assert env.now() > deadline
    receipt = env.refund(tid, by=env.stranger)

    assert events(env, receipt, "Refunded") == [
        {"tradeId": tid, "payer": env.payer.address, "amount": amount, "by": env.stranger.address}
    ]
    assert env.chain.get_lock(tid).status is LockStatus.REFUNDED
    assert env.balance(env.payer) == BROKER_FUNDING
    assert env.balance(env.stranger) == 0  # refunding earns the caller nothing
    assert env.balance(env.payee) == BROKER_FUNDING
    assert env.balance(env.escrow_address) == env.chain.total_locked() == 0


def test_payer_refunds_its_own_lock_after_deadline(env: Env) -> None:
    tid = trade_id("payer-reclaims")
    env.lock(tid, 9 * COIN)
    env.net.increase_time(ONE_HOUR + 1)

    env.refund(tid, by=env.payer)

    assert env.chain.get_lock(tid).status is LockStatus.REFUNDED
    assert env.balance(env.payer) == BROKER_FUNDING


def test_release_is_still_allowed_at_the_deadline_second(env: Env) -> None:
    tid = trade_id("last-second")
    deadline = env.deadline(ONE_HOUR)
    env.lock(tid, COIN, deadline=deadline)
    env.net.rpc("evm_setNextBlockTimestamp", deadline)  # release mined with block.timestamp == deadline

    env.release(tid)

    assert env.net.w3.eth.get_block("latest")["timestamp"] == deadline
    assert env.chain.get_lock(tid).status is LockStatus.RELEASED


def test_agent_locks_with_payer_permit_and_payer_sends_nothing(env: Env) -> None:
    tid = trade_id("permit")
    amount = 250 * COIN + 17
    deadline = env.deadline()
    domain = env.chain.token.functions.eip712Domain().call()
    assert (domain[1], domain[2], domain[3], domain[4]) == (
        "Tether USD (devnet)",
        "1",
        env.chain.chain_id,
        env.token_address,
    )
    payer_txs = env.net.w3.eth.get_transaction_count(env.payer.account.address)
    payer_eth = env.net.w3.eth.get_balance(env.payer.account.address)
    assert env.chain.allowance(env.payer.address) == 0  # no approve beforehand
    assert env.chain.permit_nonce(env.payer.address) == 0

    permit = env.sign_permit(env.payer, amount)  # off chain, with the payer's key
    order = env.order(tid, amount, deadline)  # the LockIntent too, off chain
    receipt = env.agent.sender.transact(env.lock_with_permit_call(order, permit))

    assert receipt["from"] == env.agent.account.address
    assert events(env, receipt, "Locked")[0]["amount"] == amount
    assert env.chain.permit_nonce(env.payer.address) == 1
    assert env.chain.allowance(env.payer.address) == 0  # the permit allowance was used up exactly
    assert env.net.w3.eth.get_transaction_count(env.payer.account.address) == payer_txs
    assert env.net.w3.eth.get_balance(env.payer.account.address) == payer_eth  # paid no gas
    assert env.payer.sender.broadcasts == []
    lock = env.chain.get_lock(tid)
    assert (lock.status, lock.payer, lock.amount_base_units) == (LockStatus.LOCKED, env.payer.address, amount)
    assert env.balance(env.payer) == BROKER_FUNDING - amount
    assert env.balance(env.escrow_address) == env.chain.total_locked() == amount

    env.release(tid)
    assert env.balance(env.payee) == BROKER_FUNDING + amount


def test_permit_lock_goes_through_when_permit_was_front_run(env: Env) -> None:
    """Someone submits the permit first: lockWithPermit ignores the failed permit and uses the allowance."""
    tid = trade_id("front-run")
    amount = 10 * COIN
    permit = env.sign_permit(env.payer, amount)
    env.stranger.sender.transact(
        env.token_call(
            "permit",
            [env.payer.address, env.escrow_address, permit.value, permit.deadline, permit.v, permit.r, permit.s],
        )
    )
    assert env.chain.allowance(env.payer.address) == amount

    env.agent.sender.transact(env.lock_with_permit_call(env.order(tid, amount, env.deadline()), permit))

    assert env.chain.get_lock(tid).status is LockStatus.LOCKED
    assert env.chain.permit_nonce(env.payer.address) == 1  # used once, by the front-runner
    assert env.balance(env.escrow_address) == amount


def test_batch_lock_then_release_some_and_refund_the_rest(env: Env) -> None:
    deadline = env.deadline()
    amounts = {trade_id(f"batch-{i}"): (i + 1) * COIN + i for i in range(4)}
    ids = list(amounts)
    other_amount = 11 * COIN
    other_id = trade_id("batch-other-payer")
    env.approve(env.payer, sum(amounts.values()))
    env.approve(env.other_payer, other_amount)
    orders = [env.order(tid, amount, deadline) for tid, amount in amounts.items()]
    orders.append(env.order(other_id, other_amount, deadline, payer=env.other_payer))  # its own signature

    receipt = env.agent.sender.transact(env.lock_batch_call(orders))

    assert len(events(env, receipt, "Locked")) == 5
    total = sum(amounts.values()) + other_amount
    assert env.balance(env.escrow_address) == env.chain.total_locked() == total
    assert env.balance(env.payer) == BROKER_FUNDING - sum(amounts.values())
    assert env.balance(env.other_payer) == BROKER_FUNDING - other_amount
    assert all(env.chain.get_lock(tid).status is LockStatus.LOCKED for tid in [*ids, other_id])

    released, refunded = [ids[0], ids[2], other_id], [ids[1], ids[3]]
    env.agent.sender.transact(env.escrow_call("releaseBatch", [released]))
    env.agent.sender.transact(env.escrow_call("refundBatch", [refunded]))

    assert [env.chain.get_lock(tid).status for tid in released] == [LockStatus.RELEASED] * 3
    assert [env.chain.get_lock(tid).status for tid in refunded] == [LockStatus.REFUNDED] * 2
    paid_out = amounts[ids[0]] + amounts[ids[2]] + other_amount
    assert env.balance(env.payee) == BROKER_FUNDING + paid_out
    assert env.balance(env.payer) == BROKER_FUNDING - amounts[ids[0]] - amounts[ids[2]]
    assert env.balance(env.other_payer) == BROKER_FUNDING - other_amount
    assert env.balance(env.escrow_address) == env.chain.total_locked() == 0


def test_batch_of_max_size_is_accepted_with_the_engines_fixed_gas(env: Env) -> None:
    """The engine's default batch is the escrow's maximum, sent with a gas limit fixed from the
    batch's shape (no estimate): a full batch must fit both that limit and the block."""
    size = int(env.chain.escrow.functions.MAX_BATCH().call())
    assert size == Settings().batch_trades_max == 200
    env.approve(env.payer, size * COIN)
    deadline = env.deadline()
    ids = [trade_id(f"max-{i}") for i in range(size)]
    calls = ContractCalls(env.chain)
    block_gas_limit = int(env.chain.w3.eth.get_block("latest")["gasLimit"])

    lock = calls.lock_batch([env.order(t, COIN, deadline) for t in ids])
    assert lock.gas is not None and lock.gas <= block_gas_limit
    env.agent.sender.transact(lock)
    assert env.chain.total_locked() == env.balance(env.escrow_address) == size * COIN

    env.agent.sender.transact(calls.release_batch(ids))
    assert env.balance(env.payee) == BROKER_FUNDING + size * COIN
    assert env.chain.total_locked() == env.balance(env.escrow_address) == 0


def test_stranger_refunds_expired_locks_in_a_batch(env: Env) -> None:
    ids = [trade_id(f"expired-batch-{i}") for i in range(3)]
    for tid in ids:
        env.lock(tid, 2 * COIN)
    env.net.increase_time(ONE_HOUR + 1)

    env.stranger.sender.transact(env.escrow_call("refundBatch", [ids]))

    assert [env.chain.get_lock(tid).status for tid in ids] == [LockStatus.REFUNDED] * 3
    assert env.balance(env.payer) == BROKER_FUNDING
    assert env.balance(env.escrow_address) == env.chain.total_locked() == 0


def test_anyone_refunds_past_the_grace_period_even_while_paused(env: Env) -> None:
    """The payer's exit that no pause can block: after deadline + REFUND_GRACE_PERIOD."""
    tid = trade_id("grace")
    amount = 8 * COIN
    deadline = env.deadline(ONE_HOUR)
    env.lock(tid, amount, deadline=deadline)
    grace = int(env.chain.escrow.functions.REFUND_GRACE_PERIOD().call())
    assert grace == 24 * ONE_HOUR
    env.admin_call("escrow", "pause")
    assert env.chain.escrow_paused()

    env.net.increase_time(ONE_HOUR + grace + 1)  # mines a block past deadline + grace
    assert env.now() > deadline + grace
    receipt = env.refund(tid, by=env.stranger)

    assert events(env, receipt, "Refunded") == [
        {"tradeId": tid, "payer": env.payer.address, "amount": amount, "by": env.stranger.address}
    ]
    assert env.chain.get_lock(tid).status is LockStatus.REFUNDED
    assert env.balance(env.payer) == BROKER_FUNDING
    assert env.balance(env.escrow_address) == env.chain.total_locked() == 0
    assert env.chain.escrow_paused()
