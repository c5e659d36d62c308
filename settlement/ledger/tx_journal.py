"""The nonce journal (chain.sender.TxJournal) on the sent_transaction table.

Each call commits its own transaction before returning: TxSender broadcasts right after
record_signed, and a record that is not durable by then is exactly the crash window the
journal exists to close (a restart would sign a second transaction for the same purpose).
"""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select, update

from settlement.chain.sender import TxRecord
from settlement.errors import LedgerError
from settlement.ledger.models import SentTransaction, utcnow

UNFINISHED_STATUSES = ("signed", "sent")


class SqlTxJournal:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def last_nonce(self, chain_id: int, sender: str) -> int | None:
        with Session(self.engine) as session:
            value = session.exec(
                select(func.max(SentTransaction.nonce)).where(
                    col(SentTransaction.chain_id) == chain_id, col(SentTransaction.sender) == sender
                )
            ).one()
        return None if value is None else int(value)

    def record_signed(self, record: TxRecord) -> None:
        with Session(self.engine) as session, session.begin():
            session.add(
                SentTransaction(
                    tx_hash=record.tx_hash,
                    chain_id=record.chain_id,
                    sender=record.sender,
                    nonce=record.nonce,
                    raw_tx=record.raw_tx,
                    purpose=record.purpose,
                    status=record.status,
                    block_number=record.block_number,
                )
            )

    def mark(self, tx_hash: str, status: str, block_number: int | None = None) -> None:
        with Session(self.engine) as session, session.begin():
            result = session.exec(
                update(SentTransaction)
                .where(col(SentTransaction.tx_hash) == tx_hash)
                .values(status=status, block_number=block_number, updated_at=utcnow())
            )
            if result.rowcount != 1:
                raise LedgerError(f"no journaled transaction {tx_hash} to mark {status}")

    def unfinished(self, chain_id: int, sender: str) -> list[TxRecord]:
        """Signed or sent, outcome unknown: what recover() must settle after a restart."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(SentTransaction)
                .where(
                    col(SentTransaction.chain_id) == chain_id,
                    col(SentTransaction.sender) == sender,
                    col(SentTransaction.status).in_(UNFINISHED_STATUSES),
                )
                .order_by(col(SentTransaction.nonce))
            ).all()
        return [_as_record(row) for row in rows]

    def from_nonce(self, chain_id: int, sender: str, nonce: int, limit: int) -> list[TxRecord]:
        """Every record at or above `nonce`, whatever its status: what follow_chain() compares
        with the chain after a reorg (a tx journaled as mined may be gone)."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(SentTransaction)
                .where(
                    col(SentTransaction.chain_id) == chain_id,
                    col(SentTransaction.sender) == sender,
                    col(SentTransaction.nonce) >= nonce,
                )
                .order_by(col(SentTransaction.nonce), col(SentTransaction.created_at))
                .limit(limit)
            ).all()
        return [_as_record(row) for row in rows]


def _as_record(row: SentTransaction) -> TxRecord:
    return TxRecord(
        chain_id=row.chain_id,
        sender=row.sender,
        nonce=row.nonce,
        tx_hash=row.tx_hash,
        raw_tx=row.raw_tx,
        purpose=row.purpose,
        status=row.status,
        block_number=row.block_number,
    )
