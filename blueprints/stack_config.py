"""A stack's configuration read into a pydantic model, so a wrong key, type or value fails
with one line per problem naming `<project>:<key>`, before any resource is declared."""

from __future__ import annotations

import json
from typing import Any, TypeVar

import pulumi
from pydantic import BaseModel, ValidationError

from tcra.errors import InvalidInputError, Problem, problems_from

M = TypeVar("M", bound=BaseModel)


def read(model: type[M], project: str | None = None) -> M:
    project = project or pulumi.get_project()
    values = _project_values(project)
    where = f"stack {pulumi.get_stack()} config"
    unknown = sorted(set(values) - set(model.model_fields))
    problems = [Problem(where, f"{project}:{key}", f"unknown key; expected one of"
                        f" {', '.join(model.model_fields)}", has_value=False) for key in unknown]
    try:
        parsed = model.model_validate({k: v for k, v in values.items() if k not in unknown})
    except ValidationError as exc:
        problems += [Problem(p.where, f"{project}:{p.field}", p.message, p.value, p.has_value)
                     for p in problems_from(exc, where)]
    if problems:
        raise InvalidInputError(problems)
    return parsed


def _project_values(project: str) -> dict[str, Any]:
    from pulumi.runtime.config import CONFIG, get_config_env

    everything = {**get_config_env(), **CONFIG.get()}
    prefix = f"{project}:"
    return {key.removeprefix(prefix): _parsed(value) for key, value in everything.items()
            if key.startswith(prefix)}


def _parsed(value: Any) -> Any:
    """Structured config arrives as JSON text; plain strings stay strings."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
