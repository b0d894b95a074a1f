"""Alertmanager's webhook (payload version 4), read and checked: a call without the shared
token, or whose body is not such a payload, is refused before anything is recorded."""

from __future__ import annotations

import hmac
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tcra.errors import problems_from


class _Payload(BaseModel):
    # Alertmanager adds fields across releases: read what the agent needs, ignore the rest.
    model_config = ConfigDict(extra="ignore", frozen=True)


class Alert(_Payload):
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    fingerprint: str = Field(default="", max_length=64)
    startsAt: str = Field(default="", max_length=40)  # noqa: N815 - Alertmanager's name

    @property
    def firing(self) -> str:
        """This firing of the alert: Alertmanager repeats it with the same fingerprint and
        start until it resolves."""
        return f"{self.fingerprint}@{self.startsAt}" if self.fingerprint else ""


class Notification(_Payload):
    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: str
    alerts: list[Alert] = Field(max_length=1000)


class RefusedCallError(Exception):
    """The call is refused; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, problems: list[str]) -> None:
        self.status = status
        self.problems = problems
        super().__init__("; ".join(problems))


def authorize(header: str | None, token: str) -> None:
    """The bearer token Alertmanager sends (`http_config.authorization`), compared in
    constant time."""
    scheme, _, given = (header or "").partition(" ")
    if scheme != "Bearer" or not hmac.compare_digest(given.encode(), token.encode()):
        raise RefusedCallError(401, ["expected header Authorization: Bearer <the agent's"
                                     " token>"])


def parse(body: bytes) -> Notification:
    try:
        return Notification.model_validate_json(body)
    except ValidationError as exc:
        raise RefusedCallError(400, [str(p) for p in problems_from(exc, "webhook")[:10]]
                               ) from None
