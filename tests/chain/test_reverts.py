"""Every revert path of the escrow (and the token under it), one case per line.

Locks are created by the settlement agent only, each with the payer's EIP-712 LockIntent
signature (tests/chain/support.py signs with settlement.chain.lock_intents); the consent rows
below spoil either the caller or the signature. The regression tests for the review's attack
itself are in test_lock_consent.py.

Each case builds its own situation on the chain, then makes one call that must revert. The test
asserts three things: the exact domain error class from settlement.errors (decoded from the
custom error at gas estimation by TxSender/RevertDecoder), the Solidity error it came from, and
that nothing happened: no block mined, no transaction signed or sent, and every balance,
allowance, permit nonce, total and lock read back from the chain is what it was before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
from web3 import Web3

from settlement import errors
from settlement.chain.artifacts import load_artifact
from settlement.chain.client import LockStatus
from settlement.chain.contract_calls import LockOrder
from settlement.chain.reverts import RevertDecoder
from settlement.chain.sender import Call
from settlement.devnet.deploy import ISSUER_MINTER_ALLOWANCE
from tests.chain.support import BROKER_FUNDING, COIN, ONE_HOUR, ZERO_ADDRESS, Env, Party, trade_id

pytestmark = pytest.mark.chain

AMOUNT = 5 * COIN
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@dataclass(frozen=True)
class Attempt:
    """The one call expected to revert, who makes it, and which trade ids to watch."""

    by: Party
    call: Call
    watch: tuple[bytes, ...] = ()


Builder = Callable[[Env], Attempt]


# ---------------------------------------------------------------------- building blocks


def _locked(env: Env, label: str) -> bytes:
    tid = trade_id(label)
    env.lock(tid, AMOUNT)
    return tid


def _released(env: Env, label: str) -> bytes:
    tid = _locked(env, label)
    env.release(tid)
    return tid


def _refunded(env: Env, label: str) -> bytes:
    tid = _locked(env, label)
    env.refund(tid)
    return tid


def _expire(env: Env) -> None:
    env.net.increase_time(ONE_HOUR + 1)


def _relock(env: Env, tid: bytes, by: Party | None = None) -> Attempt:
    """Lock `tid` again with allowance and a fresh payer signature in place, so only the id (or
    the caller) can be the reason to refuse."""
    env.approve(env.payer, AMOUNT)
    return Attempt(by or env.agent, env.lock_call(env.order(tid, AMOUNT, env.deadline())), (tid,))


def _new_lock(
    env: Env,
    *,
    by: Party | None = None,
    approve: int | None = AMOUNT,
    amount: int = AMOUNT,
    deadline: int | None = None,
    payer: str | None = None,
    payee: str | None = None,
    signer: Party | None = None,
    domain: dict[str, Any] | None = None,
) -> Attempt:
    """A fresh lock of the payer's coins (approved for AMOUNT unless told otherwise), sent by the
    agent with the payer's signature of exactly these terms, one argument spoilt."""
    if approve:
        env.approve(env.payer, approve)
    tid = trade_id("new")
    at = env.deadline() if deadline is None else deadline
    order = env.order(tid, amount, at, payer, payee, signer=signer, domain=domain)
    return Attempt(by or env.agent, env.lock_call(order), (tid,))


def _other_terms(env: Env, change: Callable[[LockOrder], LockOrder]) -> Attempt:
    """The payer signed one set of terms; the agent submits other terms with that signature.
    Both payers have allowance to spare, so only the signature can be the reason to refuse."""
    env.approve(env.payer, 10 * AMOUNT)
    env.approve(env.other_payer, 10 * AMOUNT)
    signed = env.order(trade_id("signed"), AMOUNT, env.deadline())
    sent = change(signed)
    assert sent.signature == signed.signature
    return Attempt(env.agent, env.lock_call(sent), tuple(dict.fromkeys([signed.trade_id, sent.trade_id])))


def _mangled_signature(env: Env, mangle: Callable[[bytes], bytes]) -> Attempt:
    """The payer's own signature of the right terms, re-encoded or damaged."""
    env.approve(env.payer, AMOUNT)
    order = env.order(trade_id("mangled"), AMOUNT, env.deadline())
    return Attempt(env.agent, env.lock_call(replace(order, signature=mangle(order.signature))), (order.trade_id,))


def _compact(signature: bytes) -> bytes:
    """ERC-2098 64-byte form r || (yParity << 255 | s): the escrow accepts only 65 bytes."""
    s_with_parity = int.from_bytes(signature[32:64], "big") | ((signature[64] - 27) << 255)
    return signature[:32] + s_with_parity.to_bytes(32, "big")


def _high_s(signature: bytes) -> bytes:
    """The malleable twin (r, n - s, flipped v): valid for raw ecrecover, refused by OZ's ECDSA."""
    s = int.from_bytes(signature[32:64], "big")
    return signature[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - signature[64]])


def _escrow(env: Env, by: Party, fn: str, *args: object, watch: tuple[bytes, ...] = ()) -> Attempt:
    return Attempt(by, env.escrow_call(fn, list(args)), watch)


