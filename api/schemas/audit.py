"""Wire models for the journal, its verification and reconciliation."""

from __future__ import annotations

from pydantic import (
    BaseModel,
    Field,
)

from settlement.api.schemas.common import (
    coins,
)
from settlement.views import (
    AnchoredHead,
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


class AnchorPublic(BaseModel):
    index: int = Field(description="The anchor's position in LedgerAnchor (anchorAt(index)).")
    sequence: int = Field(description="The journal entry anchored: its seq.")
    head_hash: str = Field(description="That entry's hash, as stored on chain.")
    anchored_at: int = Field(description="Block timestamp of the anchoring transaction (unix seconds).")

    @classmethod
    def of(cls, anchor: AnchoredHead) -> AnchorPublic:
        return cls(
            index=anchor.index, sequence=anchor.sequence, head_hash=anchor.head_hash, anchored_at=anchor.anchored_at_s
        )


class VerifyPublic(BaseModel):
    ok: bool
    entries: int
    head_hash: str
    problems: list[VerifyProblemPublic]
    anchors_checked: int = Field(description="On-chain anchors compared with the journal.")
    latest_anchor: AnchorPublic | None = Field(
        description="Everything up to this anchor's seq is as it was when anchored (if ok)."
    )


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
