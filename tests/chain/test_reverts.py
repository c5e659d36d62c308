"""Every revert path of the escrow (and the token under it), one case per line.

Each case builds its own situation on the chain, then makes one call that must revert. The test
asserts three things: the exact domain error class from settlement.errors (decoded from the
custom error at gas estimation by TxSender/RevertDecoder), the Solidity error it came from, and
that nothing happened: no block mined, no transaction signed or sent, and every balance,
allowance, permit nonce, total and lock read back from the chain is what it was before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from web3 import Web3

from settlement import errors
from settlement.chain.artifacts import load_artifact
from settlement.chain.client import LockStatus
from settlement.chain.reverts import RevertDecoder
from settlement.chain.sender import Call
from tests.chain.support import BROKER_FUNDING, COIN, ONE_HOUR, ZERO_ADDRESS, Env, Party, trade_id

pytestmark = pytest.mark.chain

AMOUNT = 5 * COIN


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
    """Lock `tid` again with allowance in place, so only the id can be the reason to refuse."""
    env.approve(env.payer, AMOUNT)
    return Attempt(by or env.agent, env.lock_call(tid, AMOUNT, env.deadline()), (tid,))


def _new_lock(
    env: Env,
    *,
    by: Party | None = None,
    approve: int | None = AMOUNT,
    amount: int = AMOUNT,
    deadline: int | None = None,
    payer: str | None = None,
    payee: str | None = None,
) -> Attempt:
    """A fresh lock from the payer (approved for AMOUNT unless told otherwise), one argument spoilt."""
    if approve:
        env.approve(env.payer, approve)
    tid = trade_id("new")
    call = env.lock_call(tid, amount, env.deadline() if deadline is None else deadline, payer, payee)
    return Attempt(by or env.agent, call, (tid,))


def _escrow(env: Env, by: Party, fn: str, *args: object, watch: tuple[bytes, ...] = ()) -> Attempt:
    return Attempt(by, env.escrow_call(fn, list(args)), watch)


def _requests(env: Env, label: str, count: int, amount: int = AMOUNT) -> list[tuple[bytes, str, str, int, int]]:
    deadline = env.deadline()
    return [env.lock_request(trade_id(f"{label}-{i}"), amount, deadline) for i in range(count)]


def _permit_lock(
    env: Env,
    *,
    value: int = AMOUNT,
    deadline: int | None = None,
    nonce: int | None = None,
    signer: Party | None = None,
    spender: str | None = None,
) -> Attempt:
    """The agent locks AMOUNT with a permit from the payer, spoilt by one of the arguments."""
    permit = env.sign_permit(env.payer, value, deadline=deadline, nonce=nonce, signer=signer, spender=spender)
    tid = trade_id("permit-lock")
    return Attempt(env.agent, env.lock_with_permit_call(env.lock_request(tid, AMOUNT, env.deadline()), permit), (tid,))


def _direct_permit(env: Env, *, deadline: int | None = None, signer: Party | None = None) -> Attempt:
    """Anyone submits the payer's permit straight to the token."""
    permit = env.sign_permit(env.payer, AMOUNT, deadline=deadline, signer=signer)
    args = [env.payer.address, env.escrow_address, permit.value, permit.deadline, permit.v, permit.r, permit.s]
    return Attempt(env.stranger, env.token_call("permit", args))


# ---------------------------------------------------------------------- builders that need several steps


def relock_after_release_by_payer(env: Env) -> Attempt:
    return _relock(env, _released(env, "payer-relock"), by=env.payer)


def duplicate_id_in_batch(env: Env) -> Attempt:
    env.approve(env.payer, 2 * AMOUNT)
    request = env.lock_request(trade_id("twice"), AMOUNT, env.deadline())
    return _escrow(env, env.agent, "lockBatch", [request, request], watch=(request[0],))


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
    requests = _requests(env, "zb", 3)
    requests[1] = (*requests[1][:3], 0, requests[1][4])
    env.approve(env.payer, 3 * AMOUNT)
    return _escrow(env, env.agent, "lockBatch", requests, watch=tuple(r[0] for r in requests))


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
    tid = _locked(env, "paused-refund")
    _expire(env)
    escrow_paused(env)
    return Attempt(env.stranger, env.refund_call(tid), (tid,))


def permit_lock_while_escrow_paused(env: Env) -> Attempt:
    escrow_paused(env)
    return _permit_lock(env)


def lock_batch_while_escrow_paused(env: Env) -> Attempt:
    env.approve(env.payer, 2 * AMOUNT)
    requests = _requests(env, "pb", 2)
    escrow_paused(env)
    return _escrow(env, env.agent, "lockBatch", requests, watch=tuple(r[0] for r in requests))


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
    first = env.lock_request(trade_id("permit-first"), AMOUNT, env.deadline())
    env.agent.sender.transact(env.lock_with_permit_call(first, permit))
    second = env.lock_request(trade_id("permit-replay"), AMOUNT, env.deadline())
    return Attempt(env.agent, env.lock_with_permit_call(second, permit), (first[0], second[0]))