def _token(env: Env, by: Party, fn: str, *args: object) -> Attempt:
    return Attempt(by, env.token_call(fn, list(args)))


def _lock_batch(env: Env, by: Party, orders: list[LockOrder], signatures: list[bytes] | None = None) -> Attempt:
    return Attempt(by, env.lock_batch_call(orders, signatures), tuple(o.trade_id for o in orders))


def _permit_lock(
    env: Env,
    *,
    by: Party | None = None,
    value: int = AMOUNT,
    deadline: int | None = None,
    nonce: int | None = None,
    signer: Party | None = None,
    spender: str | None = None,
    intent_signer: Party | None = None,
) -> Attempt:
    """The agent locks AMOUNT with a permit and a LockIntent from the payer, spoilt by one argument."""
    permit = env.sign_permit(env.payer, value, deadline=deadline, nonce=nonce, signer=signer, spender=spender)
    order = env.order(trade_id("permit-lock"), AMOUNT, env.deadline(), signer=intent_signer)
    return Attempt(by or env.agent, env.lock_with_permit_call(order, permit), (order.trade_id,))


def _direct_permit(env: Env, *, deadline: int | None = None, signer: Party | None = None) -> Attempt:
    """Anyone submits the payer's permit straight to the token."""
    permit = env.sign_permit(env.payer, AMOUNT, deadline=deadline, signer=signer)
    args = [env.payer.address, env.escrow_address, permit.value, permit.deadline, permit.v, permit.r, permit.s]
    return Attempt(env.stranger, env.token_call("permit", args))


def _role(env: Env, name: str) -> bytes:
    return bytes(env.chain.escrow.get_function_by_name(name)().call())


# ---------------------------------------------------------------------- builders that need several steps


def relock_after_release_by_payer(env: Env) -> Attempt:
    return _relock(env, _released(env, "payer-relock"), by=env.payer)


def replay_signature_after_release(env: Env) -> Attempt:
    """The payer's signature is bound to its trade id, and an id locks once, ever."""
    env.approve(env.payer, 2 * AMOUNT)
    order = env.order(trade_id("replay"), AMOUNT, env.deadline())
    env.agent.sender.transact(env.lock_call(order))
    env.release(order.trade_id)
    return Attempt(env.agent, env.lock_call(order), (order.trade_id,))


def duplicate_id_in_batch(env: Env) -> Attempt:
    env.approve(env.payer, 2 * AMOUNT)
    order = env.order(trade_id("twice"), AMOUNT, env.deadline())
    return _lock_batch(env, env.agent, [order, order])


def outsider_squats_trade_id(env: Env) -> Attempt:
    """A funded outsider locks 1 unit of its own coins, self-signed, under a trade's id."""
    env.approve(env.other_payer, 1)
    order = env.order(trade_id("squatted"), 1, env.deadline(), payer=env.other_payer)
    return Attempt(env.other_payer, env.lock_call(order), (order.trade_id,))


def stranger_lock_batch(env: Env) -> Attempt:
    env.approve(env.payer, 2 * AMOUNT)
    return _lock_batch(env, env.stranger, env.orders("stranger-batch", 2, AMOUNT))


def lock_batch_with_one_forged_signature(env: Env) -> Attempt:
    env.approve(env.payer, 3 * AMOUNT)
    orders = env.orders("forged-batch", 3, AMOUNT)
    orders[1] = replace(orders[1], signature=env.sign_intent(orders[1], env.agent))
    return _lock_batch(env, env.agent, orders)


def lock_batch_with_length_mismatch(env: Env, signatures: int) -> Attempt:
    env.approve(env.payer, 2 * AMOUNT)
    orders = env.orders("mismatch", 2, AMOUNT)
    spare = env.order(trade_id("mismatch-spare"), AMOUNT, orders[0].deadline)
    return _lock_batch(env, env.agent, orders, [o.signature for o in [*orders, spare]][:signatures])


def release_batch_with_one_unknown(env: Env) -> Attempt:
    ids = [_locked(env, "rb-0"), trade_id("rb-unknown"), _locked(env, "rb-1")]
    return _escrow(env, env.agent, "releaseBatch", ids, watch=tuple(ids))


def refund_batch_with_one_released(env: Env) -> Attempt:
    ids = [_locked(env, "fb-0"), _released(env, "fb-1")]
    return _escrow(env, env.agent, "refundBatch", ids, watch=tuple(ids))


def stranger_refunds_before_deadline(env: Env) -> Attempt:
    tid = _locked(env, "early")
    return Attempt(env.stranger, env.refund_call(tid), (tid,))


def payer_refunds_own_lock_before_deadline(env: Env) -> Attempt:
    tid = _locked(env, "early-payer")
    return Attempt(env.payer, env.refund_call(tid), (tid,))


def stranger_refund_batch_before_deadline(env: Env) -> Attempt:
    ids = [_locked(env, "early-b0"), _locked(env, "early-b1")]
    return _escrow(env, env.stranger, "refundBatch", ids, watch=tuple(ids))


