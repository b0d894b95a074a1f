"""A small Kubernetes API client built from a kubeconfig's text, for the few calls tcra makes
outside pulumi-kubernetes (reading a release's objects back, re-applying them).

TLS is always verified against the kubeconfig's CA; the client key never touches the disk (it is
loaded from an anonymous in-memory file). Every call has a timeout. Only GETs are retried:
a write goes out once, and the only write is a server-side apply, which names its object, so
running it again converges instead of duplicating. The kubeconfig's text is kept nowhere and
shows in no error or repr.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import ssl
import time
from decimal import Decimal, InvalidOperation
from types import TracebackType
from typing import Any
from urllib.parse import quote

import requests
import yaml
from pydantic import SecretBytes, SecretStr
from requests.adapters import HTTPAdapter

from tcra.errors import TcraError
from tcra.model.base import Model

ATTEMPTS = 3
"""Tries of a GET that got no answer (or a 429/5xx gateway answer) before it fails; a server
certificate the CA did not sign fails the first."""
BACKOFF = 0.5
"""Seconds before the second try; doubled before each next one."""
_TRANSIENT = frozenset({429, 502, 503, 504})
_LIST_PAGE = 500


class KubeApiError(TcraError):
    """A Kubernetes API call failed: one line naming the method, the path, the status and the
    API server's message."""

    def __init__(self, server: str, method: str, path: str, status: int | str,
                 message: str) -> None:
        self.server, self.method, self.path, self.status = server, method, path, status
        detail = " ".join(message.split())
        super().__init__(f"Kubernetes API {server}: {method} {path}: {status}: {detail}")


class KubeconfigError(TcraError):
    """The kubeconfig cannot be used; the message names the field, never a value."""


class NotServedError(KubeApiError):
    """The cluster serves no such apiVersion, or no such kind in it (a CRD not installed)."""


class ApiResource(Model):
    """What discovery says about one kind: where it lives and whether it is namespaced."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool

    def path(self, name: str, namespace: str | None) -> str:
        group = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        scope = f"/namespaces/{quote(namespace, safe='')}" if self.namespaced and namespace \
            else ""
        return f"{group}{scope}/{self.plural}/{quote(name, safe='')}"


class _Tls(HTTPAdapter):
    """requests with our own SSL context: the kubeconfig's CA only, and its client key."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)


