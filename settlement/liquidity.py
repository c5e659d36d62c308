"""Net mode's liquidity: each broker's pre-funded settlement balance in SettlementNet, and its cap.

A deposit is the lock (wallet -> settlement balance), a withdrawal the release back to the
broker's own wallet. Both are the broker's own transactions: the service sends them only for a
custodial (devnet) broker whose key it holds; anyone else calls the contract from its wallet.
The ledger follows from the chain's events (the indexer), never from here.

The net debit cap a window may take a broker to is its settlement balance, or a lower cap the
operator sets (stored here; the window engine reads `effective_cap`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session

from settlement import errors
from settlement.chain.client import ChainClient
from settlement.chain.contract_calls import approvals_to_cover
from settlement.chain.custody import Custody
from settlement.chain.net_settlement import NetSettlementContract
from settlement.chain.sender import Call, TxSender
from settlement.domain.journal import settlement_account
from settlement.ledger import repository as repo
from settlement.ledger.journal_store import JournalStore
from settlement.ledger.models import NetDebitCap
from settlement.money import TRADE_AMOUNT_MAX_BASE_UNITS, format_coins


@dataclass(frozen=True)
class SettlementBalance:
    participant_id: str
    address: str
    admitted: bool  # a member of SettlementNet (admitted by the operator at its first deposit)
    on_chain_base_units: int  # SettlementNet.balanceOf, now
    ledger_base_units: int  # the journal's settlement:<address> account (as far as it is indexed)
    cap_base_units: int | None  # the operator's cap; None: none set
    net_debit_cap_base_units: int  # what a window may debit: the balance, or the lower cap


def effective_cap(balance_base_units: int, cap_base_units: int | None) -> int:
    """A broker's net debit cap: its settlement balance, or the operator's cap if lower."""
    return balance_base_units if cap_base_units is None else min(balance_base_units, cap_base_units)


class Liquidity:
    def __init__(self, db: Engine, chain: ChainClient, custody: Custody, journal: JournalStore) -> None:
        self.db = db
        self.chain = chain
        self.custody = custody
        self.journal = journal
        self._admit_guard = threading.Lock()

    @property
    def net(self) -> NetSettlementContract:
        """The deployment's SettlementNet (ManifestMissing without one)."""
        return NetSettlementContract(self.chain)

    # ----------------------------------------------------------------- liquidity moves

    def deposit(self, participant_id: str, amount_base_units: int) -> str:
        """Move coins from the broker's wallet into its settlement balance; returns the tx hash."""
        _check_amount(amount_base_units)
        address = self._address(participant_id)
        sender = self._broker_sender(address, "deposit")
        net = self.net
        wallet = self.chain.balance_of(address)
        if amount_base_units > wallet:
            raise errors.DepositExceedsWallet(
                f"the wallet holds {format_coins(wallet)}, the deposit is {format_coins(amount_base_units)}",
                wallet=format_coins(wallet),
            )
        self._admit(net, address)
        for approve in approvals_to_cover(net.allowance(address), amount_base_units, net.approve):
            self._send(sender, approve)
        return self._send(sender, net.deposit(amount_base_units))

    def withdraw(self, participant_id: str, amount_base_units: int) -> str:
        """Move coins from the settlement balance back to the broker's wallet; returns the tx hash."""
        _check_amount(amount_base_units)
        address = self._address(participant_id)
        sender = self._broker_sender(address, "withdraw")
        net = self.net
        balance = net.balance_of(address)
        if amount_base_units > balance:
            raise errors.WithdrawalExceedsBalance(
                f"the settlement balance is {format_coins(balance)}, the withdrawal {format_coins(amount_base_units)}",
                balance=format_coins(balance),
            )
        return self._send(sender, net.withdraw(amount_base_units))

    # ----------------------------------------------------------------- reads and the cap

    def balance(self, participant_id: str) -> SettlementBalance:
        address = self._address(participant_id)
        net = self.net
        on_chain = net.balance_of(address)
        cap = self.cap(participant_id)
        return SettlementBalance(
            participant_id=participant_id,
            address=address,
            admitted=net.is_participant(address),
            on_chain_base_units=on_chain,
            ledger_base_units=self.journal.balance(settlement_account(address)),
            cap_base_units=cap,
            net_debit_cap_base_units=effective_cap(on_chain, cap),
        )

    def cap(self, participant_id: str) -> int | None:
        with Session(self.db) as session:
            row = session.get(NetDebitCap, participant_id)
            return None if row is None else int(row.cap_base_units)

    def set_cap(self, participant_id: str, cap_base_units: int | None) -> None:
        """Set (or, with None, clear) the operator's cap on what windows may debit the broker."""
        if cap_base_units is not None and not 0 <= cap_base_units <= TRADE_AMOUNT_MAX_BASE_UNITS:
            raise errors.ValidationFailed("cap must be zero or positive and at most one trillion coins")
        with Session(self.db) as session:
            repo.get_participant(session, participant_id)
            row = session.get(NetDebitCap, participant_id)
            if cap_base_units is None:
                if row is not None:
                    session.delete(row)
            elif row is None:
                session.add(NetDebitCap(participant_id=participant_id, cap_base_units=cap_base_units))
            else:
                row.cap_base_units = cap_base_units
                row.updated_at = datetime.now(UTC)
                session.add(row)
            session.commit()

    # ----------------------------------------------------------------- internals

    def _address(self, participant_id: str) -> str:
        with Session(self.db) as session:
            return repo.get_participant(session, participant_id).address

    def _broker_sender(self, address: str, action: str) -> TxSender:
        sender = self.custody.sender_for(address)
        if sender is None:
            raise errors.NotCustodial(
                f"the service does not hold the key of {address}: call SettlementNet.{action}(amount) at "
                f"{self.chain.manifest.net.address if self.chain.manifest.net else 'the net settlement contract'} "
                "from that wallet (a deposit needs the token's approve of the contract first)"
            )
        return sender

    def _admit(self, net: NetSettlementContract, address: str) -> None:
        """Admit the broker to SettlementNet at its first deposit (the operator's role: on the
        devnet the deployer, which is the issuer key the service holds), never after the operator
        removed it: removal is the operator's decision, not undone by a deposit."""
        with self._admit_guard:
            if net.is_participant(address):
                return
            if net.was_removed(address):
                raise errors.RemovedFromNetSettlement(
                    f"the operator removed {address} from net settlement; it may withdraw but not deposit"
                )
            operator = self.custody.issuer
            if operator is None:
                raise errors.Forbidden(
                    "this deployment has no operator key: the net settlement operator admits the broker"
                )
            self._send(operator, net.admit(address))

    @staticmethod
    def _send(sender: TxSender, call: Call) -> str:
        """Sign, send, wait. Once signed and journaled the tx may happen (recovery rebroadcasts it
        after a crash), so a failure that is not a decoded revert leaves its outcome unknown."""
        record = sender.sign(call)
        try:
            sender.send(record)
            receipt = sender.wait(record)
        except errors.SettlementError as exc:
            if isinstance(exc, errors.ChainUnavailable):
                exc.context.update(outcome_unknown=True, tx_hash=record.tx_hash)
            raise
        except Exception as exc:
            raise errors.ChainUnavailable(
                f"{call.purpose}: {record.tx_hash} was sent; its outcome is not known yet", outcome_unknown=True
            ) from exc
        return str(receipt["transactionHash"].to_0x_hex())


def _check_amount(amount_base_units: int) -> None:
    if not 0 < amount_base_units <= TRADE_AMOUNT_MAX_BASE_UNITS:
        raise errors.ValidationFailed("amount must be positive and at most one trillion coins")
