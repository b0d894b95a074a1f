"""The `check` every tcra provider runs: validate the inputs into the provider's model, and
the owner the resource set (tcra.ownership), turning each problem into a CheckFailure naming
the field, before anything real is touched."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pulumi.dynamic import CheckFailure, CheckResult
from pulumi.output import Unknown
from pydantic import ValidationError

from tcra.errors import problems_from
from tcra.model.base import Model
from tcra.ownership import Owner


class _Owned(Model):
    owner: Owner


def owner_in(props: dict[str, Any]) -> str:
    """The owner a tcra resource puts on its provider's inputs, validated."""
    return _Owned.model_validate({k: props[k] for k in ("owner",) if k in props}).owner


def check_inputs(validate: Callable[[dict[str, Any]], object], news: dict[str, Any],
                 kind: str) -> CheckResult:
    """`validate`'s problems, and the owner's once it is known: a new stack's preview cannot
    know its identity yet (tcra.providers.stack_owner)."""
    failures = _failures(validate, news, kind)
    if not isinstance(news.get("owner"), Unknown):
        failures += _failures(owner_in, news, kind)
    return CheckResult(news, failures)


def _failures(validate: Callable[[dict[str, Any]], object], news: dict[str, Any],
              kind: str) -> list[CheckFailure]:
    try:
        validate(news)
    except ValidationError as exc:
        return [CheckFailure(p.field or "inputs", p.message) for p in problems_from(exc, kind)]
    return []
