"""Wire models for participants, their clients, balances and FX rates."""

from __future__ import annotations

from datetime import datetime

from pydantic import (
    BaseModel,
    Field,
)

from settlement.api.schemas.common import (
    TEXT_PATTERN,
    UTC_EXAMPLE,
    DecimalString,
    RequestModel,
    UtcDatetime,
    coins,
    format_decimal,
    utc,
)
from settlement.views import (
    ClientView,
    FxQuote,
    ParticipantBalances,
    ParticipantView,
)

# --------------------------------------------------------------------------- participants


class ParticipantCreate(RequestModel):
    name: str = Field(min_length=1, max_length=200, pattern=TEXT_PATTERN, examples=["Kowloon Bay Securities Ltd"])
    jurisdiction: str = Field(pattern=r"^[A-Za-z]{2}$", examples=["HK"])
    address: str | None = Field(
        default=None,
        pattern=r"^0x[0-9a-fA-F]{40}$",
        description="Omnibus wallet. On the devnet, omit it to be given a fresh devnet account.",
    )


class ParticipantPublic(BaseModel):
    id: str
    name: str
    jurisdiction: str
    address: str
    created_at: datetime

    @classmethod
    def of(cls, participant: ParticipantView) -> ParticipantPublic:
        return cls(
            id=participant.id,
            name=participant.name,
            jurisdiction=participant.jurisdiction,
            address=participant.address,
            created_at=utc(participant.created_at),
        )


class ParticipantCreated(ParticipantPublic):
    api_key: str = Field(description="Shown once: only its hash is stored.")


class IssueCreate(RequestModel):
    amount: DecimalString = Field(description="Coins to mint to the participant's wallet.")


class IssuePublic(BaseModel):
    participant_id: str
    amount: str
    tx_hash: str


class ClientCreate(RequestModel):
    name: str = Field(min_length=1, max_length=200, pattern=TEXT_PATTERN, examples=["Chan Family Office"])


class ClientPublic(BaseModel):
    id: str
    participant_id: str
    name: str
    created_at: datetime

    @classmethod
    def of(cls, client: ClientView) -> ClientPublic:
        return cls(
            id=client.id, participant_id=client.participant_id, name=client.name, created_at=utc(client.created_at)
        )


class AllocationCreate(RequestModel):
    amount: DecimalString = Field(description="Coins moved from the broker's unallocated balance to the client.")


class AllocationPublic(BaseModel):
    participant_id: str
    client_id: str
    amount: str
    client_balance: str = Field(description="The client's ledger balance after the allocation.")


class ClientBalancePublic(BaseModel):
    client_id: str
    name: str
    balance: str


class BalancesPublic(BaseModel):
    participant_id: str
    address: str
    on_chain: str = Field(description="Token balance of the omnibus wallet, read from the chain.")
    ledger: str = Field(description="Unallocated plus every client's balance, from the journal.")
    unallocated: str
    locked_as_payer: str = Field(description="Held by the escrow for this broker's open trades as buyer.")
    clients: list[ClientBalancePublic]
    settlement_balance_on_chain: str = Field(
        description="Net mode: pre-funded in the net settlement contract (the broker's own, not in the wallet)."
    )
    settlement_balance_ledger: str = Field(description="Net mode: the journal's settlement account.")

    @classmethod
    def of(cls, b: ParticipantBalances) -> BalancesPublic:
        return cls(
            participant_id=b.participant_id,
            address=b.address,
            on_chain=coins(b.on_chain_base_units),
            ledger=coins(b.ledger_base_units),
            unallocated=coins(b.unallocated_base_units),
            locked_as_payer=coins(b.locked_as_payer_base_units),
            clients=[
                ClientBalancePublic(client_id=c.client_id, name=c.name, balance=coins(c.balance_base_units))
                for c in b.clients
            ],
            settlement_balance_on_chain=coins(b.settlement_on_chain_base_units),
            settlement_balance_ledger=coins(b.settlement_ledger_base_units),
        )


# --------------------------------------------------------------------------- FX


class FxRateCreate(RequestModel):
    currency: str = Field(pattern=r"^[A-Za-z]{3}$", examples=["HKD"])
    rate_to_usd: DecimalString = Field(description="USD per one unit of `currency`.")
    as_of: UtcDatetime | None = Field(default=None, examples=[UTC_EXAMPLE])
    force: bool = Field(default=False, description="Record a jump beyond the limit anyway (kept on the record).")


class FxRatePublic(BaseModel):
    currency: str
    rate_to_usd: str
    source: str
    as_of: datetime
    forced: bool

    @classmethod
    def of(cls, quote: FxQuote) -> FxRatePublic:
        return cls(
            currency=quote.currency,
            rate_to_usd=format_decimal(quote.rate_to_usd),
            source=quote.source,
            as_of=utc(quote.as_of),
            forced=quote.forced,
        )
