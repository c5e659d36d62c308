"""Regression tests for the consent review, over the real anvil: who may create a lock, and with
whose signature.

The review's attack: anyone could call `lock` for any trade id, and the agent (or an admin who
grants itself the agent role) could move an approved payer's coins on terms the payer never
agreed to. Each test sends the attacker's transaction as an attacker would, with the gas set so
that nothing is refused off chain: it is mined, reverts on chain with the expected custom error
(decoded by TxSender's replay), and leaves every balance, allowance, permit nonce and lock as it
was. Where it makes sense, the honest lock then goes through, to show the refusal was about the
attacker and not about the trade.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from settlement import errors
from settlement.chain.artifacts import load_artifact
from settlement.chain.client import LockStatus
from settlement.chain.contract_calls import MAX_UINT256, LockOrder
from settlement.chain.sender import Call
from tests.chain.support import COIN, ChainState, Env, Party, trade_id

pytestmark = pytest.mark.chain

AMOUNT = 5 * COIN
ATTACK_GAS = 600_000  # explicit, so estimation is skipped and the attack really reaches the chain
ENTRY_POINTS = ("lock", "lockBatch", "lockWithPermit")


def attack_call(env: Env, entry: str, order: LockOrder, permit_owner: Party) -> Call:
    """`order` through one of the three lock entry points, gas preset."""
    if entry == "lock":
        call = env.lock_call(order)
    elif entry == "lockBatch":
        call = env.lock_batch_call([order])
    else:
        call = env.lock_with_permit_call(order, env.sign_permit(permit_owner, order.amount_base_units))
    return replace(call, gas=ATTACK_GAS)


def reverts_on_chain(attacker: Party, call: Call, expected: type[errors.SettlementError]) -> errors.SettlementError:
    """Send `call` as `attacker`; it must be mined, revert, and decode to `expected`."""
    record = attacker.sender.sign(call)
    attacker.sender.send(record)
    with pytest.raises(errors.SettlementError) as caught:
        attacker.sender.wait(record)
    assert type(caught.value) is expected, f"got {type(caught.value).__name__}: {caught.value}"
    assert attacker.journal.records[record.tx_hash].status == "reverted"
    return caught.value


def assert_nothing_moved(before: ChainState, after: ChainState, attacker: Party) -> None:
    """Everything but the attacker's spent nonce (and gas, which is ETH) reads back the same."""
    assert after.balances == before.balances
    assert after.allowances == before.allowances
    assert after.permit_nonces == before.permit_nonces
    assert (after.total_supply, after.total_locked, after.escrow_balance) == (
        before.total_supply,
        before.total_locked,
        before.escrow_balance,
    )
    assert after.locks == before.locks
    assert after.tx_counts == {**before.tx_counts, attacker.name: before.tx_counts[attacker.name] + 1}


def agent_role(env: Env) -> bytes:
    return bytes(env.chain.escrow.functions.SETTLEMENT_AGENT_ROLE().call())


def has_agent_role(env: Env, party: Party) -> bool:
    return bool(env.chain.escrow.functions.hasRole(agent_role(env), party.account.address).call())


# ---------------------------------------------------------------------- only the agent creates locks


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("outsider_name", ["other_payer", "payer", "payee", "admin"])
def test_lock_revertsWhenNotAgent(env: Env, outsider_name: str, entry: str) -> None:
    """A funded account that is not the agent squats the trade id the service is about to lock,
    with a 1-unit lock of its own coins and its own valid signature: NotAuthorized. (The service
    would otherwise find a Locked trade id and adopt it.) The real lock then goes through."""
    outsider: Party = getattr(env, outsider_name)
    assert not has_agent_role(env, outsider)
    if env.balance(outsider) == 0:
        env.admin_call("token", "issue", [outsider.address, 1])  # funded, like any broker
    env.approve(outsider, 1)
    tid = trade_id("the-trade-the-service-will-lock")
    payee = env.payer if outsider is env.payee else env.payee
    squat = env.order(tid, 1, env.deadline(), payer=outsider, payee=payee)  # self-signed: a valid intent
    before = env.state(tid)

    error = reverts_on_chain(outsider, attack_call(env, entry, squat, outsider), errors.NotAuthorized)

    assert error.context["revert"] == "NotAuthorized"
    assert [a.lower() for a in error.context["args"]] == [outsider.address.lower()]
    assert_nothing_moved(before, env.state(tid), outsider)
    assert env.chain.get_lock(tid).status is LockStatus.NONE

    env.lock(tid, AMOUNT)  # the agent, with the real payer's signature: the id was never taken

    lock = env.chain.get_lock(tid)
    assert (lock.status, lock.payer, lock.payee, lock.amount_base_units) == (
        LockStatus.LOCKED,
        env.payer.address,
        env.payee.address,
        AMOUNT,
    )


