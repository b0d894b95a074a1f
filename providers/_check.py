"""The `check` every tcra provider runs: validate the inputs into the provider's model and turn
each problem into a CheckFailure naming the field, before anything real is touched."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pulumi.dynamic import CheckFailure, CheckResult
from pulumi.output import Unknown
from pydantic import ValidationError

from tcra.errors import problems_from


def check_inputs(validate: Callable[[dict[str, Any]], object], news: dict[str, Any],
                 kind: str) -> CheckResult:
    try:
        validate(news)
    except ValidationError as exc:
        return CheckResult(news, [CheckFailure(p.field or "inputs", p.message)
                                  for p in problems_from(exc, kind)])
    return CheckResult(news, [])


def validate_owned(spec: Callable[[dict[str, Any]], object], owner: Callable[[dict[str, Any]], str],
            props: dict[str, Any]) -> object:
    """Validate the spec and, once known, the owner: a new stack's preview cannot know its
    identity yet (tcra.providers.stack_owner)."""
    if not isinstance(props.get("owner"), Unknown):
        owner(props)
    return spec(props)
