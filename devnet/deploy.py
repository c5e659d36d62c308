"""Deploys token and escrow, grants roles, funds the brokers and writes the manifest."""

from __future__ import annotations

from decimal import Decimal

from web3 import Web3

from devnet.accounts import AGENT_INDEX, BROKER_INDICES, DEPLOYER_INDEX, SPARE_INDICES, derive
from devnet.toolchain import compile_contracts
from settlement.chain.artifacts import load_artifact
from settlement.chain.client import connect
from settlement.chain.reverts import RevertDecoder
from settlement.chain.sender import Call, MemoryTxJournal, TxSender
from settlement.manifest import Account, DeployedContract, DeploymentManifest
from settlement.money import TOKEN_DECIMALS

TOKEN_NAME = "Tether USD (devnet)"
TOKEN_SYMBOL = "USDT"
BROKER_FUNDING_COINS = Decimal("1000000")


def deploy(rpc_url: str, mnemonic: str, *, fund_coins: Decimal = BROKER_FUNDING_COINS) -> DeploymentManifest:
    compile_contracts()
    w3 = connect(rpc_url)
    token_artifact = load_artifact("SettlementToken")
    escrow_artifact = load_artifact("SettlementEscrow")
    deployer = derive(mnemonic, DEPLOYER_INDEX)
    agent = derive(mnemonic, AGENT_INDEX)
    brokers = [derive(mnemonic, i) for i in BROKER_INDICES]
    spares = [derive(mnemonic, i) for i in SPARE_INDICES]

    sender = TxSender(w3, deployer, MemoryTxJournal(), RevertDecoder(token_artifact.abi, escrow_artifact.abi))

    token_factory = w3.eth.contract(abi=token_artifact.abi, bytecode=token_artifact.bytecode)
    token_receipt = sender.transact(
        Call(
            to=None,
            data=token_factory.constructor(TOKEN_NAME, TOKEN_SYMBOL, deployer.address).data_in_transaction,
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

    token = w3.eth.contract(address=Web3.to_checksum_address(token_address), abi=token_artifact.abi)
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
    )
