"""EIP-712 lock intents: the payer's signature that authorises one lock for one trade.

The escrow accepts a lock only from the settlement agent and only with the payer's signature
over `LockIntent(tradeId, payer, payee, amount, deadline)` for that escrow on that chain. So a
leftover allowance or a bare permit can never fund a trade the payer did not sign, and a
stranger cannot create a trade's lock at all.
"""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes

from settlement.chain.client import ChainClient, checksum
from settlement.chain.contract_calls import LockOrder
from settlement.chain.permits import EIP712_DOMAIN_FIELDS

DOMAIN_NAME = "SettlementEscrow"
DOMAIN_VERSION = "1"
SIGNATURE_BYTES = 65
SECP256K1_HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0


def lock_intent_typed_data(chain: ChainClient, order: LockOrder) -> dict[str, Any]:
    """The typed data a payer signs (what a wallet shows it), as EIP-712 JSON."""
    return {
        "types": {
            "EIP712Domain": EIP712_DOMAIN_FIELDS,
            "LockIntent": [
                {"name": "tradeId", "type": "bytes32"},
                {"name": "payer", "type": "address"},
                {"name": "payee", "type": "address"},
                {"name": "amount", "type": "uint256"},
                {"name": "deadline", "type": "uint64"},
            ],
        },
        "primaryType": "LockIntent",
        "domain": {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": chain.chain_id,
            "verifyingContract": checksum(str(chain.escrow.address)),
        },
        "message": {
            "tradeId": "0x" + order.trade_id.hex(),
            "payer": checksum(order.payer),
            "payee": checksum(order.payee),
            "amount": order.amount_base_units,
            "deadline": order.deadline,
        },
    }


def sign_lock_intent(chain: ChainClient, payer: LocalAccount, order: LockOrder) -> bytes:
    """The payer's side: a 65-byte r||s||v signature (custodial keys, tests and the demo)."""
    signed = payer.sign_message(encode_typed_data(full_message=lock_intent_typed_data(chain, order)))
    return bytes(signed.signature)


def lock_intent_signer(chain: ChainClient, order: LockOrder, signature: bytes) -> str | None:
    """Who signed this intent (lower case), or None if the escrow would refuse the signature.

    Refused as the escrow's ECDSA check refuses them: a length other than 65, v outside {27, 28},
    and the high-s twin of a valid signature (malleability)."""
    if len(signature) != SIGNATURE_BYTES or signature[64] not in (27, 28):
        return None
    if int.from_bytes(signature[32:64], "big") > SECP256K1_HALF_ORDER:
        return None
    try:
        signer = Account.recover_message(
            encode_typed_data(full_message=lock_intent_typed_data(chain, order)), signature=HexBytes(signature)
        )
    except Exception:
        return None
    return str(signer).lower()
