"""The one mapping from failures to RFC 9457 `application/problem+json` responses.

Every error the product raises is a SettlementError carrying a stable `code`, an HTTP status
and a title (settlement/errors.py), so this module needs no per-error cases: a client branches
on `code`. Framework errors (validation, unknown route, wrong method, oversized body) get the
same shape. Anything unexpected is a 500 that says nothing about internals; the traceback goes
to the server log only.
"""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

import requests
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from settlement import errors
from settlement.api.schemas import Problem
from settlement.redaction import describe_error

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:settlement:problem:"

# Codes for errors raised by the HTTP layer itself, by status.
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation",
}


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def problem(
    request: Request,
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> ProblemResponse:
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": request.url.path,
        **{k: v for k, v in extensions.items() if v is not None},
    }
    return ProblemResponse(body, status_code=status, headers=headers)


def error_problem(exc: errors.SettlementError, instance: str) -> dict[str, Any]:
    """A domain error as a problem object, outside a response (each refused item of a batch)."""
    return {
        "type": TYPE_PREFIX + exc.code,
        "title": exc.title,
        "status": exc.http_status,
        "detail": exc.detail,
        "code": exc.code,
        "instance": instance,
    }


def _settlement_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, errors.SettlementError)
    if exc.http_status >= 500:
        log.warning("%s on %s %s: %s", exc.code, request.method, request.url.path, exc.detail)
    headers: dict[str, str] | None = None
    if isinstance(exc, errors.Unauthenticated):
        headers = {"WWW-Authenticate": "Bearer"}
    elif isinstance(exc, errors.TooManyFailedAuth):
        headers = {"Retry-After": str(exc.retry_after_s)}
    else:
        headers = exc.http_headers() or None
    return problem(request, status=exc.http_status, code=exc.code, title=exc.title, detail=exc.detail, headers=headers)


def _validation_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    if _body_is_not_json(request, exc):
        return problem(
            request,
            status=415,
            code=_HTTP_CODES[415],
            title=HTTPStatus(415).phrase,
            detail="send the request body as application/json",
        )
    # Only location, message and type: the rejected input itself is not echoed back.
    field_errors = [
        {"loc": [str(part) for part in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        for e in exc.errors()
    ]
    summary = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in field_errors[:5])
    return problem(
        request,
        status=422,
        code=errors.ValidationFailed.code,
        title=errors.ValidationFailed.title,
        detail=summary or "request does not match the schema",
        errors=field_errors,
    )


def _body_is_not_json(request: Request, exc: RequestValidationError) -> bool:
    """A JSON body sent with another (or no) media type reaches validation as raw bytes: that is
    the client's content type being wrong (415), not its JSON (422)."""
    has_body = request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
    if not has_body or not any(tuple(e.get("loc", ()))[:1] == ("body",) for e in exc.errors()):
        return False
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return not (
        media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))
    )


def _http_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    detail = exc.detail if isinstance(exc.detail, str) else title
    headers = dict(exc.headers) if exc.headers else {}
    if status == 405:
        # The router names only the methods of the first route matching the path; a resource
        # served by several routes (GET and POST /v1/trades) must list all of them.
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return problem(
        request,
        status=status,
        code=_HTTP_CODES.get(status, f"http_{status}"),
        title=title,
        detail=detail,
        headers=headers or None,
    )


def _allowed_methods(request: Request) -> list[str]:
    paths: dict[str, dict[str, Any]] = request.app.openapi().get("paths", {})
    allowed: set[str] = set()
    if request.url.path in paths:  # a literal path (/v1/trades/batch) is its own resource
        paths = {request.url.path: paths[request.url.path]}
    for template, operations in paths.items():
        if re.fullmatch(re.sub(r"\{[^/]+\}", "[^/]+", template), request.url.path):
            allowed |= {method.upper() for method in operations}
    if "GET" in allowed:
        allowed.add("HEAD")
    return sorted(allowed)


def _chain_unreachable(request: Request, exc: Exception) -> ProblemResponse:
    """A transport failure talking to the RPC endpoint is the chain being unavailable, not a bug."""
    log.warning("chain unreachable on %s %s: %s", request.method, request.url.path, describe_error(exc))
    return problem(
        request,
        status=errors.ChainUnavailable.http_status,
        code=errors.ChainUnavailable.code,
        title=errors.ChainUnavailable.title,
        detail="the chain endpoint did not answer; try again shortly",
    )


def _known_failure(request: Request, exc: Exception) -> ProblemResponse:
    """A failure from below the service that the service names (a database locked past its busy
    timeout: 503 database_unavailable with Retry-After); anything else of that type is a bug."""
    known = request.app.state.service.known_failure(exc)
    return _settlement_error(request, known) if known is not None else _unexpected(request, exc)


def _unexpected(request: Request, exc: Exception) -> ProblemResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(
        request,
        status=500,
        code="internal",
        title="Internal server error",
        detail="an unexpected error occurred; it has been logged",
    )


def install(app: FastAPI) -> None:
    """Register the handlers. Order does not matter: Starlette picks the most specific class."""
    app.add_exception_handler(errors.SettlementError, _settlement_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(requests.exceptions.ConnectionError, _chain_unreachable)
    app.add_exception_handler(requests.exceptions.Timeout, _chain_unreachable)
    app.add_exception_handler(Exception, _unexpected)


def install_known_failures(app: FastAPI, failure_types: tuple[type[Exception], ...]) -> None:
    """Handlers for the failure types the service translates (it says which: the API imports no driver)."""
    for failure_type in failure_types:
        app.add_exception_handler(failure_type, _known_failure)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for problem responses (moved to application/problem+json in main.py)."""
    documented: dict[int | str, dict[str, Any]] = {
        status: {"model": Problem, "description": HTTPStatus(status).phrase} for status in statuses
    }
    documented["default"] = {"model": Problem, "description": "Problem details (RFC 9457)"}
    return documented
