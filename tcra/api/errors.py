"""CAMARA's error form: every failure answers `{status, code, message}` in JSON, FastAPI's and
Starlette's own included, so a caller parses one shape whatever went wrong."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from tcra.api.schemas import INFRA_KINDS

SECRET_FIELDS = frozenset({"credentials", "accessToken", "accessTokenType"})
MESSAGE_LIMIT = 512  # the definition's longest message


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID_ARGUMENT", message)


def not_found(what: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"{what} is not found")


def answer(error: ApiError) -> JSONResponse:
    return JSONResponse({"status": error.status, "code": error.code,
                         "message": error.message[:MESSAGE_LIMIT]},
                        status_code=error.status, headers=error.headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)  # noqa: S101 - registered for it
    return answer(exc)


async def _validation(_request: Request, exc: Exception) -> JSONResponse:
    """400 naming the first wrong field, what was expected and, unless secret, what came."""
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for it
    return answer(invalid("; ".join(describe(e) for e in exc.errors()[:3])))


def describe(error: Any) -> str:
    where = ".".join(str(p) for p in error["loc"] if p not in ("body",)
                     and not _variant(p)) or "body"
    got = error.get("input")
    secret = any(str(p) in SECRET_FIELDS for p in error["loc"])
    shown = "" if secret or isinstance(got, dict | list) or got is None else f" (got {got!r:.80})"
    return f"{where}: {error['msg']}{shown}"


def _variant(part: object) -> bool:
    """Pydantic names the union member it tried (`kubernetes`, `function-after[...]`)."""
    return isinstance(part, str) and (part in INFRA_KINDS or "[" in part)


async def _http(request: Request, exc: Exception) -> JSONResponse:
    """Routing's own failures: no such path, a method the path does not take."""
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for it
    if exc.status_code == 405:
        allowed = _allowed(request)
        return answer(ApiError(405, "METHOD_NOT_ALLOWED", f"{request.method} is not allowed"
                               f" here (allowed: {', '.join(allowed)})",
                               {"Allow": ", ".join(allowed)}))
    if exc.status_code == 404:
        return answer(not_found("the resource"))
    return answer(ApiError(exc.status_code, "INVALID_ARGUMENT" if exc.status_code == 400
                           else "INTERNAL", str(exc.detail)))


def _allowed(request: Request) -> list[str]:
    """The methods the requested path takes, from the app's own OpenAPI document."""
    for template, operations in request.app.openapi()["paths"].items():
        if re.fullmatch(re.sub(r"\{[^}/]+\}", "[^/]+", template), request.url.path):
            return sorted(method.upper() for method in operations)
    return []