class KubeApi:
    """One API server, as one user of a kubeconfig; close it (or use `with`) when done."""

    def __init__(self, server: str, session: requests.Session, *, namespace: str = "default",
                 timeout: float = 10.0) -> None:
        self._server = server.rstrip("/")
        self._session = session
        self._timeout = timeout
        self.namespace = namespace
        """The kubeconfig context's namespace: where a namespaced object without one goes."""
        self._discovered: dict[str, dict[str, ApiResource]] = {}

    @classmethod
    def from_kubeconfig(cls, text: str, timeout: float = 10.0) -> KubeApi:
        """A client for the kubeconfig's current context: its server, CA and user (a client
        certificate and key, or a token)."""
        config = _Kubeconfig.parse(text)
        session = requests.Session()
        session.trust_env = False  # no proxy or CA bundle from the environment: ours only
        session.verify = True
        session.mount("https://", _Tls(config.ssl_context()))
        if config.token:
            session.headers["Authorization"] = f"Bearer {config.token.get_secret_value()}"
        session.headers["Accept"] = "application/json"
        return cls(config.server, session, namespace=config.namespace, timeout=timeout)

    @property
    def server(self) -> str:
        return self._server

    def __repr__(self) -> str:
        return f"KubeApi({self._server!r})"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> KubeApi:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def ready(self) -> bool:
        """The API server says it is ready (GET /readyz); False when it does not answer."""
        try:
            answer = self._session.get(f"{self._server}/readyz", timeout=self._timeout)
        except requests.RequestException:
            return False
        return answer.status_code == 200

    def get(self, path: str) -> dict[str, Any] | None:
        """The object at `path`, or None when there is none (404)."""
        answer = self._get(path)
        return None if answer is None else self._json("GET", path, answer)

    def list(self, path: str) -> list[dict[str, Any]]:
        """Every item of the collection at `path` (which may carry a labelSelector), all pages."""
        items: list[dict[str, Any]] = []
        token = ""
        while True:
            separator = "&" if "?" in path else "?"
            page = f"{path}{separator}limit={_LIST_PAGE}" + \
                (f"&continue={quote(token, safe='')}" if token else "")
            answer = self._get(page)
            if answer is None:
                return []
            body = self._json("GET", page, answer)
            items.extend(body.get("items") or [])
            token = (body.get("metadata") or {}).get("continue") or ""
            if not token:
                return items

    def apply(self, obj: dict[str, Any], field_manager: str) -> dict[str, Any]:
        """Server-side apply `obj` to its own path, taking over conflicting fields (force):
        creates it when missing, sets what it holds when not. Not retried: an unanswered apply
        is safe to run again, by the caller, who knows whether it should."""
        path = self.path_of(obj)
        url = f"{self._server}{path}"
        params = {"fieldManager": field_manager, "force": "true"}
        try:
            answer = self._session.patch(
                url, params=params, data=json.dumps(obj),
                headers={"Content-Type": "application/apply-patch+yaml"},
                timeout=self._timeout)
        except requests.RequestException as exc:
            raise KubeApiError(self._server, "PATCH", path, "no answer", _cause(exc)) from None
        if not answer.ok:
            raise self._error("PATCH", path, answer)
        return self._json("PATCH", path, answer)

    def resource(self, api_version: str, kind: str) -> ApiResource:
        """The kind as this cluster serves it (discovery, once per apiVersion per client)."""
        served = self._discovered.get(api_version)
        if served is None:
            group = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            listing = self.get(group)
            if listing is None:
                raise NotServedError(self._server, "GET", group, 404,
                                     f"the cluster serves no {api_version}")
            served = self._discovered[api_version] = {
                entry["kind"]: ApiResource(api_version=api_version, kind=entry["kind"],
                                           plural=entry["name"],
                                           namespaced=bool(entry.get("namespaced")))
                for entry in listing.get("resources") or [] if "/" not in entry["name"]}
        found = served.get(kind)
        if found is None:
            raise NotServedError(self._server, "GET", f"/apis/{api_version}", 404,
                                 f"the cluster serves no kind {kind} in {api_version}")
        return found

    def path_of(self, obj: dict[str, Any]) -> str:
        """The object's REST path, from its apiVersion, kind, namespace and name; a namespaced
        object without a namespace is in the context's."""
        metadata = obj.get("metadata") or {}
        resource = self.resource(str(obj.get("apiVersion")), str(obj.get("kind")))
        return resource.path(str(metadata.get("name")), metadata.get("namespace") or
                             self.namespace)

    def _get(self, path: str) -> requests.Response | None:
        url = f"{self._server}{path}"
        for attempt in range(1, ATTEMPTS + 1):
            last = attempt == ATTEMPTS
            try:
                answer = self._session.get(url, timeout=self._timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if last or isinstance(_root(exc), ssl.SSLCertVerificationError):
                    tries = f" ({attempt} tries)" if attempt > 1 else ""
                    raise KubeApiError(self._server, "GET", path, "no answer",
                                       f"{_cause(exc)}{tries}") from None
            except requests.RequestException as exc:
                raise KubeApiError(self._server, "GET", path, "no answer", _cause(exc)) from None
            else:
                if answer.status_code == 404:
                    return None
                if answer.ok:
                    return answer
                if last or answer.status_code not in _TRANSIENT:
                    raise self._error("GET", path, answer)
            time.sleep(BACKOFF * 2 ** (attempt - 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def _json(self, method: str, path: str, answer: requests.Response) -> dict[str, Any]:
        try:
            body = answer.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise KubeApiError(self._server, method, path, answer.status_code,
                               "the answer is not a JSON object")
        return body

    def _error(self, method: str, path: str, answer: requests.Response) -> KubeApiError:
        try:
            message = str(answer.json().get("message") or answer.reason)
        except (ValueError, AttributeError):
            message = answer.text[:200] or answer.reason
        return KubeApiError(self._server, method, path, f"{answer.status_code} {answer.reason}",
                            message)


def _root(exc: BaseException) -> BaseException:
    """The innermost cause of a failed request, under urllib3's and requests' wrapping."""
    cause = exc
    while True:
        inner = getattr(cause, "reason", None) or cause.__cause__ or cause.__context__
        if not isinstance(inner, BaseException):
            return cause
        cause = inner


def _cause(exc: requests.RequestException) -> str:
    """Why a request got no answer (refused, timed out, certificate not trusted), in a line."""
    cause = _root(exc)
    return f"{type(cause).__name__}: {cause}" if cause is not exc else type(exc).__name__


class _Kubeconfig(Model):
    """The parts of a kubeconfig's current context a client needs."""

    server: str
    namespace: str
    ca: str | None
    certificate: bytes | None
    key: SecretBytes | None
    token: SecretStr | None

    @classmethod
    def parse(cls, text: str) -> _Kubeconfig:
        try:
            config = yaml.safe_load(text)
        except yaml.YAMLError:
            raise KubeconfigError("kubeconfig: not valid YAML") from None
        if not isinstance(config, dict):
            raise KubeconfigError("kubeconfig: expected a mapping")
        current = config.get("current-context")
        if not current:
            raise KubeconfigError("kubeconfig: current-context is not set")
        context = _named(config, "contexts", "context", str(current))
        cluster = _named(config, "clusters", "cluster", str(context.get("cluster")))
        user = _named(config, "users", "user", str(context.get("user")))
        server = str(cluster.get("server") or "")
        if not server.startswith("https://"):
            raise KubeconfigError("kubeconfig: the cluster's server must be an https:// URL")
        if cluster.get("insecure-skip-tls-verify"):
            raise KubeconfigError("kubeconfig: insecure-skip-tls-verify is refused: TLS is"
                                  " always verified (give certificate-authority-data)")
        for unsupported in ("certificate-authority", "client-certificate", "client-key",
                            "tokenFile", "exec", "auth-provider"):
            if unsupported in cluster or unsupported in user:
                raise KubeconfigError(f"kubeconfig: {unsupported} is not supported; inline"
                                      " the credentials (*-data fields or token)")
        ca = _decoded(cluster, "certificate-authority-data")
        certificate = _decoded(user, "client-certificate-data")
        key = _decoded(user, "client-key-data")
        token = user.get("token")
        if (certificate is None) != (key is None):
            raise KubeconfigError("kubeconfig: the user needs both client-certificate-data and"
                                  " client-key-data")
        if certificate is None and not token:
            raise KubeconfigError("kubeconfig: the user has neither a client certificate nor a"
                                  " token")
        return cls(server=server, namespace=str(context.get("namespace") or "default"),
                   ca=ca.decode() if ca else None, certificate=certificate,
                   key=SecretBytes(key) if key else None,
                   token=SecretStr(str(token)) if token else None)

    def ssl_context(self) -> ssl.SSLContext:
        """Verifies the server against the kubeconfig's CA (the system's when it has none)."""
        try:
            context = ssl.create_default_context(cadata=self.ca) if self.ca else \
                ssl.create_default_context()
            if self.certificate and self.key:
                _load_client_pair(context, self.certificate, self.key.get_secret_value())
        except ssl.SSLError as exc:
            raise KubeconfigError(f"kubeconfig: unusable certificate or key ({exc.reason})"
                                  ) from None
        return context


def _named(config: dict[str, Any], section: str, field: str, name: str) -> dict[str, Any]:
    for entry in config.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            value = entry.get(field)
            if isinstance(value, dict):
                return value
    raise KubeconfigError(f"kubeconfig: {section}: no entry named {name!r}")


def _decoded(section: dict[str, Any], field: str) -> bytes | None:
    value = section.get(field)
    if not value:
        return None
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise KubeconfigError(f"kubeconfig: {field} is not base64") from None


def _load_client_pair(context: ssl.SSLContext, certificate: bytes, key: bytes) -> None:
    """ssl loads a key only from a file: an anonymous memory file (memfd), never on disk, and
    closed as soon as it is loaded."""
    descriptor = os.memfd_create("kube-client", os.MFD_CLOEXEC)
    with os.fdopen(descriptor, "wb") as pair:
        pair.write(certificate.rstrip(b"\n") + b"\n" + key)
        pair.flush()
        context.load_cert_chain(f"/proc/self/fd/{descriptor}")


_QUANTITY = re.compile(
    r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])|[eE]([+-]?\d+))?$")
_SUFFIX = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
           "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
           "P": Decimal("1e15"), "E": Decimal("1e18"), "Ki": Decimal(2**10),
           "Mi": Decimal(2**20), "Gi": Decimal(2**30), "Ti": Decimal(2**40),
           "Pi": Decimal(2**50), "Ei": Decimal(2**60)}


def quantity(value: Any) -> Decimal | None:
    """A Kubernetes quantity ("250m", "1.5Gi", "1e3", 2) as a number; None if it is none."""
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    if not isinstance(value, str):
        return None
    match = _QUANTITY.match(value.strip())
    if match is None:
        return None
    number, suffix, exponent = match.groups()
    try:
        scale = Decimal(10) ** int(exponent) if exponent else _SUFFIX[suffix or ""]
        return Decimal(number) * scale
    except (InvalidOperation, ValueError):
        return None