def too_large(env: Env, fn: str) -> Attempt:
    if fn == "lockBatch":
        return _escrow(env, env.agent, fn, _requests(env, "big", 101))
    return _escrow(env, env.agent, fn, [trade_id(f"big-{i}") for i in range(101)])


# ---------------------------------------------------------------------- the table

Case = tuple[str, Builder, type[errors.SettlementError], str]

# fmt: off
REVERT_CASES: list[Case] = [
    ("relock an open lock", lambda e: _relock(e, _locked(e, "dup")), errors.AlreadyLocked, "AlreadyLocked"),
    ("relock after release (no replay)", lambda e: _relock(e, _released(e, "r")), errors.AlreadyLocked, "AlreadyLocked"),
    ("relock after refund (no replay)", lambda e: _relock(e, _refunded(e, "f")), errors.AlreadyLocked, "AlreadyLocked"),
    ("payer relocks own id after release", relock_after_release_by_payer, errors.AlreadyLocked, "AlreadyLocked"),
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
    ("payer is the zero address", lambda e: _new_lock(e, payer=ZERO_ADDRESS), errors.TransactionFailed, "InvalidParty"),
    ("stranger locks for a payer", lambda e: _new_lock(e, by=e.stranger), errors.NotAuthorized, "NotAuthorized"),
    ("another broker locks for a payer", lambda e: _new_lock(e, by=e.other_payer), errors.NotAuthorized, "NotAuthorized"),
    ("stranger releases", stranger_releases, errors.NotAuthorized, "AccessControlUnauthorizedAccount"),
    ("payer releases its own lock", payer_releases_own_lock, errors.NotAuthorized, "AccessControlUnauthorizedAccount"),
    ("payee releases to itself", payee_releases_to_itself, errors.NotAuthorized, "AccessControlUnauthorizedAccount"),
    ("stranger release batch", stranger_release_batch, errors.NotAuthorized, "AccessControlUnauthorizedAccount"),
    ("agent pauses escrow (no pauser role)", lambda e: _escrow(e, e.agent, "pause"), errors.NotAuthorized, "AccessControlUnauthorizedAccount"),
    ("stranger pauses token", lambda e: Attempt(e.stranger, e.token_call("pause", [])), errors.NotAuthorized, "OwnableUnauthorizedAccount"),
    ("agent issues coins", lambda e: Attempt(e.agent, e.token_call("issue", [e.agent.address, 1])), errors.NotAuthorized, "OwnableUnauthorizedAccount"),
    ("no allowance", lambda e: _new_lock(e, approve=None), errors.InsufficientAllowance, "ERC20InsufficientAllowance"),
    ("allowance one unit short", lambda e: _new_lock(e, approve=AMOUNT - 1), errors.InsufficientAllowance, "ERC20InsufficientAllowance"),
    ("payer locks own coins unapproved", lambda e: _new_lock(e, by=e.payer, approve=None), errors.InsufficientAllowance, "ERC20InsufficientAllowance"),
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
    ("empty lock batch", lambda e: _escrow(e, e.agent, "lockBatch", []), errors.TransactionFailed, "EmptyBatch"),
    ("empty release batch", lambda e: _escrow(e, e.agent, "releaseBatch", []), errors.TransactionFailed, "EmptyBatch"),
    ("empty refund batch", lambda e: _escrow(e, e.stranger, "refundBatch", []), errors.TransactionFailed, "EmptyBatch"),
    ("lock batch of 101", lambda e: too_large(e, "lockBatch"), errors.TransactionFailed, "BatchTooLarge"),
    ("release batch of 101", lambda e: too_large(e, "releaseBatch"), errors.TransactionFailed, "BatchTooLarge"),
    ("refund batch of 101", lambda e: too_large(e, "refundBatch"), errors.TransactionFailed, "BatchTooLarge"),
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
    # Errors that lock/release/refund/permit can never reach, with the reason.
    unreachable = {
        "NotBlacklisted",  # destroyBlackFunds of a clean account: an issuer admin call
        "AccessControlBadConfirmation",  # renounceRole for someone else: admin call
        "OwnableInvalidOwner",  # ownership transfer to zero: admin call
        "ExpectedPause",  # unpause when not paused: admin call
        "ReentrancyGuardReentrantCall",  # needs a malicious token; covered by forge tests
        "SafeERC20FailedOperation",  # token returning false; covered by forge tests
        "ERC20InvalidApprover",
        "ERC20InvalidReceiver",
        "ERC20InvalidSender",
        "ERC20InvalidSpender",
        "ECDSAInvalidSignature",  # caught inside permit's try/catch, then surfaces as allowance
        "ECDSAInvalidSignatureLength",
        "ECDSAInvalidSignatureS",
        "InvalidAccountNonce",
        "StringTooLong",  # constructor only
        "InvalidShortString",
    }
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
    lock = escrow.encode_abi("lock", [tid, env.payer.address, env.payee.address, AMOUNT, env.deadline()])

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
