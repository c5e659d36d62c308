"""Devnet accounts derived from the fixed mnemonic, by role.

Index 0 deploys and holds every token role (owner, masterMinter, minter, pauser, blacklister,
rescuer) and every escrow role but the agent's (admin, pauser, rescuer, recovery); see
devnet/deploy.py. 1 is the settlement agent,
2..9 are pre-funded brokers, the last one anchors the journal (LedgerAnchor's ANCHOR_ROLE: a key
of its own, never the agent's), the rest are spare wallets handed to participants created later.
"""

from __future__ import annotations

from eth_account import Account
from eth_account.signers.local import LocalAccount

from settlement.devnet.anvil import DEVNET_ACCOUNTS

DEPLOYER_INDEX = 0
AGENT_INDEX = 1
BROKER_INDICES = range(2, 10)
SPARE_INDICES = range(10, DEVNET_ACCOUNTS - 1)
ANCHORER_INDEX = DEVNET_ACCOUNTS - 1

Account.enable_unaudited_hdwallet_features()


def derive(mnemonic: str, index: int) -> LocalAccount:
    account: LocalAccount = Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{index}")
    return account
