"""EVM addresses as the ledger stores them: validated, lower-case."""

from __future__ import annotations

from eth_utils.address import is_address, to_checksum_address

from settlement import errors


def normalized_address(address: str) -> str:
    """The address in lower case, or ValidationFailed if it is not a 20-byte EVM address."""
    if not is_address(address):
        raise errors.ValidationFailed(f"{address!r} is not an EVM address")
    return to_checksum_address(address).lower()
