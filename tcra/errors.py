"""tcra's one error root. Each error says which resource, which endpoint, and why."""

from __future__ import annotations

import re
import reprlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

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
    secret: bool = False
    """The value is a secret (or the field's name says so): it is never shown."""

    def __str__(self) -> str:
        got = ""
        if self.has_value:
            hidden = self.secret or _SECRET.search(self.field)
            got = " (value hidden: a secret)" if hidden else f" (got {excerpt(self.value)})"
        field = f"{self.field}: " if self.field else ""
        message = self.message if len(self.message) <= 4 * EXCERPT else \
            self.message[:4 * EXCERPT] + "..."
        return f"{self.where}: {field}{message}{got}"


EXCERPT = 80
"""Most characters of a value an error shows; the rest is counted, not printed."""
_SECRET = re.compile(r"password|passwd|secret|token|credential|kubeconfig|private_key", re.I)


def excerpt(value: object) -> str:
    """A value as an error shows it: short whatever its size, secret-named keys masked."""
    if isinstance(value, str) and len(value) > EXCERPT:
        return f"{value[:EXCERPT]!r}... ({len(value):,} characters)"
    shown = _Excerpt().repr(value)
    return shown if len(shown) <= EXCERPT else shown[:EXCERPT] + "..."


class _Excerpt(reprlib.Repr):
    """reprlib's bounded repr (it looks at a few items of a list however long it is)."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel, self.maxstring, self.maxother = 3, EXCERPT, EXCERPT

    def repr_dict(self, x: Mapping[Any, Any], level: int) -> str:
        shown = {key: "***" if isinstance(key, str) and _SECRET.search(key) else value
                 for key, value in islice(x.items(), self.maxdict + 1)}
        return super().repr_dict(shown, level)

    def repr_int(self, x: int, level: int) -> str:
        digits = x.bit_length() * 0.30103  # repr of a 10**5000 raises; its size is the point
        return super().repr_int(x, level) if digits < EXCERPT else f"<a {digits:,.0f}-digit number>"


class InvalidInputError(TcraError):
    """Input that failed validation; nothing real was touched."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        # Each problem once. A field may hold several values that fail (two workloads of one
        # name, two unknown names in `affinity`): the (excerpted) value keeps them apart.
        self.problems = tuple({(p.where, p.field, p.message, excerpt(p.value)): p
                               for p in problems}.values())
        super().__init__("\n".join(self.lines()))

    def lines(self, limit: int = 100) -> list[str]:
        """One line per problem, at most `limit` of them, then how many more there are."""
        shown = [str(problem) for problem in self.problems[:limit]]
        more = len(self.problems) - limit
        return shown + ([f"... and {more:,} more problem(s)"] if more > 0 else [])


def problems_from(error: ValidationError, where: str) -> list[Problem]:
    """Turn pydantic's errors into Problems that name the field path and the value."""
    details = error.errors(include_url=False)
    failed_inside = {detail["loc"][:end] for detail in details
                     for end in range(len(detail["loc"]))}
    return [
        Problem(
            where=where,
            field=".".join(str(part) for part in detail["loc"]),
            message=_message(detail),
            value=detail.get("input"),
            has_value=detail["type"] != "missing",
        )
        for detail in details
        # "too short" of a list whose items failed is the items' problem again
        if not (detail["type"] == "too_short" and detail["loc"] in failed_inside)
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
