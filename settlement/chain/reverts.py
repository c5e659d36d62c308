"""Turns contract reverts into domain errors.

web3.py v8 raises ContractCustomError with only the raw revert data, so we keep our own map
from 4-byte selector to (error name, argument types), built from the ABIs in the manifest.
"""

from __future__ import annotations

from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.crypto import keccak

from settlement import errors

# Error name -> domain error class. Names not listed decode to TransactionFailed with the name.
_DOMAIN_ERRORS: dict[str, type[errors.SettlementError]] = {
    "ERC20InsufficientBalance": errors.InsufficientFunds,
    "ERC20InsufficientAllowance": errors.InsufficientAllowance,
    "EnforcedPause": errors.Paused,
    "Blacklisted": errors.Blacklisted,
    "AlreadyLocked": errors.AlreadyLocked,
    "NotLocked": errors.NotLocked,
    "DeadlineNotReached": errors.DeadlineNotReached,
    "DeadlinePassed": errors.DeadlinePassed,
    "AccessControlUnauthorizedAccount": errors.NotAuthorized,
    "OwnableUnauthorizedAccount": errors.NotAuthorized,
    "NotAuthorized": errors.NotAuthorized,
    "TransferShortfall": errors.TransferShortfall,
    "ERC2612ExpiredSignature": errors.InvalidPermit,
    "ERC2612InvalidSigner": errors.InvalidPermit,
    "InvalidLockSignature": errors.InvalidLockAuthorization,
    "NotMinter": errors.NotAuthorized,
    "NotMasterMinter": errors.NotAuthorized,
    "NotPauser": errors.NotAuthorized,
    "NotBlacklister": errors.NotAuthorized,
    "NotRescuer": errors.NotAuthorized,
    "MinterAllowanceExceeded": errors.NotAuthorized,
    # SettlementNet: each names the first participant that cannot settle, so the engine can drop
    # its trades and settle the rest (CLS-style).
    "InsufficientSettlementBalance": errors.SettlementBalanceShort,
    "ParticipantBlacklisted": errors.Blacklisted,
    "NotAParticipant": errors.NotAuthorized,
    "WithdrawalExceedsBalance": errors.WithdrawalExceedsBalance,
    "WindowAlreadySettled": errors.WindowAlreadySettled,
}
# Plain require() strings from tokens without custom errors (e.g. USDT-style mocks).
_REASON_ERRORS: dict[str, type[errors.SettlementError]] = {
    "balance": errors.InsufficientFunds,
    "allowance": errors.InsufficientAllowance,
}
ERROR_STRING_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)


class RevertDecoder:
    def __init__(self, *abis: list[dict[str, Any]]) -> None:
        self._by_selector: dict[bytes, tuple[str, list[str]]] = {}
        for abi in abis:
            for item in abi:
                if item.get("type") != "error":
                    continue
                types = [arg["type"] for arg in item.get("inputs", [])]
                signature = f"{item['name']}({','.join(types)})"
                self._by_selector[keccak(text=signature)[:4]] = (item["name"], types)

    def decode_data(self, data: bytes) -> errors.SettlementError:
        """Decode raw revert data (selector + ABI-encoded args) into a domain error."""
        selector, payload = data[:4], data[4:]
        if selector == ERROR_STRING_SELECTOR:
            (reason,) = abi_decode(["string"], payload)
            return self.from_reason(str(reason))
        known = self._by_selector.get(selector)
        if known is None:
            return errors.TransactionFailed(f"reverted with unknown error 0x{data.hex()}")
        name, types = known
        try:
            args = abi_decode(types, payload)
        except Exception:
            args = ()
        shown = ", ".join(_show(a) for a in args)
        error_class = _DOMAIN_ERRORS.get(name, errors.TransactionFailed)
        return error_class(f"{name}({shown})", revert=name, args=[_show(a) for a in args])

    def from_reason(self, reason: str) -> errors.SettlementError:
        error_class = _REASON_ERRORS.get(reason, errors.TransactionFailed)
        return error_class(f"reverted: {reason}", revert=reason)

    def decode_exception(self, exc: BaseException) -> errors.SettlementError | None:
        """Best effort on whatever web3 raised at estimate/call time; None if not a revert."""
        data = getattr(exc, "data", None)
        if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
            return self.decode_data(bytes.fromhex(data[2:]))
        if isinstance(data, bytes | bytearray) and len(data) >= 4:
            return self.decode_data(bytes(data))
        message = str(exc)
        if "execution reverted" in message:
            marker = "execution reverted: "
            if marker in message:
                return self.from_reason(message.split(marker, 1)[1].strip().strip("'\""))
            return errors.TransactionFailed(message)
        return None


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)
