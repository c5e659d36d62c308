"""TxSender against the real anvil: reverts that happen on chain after the send (decoded by
replaying the mined transaction), and crash recovery from the journal."""

from __future__ import annotations

import time

import pytest
from hexbytes import HexBytes

from settlement import errors
from settlement.chain.client import LockStatus
from settlement.chain.sender import GAP_FILLER_PURPOSE, MemoryTxJournal
from tests.chain.support import BROKER_FUNDING, COIN, ONE_HOUR, Env, trade_id

pytestmark = pytest.mark.chain

EXPLICIT_GAS = 300_000  # set on the Call, so estimation (which would refuse) is skipped


def mined_block_of(env: Env, tx_hash: str) -> int:
    return int(env.net.w3.eth.get_transaction_receipt(HexBytes(tx_hash))["blockNumber"])


# ---------------------------------------------------------------------- reverts after send


def test_revert_on_chain_is_decoded_by_replay(env: Env) -> None:
    tid = trade_id("never-locked")
    sender = env.agent.sender
    before = env.state(tid)

    record = sender.sign(env.release_call(tid, gas=EXPLICIT_GAS))
    sender.send(record)
    with pytest.raises(errors.NotLocked) as caught:
        sender.wait(record)

    assert caught.value.context["revert"] == "NotLocked"
    receipt = env.net.w3.eth.get_transaction_receipt(HexBytes(record.tx_hash))
    assert receipt["status"] == 0  # it really was mined and reverted on chain
    assert env.agent.journal.records[record.tx_hash].status == "reverted"
    assert env.agent.journal.records[record.tx_hash].block_number == receipt["blockNumber"]
    after = env.state(tid)
    assert after.tx_counts["agent"] == before.tx_counts["agent"] + 1  # the nonce is spent ...
    assert after.balances == before.balances  # ... but no coin moved
    assert (after.total_locked, after.escrow_balance, after.locks) == (
        before.total_locked,
        before.escrow_balance,
        before.locks,
    )


def test_race_lost_on_chain_is_decoded_as_the_domain_error(env: Env) -> None:
    """Two releases of one lock sent back to back: the second passes nothing at estimate time
    (gas is explicit) and loses on chain; the replay names the reason, NotLocked."""
    tid = trade_id("race")
    env.lock(tid, 10 * COIN)
    sender = env.agent.sender

    first = sender.sign(env.release_call(tid, gas=EXPLICIT_GAS))
    second = sender.sign(env.release_call(tid, gas=EXPLICIT_GAS))
    sender.send(first)
    sender.send(second)
    sender.wait(first)
    with pytest.raises(errors.NotLocked):
        sender.wait(second)

    assert env.balance(env.payee) == BROKER_FUNDING + 10 * COIN  # paid exactly once
    assert env.balance(env.escrow_address) == env.chain.total_locked() == 0
    assert env.chain.get_lock(tid).status is LockStatus.RELEASED
    assert [env.agent.journal.records[r.tx_hash].status for r in (first, second)] == ["mined", "reverted"]


def test_deadline_passing_between_estimate_and_mining_is_decoded(env: Env) -> None:
    """The release was fine when sent, but the block that mined it is past the deadline.
    The replay has to run with that block's timestamp to reproduce DeadlinePassed."""
    tid = trade_id("deadline-race")
    deadline = env.deadline(ONE_HOUR)
    env.lock(tid, 10 * COIN, deadline=deadline)
    env.net.rpc("evm_setNextBlockTimestamp", deadline + 1)  # the next block is past the deadline
    sender = env.agent.sender

    record = sender.sign(env.release_call(tid, gas=EXPLICIT_GAS))
    sender.send(record)
    with pytest.raises(errors.DeadlinePassed) as caught:
        sender.wait(record)

    block = mined_block_of(env, record.tx_hash)
    assert env.net.w3.eth.get_block(block - 1)["timestamp"] <= deadline < env.net.w3.eth.get_block(block)["timestamp"]
    assert caught.value.context["revert"] == "DeadlinePassed"
    assert env.chain.get_lock(tid).status is LockStatus.LOCKED
    assert env.balance(env.payee) == BROKER_FUNDING
    assert env.balance(env.escrow_address) == env.chain.total_locked() == 10 * COIN


# ---------------------------------------------------------------------- crash recovery


