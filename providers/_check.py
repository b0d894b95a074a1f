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
    """`validate`'s problems with the inputs known now, and the owner's once it is known: a
    preview cannot know another resource's outputs, nor a new stack its identity
    (tcra.providers.stack_owner); `up` checks them again, known."""
    unknown = {key for key, value in news.items() if unknown_in(value)}
    failures = [f for f in _failures(validate, {k: v for k, v in news.items()
                                                if k not in unknown}, kind)
                if f.property.split(".")[0] not in unknown]
    if "owner" not in unknown:
        failures += _failures(owner_in, news, kind)
    return CheckResult(news, failures)


def unknown_in(value: object) -> bool:
    """Whether a preview left any part of an input unknown (an Output not resolved yet)."""
    if isinstance(value, Unknown):
        return True
    if isinstance(value, dict):
        return any(unknown_in(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(unknown_in(v) for v in value)
    return False


def _failures(validate: Callable[[dict[str, Any]], object], news: dict[str, Any],
              kind: str) -> list[CheckFailure]:
    try:
        validate(news)
    except ValidationError as exc:
        return [CheckFailure(p.field or "inputs", p.message) for p in problems_from(exc, kind)]
    return []
