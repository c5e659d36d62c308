"""Wire models for the journal, its verification and reconciliation."""

from __future__ import annotations

from pydantic import (
    BaseModel,
    Field,
)

from api.schemas.common import (
    coins,
)
from settlement.views import (
    Break,
    JournalRecord,
    ReconciliationReport,
)

# --------------------------------------------------------------------------- ledger and audit


class PostingPublic(BaseModel):
    account: str
    amount: str = Field(description="Signed coins: positive adds to the account.")


class JournalEntryPublic(BaseModel):
    seq: int
    kind: str
    description: str
    trade_id: str | None
    chain_id: int | None
    block_number: int | None
    tx_hash: str | None
    log_index: int | None
    reverses_seq: int | None
    created_at: str
    prev_hash: str
    entry_hash: str
    postings: list[PostingPublic]

    @classmethod
    def of(cls, r: JournalRecord) -> JournalEntryPublic:
        return cls(
            seq=r.seq,
            kind=r.kind,
            description=r.description,
            trade_id=r.trade_id,
            chain_id=r.chain_id,
            block_number=r.block_number,
            tx_hash=r.tx_hash,
            log_index=r.log_index,
            reverses_seq=r.reverses_seq,
            created_at=r.created_at,
            prev_hash=r.prev_hash,
            entry_hash=r.entry_hash,
            postings=[PostingPublic(account=p.account, amount=coins(p.amount_base_units)) for p in r.postings],
        )


class VerifyProblemPublic(BaseModel):
    seq: int
    problem: str


class VerifyPublic(BaseModel):
    ok: bool
    entries: int
    head_hash: str
    problems: list[VerifyProblemPublic]


class ReconciliationBreakPublic(BaseModel):
    kind: str = Field(
        examples=["omnibus"], description="What was compared (omnibus, wallet, escrow_locked, lock, ...)."
    )
    account: str
    on_chain: str | None = Field(description="Coins on chain; null where the figure exists only in the ledger.")
    ledger: str
    difference: str | None = Field(description="ledger - on_chain, in coins.")
    detail: str

    @classmethod
    def of(cls, b: Break) -> ReconciliationBreakPublic:
        return cls(
            kind=b.kind,
            account=b.account,
            on_chain=None if b.on_chain is None else coins(b.on_chain),
            ledger=coins(b.ledger),
            difference=None if b.difference is None else coins(b.difference),
            detail=b.detail,
        )


class ReconciliationPublic(BaseModel):
    balanced: bool
    block_number: int = Field(description="The one height at which chain and ledger were both read.")
    checks: int = Field(description="How many figures were compared.")
    breaks: list[ReconciliationBreakPublic]

    @classmethod
    def of(cls, report: ReconciliationReport) -> ReconciliationPublic:
        return cls(
            balanced=report.balanced,
            block_number=report.block_number,
            checks=report.checks,
            breaks=[ReconciliationBreakPublic.of(b) for b in report.breaks],
        )
