"""tcra's one error root. Each error says which resource, which endpoint, and why."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pydantic import ValidationError
from pydantic_core import ErrorDetails


class TcraError(Exception):
    """Root of every error tcra raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: where it is, which field, the value, what was expected."""

    where: str
    field: str
    message: str
    value: object = None
    has_value: bool = True

    def __str__(self) -> str:
        got = f" (got {self.value!r})" if self.has_value else ""
        field = f"{self.field}: " if self.field else ""
        return f"{self.where}: {field}{self.message}{got}"


class InvalidInputError(TcraError):
    """Input that failed validation; nothing real was touched."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


def problems_from(error: ValidationError, where: str) -> list[Problem]:
    """Turn pydantic's errors into Problems that name the field path and the value."""
    return [
        Problem(
            where=where,
            field=".".join(str(part) for part in detail["loc"]),
            message=_message(detail),
            value=detail.get("input"),
            has_value=detail["type"] != "missing",
        )
        for detail in error.errors(include_url=False)
    ]


def _message(detail: ErrorDetails) -> str:
    if detail["type"] == "missing":
        return "missing; this field is required"
    if detail["type"] == "extra_forbidden":
        return "unknown field; check its spelling against `tcra schema`"
    return detail["msg"].removeprefix("Value error, ")


def raise_if_any(problems: Iterable[Problem]) -> None:
    collected = list(problems)
    if collected:
        raise InvalidInputError(collected)
