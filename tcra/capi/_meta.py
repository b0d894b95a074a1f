"""What every Kubernetes object shares: names, labels, metadata, references and selectors.

Models here speak the API's own field names (camelCase on the wire, snake_case in Python), are
frozen, and forbid unknown fields. `KubeObject.manifest()` is the object as the API server takes it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

MAX_LABEL = 63
MAX_SUBDOMAIN = 253
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")

DNS_LABEL_EXPECTED = (f"a DNS-1123 label: at most {MAX_LABEL} lower-case letters, digits and '-',"
                      " starting and ending with a letter or digit")


def is_dns_label(value: str) -> bool:
    return len(value) <= MAX_LABEL and _LABEL.match(value) is not None


def _dns_label(value: str) -> str:
    if not is_dns_label(value):
        raise ValueError(f"expected {DNS_LABEL_EXPECTED}")
    return value


def _dns_subdomain(value: str) -> str:
    if len(value) > MAX_SUBDOMAIN or not _SUBDOMAIN.match(value):
        raise ValueError(f"expected a DNS-1123 subdomain: at most {MAX_SUBDOMAIN} lower-case"
                         " letters, digits, '-' and '.'")
    return value


def is_label_key(value: str) -> bool:
    prefix, _, name = value.rpartition("/")
    if prefix and (len(prefix) > MAX_SUBDOMAIN or not _SUBDOMAIN.match(prefix)):
        return False
    return 0 < len(name) <= MAX_LABEL and _LABEL_NAME.match(name) is not None


def is_label_value(value: str) -> bool:
    return len(value) <= MAX_LABEL and _LABEL_NAME.match(value) is not None


def _label_key(value: str) -> str:
    if not is_label_key(value):
        raise ValueError("expected a label key: an optional DNS subdomain and '/', then at most"
                         f" {MAX_LABEL} letters, digits, '-', '_' and '.'")
    return value


def _label_value(value: str) -> str:
    if not is_label_value(value):
        raise ValueError(f"expected a label value: at most {MAX_LABEL} letters, digits, '-', '_'"
                         " and '.', starting and ending with a letter or digit")
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
"""A namespace, or a name that ends up in a label value or a host name."""
DnsSubdomain = Annotated[str, AfterValidator(_dns_subdomain)]
"""An object name."""
LabelKey = Annotated[str, AfterValidator(_label_key)]
LabelValue = Annotated[str, AfterValidator(_label_value)]
Labels = dict[LabelKey, LabelValue]


class ApiModel(BaseModel):
    """A part of an API object: API field names on the wire, nothing unknown, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel,
                              validate_by_name=True, validate_by_alias=True,
                              serialize_by_alias=True)

    def wire(self) -> dict[str, Any]:
        """The JSON the API server takes: API names, unset fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class ObjectMeta(ApiModel):
    name: DnsSubdomain
    namespace: DnsLabel
    labels: Labels | None = None
    annotations: dict[LabelKey, str] | None = None


class TemplateMeta(ApiModel):
    """Labels and annotations a controller copies onto the objects it makes from a template."""

    labels: Labels | None = None
    annotations: dict[LabelKey, str] | None = None


class ObjectReference(ApiModel):
    """A reference by API version, kind and name (core/v1 ObjectReference): what v1beta1 APIs
    (RKE2's) take."""

    api_version: str = Field(min_length=1)
    kind: str = Field(min_length=1)
    name: DnsSubdomain
    namespace: DnsLabel | None = None


class ContractReference(ApiModel):
    """A reference by API group, kind and name, in the referrer's namespace (Cluster API v1beta2
    ContractVersionedObjectReference): Cluster API reads the version from the referenced CRD's
    contract label, so the reference stays valid when a provider serves a newer version."""

    api_group: DnsSubdomain
    kind: str = Field(pattern=r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$", max_length=63)
    name: DnsSubdomain


class Arg(ApiModel):
    """One command-line argument, without its dashes (kubeadm v1beta4, Cluster API v1beta2)."""

    name: str = Field(min_length=1, max_length=256, pattern=r"^[^-]")
    value: str = Field(max_length=1024)


def _unique_args(args: tuple[Arg, ...]) -> tuple[Arg, ...]:
    # The CRDs' rules for extraArgs lists: at least one item, each name once.
    names = [arg.name for arg in args]
    if not names:
        raise ValueError("expected at least one argument (or leave the list out)")
    if len(set(names)) != len(names):
        raise ValueError(f"expected each argument name once, got {names}")
    return args


Args = Annotated[tuple[Arg, ...], AfterValidator(_unique_args)]
"""An extraArgs list."""


class LabelSelector(ApiModel):
    match_labels: Labels = Field(min_length=1)


SpecT = TypeVar("SpecT", bound=ApiModel)


class TemplateResource(ApiModel, Generic[SpecT]):
    """What a *Template kind stamps out: the spec of each object made from it."""

    spec: SpecT


class TemplateSpec(ApiModel, Generic[SpecT]):
    """The spec of every *Template kind: `template.spec`."""

    template: TemplateResource[SpecT]


class KubeObject(ApiModel):
    """A whole object. Each kind narrows `api_version` and `kind` to its own constants."""

    api_version: str
    kind: str
    metadata: ObjectMeta

    def manifest(self) -> dict[str, Any]:
        return self.wire()

    @property
    def api_group(self) -> str:
        return self.api_version.rpartition("/")[0]

    def ref(self) -> ObjectReference:
        """A v1beta1 reference to this object, namespace included (the webhooks require it)."""
        return ObjectReference(api_version=self.api_version, kind=self.kind,
                               name=self.metadata.name, namespace=self.metadata.namespace)

    def contract_ref(self) -> ContractReference:
        """A v1beta2 reference to this object: its API group, kind and name."""
        return ContractReference(api_group=self.api_group, kind=self.kind,
                                 name=self.metadata.name)
