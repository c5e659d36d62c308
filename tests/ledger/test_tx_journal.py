"""SqlTxJournal keeps the TxJournal contract on both backends, and TxSender recovers from it."""

from __future__ import annotations

import pytest
from eth_account import Account
from sqlalchemy.engine import Engine

from settlement.chain.reverts import RevertDecoder
from settlement.chain.sender import Call, TxRecord, TxSender
from settlement.errors import LedgerError
from settlement.ledger.tx_journal import SqlTxJournal
from settlement.testing.devnet import Devnet

SENDER = "0x" + "ab" * 20


def _record(nonce: int, sender: str = SENDER, chain_id: int = 31337) -> TxRecord:
    return TxRecord(
        chain_id=chain_id,
        sender=sender,
        nonce=nonce,
        tx_hash=f"0x{chain_id:04x}{nonce:060x}",
        raw_tx="0x02f8",
        purpose=f"test {nonce}",
    )


def test_the_journal_remembers_nonces_and_unfinished_transactions(engine: Engine) -> None:
    journal = SqlTxJournal(engine)
    assert journal.last_nonce(31337, SENDER) is None
    for nonce in (0, 1, 2):
        journal.record_signed(_record(nonce))
    journal.record_signed(_record(9, sender="0x" + "cd" * 20))
    journal.record_signed(_record(7, chain_id=1))
    assert journal.last_nonce(31337, SENDER) == 2

    journal.mark(_record(0).tx_hash, "mined", 12)
    journal.mark(_record(1).tx_hash, "sent")
    unfinished = journal.unfinished(31337, SENDER)
    assert [(r.nonce, r.status) for r in unfinished] == [(1, "sent"), (2, "signed")]
    assert unfinished[0].raw_tx == "0x02f8" and unfinished[0].purpose == "test 1"

    # A fresh journal over the same database (a restarted process) sees the same thing.
    assert SqlTxJournal(engine).last_nonce(31337, SENDER) == 2
    with pytest.raises(LedgerError):
        journal.mark("0x" + "00" * 32, "mined", 1)


def test_the_journal_lists_every_record_from_a_nonce_whatever_its_status(engine: Engine) -> None:
    """What follow_chain() compares with the chain: a 'mined' record above the chain's nonce was
    taken away by a reorg, so records at or above a nonce come back in any status."""
    journal = SqlTxJournal(engine)
    for nonce in (4, 2, 3, 5):
        journal.record_signed(_record(nonce))
    journal.record_signed(_record(6, sender="0x" + "cd" * 20))  # another signer: never listed
    journal.mark(_record(2).tx_hash, "mined", 7)
    journal.mark(_record(3).tx_hash, "mined", 8)
    journal.mark(_record(4).tx_hash, "dropped")

    found = journal.from_nonce(31337, SENDER, 3, limit=10)
    assert [(r.nonce, r.status) for r in found] == [(3, "mined"), (4, "dropped"), (5, "signed")]
    assert found[0].block_number == 8 and found[0].raw_tx == "0x02f8"
    assert [r.nonce for r in journal.from_nonce(31337, SENDER, 0, limit=2)] == [2, 3]
    assert journal.from_nonce(31337, SENDER, 6, limit=10) == []
    assert journal.from_nonce(1, SENDER, 0, limit=10) == []


@pytest.mark.chain
def test_a_restarted_sender_rebroadcasts_what_was_signed_but_never_sent(
    isolated_devnet: Devnet, engine: Engine
) -> None:
    manifest = isolated_devnet.manifest
    broker = Account.from_key(manifest.brokers[0].private_key)
    chain = isolated_devnet.chain()
    decoder = RevertDecoder(manifest.token.abi, manifest.escrow.abi)
    journal = SqlTxJournal(engine)
    recipient = manifest.brokers[1].address
    before = chain.balance_of(recipient)

    crashed = TxSender(isolated_devnet.w3, broker, journal, decoder)
    record = crashed.sign(
        Call(to=manifest.token.address, data=chain.token.encode_abi("transfer", [recipient, 5]), purpose="pay")
    )  # ... and the process dies before send()

    restarted = TxSender(isolated_devnet.w3, broker, journal, decoder)
    assert restarted._next_nonce == record.nonce + 1  # never reuses the journaled nonce
    settled = restarted.recover()
    assert [(r.tx_hash, r.status) for r in settled] == [(record.tx_hash, "mined")]
    assert journal.unfinished(record.chain_id, broker.address) == []
    assert chain.balance_of(recipient) == before + 5