# ---------------------------------------------------------------------- the agent needs the payer's signature


@pytest.mark.parametrize("signer_name", ["agent", "payee", "stranger", "admin", "other_payer"])
def test_lock_revertsWhenSignedBySomeoneElse(env: Env, signer_name: str) -> None:
    """The payer has a standing unlimited allowance (an "approved payer"). The agent locks the
    payer's coins with an intent signed by anyone but the payer: InvalidLockSignature."""
    signer: Party = getattr(env, signer_name)
    env.approve(env.payer, MAX_UINT256)
    tid = trade_id("forged-signer")
    forged = env.order(tid, AMOUNT, env.deadline(), signer=signer)
    before = env.state(tid)

    error = reverts_on_chain(env.agent, replace(env.lock_call(forged), gas=ATTACK_GAS), errors.InvalidLockAuthorization)

    assert error.context["revert"] == "InvalidLockSignature"
    assert [a.lower() for a in error.context["args"]] == ["0x" + tid.hex(), env.payer.address.lower()]
    assert_nothing_moved(before, env.state(tid), env.agent)
    assert env.chain.allowance(env.payer.address) == MAX_UINT256


OTHER_TERMS: dict[str, Callable[[Env, LockOrder], LockOrder]] = {
    "larger amount": lambda e, o: replace(o, amount_base_units=200 * o.amount_base_units),
    "another payee": lambda e, o: replace(o, payee=e.stranger.address),
    "the agent as payee": lambda e, o: replace(o, payee=e.agent.address),
    "another trade id": lambda e, o: replace(o, trade_id=trade_id("not-the-signed-trade")),
    "later deadline": lambda e, o: replace(o, deadline=o.deadline + 30 * 24 * 3_600),
    "another payer": lambda e, o: replace(o, payer=e.other_payer.address),
    "another escrow": lambda e, o: replace(
        o, signature=e.sign_intent(o, e.payer, domain={"verifyingContract": e.token_address})
    ),
    "another chain": lambda e, o: replace(o, signature=e.sign_intent(o, e.payer, domain={"chainId": 1})),
}


@pytest.mark.parametrize("change", list(OTHER_TERMS))
def test_lock_revertsWhenSignedForOtherTerms(env: Env, change: str) -> None:
    """The payer signed one trade (5 coins to the payee). The agent reuses that signature for
    other terms, or submits terms signed for another escrow or chain: InvalidLockSignature.
    The exactly signed terms still lock afterwards."""
    env.approve(env.payer, MAX_UINT256)
    env.approve(env.other_payer, MAX_UINT256)
    signed = env.order(trade_id("signed-terms"), AMOUNT, env.deadline())
    forged = OTHER_TERMS[change](env, signed)
    assert forged != signed
    watch = tuple(dict.fromkeys([signed.trade_id, forged.trade_id]))
    before = env.state(*watch)

    error = reverts_on_chain(env.agent, replace(env.lock_call(forged), gas=ATTACK_GAS), errors.InvalidLockAuthorization)

    assert error.context["revert"] == "InvalidLockSignature"
    assert_nothing_moved(before, env.state(*watch), env.agent)

    env.agent.sender.transact(env.lock_call(signed))

    lock = env.chain.get_lock(signed.trade_id)
    assert (lock.status, lock.payer, lock.payee, lock.amount_base_units) == (
        LockStatus.LOCKED,
        env.payer.address,
        env.payee.address,
        AMOUNT,
    )


# ---------------------------------------------------------------------- an admin who makes itself the agent


