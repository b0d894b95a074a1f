"""A stack's configuration read into a pydantic model, so a wrong key, type or value fails
with one line per problem naming `<project>:<key>`, before any resource is declared, and
without a Python traceback (Pulumi prints a `RunError` as its message alone).

Values are read through Pulumi's public `pulumi.Config`; a key set with `--secret` is read
with `get_secret` when its field is a `Secret`, so it stays a secret `Output` end to end, and
no error ever shows its value.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar, get_args

import pulumi
from pydantic import BaseModel, PlainValidator, ValidationError

from tcra.errors import InvalidInputError, Problem, TcraError, problems_from

M = TypeVar("M", bound=BaseModel)


def _secret(value: object) -> pulumi.Output[Any]:
    return value if isinstance(value, pulumi.Output) else pulumi.Output.secret(value)


_AS_SECRET = PlainValidator(_secret)
Secret = Annotated[pulumi.Output[Any], _AS_SECRET]
"""A config value kept as a secret Output (set it with `pulumi config set --secret`)."""


class StackConfigError(InvalidInputError, pulumi.RunError):
    """Bad stack configuration; Pulumi shows the lines, not a traceback."""


def read(model: type[M], project: str | None = None) -> M:
    project = project or pulumi.get_project()
    config = pulumi.Config(project)
    where = f"stack {pulumi.get_stack()} config"
    keys = _configured_keys(project)
    secret = {key for key in keys if pulumi.runtime.is_config_secret(f"{project}:{key}")}
    unknown = sorted(keys - set(model.model_fields))
    problems = [Problem(where, f"{project}:{key}", f"unknown key; expected one of"
                        f" {', '.join(model.model_fields)}", has_value=False) for key in unknown]
    values = {key: config.get_secret(key) if key in secret and _is_secret(model, key)
              else _parsed(config.get(key)) for key in keys if key not in unknown}
    try:
        parsed = model.model_validate(values)
    except ValidationError as exc:
        problems += [Problem(p.where, f"{project}:{p.field}", p.message, p.value, p.has_value,
                             secret=p.field.split(".")[0] in secret)
                     for p in problems_from(exc, where)]
    if problems:
        raise StackConfigError(problems)
    return parsed


@contextmanager
def reported() -> Iterator[None]:
    """Run a stack program's body so tcra's errors (a bad inventory, say) end it cleanly."""
    try:
        yield
    except StackConfigError:
        raise
    except InvalidInputError as exc:
        raise StackConfigError(exc.problems) from None
    except TcraError as exc:
        raise pulumi.RunError(str(exc)) from None


def _configured_keys(project: str) -> set[str]:
    """The names (never the values) of the project's keys set for this stack.

    Pulumi's public API reads a key by name but cannot list them; the names come from the
    engine's config bag (the mock runtime of the tests keeps them in the runtime's map).
    """
    from pulumi.runtime.config import CONFIG

    prefix = f"{project}:"
    names = set(pulumi.runtime.get_config_env()) | set(CONFIG.get())
    return {name.removeprefix(prefix) for name in names if name.startswith(prefix)}


def _is_secret(model: type[BaseModel], key: str) -> bool:
    field = model.model_fields[key]
    return _AS_SECRET in field.metadata + _metadata(field.annotation)


def _metadata(annotation: Any) -> list[Any]:
    found = list(getattr(annotation, "__metadata__", ()))
    for argument in get_args(annotation):
        found += _metadata(argument)
    return found


def _parsed(value: str | None) -> Any:
    """Structured config arrives as JSON text; plain strings stay strings."""
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value
