"""Brokers (participants), their clients, API keys, issuance and balances.

API keys are random, shown once at creation and stored only as a sha256 hash: a leaked
database does not leak keys.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from settlement import errors
from settlement.chain.addresses import normalized_address
from settlement.chain.client import ChainClient
from settlement.chain.contract_calls import ContractCalls
from settlement.chain.custody import Custody
from settlement.chain.net_settlement import NetSettlementContract
from settlement.domain.journal import client_account, settlement_account, wallet_account
from settlement.domain.posting import ZERO_ADDRESS
from settlement.ledger import repository as repo
from settlement.ledger.journal_store import JournalStore
from settlement.ledger.models import ClientAccount, Participant
from settlement.money import TRADE_AMOUNT_MAX_BASE_UNITS

log = logging.getLogger(__name__)

JURISDICTION_PATTERN = re.compile(r"^[A-Z]{2}$")
API_KEY_PREFIX = "sk_"


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


@dataclass(frozen=True)
class ClientBalance:
    client_id: str
    name: str
    balance_base_units: int


@dataclass(frozen=True)
class ParticipantBalances:
    participant_id: str
    address: str
    on_chain_base_units: int
    ledger_base_units: int
    unallocated_base_units: int
    locked_as_payer_base_units: int
    clients: list[ClientBalance]
    # Net mode: the pre-funded settlement balance, still the broker's own (0 without SettlementNet).
    settlement_on_chain_base_units: int = 0
    settlement_ledger_base_units: int = 0


class ParticipantDirectory:
    def __init__(self, db: Engine, chain: ChainClient, custody: Custody, journal: JournalStore) -> None:
        self.db = db
        self.chain = chain
        self.custody = custody
        self.journal = journal

    def register(self, name: str, jurisdiction: str, address: str | None = None) -> tuple[Participant, str]:
        """Create a participant; returns it with its API key (the only time the key is visible)."""
        jurisdiction = jurisdiction.upper()
        if not JURISDICTION_PATTERN.match(jurisdiction):
            raise errors.ValidationFailed("jurisdiction must be a two-letter country code such as HK, CN or SG")
        if not name.strip():
            raise errors.ValidationFailed("name must not be empty")
        with Session(self.db, expire_on_commit=False) as session:
            address = normalized_address(address if address is not None else self._free_devnet_address(session))
            if address in self.reserved_addresses():
                raise errors.ReservedAddress(
                    f"{address} is the zero address or one of the system's own (token, escrow, agent, issuer, deployer)"
                )
            api_key = API_KEY_PREFIX + secrets.token_urlsafe(32)
            participant = Participant(
                id=str(uuid.uuid4()),
                name=name.strip(),
                jurisdiction=jurisdiction,
                address=address,
                api_key_hash=hash_api_key(api_key),
            )
            session.add(participant)
            try:
                session.commit()
            except IntegrityError:
                raise errors.Conflict("a participant with this name or address already exists") from None
            return participant, api_key

    def reserved_addresses(self) -> frozenset[str]:
        """Addresses no participant may have: the ledger books the token's, the escrow's and the
        system accounts' movements under their own accounts, and coins sent to the zero address
        are burnt. A broker wallet there would mix its money with theirs."""
        manifest = self.chain.manifest
        system = (manifest.token, manifest.escrow, manifest.agent, manifest.issuer, manifest.deployer)
        return frozenset({ZERO_ADDRESS, *(normalized_address(part.address) for part in system)})

    def _free_devnet_address(self, session: Session) -> str:
        taken = {p.address.lower() for p in repo.list_participants(session)}
        for account in [*self.chain.manifest.brokers, *self.chain.manifest.spare_accounts]:
            if account.address.lower() not in taken and self.custody.holds_key(account.address):
                return account.address
        raise errors.ValidationFailed("no free devnet account left: pass an address")

    def authenticate(self, api_key: str) -> Participant | None:
        with Session(self.db, expire_on_commit=False) as session:
            return repo.participant_by_key_hash(session, hash_api_key(api_key))

    def get(self, participant_id: str) -> Participant:
        with Session(self.db, expire_on_commit=False) as session:
            return repo.get_participant(session, participant_id)

    def add_client(self, participant_id: str, name: str) -> ClientAccount:
        with Session(self.db, expire_on_commit=False) as session:
            repo.get_participant(session, participant_id)
            client = ClientAccount(id=str(uuid.uuid4()), participant_id=participant_id, name=name)
            session.add(client)
            try:
                session.commit()
            except IntegrityError:
                raise errors.Conflict(f"client {name!r} already exists for this broker") from None
            return client

    def allocate(self, participant_id: str, client_id: str, amount_base_units: int) -> None:
        """Earmark part of the broker's omnibus wallet for one client (a ledger-only entry)."""
        with Session(self.db, expire_on_commit=False) as session:
            participant = repo.get_participant(session, participant_id)
            if repo.get_client(session, client_id).participant_id != participant_id:
                raise errors.UnknownClientAccount(f"client {client_id} does not belong to {participant.name}")
        self.journal.allocate(participant.address, client_id, amount_base_units)

    def issue(self, participant_id: str, amount_base_units: int) -> str:
        """Mint coins to the participant's wallet (the devnet issuer's key); returns the tx hash.

        Once the mint is signed and journaled its hash is the answer, even if the send's answer or
        every receipt poll is lost: the sender finds it on chain or sends the same bytes again
        (its wait, and follow_chain on every cycle) until it is mined, so the mint happens exactly
        once. Answering 503 instead would invite a retry that mints a second time. Only a revert
        on chain (decoded) is an error once the tx exists.
        """
        if not 0 < amount_base_units <= TRADE_AMOUNT_MAX_BASE_UNITS:
            raise errors.ValidationFailed("amount must be positive and at most one trillion coins")
        participant = self.get(participant_id)
        issuer = self.custody.issuer
        if issuer is None:
            raise errors.Forbidden("this deployment has no issuer key: coins are issued by the token issuer")
        record = issuer.sign(ContractCalls(self.chain).issue(participant.address, amount_base_units))
        try:
            try:
                issuer.send(record)
            except errors.ChainUnavailable as exc:  # maybe lost before the node, maybe after: wait() tells
                log.warning("mint %s: send unconfirmed (%s); waiting for it on chain", record.tx_hash, exc.detail)
            issuer.wait(record)
        except errors.ChainUnavailable as exc:
            log.warning(
                "mint %s: not mined yet (%s); the sender sends it again until it is", record.tx_hash, exc.detail
            )
        except errors.LedgerError as exc:  # the journal failed after signing: the mint may still happen
            exc.context.update(outcome_unknown=True, tx_hash=record.tx_hash)
            raise
        except errors.SettlementError:
            raise  # a decoded revert: mined, and it minted nothing
        except Exception as exc:  # the database under the journal: the mint may still happen
            raise errors.ChainUnavailable(
                f"mint {record.tx_hash} was signed; its outcome is not known yet", outcome_unknown=True
            ) from exc
        return record.tx_hash

    def balances(self, participant_id: str) -> ParticipantBalances:
        with Session(self.db, expire_on_commit=False) as session:
            participant = repo.get_participant(session, participant_id)
            clients = list(repo.clients_of(session, participant_id))
            locked = repo.locked_as_payer_base_units(session, participant_id)
        unallocated = self.journal.balance(wallet_account(participant.address))
        client_balances = [ClientBalance(c.id, c.name, self.journal.balance(client_account(c.id))) for c in clients]
        in_net = NetSettlementContract(self.chain).balance_of(participant.address) if self.chain.manifest.net else 0
        return ParticipantBalances(
            participant_id=participant.id,
            address=participant.address,
            on_chain_base_units=self.chain.balance_of(participant.address),
            ledger_base_units=unallocated + sum(c.balance_base_units for c in client_balances),
            unallocated_base_units=unallocated,
            locked_as_payer_base_units=locked,
            clients=client_balances,
            settlement_on_chain_base_units=in_net,
            settlement_ledger_base_units=self.journal.balance(settlement_account(participant.address)),
        )