def release_after_deadline(env: Env) -> Attempt:
    tid = _locked(env, "late")
    _expire(env)
    return Attempt(env.agent, env.release_call(tid), (tid,))


def release_batch_after_deadline(env: Env) -> Attempt:
    ids = [_locked(env, "late-b0"), _locked(env, "late-b1")]
    _expire(env)
    return _escrow(env, env.agent, "releaseBatch", ids, watch=tuple(ids))


def lock_batch_with_one_zero_amount(env: Env) -> Attempt:
    env.approve(env.payer, 3 * AMOUNT)
    orders = env.orders("zb", 3, AMOUNT)
    orders[1] = env.order(orders[1].trade_id, 0, orders[1].deadline)  # signed for 0 by the payer
    return _lock_batch(env, env.agent, orders)


def stranger_releases(env: Env) -> Attempt:
    tid = _locked(env, "stranger-release")
    return Attempt(env.stranger, env.release_call(tid), (tid,))


def payer_releases_own_lock(env: Env) -> Attempt:
    tid = _locked(env, "payer-release")
    return Attempt(env.payer, env.release_call(tid), (tid,))


def payee_releases_to_itself(env: Env) -> Attempt:
    tid = _locked(env, "payee-release")
    return Attempt(env.payee, env.release_call(tid), (tid,))


def stranger_release_batch(env: Env) -> Attempt:
    ids = [_locked(env, "srb-0")]
    return _escrow(env, env.stranger, "releaseBatch", ids, watch=tuple(ids))


def agent_rescues_locked_coins(env: Env) -> Attempt:
    tid = _locked(env, "agent-rescue")
    return _escrow(env, env.agent, "rescueERC20", env.token_address, env.agent.address, AMOUNT, watch=(tid,))


def agent_schedules_recovery(env: Env) -> Attempt:
    tid = _locked(env, "agent-recovery")
    return _escrow(env, env.agent, "scheduleRecovery", tid, env.agent.address, watch=(tid,))


def agent_grants_itself_admin(env: Env) -> Attempt:
    return _escrow(env, env.agent, "grantRole", _role(env, "DEFAULT_ADMIN_ROLE"), env.agent.address)


def stranger_grants_itself_agent(env: Env) -> Attempt:
    return _escrow(env, env.stranger, "grantRole", _role(env, "SETTLEMENT_AGENT_ROLE"), env.stranger.address)


def minter(env: Env, allowance: int) -> Party:
    """The agent made a minter with `allowance` by the masterMinter (the devnet issuer)."""
    env.admin_call("token", "configureMinter", [env.agent.address, allowance])
    return env.agent


def minter_issues_past_its_allowance(env: Env) -> Attempt:
    return _token(env, minter(env, AMOUNT), "issue", env.payee.address, AMOUNT + 1)


def minter_issues_after_using_its_allowance_up(env: Env) -> Attempt:
    by = minter(env, AMOUNT)
    by.sender.transact(env.token_call("issue", [env.payee.address, AMOUNT]))
    return _token(env, by, "issue", env.payee.address, 1)


def issuer_issues_past_its_devnet_allowance(env: Env) -> Attempt:
    allowance = int(env.chain.token.functions.minterAllowance(env.admin.account.address).call())
    assert allowance == ISSUER_MINTER_ALLOWANCE - env.chain.total_supply()  # the brokers' funding used some
    return _token(env, env.admin, "issue", env.payee.address, allowance + 1)


def removed_minter_issues(env: Env) -> Attempt:
    by = minter(env, AMOUNT)
    env.admin_call("token", "removeMinter", [by.address])
    return _token(env, by, "issue", env.payee.address, 1)


def lock_beyond_balance(env: Env) -> Attempt:
    return _new_lock(env, amount=BROKER_FUNDING + 1, approve=BROKER_FUNDING + 1)


def escrow_paused(env: Env) -> None:
    env.admin_call("escrow", "pause")
    assert env.chain.escrow_paused()


def token_paused(env: Env) -> None:
    env.admin_call("token", "pause")
    assert env.chain.token_paused()


def lock_while_escrow_paused(env: Env) -> Attempt:
    attempt = _new_lock(env)
    escrow_paused(env)
    return attempt


def release_while_escrow_paused(env: Env) -> Attempt:
    tid = _locked(env, "paused-release")
    escrow_paused(env)
    return Attempt(env.agent, env.release_call(tid), (tid,))


def expired_refund_while_escrow_paused(env: Env) -> Attempt:
    """Past the deadline but within REFUND_GRACE_PERIOD: the pause still holds the coins."""
    tid = _locked(env, "paused-refund")
    _expire(env)
    escrow_paused(env)
    return Attempt(env.stranger, env.refund_call(tid), (tid,))


def permit_lock_while_escrow_paused(env: Env) -> Attempt:
    escrow_paused(env)
    return _permit_lock(env)


def lock_batch_while_escrow_paused(env: Env) -> Attempt:
    env.approve(env.payer, 2 * AMOUNT)
    orders = env.orders("pb", 2, AMOUNT)
    escrow_paused(env)
    return _lock_batch(env, env.agent, orders)