def test_recover_broadcasts_a_signed_but_unsent_tx_once(env: Env) -> None:
    tid = trade_id("recover")
    env.approve(env.payer, 20 * COIN)
    journal = MemoryTxJournal()
    crashed = env.fresh_sender(env.agent, journal)
    order = env.order(tid, 20 * COIN, env.deadline())  # the payer's LockIntent
    record = crashed.sign(env.lock_call(order))  # the agent's tx: signed, journaled, never sent
    agent_nonce = env.net.w3.eth.get_transaction_count(env.agent.account.address)
    assert record.nonce == agent_nonce
    assert env.chain.get_lock(tid).status is LockStatus.NONE
    assert journal.records[record.tx_hash].status == "signed"

    restarted = env.fresh_sender(env.agent, journal)  # a new process on the same journal
    settled = restarted.recover()

    assert [(r.tx_hash, r.status) for r in settled] == [(record.tx_hash, "mined")]
    assert restarted.broadcasts == [record.tx_hash]  # the same bytes, sent once
    assert journal.records[record.tx_hash].status == "mined"
    assert journal.records[record.tx_hash].block_number == mined_block_of(env, record.tx_hash)
    assert env.net.w3.eth.get_transaction_count(env.agent.account.address) == agent_nonce + 1
    assert env.chain.get_lock(tid).status is LockStatus.LOCKED
    assert env.balance(env.escrow_address) == env.chain.total_locked() == 20 * COIN
    assert env.balance(env.payer) == BROKER_FUNDING - 20 * COIN

    assert restarted.recover() == []  # nothing left to settle
    assert restarted.broadcasts == [record.tx_hash]
    assert env.net.w3.eth.get_transaction_count(env.agent.account.address) == agent_nonce + 1
    assert env.balance(env.escrow_address) == 20 * COIN
    follow_up = restarted.transact(env.release_call(tid))  # and the next nonce is the right one
    assert follow_up["status"] == 1
    assert env.balance(env.payee) == BROKER_FUNDING + 20 * COIN


def test_recover_marks_a_sent_and_mined_tx_without_resending(env: Env) -> None:
    """Crash after the broadcast, before the receipt was recorded."""
    journal = MemoryTxJournal()
    crashed = env.fresh_sender(env.payer, journal)
    record = crashed.sign(env.approve_call(7 * COIN))
    crashed.send(record)
    assert journal.records[record.tx_hash].status == "sent"

    restarted = env.fresh_sender(env.payer, journal)
    settled = restarted.recover()

    assert [(r.tx_hash, r.status) for r in settled] == [(record.tx_hash, "mined")]
    assert restarted.broadcasts == []
    assert env.chain.allowance(env.payer.address) == 7 * COIN


def test_recover_marks_a_tx_whose_nonce_was_used_by_another_as_dropped(env: Env) -> None:
    journal = MemoryTxJournal()
    crashed = env.fresh_sender(env.payer, journal)
    stale = crashed.sign(env.approve_call(111))  # signed, never sent
    env.fresh_sender(env.payer).transact(env.approve_call(222))  # another process used the same nonce
    assert env.net.w3.eth.get_transaction_count(env.payer.account.address) == stale.nonce + 1

    restarted = env.fresh_sender(env.payer, journal)
    settled = restarted.recover()

    assert [(r.tx_hash, r.status) for r in settled] == [(stale.tx_hash, "dropped")]
    assert journal.records[stale.tx_hash].status == "dropped"
    assert restarted.broadcasts == []
    assert env.chain.allowance(env.payer.address) == 222  # the dropped approve never took effect
    assert env.net.w3.eth.get_transaction_count(env.payer.account.address) == stale.nonce + 1
    assert restarted.recover() == []


def test_recover_marks_a_rebroadcast_that_reverts(env: Env) -> None:
    journal = MemoryTxJournal()
    crashed = env.fresh_sender(env.agent, journal)
    record = crashed.sign(env.release_call(trade_id("gone"), gas=EXPLICIT_GAS))

    settled = env.fresh_sender(env.agent, journal).recover()

    assert [(r.tx_hash, r.status) for r in settled] == [(record.tx_hash, "reverted")]
    assert journal.records[record.tx_hash].status == "reverted"
    assert env.net.w3.eth.get_transaction_receipt(HexBytes(record.tx_hash))["status"] == 0


def test_recover_that_times_out_leaves_the_tx_unfinished(env: Env) -> None:
    """No receipt yet is not a revert: the record must stay open for the next recover."""
    journal = MemoryTxJournal()
    crashed = env.fresh_sender(env.payer, journal)
    record = crashed.sign(env.approve_call(333))
    restarted = env.fresh_sender(env.payer, journal, timeout_s=0.3)
    env.net.rpc("evm_setAutomine", False)
    try:
        with pytest.raises(errors.ChainUnavailable):
            restarted.recover()
        assert journal.records[record.tx_hash].status == "sent"
        assert env.chain.allowance(env.payer.address) == 0
    finally:
        env.net.rpc("evm_setAutomine", True)
    env.net.mine()

    settled = env.fresh_sender(env.payer, journal).recover()

    assert [(r.tx_hash, r.status) for r in settled] == [(record.tx_hash, "mined")]
    assert env.chain.allowance(env.payer.address) == 333


# ---------------------------------------------------------------------- the node already has it


def test_sending_the_same_bytes_twice_is_not_an_error(env: Env) -> None:
    """anvil answers a second copy of a pending tx with 'transaction already imported' and one of a
    mined tx with 'nonce too low': both mean the node has it, and the receipt decides."""
    sender = env.payer.sender
    record = sender.sign(env.approve_call(41))
    env.net.rpc("evm_setAutomine", False)
    try:
        sender.send(record)
        with pytest.raises(Exception, match="already imported"):  # what the node really answers
            env.net.w3.eth.send_raw_transaction(HexBytes(record.raw_tx))
        sender.send(record)  # ... and the sender takes it for what it is
    finally:
        env.net.rpc("evm_setAutomine", True)
    env.net.mine()
    with pytest.raises(Exception, match="nonce too low"):
        env.net.w3.eth.send_raw_transaction(HexBytes(record.raw_tx))
    sender.send(record)
    assert sender.wait(record)["status"] == 1
    assert env.chain.allowance(env.payer.address) == 41
    assert env.net.w3.eth.get_transaction_count(env.payer.account.address) == record.nonce + 1


