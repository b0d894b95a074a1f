"""Value types shared by every block: quantities, IPv6 prefixes and addresses, names, countries.

Each type validates with a message that says what was expected, so an error
from a deep inventory field still tells the user how to fix it.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from functools import total_ordering
from typing import Annotated, Any

import pycountry
from pydantic import AfterValidator, BeforeValidator, Field, GetCoreSchemaHandler, PlainSerializer
from pydantic_core import PydanticCustomError, core_schema

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}
_UNITS = {"": 1, **_BINARY, **_DECIMAL}
_QUANTITY = re.compile(r"^\s*(?P<number>\d+)\s*(?P<unit>[KMGTPE]i|[kMGTPE])?\s*$")
# Largest first, binary before decimal, so formatting picks the shortest exact form.
_FORMAT_ORDER = sorted(_UNITS.items(), key=lambda item: (-item[1], item[0].endswith("i") is False))

QUANTITY_EXPECTED = 'a whole number of bytes with an optional unit, like "16Gi", "512Mi" or "1G"'
MAX_QUANTITY = 2**63 - 1
"""Most bytes a quantity holds (8Ei): what a signed 64-bit counter, libvirt's and SQL's, takes."""


@total_ordering
class Quantity:
    """An amount of bytes written the Kubernetes way ("16Gi", "2M"), kept as an exact integer."""

    __slots__ = ("bytes",)

    def __init__(self, value: int | str | Quantity) -> None:
        self.bytes = _parse_quantity(value)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, _source: Any, _handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            _validate_quantity,
            json_schema_input_schema=core_schema.union_schema(
                [core_schema.str_schema(pattern=_QUANTITY.pattern), core_schema.int_schema(ge=0)]
            ),
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )

    def __str__(self) -> str:
        for unit, factor in _FORMAT_ORDER:
            if self.bytes and self.bytes % factor == 0:
                return f"{self.bytes // factor}{unit}"
        return "0"

    def __repr__(self) -> str:
        return f"Quantity({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Quantity) and other.bytes == self.bytes

    def __lt__(self, other: Quantity) -> bool:
        return self.bytes < other.bytes

    def __hash__(self) -> int:
        return hash(self.bytes)


def _parse_quantity(value: object) -> int:
    if isinstance(value, Quantity):
        return value.bytes
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"expected {QUANTITY_EXPECTED}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"expected {QUANTITY_EXPECTED}, not a negative number")
        return _bounded(value)
    return _parse_text(value)


@functools.lru_cache(maxsize=1024)
def _parse_text(value: str) -> int:
    """Cached: a store or inventory repeats the same few quantities thousands of times."""
    match = _QUANTITY.match(value) if len(value) <= 40 else None
    if match is None:
        raise ValueError(f"expected {QUANTITY_EXPECTED}")
    return _bounded(int(match["number"]) * _UNITS[match["unit"] or ""])


def _bounded(size: int) -> int:
    if size > MAX_QUANTITY:
        raise ValueError(f"expected {QUANTITY_EXPECTED}, at most 8Ei")
    return size


def _validate_quantity(value: object) -> Quantity:
    try:
        return Quantity(_parse_quantity(value))
    except ValueError as exc:
        raise PydanticCustomError("quantity", str(exc)) from None


def _ipv6_prefix(value: object) -> ipaddress.IPv6Network:
    expected = 'expected an IPv6 prefix with no host bits set, like "2001:db8:1::/48"'
    if isinstance(value, ipaddress.IPv6Network):
        return value
    if not isinstance(value, str) or "/" not in value or len(value) > 50:
        raise PydanticCustomError("ipv6_prefix", expected)
    try:
        return ipaddress.IPv6Network(value, strict=True)
    except ValueError as exc:
        raise PydanticCustomError("ipv6_prefix", f"{expected} ({exc})") from None


def _ipv6_address(value: object) -> ipaddress.IPv6Address:
    if isinstance(value, ipaddress.IPv6Address):
        return value
    try:
        return ipaddress.IPv6Address(value if isinstance(value, str) else "")
    except ValueError:
        raise PydanticCustomError(
            "ipv6_address", 'expected an IPv6 address, like "2001:db8::1"'
        ) from None


def _country(value: object) -> str:
    code = value.upper() if isinstance(value, str) else ""
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise PydanticCustomError(
            "country_code", 'expected an ISO 3166-1 alpha-2 country code, like "DE" or "FR"'
        )
    return code


def _name(value: str) -> str:
    if not _NAME.match(value):
        raise PydanticCustomError(
            "name",
            "expected a name of lower-case letters, digits, '-' and '_', starting with a letter,"
            " at most 63 characters",
        )
    return value


_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")

IPv6Prefix = Annotated[
    ipaddress.IPv6Network,
    BeforeValidator(_ipv6_prefix),
    PlainSerializer(str, return_type=str),
]
"""An IPv6 network such as an SRv6 locator; host bits must be zero."""

IPv6Address = Annotated[
    ipaddress.IPv6Address,
    BeforeValidator(_ipv6_address),
    PlainSerializer(str, return_type=str),
]

CountryCode = Annotated[str, BeforeValidator(_country)]
"""A jurisdiction: ISO 3166-1 alpha-2, upper-cased."""

Name = Annotated[str, AfterValidator(_name)]
"""A site or host name: usable as an Ansible group/host name and inside a DNS label."""

Count = Annotated[int, Field(le=2**31 - 1)]
"""How many of something (cores, pages, devices): at most what a signed 32-bit integer holds."""

_CPU_RANGE = re.compile(r"^(\d{1,4})(?:-(\d{1,4}))?$")
CPUSET_EXPECTED = 'a Linux cpuset like "2-15,18-31" or a list of CPU numbers'


def _cpuset(value: object) -> tuple[int, ...]:
    if isinstance(value, str):
        cpus: set[int] = set()
        for part in value.replace(" ", "").split(",") if value.strip() else ():
            match = _CPU_RANGE.match(part)
            if match is None or int(match[2] or match[1]) < int(match[1]):
                raise ValueError(f"expected {CPUSET_EXPECTED}")
            cpus.update(range(int(match[1]), int(match[2] or match[1]) + 1))
        return tuple(sorted(cpus))
    if isinstance(value, list | tuple) and all(
            isinstance(c, int) and not isinstance(c, bool) and 0 <= c < 10_000 for c in value):
        return tuple(sorted(set(value)))
    raise ValueError(f"expected {CPUSET_EXPECTED}")


def cpuset_text(cpus: tuple[int, ...]) -> str:
    """CPU numbers as a Linux cpuset: runs of neighbours as ranges ("0-3,8")."""
    runs: list[list[int]] = []
    for cpu in sorted(set(cpus)):
        if runs and cpu == runs[-1][1] + 1:
            runs[-1][1] = cpu
        else:
            runs.append([cpu, cpu])
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


CpuSet = Annotated[
    tuple[int, ...],
    BeforeValidator(_cpuset, json_schema_input_type=str | list[int]),
    PlainSerializer(cpuset_text, return_type=str),
]
"""Host CPU numbers, as Linux writes them (isolcpus, cpulist): kept sorted, each once."""