def lock_while_token_paused(env: Env) -> Attempt:
    attempt = _new_lock(env)
    token_paused(env)
    return attempt


def release_while_token_paused(env: Env) -> Attempt:
    tid = _locked(env, "token-paused-release")
    token_paused(env)
    return Attempt(env.agent, env.release_call(tid), (tid,))


def refund_while_token_paused(env: Env) -> Attempt:
    tid = _locked(env, "token-paused-refund")
    token_paused(env)
    return Attempt(env.agent, env.refund_call(tid), (tid,))


def blacklist(env: Env, party: Party) -> None:
    env.admin_call("token", "addBlackList", [party.address])
    assert env.chain.is_blacklisted(party.address)


def lock_from_blacklisted_payer(env: Env) -> Attempt:
    attempt = _new_lock(env)
    blacklist(env, env.payer)
    return attempt


def release_to_payee_blacklisted_before_lock(env: Env) -> Attempt:
    blacklist(env, env.payee)
    tid = _locked(env, "bl-payee-early")  # the escrow does not check the payee at lock time
    return Attempt(env.agent, env.release_call(tid), (tid,))


def release_to_payee_blacklisted_after_lock(env: Env) -> Attempt:
    tid = _locked(env, "bl-payee-late")
    blacklist(env, env.payee)
    return Attempt(env.agent, env.release_call(tid), (tid,))


def refund_to_payer_blacklisted_after_lock(env: Env) -> Attempt:
    tid = _locked(env, "bl-payer-late")
    blacklist(env, env.payer)
    return Attempt(env.agent, env.refund_call(tid), (tid,))


def permit_already_used(env: Env) -> Attempt:
    permit = env.sign_permit(env.payer, AMOUNT)
    first = env.order(trade_id("permit-first"), AMOUNT, env.deadline())
    env.agent.sender.transact(env.lock_with_permit_call(first, permit))
    second = env.order(trade_id("permit-replay"), AMOUNT, env.deadline())
    return Attempt(env.agent, env.lock_with_permit_call(second, permit), (first.trade_id, second.trade_id))


BATCH_OVER_MAX = 201  # the escrow's MAX_BATCH + 1


def too_large(env: Env, fn: str) -> Attempt:
    if fn == "lockBatch":
        return _lock_batch(env, env.agent, env.orders("big", BATCH_OVER_MAX, AMOUNT))
    return _escrow(env, env.agent, fn, [trade_id(f"big-{i}") for i in range(BATCH_OVER_MAX)])


# ---------------------------------------------------------------------- the table

Case = tuple[str, Builder, type[errors.SettlementError], str]
NotAuth, BadIntent = errors.NotAuthorized, errors.InvalidLockAuthorization