FORGERIES: dict[str, Callable[[Env, LockOrder], bytes]] = {
    "its own signature": lambda e, o: e.sign_intent(o, e.admin),
    "no signature": lambda e, o: b"",
    "the payer's signature of another trade": lambda e, o: (
        e.order(trade_id("payer-signed-this"), AMOUNT, o.deadline, payee=e.payee).signature
    ),
}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_lock_revertsWhenAdminGrantsItselfAgentRoleWithoutPayerSignature(env: Env, forgery: str, entry: str) -> None:
    """The escrow admin grants itself SETTLEMENT_AGENT_ROLE (it can) and tries to lock an
    approved payer's whole balance to itself, without the payer's signature of that trade; with
    lockWithPermit it even holds a genuine permit from the payer. InvalidLockSignature, and the
    permit is not spent."""
    env.admin_call("escrow", "grantRole", [agent_role(env), env.admin.address])
    assert has_agent_role(env, env.admin)
    env.approve(env.payer, MAX_UINT256)
    tid = trade_id("admin-takes-it-all")
    unsigned = LockOrder(tid, env.payer.address, env.admin.address, env.balance(env.payer), env.deadline())
    theft = replace(unsigned, signature=FORGERIES[forgery](env, unsigned))
    call = attack_call(env, entry, theft, env.payer)  # the permit, if any, is the payer's own
    before = env.state(tid)

    error = reverts_on_chain(env.admin, call, errors.InvalidLockAuthorization)

    assert error.context["revert"] == "InvalidLockSignature"
    assert_nothing_moved(before, env.state(tid), env.admin)
    assert env.chain.get_lock(tid).status is LockStatus.NONE


# ---------------------------------------------------------------------- smart-contract wallet payers (ERC-1271)


def test_lock_acceptsErc1271WalletPayerOnlyWithItsOwnersSignature(env: Env) -> None:
    """A payer that is a contract wallet answers ERC-1271 for its owner's key: the agent's lock
    with the owner's signature goes through, one signed by anyone else does not."""
    artifact = load_artifact("MockERC1271Wallet")
    w3 = env.net.w3
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    receipt = env.payer.sender.transact(
        Call(None, factory.constructor(env.payer.account.address).data_in_transaction, "deploy wallet")
    )
    wallet = w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi)
    wallet_address = str(wallet.address)
    env.payer.sender.transact(env.token_call("transfer", [wallet_address, 2 * AMOUNT]))
    env.payer.sender.transact(
        Call(wallet_address, wallet.encode_abi("approve", [env.token_address, env.escrow_address, 2 * AMOUNT]), "a")
    )
    forged_id, honest_id = trade_id("wallet-forged"), trade_id("wallet-honest")
    forged = env.order(forged_id, AMOUNT, env.deadline(), payer=wallet_address, signer=env.stranger)
    before = env.state(forged_id)

    error = reverts_on_chain(env.agent, replace(env.lock_call(forged), gas=ATTACK_GAS), errors.InvalidLockAuthorization)

    assert [a.lower() for a in error.context["args"]] == ["0x" + forged_id.hex(), wallet_address.lower()]
    assert_nothing_moved(before, env.state(forged_id), env.agent)

    honest = env.order(honest_id, AMOUNT, env.deadline(), payer=wallet_address, signer=env.payer)  # the owner
    env.agent.sender.transact(env.lock_call(honest))

    lock = env.chain.get_lock(honest_id)
    assert (lock.status, lock.payer, lock.amount_base_units) == (LockStatus.LOCKED, wallet_address, AMOUNT)
    assert env.balance(wallet_address) == AMOUNT


def test_lock_intent_digest_isEip712TypedDataHash_andSignaturesRecoverToThePayer(env: Env) -> None:
    """The hand-rolled digest the custodial signer uses is exactly eth_account's EIP-712 hash of
    the typed data a wallet shows, and its signatures are low-s and recover to the payer."""
    from eth_account.messages import _hash_eip191_message, encode_typed_data

    from settlement.chain.lock_intents import (
        SECP256K1_HALF_ORDER,
        lock_intent_digest,
        lock_intent_signer,
        lock_intent_typed_data,
        sign_lock_intent,
    )

    for n in range(20):
        order = LockOrder(trade_id(f"digest-{n}"), env.payer.address, env.payee.address, n * COIN + 1, 2**40 + n)
        typed = encode_typed_data(full_message=lock_intent_typed_data(env.chain, order))
        assert lock_intent_digest(env.chain, order) == _hash_eip191_message(typed)
        signature = sign_lock_intent(env.chain, env.payer.account, order)
        assert int.from_bytes(signature[32:64], "big") <= SECP256K1_HALF_ORDER
        assert lock_intent_signer(env.chain, order, signature) == env.payer.address.lower()
