"""Deploys token and escrow, grants roles, funds the brokers and writes the manifest.

Roles on the devnet (production would give each to its own key):
- SettlementToken: the deployer ("issuer", index 0) is owner, masterMinter, pauser,
  blacklister and rescuer, and is configured as a minter with ISSUER_MINTER_ALLOWANCE. One key
  for all token roles keeps the devnet simple; the API's issue, pause and blacklist calls all
  sign with the issuer key.
- SettlementEscrow: the deployer is DEFAULT_ADMIN_ROLE and, through the constructor, also
  PAUSER_ROLE, RESCUER_ROLE and RECOVERY_ROLE; the agent (index 1) is SETTLEMENT_AGENT_ROLE.
- SettlementNet (net mode's pre-funded balances and window settlement): the deployer is admin,
  the agent settles windows.
- LedgerAnchor: the deployer is admin; the anchorer (the last devnet account) alone anchors the
  journal's head, so the agent's key cannot also rewrite the evidence.
"""

from __future__ import annotations

from decimal import Decimal

from web3 import Web3

from settlement.chain.artifacts import load_artifact
from settlement.chain.client import connect
from settlement.chain.reverts import RevertDecoder
from settlement.chain.sender import Call, MemoryTxJournal, TxSender
from settlement.devnet.accounts import (
    AGENT_INDEX,
    ANCHORER_INDEX,
    BROKER_INDICES,
    DEPLOYER_INDEX,
    SPARE_INDICES,
    derive,
)
from settlement.devnet.toolchain import compile_contracts
from settlement.manifest import Account, DeployedContract, DeploymentManifest
from settlement.money import TOKEN_DECIMALS

TOKEN_NAME = "Tether USD (devnet)"
TOKEN_SYMBOL = "USDT"
BROKER_FUNDING_COINS = Decimal("1000000")
# What the issuer may mint in total, in base units: far more than any devnet will ever issue.
ISSUER_MINTER_ALLOWANCE = 10**30


def deploy(rpc_url: str, mnemonic: str, *, fund_coins: Decimal = BROKER_FUNDING_COINS) -> DeploymentManifest:
    compile_contracts()
    w3 = connect(rpc_url)
    token_artifact = load_artifact("SettlementToken")
    escrow_artifact = load_artifact("SettlementEscrow")
    net_artifact = load_artifact("SettlementNet")
    anchor_artifact = load_artifact("LedgerAnchor")
    deployer = derive(mnemonic, DEPLOYER_INDEX)
    agent = derive(mnemonic, AGENT_INDEX)
    brokers = [derive(mnemonic, i) for i in BROKER_INDICES]
    spares = [derive(mnemonic, i) for i in SPARE_INDICES]
    anchorer = derive(mnemonic, ANCHORER_INDEX)

    sender = TxSender(w3, deployer, MemoryTxJournal(), RevertDecoder(token_artifact.abi, escrow_artifact.abi))

    token_factory = w3.eth.contract(abi=token_artifact.abi, bytecode=token_artifact.bytecode)
    issuer = deployer.address
    token_receipt = sender.transact(
        Call(
            to=None,
            data=token_factory.constructor(
                TOKEN_NAME,
                TOKEN_SYMBOL,
                issuer,  # owner
                issuer,  # masterMinter
                issuer,  # pauser
                issuer,  # blacklister
                issuer,  # rescuer
            ).data_in_transaction,
            purpose="deploy SettlementToken",
        )
    )
    token_address = str(token_receipt["contractAddress"])

    escrow_factory = w3.eth.contract(abi=escrow_artifact.abi, bytecode=escrow_artifact.bytecode)
    escrow_receipt = sender.transact(
        Call(
            to=None,
            data=escrow_factory.constructor(token_address, deployer.address, agent.address).data_in_transaction,
            purpose="deploy SettlementEscrow",
        )
    )
    escrow_address = str(escrow_receipt["contractAddress"])

    # After both deploys, so the contracts keep their addresses (deployer nonces 0 and 1).
    # The masterMinter makes the issuer a minter: issue() is refused to anyone without allowance.
    token = w3.eth.contract(address=Web3.to_checksum_address(token_address), abi=token_artifact.abi)
    sender.transact(
        Call(
            to=token_address,
            data=token.encode_abi("configureMinter", [issuer, ISSUER_MINTER_ALLOWANCE]),
            purpose="configure issuer as minter",
        )
    )

    fund_base_units = int(fund_coins * 10**TOKEN_DECIMALS)
    funding = sender.submit_many(
        [
            Call(
                to=token_address,
                data=token.encode_abi("issue", [broker.address, fund_base_units]),
                purpose=f"fund broker {broker.address}",
            )
            for broker in brokers
        ]
    )
    failed = [o for o in funding if o.error is not None]
    if failed:
        raise failed[0].error  # type: ignore[misc]

    # Last, so the token and escrow keep their addresses (deployer nonces 0 and 1).
    net_factory = w3.eth.contract(abi=net_artifact.abi, bytecode=net_artifact.bytecode)
    net_receipt = sender.transact(
        Call(
            to=None,
            data=net_factory.constructor(token_address, deployer.address, agent.address).data_in_transaction,
            purpose="deploy SettlementNet",
        )
    )
    anchor_factory = w3.eth.contract(abi=anchor_artifact.abi, bytecode=anchor_artifact.bytecode)
    anchor_receipt = sender.transact(
        Call(
            to=None,
            data=anchor_factory.constructor(deployer.address, anchorer.address).data_in_transaction,
            purpose="deploy LedgerAnchor",
        )
    )

    def account(local: object) -> Account:
        return Account(address=local.address, private_key=local.key.to_0x_hex())  # type: ignore[attr-defined]

    return DeploymentManifest(
        chain_id=int(w3.eth.chain_id),
        rpc_url=rpc_url,
        deploy_block=int(token_receipt["blockNumber"]),
        token=DeployedContract(address=token_address, abi=token_artifact.abi, enums=token_artifact.enums),
        escrow=DeployedContract(address=escrow_address, abi=escrow_artifact.abi, enums=escrow_artifact.enums),
        deployer=account(deployer),
        issuer=account(deployer),
        agent=account(agent),
        brokers=[account(b) for b in brokers],
        spare_accounts=[account(s) for s in spares],
        net=DeployedContract(
            address=str(net_receipt["contractAddress"]), abi=net_artifact.abi, enums=net_artifact.enums
        ),
        ledger_anchor=DeployedContract(
            address=str(anchor_receipt["contractAddress"]), abi=anchor_artifact.abi, enums=anchor_artifact.enums
        ),
        anchorer=account(anchorer),
    )
