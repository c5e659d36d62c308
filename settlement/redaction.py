"""Keeping credentials and query strings out of messages and logs.

RPC providers put API keys in the URL (`https://host/v3/<key>`, `?apikey=`, `user:pass@`), and
transport errors quote the URL they failed on. Every URL that reaches an error message goes
through `redact_url` (or `redact_text` for a message that may quote one), and
`install_log_redaction` applies the same rule to every log record the process writes, tracebacks
included, as the last line of defence for messages written by libraries (web3, urllib3).
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any
from urllib.parse import urlsplit

# scheme://[userinfo@]host[:port][/path][?query][#fragment], as found inside free text.
_URL = re.compile(
    r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<userinfo>[^\s/@?#'\"<>]*@)?"
    r"(?P<hostpath>[^\s?#'\"<>]*)(?P<query>[?#][^\s'\"<>]*)?"
)
# A bare path with a query, as urllib3 and access logs quote it: `url: /rpc?apikey=…`, `"POST /?k=v HTTP/1.1"`.
_PATH_QUERY = re.compile(r"(?P<path>(?<![^\s'\"(=])/[^\s?#'\"<>]*)[?#][^\s'\"<>)]*")


def redact_url(url: str) -> str:
    """scheme://host:port/path: no user, no password, no query, no fragment."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return redact_text(url)
    if not parts.scheme or not host:
        return redact_text(url)
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return f"{parts.scheme}://{netloc}{parts.path}"


def redact_text(text: str) -> str:
    """`text` with every URL in it reduced as by redact_url, and bare paths stripped of their query."""
    text = _URL.sub(lambda m: m["scheme"] + m["hostpath"], text)
    return _PATH_QUERY.sub(lambda m: m["path"], text)


def describe_error(exc: BaseException) -> str:
    """`ErrorType: message` with URLs redacted: how a transport error is quoted in our own messages."""
    message = redact_text(str(exc).strip())
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


# ---------------------------------------------------------------------------- logs

_installed = False
_install_lock = threading.Lock()


def install_log_redaction() -> None:
    """Redact every log record created from now on, in this process (idempotent).

    Wraps the record factory rather than adding a handler filter, so it covers records from any
    logger reaching any handler, including ones configured later (uvicorn's, pytest's).
    """
    global _installed
    with _install_lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            _redact_record(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True


_traceback_formatter = logging.Formatter()


def _redact_record(record: logging.LogRecord) -> None:
    """Arguments are redacted one by one, so formatters that read record.args (uvicorn's access
    log) keep working; a message that still leaks after that is replaced by its redacted text."""
    if isinstance(record.msg, str):
        record.msg = redact_text(record.msg)
    if isinstance(record.args, tuple):
        record.args = tuple(_redact_arg(arg) for arg in record.args)
    elif isinstance(record.args, dict):
        record.args = {key: _redact_arg(value) for key, value in record.args.items()}
    try:
        message = record.getMessage()
    except Exception:  # a malformed call: leave it for logging's own error report
        return
    redacted = redact_text(message)
    if redacted != message:
        record.msg, record.args = redacted, None
    if record.exc_info and not record.exc_text:
        # Formatters reuse exc_text when it is set, so the traceback is written redacted.
        record.exc_text = redact_text(_traceback_formatter.formatException(record.exc_info))


def _redact_arg(arg: object) -> object:
    if isinstance(arg, str):
        return redact_text(arg)
    if isinstance(arg, BaseException):
        text = str(arg)
        redacted = redact_text(text)
        return arg if redacted == text else redacted
    return arg
