"""Who calls: an OAuth2 bearer token (a JWT) names the application provider (its `sub`, the
tenant that scopes every app and instance) and what it may do (its `scope`, the definition's
per-operation scopes). Tokens are checked against one issuer's key: a PEM public key (the lab's,
`tcra lab token`) or the keys an identity provider publishes at a JWKS URL (production)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import Request

from tcra.api.errors import ApiError
from tcra.model.inventory import ApiIssuer

ALGORITHMS = ["ES256", "RS256"]
JWKS_TIMEOUT_S = 10
SCOPE_PREFIX = "edge-application-management:"
SCOPES = tuple(f"{SCOPE_PREFIX}{s}" for s in (
    "apps:write", "apps:read", "apps:delete", "instances:write", "instances:read",
    "instances:delete", "deployments:write", "deployments:read", "deployments:update",
    "deployments:delete", "edge-cloud-zones:read"))


@dataclass(frozen=True)
class Caller:
    tenant: str
    scopes: frozenset[str]


class Verifier:
    """Checks a bearer token's signature, issuer and expiry; never logs or returns it."""

    def __init__(self, issuer: ApiIssuer) -> None:
        self.issuer = issuer.issuer
        self._key = issuer.public_key.read_bytes() if issuer.public_key is not None else b""
        self._jwks = (jwt.PyJWKClient(issuer.jwks_url, timeout=JWKS_TIMEOUT_S)
                      if issuer.jwks_url is not None else None)

    def caller(self, authorization: str | None) -> Caller:
        scheme, _, given = (authorization or "").partition(" ")
        token = given.strip()
        if scheme.lower() != "bearer" or not token:
            raise unauthenticated("expected an Authorization: Bearer <token> header")
        try:
            key: Any = (self._key if self._jwks is None
                        else self._jwks.get_signing_key_from_jwt(token).key)
            claims = jwt.decode(token, key, algorithms=ALGORITHMS, issuer=self.issuer,
                                options={"require": ["exp", "iss", "sub"]})
        except jwt.PyJWKClientError:
            raise unauthenticated("the token's signing key cannot be fetched") from None
        except jwt.ExpiredSignatureError:
            raise unauthenticated("the token has expired") from None
        except jwt.InvalidIssuerError:
            raise unauthenticated(f"expected a token issued by {self.issuer}") from None
        except jwt.PyJWTError:  # a bad token, or one of an algorithm the key is not for
            raise unauthenticated("the token is not valid") from None
        scopes = claims.get("scope", "")
        return Caller(tenant=str(claims["sub"]),
                      scopes=frozenset(scopes.split() if isinstance(scopes, str) else ()))


def unauthenticated(why: str) -> ApiError:
    return ApiError(401, "UNAUTHENTICATED", f"Request not authenticated: {why}")


def requires(scope: str) -> Callable[[Request], Caller]:
    """A FastAPI dependency: the caller, once its token holds `scope`."""
    wanted = f"{SCOPE_PREFIX}{scope}"

    def caller(request: Request) -> Caller:
        verifier: Verifier = request.app.state.verifier
        found = verifier.caller(request.headers.get("authorization"))
        if wanted not in found.scopes:
            raise ApiError(403, "PERMISSION_DENIED", f"the token lacks the scope {wanted}")
        request.state.tenant = found.tenant
        return found
    return caller


# -- the lab's issuer -----------------------------------------------------------------------


def key_files(folder: Path) -> tuple[Path, Path]:
    """Where a signing key pair is kept in `folder`: (private, public PEM)."""
    return folder / "api-signing.key", folder / "api-signing.pub.pem"


def ensure_signing_key(folder: Path) -> tuple[Path, Path]:
    """The lab's signing key pair (P-256) in `folder`, made once: (private, public PEM)."""
    private, public = key_files(folder)
    if not private.exists():
        folder.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        private.touch(mode=0o600)
        private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                              serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
        public.write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def token(private_key: Path, issuer: str, tenant: str, scopes: tuple[str, ...] = SCOPES,
          lifetime_s: int = 3600) -> str:
    now = int(time.time())
    return jwt.encode({"iss": issuer, "sub": tenant, "scope": " ".join(scopes), "iat": now,
                       "exp": now + lifetime_s}, private_key.read_bytes(), algorithm="ES256")