# fmt: off
REVERT_CASES: list[Case] = [
    ("relock an open lock", lambda e: _relock(e, _locked(e, "dup")), errors.AlreadyLocked, "AlreadyLocked"),
    ("relock after release (no replay)", lambda e: _relock(e, _released(e, "r")), errors.AlreadyLocked, "AlreadyLocked"),
    ("relock after refund (no replay)", lambda e: _relock(e, _refunded(e, "f")), errors.AlreadyLocked, "AlreadyLocked"),
    ("replay the payer's signature after release", replay_signature_after_release, errors.AlreadyLocked, "AlreadyLocked"),
    ("payer relocks own id after release", relock_after_release_by_payer, NotAuth, "NotAuthorized"),
    ("same id twice in one batch", duplicate_id_in_batch, errors.AlreadyLocked, "AlreadyLocked"),
    ("release unknown id", lambda e: Attempt(e.agent, e.release_call(trade_id("nope"))), errors.NotLocked, "NotLocked"),
    ("refund unknown id", lambda e: Attempt(e.agent, e.refund_call(trade_id("nope"))), errors.NotLocked, "NotLocked"),
    ("stranger refunds unknown id", lambda e: Attempt(e.stranger, e.refund_call(trade_id("x"))), errors.NotLocked, "NotLocked"),
    ("double release", lambda e: Attempt(e.agent, e.release_call(_released(e, "rr"))), errors.NotLocked, "NotLocked"),
    ("release after refund", lambda e: Attempt(e.agent, e.release_call(_refunded(e, "fr"))), errors.NotLocked, "NotLocked"),
    ("refund after release", lambda e: Attempt(e.agent, e.refund_call(_released(e, "rf"))), errors.NotLocked, "NotLocked"),
    ("double refund", lambda e: Attempt(e.agent, e.refund_call(_refunded(e, "ff"))), errors.NotLocked, "NotLocked"),
    ("release batch with an unknown id", release_batch_with_one_unknown, errors.NotLocked, "NotLocked"),
    ("refund batch with a released id", refund_batch_with_one_released, errors.NotLocked, "NotLocked"),
    ("stranger refunds before deadline", stranger_refunds_before_deadline, errors.DeadlineNotReached, "DeadlineNotReached"),
    ("payer refunds before deadline", payer_refunds_own_lock_before_deadline, errors.DeadlineNotReached, "DeadlineNotReached"),
    ("stranger refund batch early", stranger_refund_batch_before_deadline, errors.DeadlineNotReached, "DeadlineNotReached"),
    ("release after deadline", release_after_deadline, errors.DeadlinePassed, "DeadlinePassed"),
    ("release batch after deadline", release_batch_after_deadline, errors.DeadlinePassed, "DeadlinePassed"),
    ("deadline = latest block time", lambda e: _new_lock(e, deadline=e.now()), errors.TransactionFailed, "InvalidDeadline"),
    ("deadline in the past", lambda e: _new_lock(e, deadline=e.now() - ONE_HOUR), errors.TransactionFailed, "InvalidDeadline"),
    ("deadline zero", lambda e: _new_lock(e, deadline=0), errors.TransactionFailed, "InvalidDeadline"),
    ("zero amount", lambda e: _new_lock(e, amount=0), errors.TransactionFailed, "ZeroAmount"),
    ("zero amount inside a batch", lock_batch_with_one_zero_amount, errors.TransactionFailed, "ZeroAmount"),
    ("payee is the zero address", lambda e: _new_lock(e, payee=ZERO_ADDRESS), errors.TransactionFailed, "InvalidParty"),
    ("payee is the payer", lambda e: _new_lock(e, payee=e.payer.address), errors.TransactionFailed, "InvalidParty"),
    ("payee is the escrow", lambda e: _new_lock(e, payee=e.escrow_address), errors.TransactionFailed, "InvalidParty"),
    ("payer is the zero address", lambda e: _new_lock(e, payer=ZERO_ADDRESS, signer=e.payer), errors.TransactionFailed, "InvalidParty"),
    # Consent: only the agent creates locks ...
    ("stranger locks for a payer", lambda e: _new_lock(e, by=e.stranger), NotAuth, "NotAuthorized"),
    ("another broker locks for a payer", lambda e: _new_lock(e, by=e.other_payer), NotAuth, "NotAuthorized"),
    ("payer locks its own coins", lambda e: _new_lock(e, by=e.payer), NotAuth, "NotAuthorized"),
    ("payer locks own coins unapproved", lambda e: _new_lock(e, by=e.payer, approve=None), NotAuth, "NotAuthorized"),
    ("payee locks the payer's coins", lambda e: _new_lock(e, by=e.payee), NotAuth, "NotAuthorized"),
    ("escrow admin locks (no agent role)", lambda e: _new_lock(e, by=e.admin), NotAuth, "NotAuthorized"),
    ("outsider squats a trade id with 1 unit", outsider_squats_trade_id, NotAuth, "NotAuthorized"),
    ("stranger lock batch", stranger_lock_batch, NotAuth, "NotAuthorized"),
    ("stranger permit lock", lambda e: _permit_lock(e, by=e.stranger), NotAuth, "NotAuthorized"),
    # ... and only with the payer's signature of exactly these terms, for this escrow and chain.
    ("intent signed by the agent", lambda e: _new_lock(e, signer=e.agent), BadIntent, "InvalidLockSignature"),
    ("intent signed by the payee", lambda e: _new_lock(e, signer=e.payee), BadIntent, "InvalidLockSignature"),
    ("intent signed by the escrow admin", lambda e: _new_lock(e, signer=e.admin), BadIntent, "InvalidLockSignature"),
    ("intent signed for a larger amount", lambda e: _other_terms(e, lambda o: replace(o, amount_base_units=o.amount_base_units + 1)), BadIntent, "InvalidLockSignature"),
    ("intent signed for a smaller amount", lambda e: _other_terms(e, lambda o: replace(o, amount_base_units=o.amount_base_units - 1)), BadIntent, "InvalidLockSignature"),
    ("intent signed for another payee", lambda e: _other_terms(e, lambda o: replace(o, payee=e.stranger.address)), BadIntent, "InvalidLockSignature"),
    ("intent signed for another trade id", lambda e: _other_terms(e, lambda o: replace(o, trade_id=trade_id("other"))), BadIntent, "InvalidLockSignature"),
    ("intent signed for another deadline", lambda e: _other_terms(e, lambda o: replace(o, deadline=o.deadline + 1)), BadIntent, "InvalidLockSignature"),
    ("intent signed by payer A used for payer B", lambda e: _other_terms(e, lambda o: replace(o, payer=e.other_payer.address)), BadIntent, "InvalidLockSignature"),
    ("intent signed for another escrow", lambda e: _new_lock(e, domain={"verifyingContract": e.token_address}), BadIntent, "InvalidLockSignature"),
    ("intent signed for another chain", lambda e: _new_lock(e, domain={"chainId": 1}), BadIntent, "InvalidLockSignature"),
    ("intent signed for another domain version", lambda e: _new_lock(e, domain={"version": "2"}), BadIntent, "InvalidLockSignature"),
    ("intent with no signature", lambda e: _mangled_signature(e, lambda s: b""), BadIntent, "InvalidLockSignature"),
    ("intent in 64-byte ERC-2098 form", lambda e: _mangled_signature(e, _compact), BadIntent, "InvalidLockSignature"),
    ("intent with high-s (malleated) signature", lambda e: _mangled_signature(e, _high_s), BadIntent, "InvalidLockSignature"),
    ("intent with the recovery id flipped", lambda e: _mangled_signature(e, lambda s: s[:64] + bytes([55 - s[64]])), BadIntent, "InvalidLockSignature"),
    ("intent with v as 0/1, not 27/28", lambda e: _mangled_signature(e, lambda s: s[:64] + bytes([s[64] - 27])), BadIntent, "InvalidLockSignature"),
    ("intent with a trailing byte", lambda e: _mangled_signature(e, lambda s: s + b"\x00"), BadIntent, "InvalidLockSignature"),
    ("lock batch with one forged intent", lock_batch_with_one_forged_signature, BadIntent, "InvalidLockSignature"),
    ("permit lock with a forged intent", lambda e: _permit_lock(e, intent_signer=e.agent), BadIntent, "InvalidLockSignature"),
    ("lock batch, fewer signatures than orders", lambda e: lock_batch_with_length_mismatch(e, 1), errors.TransactionFailed, "BatchLengthMismatch"),
    ("lock batch, more signatures than orders", lambda e: lock_batch_with_length_mismatch(e, 3), errors.TransactionFailed, "BatchLengthMismatch"),
    ("lock batch, no signatures", lambda e: lock_batch_with_length_mismatch(e, 0), errors.TransactionFailed, "BatchLengthMismatch"),
    ("stranger releases", stranger_releases, NotAuth, "AccessControlUnauthorizedAccount"),
    ("payer releases its own lock", payer_releases_own_lock, NotAuth, "AccessControlUnauthorizedAccount"),
    ("payee releases to itself", payee_releases_to_itself, NotAuth, "AccessControlUnauthorizedAccount"),
    ("stranger release batch", stranger_release_batch, NotAuth, "AccessControlUnauthorizedAccount"),
    ("agent pauses escrow (no pauser role)", lambda e: _escrow(e, e.agent, "pause"), NotAuth, "AccessControlUnauthorizedAccount"),
    ("agent rescues locked coins (no rescuer role)", agent_rescues_locked_coins, NotAuth, "AccessControlUnauthorizedAccount"),
    ("agent schedules a recovery (no recovery role)", agent_schedules_recovery, NotAuth, "AccessControlUnauthorizedAccount"),
    ("agent grants itself the admin role", agent_grants_itself_admin, NotAuth, "AccessControlUnauthorizedAccount"),
    ("stranger grants itself the agent role", stranger_grants_itself_agent, NotAuth, "AccessControlUnauthorizedAccount"),
    # Token roles: each power has its own key.
    ("stranger pauses token", lambda e: _token(e, e.stranger, "pause"), NotAuth, "NotPauser"),
    ("agent issues coins", lambda e: _token(e, e.agent, "issue", e.agent.address, 1), NotAuth, "NotMinter"),
    ("removed minter issues", removed_minter_issues, NotAuth, "NotMinter"),
    ("stranger redeems", lambda e: _token(e, e.stranger, "redeem", 1), NotAuth, "NotMinter"),
    ("minter issues past its allowance", minter_issues_past_its_allowance, NotAuth, "MinterAllowanceExceeded"),
    ("minter issues after using its allowance up", minter_issues_after_using_its_allowance_up, NotAuth, "MinterAllowanceExceeded"),
    ("issuer issues past its devnet allowance", issuer_issues_past_its_devnet_allowance, NotAuth, "MinterAllowanceExceeded"),
    ("stranger configures itself a minter", lambda e: _token(e, e.stranger, "configureMinter", e.stranger.address, AMOUNT), NotAuth, "NotMasterMinter"),
    ("agent blacklists the payer", lambda e: _token(e, e.agent, "addBlackList", e.payer.address), NotAuth, "NotBlacklister"),
    ("stranger rescues from the token", lambda e: _token(e, e.stranger, "rescueERC20", e.token_address, e.stranger.address, 0), NotAuth, "NotRescuer"),
    ("stranger appoints itself pauser", lambda e: _token(e, e.stranger, "updatePauser", e.stranger.address), NotAuth, "OwnableUnauthorizedAccount"),
    ("stranger renounces token ownership", lambda e: _token(e, e.stranger, "renounceOwnership"), NotAuth, "OwnableUnauthorizedAccount"),
    ("no allowance", lambda e: _new_lock(e, approve=None), errors.InsufficientAllowance, "ERC20InsufficientAllowance"),
    ("allowance one unit short", lambda e: _new_lock(e, approve=AMOUNT - 1), errors.InsufficientAllowance, "ERC20InsufficientAllowance"),
    ("balance one unit short", lock_beyond_balance, errors.InsufficientFunds, "ERC20InsufficientBalance"),
    ("lock while escrow paused", lock_while_escrow_paused, errors.Paused, "EnforcedPause"),
    ("release while escrow paused", release_while_escrow_paused, errors.Paused, "EnforcedPause"),
    ("expired refund while escrow paused", expired_refund_while_escrow_paused, errors.Paused, "EnforcedPause"),
    ("permit lock while escrow paused", permit_lock_while_escrow_paused, errors.Paused, "EnforcedPause"),
    ("lock batch while escrow paused", lock_batch_while_escrow_paused, errors.Paused, "EnforcedPause"),
    ("lock while token paused", lock_while_token_paused, errors.Paused, "EnforcedPause"),
    ("release while token paused", release_while_token_paused, errors.Paused, "EnforcedPause"),
    ("refund while token paused", refund_while_token_paused, errors.Paused, "EnforcedPause"),
    ("lock from blacklisted payer", lock_from_blacklisted_payer, errors.Blacklisted, "Blacklisted"),
    ("release to payee blacklisted before lock", release_to_payee_blacklisted_before_lock, errors.Blacklisted, "Blacklisted"),
    ("release to payee blacklisted after lock", release_to_payee_blacklisted_after_lock, errors.Blacklisted, "Blacklisted"),
    ("refund to payer blacklisted after lock", refund_to_payer_blacklisted_after_lock, errors.Blacklisted, "Blacklisted"),
    ("permit signed by someone else", lambda e: _permit_lock(e, signer=e.stranger), errors.InsufficientAllowance, "ERC20InsufficientAllowance"),
    ("permit expired", lambda e: _permit_lock(e, deadline=e.now() - 1), errors.InsufficientAllowance, "ERC20InsufficientAllowance"),
    ("permit value below amount", lambda e: _permit_lock(e, value=AMOUNT - 1), errors.InsufficientAllowance, "ERC20InsufficientAllowance"),
    ("permit with a future nonce", lambda e: _permit_lock(e, nonce=1), errors.InsufficientAllowance, "ERC20InsufficientAllowance"),
    ("permit for another spender", lambda e: _permit_lock(e, spender=e.stranger.address), errors.InsufficientAllowance, "ERC20InsufficientAllowance"),
    ("permit already used", permit_already_used, errors.InsufficientAllowance, "ERC20InsufficientAllowance"),
    ("direct permit, wrong signer", lambda e: _direct_permit(e, signer=e.stranger), errors.InvalidPermit, "ERC2612InvalidSigner"),
    ("direct permit, expired", lambda e: _direct_permit(e, deadline=e.now() - 1), errors.InvalidPermit, "ERC2612ExpiredSignature"),
    ("empty lock batch", lambda e: _lock_batch(e, e.agent, []), errors.TransactionFailed, "EmptyBatch"),
    ("empty release batch", lambda e: _escrow(e, e.agent, "releaseBatch", []), errors.TransactionFailed, "EmptyBatch"),
    ("empty refund batch", lambda e: _escrow(e, e.stranger, "refundBatch", []), errors.TransactionFailed, "EmptyBatch"),
    ("lock batch of 201", lambda e: too_large(e, "lockBatch"), errors.TransactionFailed, "BatchTooLarge"),
    ("release batch of 201", lambda e: too_large(e, "releaseBatch"), errors.TransactionFailed, "BatchTooLarge"),
    ("refund batch of 201", lambda e: too_large(e, "refundBatch"), errors.TransactionFailed, "BatchTooLarge"),
]
# fmt: on


