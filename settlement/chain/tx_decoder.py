"""One transaction, read from the node and decoded with the manifest's ABIs: the dashboard's mini explorer.

Why here: reading a transaction and its receipt and decoding calldata and logs need web3 and
eth_abi, which only the chain adapter imports. The result is plain data (strings for every
value, so uint256 amounts and bytes survive JSON exactly) for the service to hand out.
Unlike the indexer's EventDecoder, this decodes every function and event in the ABIs, not only
the ones the ledger posts, and leaves anything it does not know as raw hex.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from eth_abi.abi import decode as abi_decode
from eth_typing import ABIEvent, ABIFunction
from eth_utils.abi import event_abi_to_log_topic, function_abi_to_4byte_selector
from hexbytes import HexBytes
from web3.exceptions import TransactionNotFound

from settlement.chain.client import ChainClient

TX_HASH_HEX_CHARS = 64
ARGUMENT_ITEMS_MAX = 200  # elements shown of one array argument (a batch holds at most 200 trades)


@dataclass(frozen=True)
class DecodedValue:
    name: str
    type: str
    value: Any  # a string, or a list of values for arrays and tuples


@dataclass(frozen=True)
class DecodedEvent:
    log_index: int
    address: str
    contract: str | None
    name: str | None
    args: tuple[DecodedValue, ...]
    topics: tuple[str, ...]
    data: str


@dataclass(frozen=True)
class DecodedTransaction:
    tx_hash: str
    block_number: int | None
    block_hash: str | None
    from_address: str
    to_address: str | None
    contract: str | None
    function: str | None
    selector: str | None
    args: tuple[DecodedValue, ...]
    value_wei: int
    nonce: int
    status: int | None  # 1 success, 0 reverted, None while pending
    gas_used: int | None
    gas_limit: int
    events: tuple[DecodedEvent, ...]


def is_tx_hash(value: str) -> bool:
    text = value[2:] if value.startswith("0x") else value
    return len(text) == TX_HASH_HEX_CHARS and all(c in "0123456789abcdefABCDEF" for c in text)


class TransactionDecoder:
    def __init__(self, chain: ChainClient) -> None:
        self.chain = chain
        manifest = chain.manifest
        self._contracts = {
            manifest.token.address.lower(): ("SettlementToken", manifest.token.abi),
            manifest.escrow.address.lower(): ("SettlementEscrow", manifest.escrow.abi),
        }
        # Net mode's window settlements and deposits, and the journal anchors (older manifests lack them).
        for label, deployed in (("SettlementNet", manifest.net), ("LedgerAnchor", manifest.ledger_anchor)):
            if deployed is not None:
                self._contracts[deployed.address.lower()] = (label, deployed.abi)
        self._functions: dict[tuple[str, bytes], dict[str, Any]] = {}
        self._events: dict[tuple[str, bytes], dict[str, Any]] = {}
        for address, (_, abi) in self._contracts.items():
            for item in abi:
                if item.get("type") == "function":
                    selector = bytes(function_abi_to_4byte_selector(cast(ABIFunction, item)))
                    self._functions[(address, selector)] = item
                elif item.get("type") == "event" and not item.get("anonymous"):
                    self._events[(address, bytes(event_abi_to_log_topic(cast(ABIEvent, item))))] = item

    def decode(self, tx_hash: str) -> DecodedTransaction | None:
        """The transaction and its receipt decoded, or None if the node does not know the hash."""
        w3 = self.chain.w3
        try:
            tx = w3.eth.get_transaction(HexBytes(tx_hash))
        except TransactionNotFound:
            return None
        receipt = None
        if tx.get("blockNumber") is not None:
            try:
                receipt = w3.eth.get_transaction_receipt(HexBytes(tx_hash))
            except TransactionNotFound:
                receipt = None
        to = tx.get("to")
        to_address = None if to is None else str(to).lower()
        contract = self._contracts.get(to_address or "", (None, []))[0]
        data = bytes(HexBytes(tx.get("input", b"")))
        function, selector, args = self._decode_call(to_address, data)
        events = tuple(self._decode_log(log) for log in (receipt["logs"] if receipt else []))
        block_hash = tx.get("blockHash")
        return DecodedTransaction(
            tx_hash=HexBytes(tx["hash"]).to_0x_hex(),
            block_number=tx.get("blockNumber"),
            block_hash=None if block_hash is None else HexBytes(block_hash).to_0x_hex(),
            from_address=str(tx["from"]).lower(),
            to_address=to_address,
            contract=contract,
            function=function,
            selector=selector,
            args=args,
            value_wei=int(tx.get("value", 0)),
            nonce=int(tx["nonce"]),
            status=None if receipt is None else int(receipt["status"]),
            gas_used=None if receipt is None else int(receipt["gasUsed"]),
            gas_limit=int(tx["gas"]),
            events=events,
        )

    def _decode_call(
        self, to_address: str | None, data: bytes
    ) -> tuple[str | None, str | None, tuple[DecodedValue, ...]]:
        if len(data) < 4:
            return None, None, ()
        selector = "0x" + data[:4].hex()
        item = self._functions.get((to_address or "", data[:4]))
        if item is None:
            return None, selector, ()
        inputs = item.get("inputs", [])
        values = abi_decode([_abi_type(i) for i in inputs], data[4:])
        return str(item["name"]), selector, tuple(_value(i, v) for i, v in zip(inputs, values, strict=True))

    def _decode_log(self, log: Any) -> DecodedEvent:
        address = str(log["address"]).lower()
        topics = [bytes(HexBytes(t)) for t in log["topics"]]
        data = bytes(HexBytes(log["data"]))
        contract = self._contracts.get(address, (None, []))[0]
        item = self._events.get((address, topics[0])) if topics else None
        args: tuple[DecodedValue, ...] = ()
        if item is not None:
            indexed = [i for i in item["inputs"] if i.get("indexed")]
            plain = [i for i in item["inputs"] if not i.get("indexed")]
            decoded: dict[str, DecodedValue] = {}
            for spec, topic in zip(indexed, topics[1:], strict=False):
                static = not spec["type"].endswith("]") and spec["type"] not in ("string", "bytes", "tuple")
                # A dynamic indexed value is stored as its keccak hash: shown as the raw topic.
                value = _value(spec, abi_decode([_abi_type(spec)], topic)[0]) if static else _raw(spec, topic)
                decoded[spec["name"]] = value
            for spec, value in zip(plain, abi_decode([_abi_type(i) for i in plain], data), strict=True):
                decoded[spec["name"]] = _value(spec, value)
            args = tuple(decoded[i["name"]] for i in item["inputs"] if i["name"] in decoded)
        return DecodedEvent(
            log_index=int(log["logIndex"]),
            address=address,
            contract=contract,
            name=None if item is None else str(item["name"]),
            args=args,
            topics=tuple("0x" + t.hex() for t in topics),
            data="0x" + data.hex(),
        )


def _abi_type(spec: dict[str, Any]) -> str:
    """The canonical type string, with tuples (structs) spelled out."""
    typ = str(spec["type"])
    if typ.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in spec.get("components", []))
        return f"({inner}){typ[len('tuple') :]}"
    return typ


def _raw(spec: dict[str, Any], word: bytes) -> DecodedValue:
    return DecodedValue(str(spec.get("name", "")), str(spec["type"]), "0x" + word.hex())


def _value(spec: dict[str, Any], value: Any) -> DecodedValue:
    return DecodedValue(str(spec.get("name", "")), _abi_type(spec), _plain(spec, value))


def _plain(spec: dict[str, Any], value: Any) -> Any:
    """Strings for scalars (exact for uint256 and bytes); lists for arrays and tuples."""
    typ = str(spec["type"])
    if typ.endswith("]"):
        element = {**spec, "type": typ[: typ.rindex("[")]}
        items = list(value)[:ARGUMENT_ITEMS_MAX]
        return [_plain(element, item) for item in items]
    if typ == "tuple":
        return [_value(c, v).__dict__ for c, v in zip(spec.get("components", []), value, strict=True)]
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and typ == "address":
        return value.lower()
    return str(value)