# ---------------------------------------------------------------------- following the chain through reorgs


def _undo_last_block(env: Env, how: str, snapshot_id: str) -> None:
    if how == "evm_revert":
        env.net.revert(snapshot_id)
    else:
        env.net.rpc("anvil_rollback", 1)


@pytest.mark.parametrize("how", ["evm_revert", "anvil_rollback"])
def test_a_mined_tx_a_reorg_removed_is_sent_again_with_its_nonce(env: Env, how: str) -> None:
    """The review's stall: the journal said 'mined', the chain no longer had it, and the next nonce
    was one the chain never reaches. follow_chain() sends the same bytes again."""
    sender = env.payer.sender
    snapshot_id = env.net.snapshot()
    sender.transact(env.approve_call(5))
    (record,) = env.payer.journal.records.values()
    assert record.status == "mined"
    _undo_last_block(env, how, snapshot_id)
    assert env.net.w3.eth.get_transaction_count(env.payer.account.address) == record.nonce  # gone
    assert env.chain.allowance(env.payer.address) == 0

    resent = sender.follow_chain()

    assert [(r.tx_hash, r.status) for r in resent] == [(record.tx_hash, "mined")]  # same hash: same bytes
    assert sender.broadcasts == [record.tx_hash, record.tx_hash]
    assert env.payer.journal.records[record.tx_hash].status == "mined"
    assert env.chain.allowance(env.payer.address) == 5
    assert sender.follow_chain() == []  # level with the chain: nothing to do
    started = time.monotonic()
    follow_up = sender.transact(env.approve_call(6))  # the next nonce is one the chain reaches
    assert follow_up["status"] == 1 and time.monotonic() - started < 5
    assert env.chain.allowance(env.payer.address) == 6
    assert env.net.w3.eth.get_transaction_count(env.payer.account.address) == record.nonce + 2


def test_a_new_tx_behind_a_reorged_one_does_not_wait_out_its_timeout(env: Env) -> None:
    """Even without follow_chain(), waiting for the next tx sends the missing one before it again."""
    sender = env.fresh_sender(env.payer, timeout_s=10.0)
    snapshot_id = env.net.snapshot()
    lost = sender.sign(env.approve_call(7))
    sender.send(lost)
    sender.wait(lost)
    env.net.revert(snapshot_id)

    started = time.monotonic()
    receipt = sender.transact(env.approve_call(8))

    assert receipt["status"] == 1 and time.monotonic() - started < 5  # not the 10 s timeout
    assert env.net.w3.eth.get_transaction_receipt(HexBytes(lost.tx_hash))["status"] == 1  # the same tx, again
    assert env.chain.allowance(env.payer.address) == 8
    assert env.net.w3.eth.get_transaction_count(env.payer.account.address) == lost.nonce + 2


def test_a_nonce_only_a_dropped_tx_held_is_filled_with_a_no_op(env: Env) -> None:
    """Our tx at nonce N was dropped (another process used N), our next one went in at N + 1, then
    a reorg took both blocks. The dropped tx is never sent again (its purpose may have been re-sent
    since); a zero-value transfer to ourselves takes N so that N + 1 can be mined again."""
    journal = MemoryTxJournal()
    ours = env.fresh_sender(env.payer, journal)
    snapshot_id = env.net.snapshot()
    stale = ours.sign(env.approve_call(111, spender=env.stranger.address))  # never sent ...
    env.fresh_sender(env.payer).transact(env.approve_call(222, spender=env.payee.address))  # ... its nonce used
    ours.recover()
    assert journal.records[stale.tx_hash].status == "dropped"
    ours.transact(env.approve_call(333))
    (later,) = [r for r in journal.records.values() if r.nonce == stale.nonce + 1]
    env.net.revert(snapshot_id)  # both blocks gone
    assert env.net.w3.eth.get_transaction_count(env.payer.account.address) == stale.nonce

    resent = ours.follow_chain()

    assert [(r.purpose, r.nonce, r.status) for r in resent] == [
        (GAP_FILLER_PURPOSE, stale.nonce, "mined"),
        (later.purpose, later.nonce, "mined"),
    ]
    assert resent[1].tx_hash == later.tx_hash and stale.tx_hash not in ours.broadcasts
    assert env.chain.allowance(env.payer.address) == 333
    allowance = env.chain.token.functions.allowance
    assert allowance(env.payer.address, env.stranger.address).call() == 0  # the dropped approve never ran
    assert env.net.w3.eth.get_transaction_count(env.payer.account.address) == stale.nonce + 2
    assert env.net.w3.eth.get_transaction(HexBytes(resent[0].tx_hash))["value"] == 0