@pytest.mark.parametrize(("name", "build", "expected", "revert"), REVERT_CASES, ids=[c[0] for c in REVERT_CASES])
def test_revert_is_decoded_and_changes_nothing(
    env: Env, name: str, build: Builder, expected: type[errors.SettlementError], revert: str
) -> None:
    attempt = build(env)
    before = env.state(*attempt.watch)
    block_before = env.chain.block_number()
    journal_before = dict(attempt.by.journal.records)
    broadcasts_before = list(attempt.by.sender.broadcasts)

    with pytest.raises(errors.SettlementError) as caught:
        attempt.by.sender.transact(attempt.call)

    assert type(caught.value) is expected, f"{name}: got {type(caught.value).__name__}: {caught.value}"
    assert caught.value.context.get("revert") == revert
    assert str(caught.value).startswith(f"{revert}(")  # the Solidity error name is in the message
    # Nothing must have happened: refused at estimation, so nothing signed, sent or mined ...
    assert attempt.by.journal.records == journal_before
    assert attempt.by.sender.broadcasts == broadcasts_before
    assert env.chain.block_number() == block_before
    # ... and every balance, allowance, nonce, total and watched lock reads back the same.
    assert env.state(*attempt.watch) == before


def test_every_escrow_and_token_error_is_covered_by_the_table() -> None:
    """A new custom error in the contracts must get a row here (TransferShortfall has its own test)."""
    covered = {case[3] for case in REVERT_CASES} | {"TransferShortfall"}
    declared = {
        item["name"]
        for contract in ("SettlementEscrow", "SettlementToken")
        for item in load_artifact(contract).abi
        if item["type"] == "error"
    }
    # Errors no lock/release/refund/permit, and no unprivileged caller, can reach, with the reason.
    # The admin-only ones are covered by the forge tests (SettlementEscrow.exits.t.sol for
    # recovery and rescue, SettlementToken.t.sol for the token's roles).
    unreachable = {
        "NotBlacklisted",  # destroyBlackFunds of a clean account: a blacklister call
        "AccessControlBadConfirmation",  # renounceRole for someone else: admin call
        "OwnableInvalidOwner",  # ownership transfer to zero: owner call
        "ExpectedPause",  # unpause when not paused: pauser call
        "ReentrancyGuardReentrantCall",  # needs a malicious token; covered by forge tests
        "SafeERC20FailedOperation",  # token returning false, or a failed rescue; forge tests
        "ERC20InvalidApprover",
        "ERC20InvalidReceiver",
        "ERC20InvalidSender",
        "ERC20InvalidSpender",
        "ECDSAInvalidSignature",  # caught inside permit's try/catch, then surfaces as allowance
        "ECDSAInvalidSignatureLength",
        "ECDSAInvalidSignatureS",
        "InvalidAccountNonce",
        "StringTooLong",  # constructors only (ERC20Permit's and the escrow's EIP-712 names)
        "InvalidShortString",
        # Escrow recovery: scheduleRecovery/executeRecovery/cancelRecovery are RECOVERY_ROLE only
        # (anyone else: AccessControlUnauthorizedAccount, which has rows).
        "PartiesNotBlacklisted",  # recovery of a lock whose payer or payee is not frozen
        "RecoveryAlreadyScheduled",  # scheduling a recovery twice
        "RecoveryNotScheduled",  # executing or cancelling a recovery never scheduled
        "RecoveryNotReady",  # executing before RECOVERY_DELAY has passed
        "RescueExceedsSurplus",  # escrow rescueERC20 of locked coins: RESCUER_ROLE only
        # Token administration: the owner's role updates, the masterMinter's configureMinter and
        # the rescuer's rescue refuse address(0); only the owner reaches renounceOwnership's body.
        "ZeroAddress",
        "OwnershipCannotBeRenounced",  # anyone else gets OwnableUnauthorizedAccount (has a row)
    }
    assert unreachable <= declared, f"stale unreachable entries: {sorted(unreachable - declared)}"
    assert not unreachable & covered, f"covered, so not unreachable: {sorted(unreachable & covered)}"
    assert declared - unreachable <= covered, f"no revert case for {sorted(declared - unreachable - covered)}"


