"""Wire models for net mode's liquidity: settlement balance moves, the balance and the debit cap."""

from __future__ import annotations

from pydantic import BaseModel, Field

from settlement.api.schemas.common import DecimalString, RequestModel, coins
from settlement.views import SettlementBalance


class SettlementMoveCreate(RequestModel):
    amount: DecimalString = Field(description="Coins moved between the wallet and the settlement balance.")


class SettlementMovePublic(BaseModel):
    participant_id: str
    amount: str
    tx_hash: str


class NetDebitCapUpdate(RequestModel):
    cap: DecimalString | None = Field(
        description="Most coins a window may debit the broker, below its settlement balance; null clears it."
    )


class SettlementBalancePublic(BaseModel):
    participant_id: str
    address: str
    admitted: bool = Field(description="A member of the net settlement contract (admitted at the first deposit).")
    on_chain: str = Field(description="The settlement balance held by the net settlement contract, read now.")
    ledger: str = Field(description="The journal's settlement account, as far as the chain is indexed.")
    operator_cap: str | None = Field(description="The operator's net debit cap, if one is set.")
    net_debit_cap: str = Field(description="What a window may debit: the on-chain balance, or the lower cap.")

    @classmethod
    def of(cls, b: SettlementBalance) -> SettlementBalancePublic:
        return cls(
            participant_id=b.participant_id,
            address=b.address,
            admitted=b.admitted,
            on_chain=coins(b.on_chain_base_units),
            ledger=coins(b.ledger_base_units),
            operator_cap=None if b.cap_base_units is None else coins(b.cap_base_units),
            net_debit_cap=coins(b.net_debit_cap_base_units),
        )
