"""Resolve a secret reference ("env:NAME" or "file:/path") to the secret, at the moment of use."""

from __future__ import annotations

import os
from pathlib import Path

from tcra.errors import TcraError


class SecretUnavailableError(TcraError):
    """A secret reference points at nothing; the message names the reference, never a value."""


def resolve(reference: str) -> str:
    scheme, _, target = reference.partition(":")
    if scheme == "env":
        value = os.environ.get(target)
        if value is None:
            raise SecretUnavailableError(
                f"secret {reference}: environment variable {target} is not set")
        return value
    if scheme == "file":
        try:
            return Path(target).expanduser().read_text().strip()
        except OSError as exc:
            raise SecretUnavailableError(f"secret {reference}: cannot read {target}: {exc.strerror}"
                                    ) from None
    raise SecretUnavailableError(f"secret reference {reference!r}: expected env:NAME or file:PATH")
