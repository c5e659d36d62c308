"""EIP-2612 permits: the non-custodial path, where a broker authorises a lock by signature."""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes

from settlement.chain.client import ChainClient, checksum
from settlement.domain.requests import PermitSignature

EIP712_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


def permit_typed_data(chain: ChainClient, owner: str, value: int, nonce: int, deadline: int) -> dict[str, Any]:
    return {
        "types": {
            "EIP712Domain": EIP712_DOMAIN_FIELDS,
            "Permit": [
                {"name": "owner", "type": "address"},
                {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "Permit",
        "domain": {
            "name": chain.token_name(),
            "version": "1",
            "chainId": chain.chain_id,
            "verifyingContract": checksum(str(chain.token.address)),
        },
        "message": {
            "owner": checksum(owner),
            "spender": checksum(str(chain.escrow.address)),
            "value": value,
            "nonce": nonce,
            "deadline": deadline,
        },
    }


def sign_permit(chain: ChainClient, owner: LocalAccount, value: int, deadline: int) -> PermitSignature:
    """What a broker does on its own side (tests and the demo play the broker here)."""
    data = permit_typed_data(chain, owner.address, value, chain.permit_nonce(owner.address), deadline)
    signed = owner.sign_message(encode_typed_data(full_message=data))
    return PermitSignature(
        value_base_units=value,
        deadline=deadline,
        v=int(signed.v),
        r="0x" + signed.r.to_bytes(32, "big").hex(),
        s="0x" + signed.s.to_bytes(32, "big").hex(),
    )


def permit_signer(chain: ChainClient, owner: str, permit: PermitSignature) -> str | None:
    """Recover who signed the permit for the owner's current nonce (None if it does not parse)."""
    data = permit_typed_data(chain, owner, permit.value_base_units, chain.permit_nonce(owner), permit.deadline)
    try:
        return str(
            Account.recover_message(
                encode_typed_data(full_message=data),
                vrs=(permit.v, HexBytes(permit.r), HexBytes(permit.s)),
            )
        )
    except Exception:
        return None
