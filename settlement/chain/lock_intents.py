"""EIP-712 lock intents: the payer's signature that authorises one lock for one trade.

The escrow accepts a lock only from the settlement agent and only with the payer's signature
over `LockIntent(tradeId, payer, payee, amount, deadline)` for that escrow on that chain. So a
leftover allowance or a bare permit can never fund a trade the payer did not sign, and a
stranger cannot create a trade's lock at all.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from coincurve import PrivateKey
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes

from settlement.chain.client import ChainClient, checksum
from settlement.chain.contract_calls import LockOrder
from settlement.chain.keccak import address_word, keccak
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


DOMAIN_TYPEHASH = keccak(b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
LOCK_INTENT_TYPEHASH = keccak(b"LockIntent(bytes32 tradeId,address payer,address payee,uint256 amount,uint64 deadline)")


@lru_cache(maxsize=16)
def _domain_separator(chain_id: int, escrow_address: str) -> bytes:
    return keccak(
        DOMAIN_TYPEHASH
        + keccak(DOMAIN_NAME.encode())
        + keccak(DOMAIN_VERSION.encode())
        + chain_id.to_bytes(32, "big")
        + address_word(escrow_address)
    )


@lru_cache(maxsize=256)
def _signing_key(secret: bytes) -> PrivateKey:
    """libsecp256k1's key object, made once per key: building it costs as much as a signature."""
    return PrivateKey(secret)


def lock_intent_digest(chain: ChainClient, order: LockOrder) -> bytes:
    """The EIP-712 digest of `lock_intent_typed_data`, hashed by hand: eth_account's typed-data
    encoder costs ~0.7 ms an intent, and a cycle signs one per custodial lock (a unit test holds
    the two equal)."""
    domain = _domain_separator(chain.chain_id, str(chain.escrow.address))
    struct = keccak(
        LOCK_INTENT_TYPEHASH
        + order.trade_id
        + address_word(order.payer)
        + address_word(order.payee)
        + order.amount_base_units.to_bytes(32, "big")
        + order.deadline.to_bytes(32, "big")
    )
    return keccak(b"\x19\x01" + domain + struct)


def sign_lock_intent(chain: ChainClient, payer: LocalAccount, order: LockOrder) -> bytes:
    """The payer's side: a 65-byte r||s||v signature (custodial keys, tests and the demo). Signed
    with libsecp256k1 (coincurve), which always gives the low-s form the escrow accepts."""
    signature = _signing_key(bytes(payer.key)).sign_recoverable(lock_intent_digest(chain, order), hasher=None)
    return signature[:64] + bytes([signature[64] + 27])


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