def test_fee_on_transfer_token_is_rejected_with_transfer_shortfall(env: Env) -> None:
    """A token that delivers less than `amount` (a fee on transfer) cannot be locked at all."""
    fee_token_artifact = load_artifact("FeeOnTransferToken")
    escrow_artifact = load_artifact("SettlementEscrow")
    w3 = env.net.w3
    factory = w3.eth.contract(abi=fee_token_artifact.abi, bytecode=fee_token_artifact.bytecode)
    receipt = env.admin.sender.transact(Call(None, factory.constructor(100).data_in_transaction, "deploy FOT"))
    fee_token = w3.eth.contract(address=receipt["contractAddress"], abi=fee_token_artifact.abi)
    factory = w3.eth.contract(abi=escrow_artifact.abi, bytecode=escrow_artifact.bytecode)
    data = factory.constructor(fee_token.address, env.admin.address, env.agent.address).data_in_transaction
    receipt = env.admin.sender.transact(Call(None, data, "deploy escrow on FOT"))
    escrow = w3.eth.contract(address=receipt["contractAddress"], abi=escrow_artifact.abi)
    env.admin.sender.transact(Call(fee_token.address, fee_token.encode_abi("mint", [env.payer.address, AMOUNT]), "m"))
    env.payer.sender.transact(Call(fee_token.address, fee_token.encode_abi("approve", [escrow.address, AMOUNT]), "a"))
    sender = env.fresh_sender(env.agent)
    sender.decoder = RevertDecoder(fee_token_artifact.abi, escrow_artifact.abi)
    tid = trade_id("fee")
    # The payer's LockIntent for this escrow: it is the EIP-712 verifying contract.
    order = env.order(tid, AMOUNT, env.deadline(), domain={"verifyingContract": escrow.address})
    assert bytes(escrow.functions.hashLockIntent(order.as_tuple()).call()) != bytes(
        env.chain.escrow.functions.hashLockIntent(order.as_tuple()).call()
    )
    lock = escrow.encode_abi("lock", [order.as_tuple(), order.signature])

    def balances() -> tuple[int, ...]:
        holders = [env.payer.address, escrow.address, env.payee.address]
        return (*(int(fee_token.functions.balanceOf(Web3.to_checksum_address(h)).call()) for h in holders),)

    before = balances()
    with pytest.raises(errors.TransferShortfall) as caught:
        sender.transact(Call(escrow.address, lock, "lock on FOT"))

    assert caught.value.context == {"revert": "TransferShortfall", "args": [str(AMOUNT), str(AMOUNT * 99 // 100)]}
    assert balances() == before == (AMOUNT, 0, 0)
    assert int(escrow.functions.totalLocked().call()) == 0
    assert int(escrow.functions.statusOf(tid).call()) == env.chain.lock_statuses.index(LockStatus.NONE)
