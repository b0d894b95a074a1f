"""The MCO policy of each tenant the API serves: a YAML file mapping the tenant (its tokens'
`sub`) to a Policy, read once at start; a tenant the file does not name gets the default."""

from __future__ import annotations

from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from tcra import yamlsafe
from tcra.errors import InvalidInputError, problems_from
from tcra.mco.model import Policy

_BY_TENANT = TypeAdapter(dict[str, Policy])


class Policies:
    def __init__(self, path: Path | None = None) -> None:
        self._by_tenant: dict[str, Policy] = {}
        if path is not None:
            try:
                self._by_tenant = _BY_TENANT.validate_python(yamlsafe.load(path) or {})
            except ValidationError as exc:
                raise InvalidInputError(problems_from(exc, str(path))) from None

    def __call__(self, tenant: str) -> Policy:
        return self._by_tenant.get(tenant, Policy())
