"""Read a user's YAML or JSON file with bounds, so hostile input fails in one line, fast.

PyYAML shares an aliased node instead of copying it, so a "billion laughs" file parses in
microseconds; the cost comes later, when something walks the data (Ansible, pydantic, an
error printer) and meets 10**9 leaves. So, before anything is built, one pass over the
parser's events counts the nodes the data will have once every alias is expanded, and the
nesting depth, and stops at the first one over its limit. The file's size is checked before
it is read, its text must be UTF-8, and a key given twice in one mapping is an error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from tcra.errors import TcraError

MAX_BYTES = 64 * 2**20
"""Largest file read: well above a 10,000-site, 100,000-workload placement file."""
MAX_NODES = 5_000_000
"""Most values a file may hold after aliases are expanded."""
MAX_DEPTH = 100
"""Deepest nesting of lists and mappings."""

if TYPE_CHECKING:
    from yaml import SafeLoader as _Loader
else:  # libyaml's parser when PyYAML was built with it: the same events, several times faster
    _Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class UnsafeInputError(TcraError):
    """A file that is too big, too deep, not UTF-8 or not well-formed: one line naming it."""

    def __init__(self, where: str, reason: str, *, malformed: bool = False) -> None:
        self.where, self.reason = where, reason
        self.malformed = malformed
        """Not YAML at all (a syntax error), rather than YAML over a bound."""
        super().__init__(f"{where}: {reason}")


def load(path: Path, *, max_bytes: int = MAX_BYTES, max_nodes: int = MAX_NODES) -> Any:
    """The data in `path` (YAML, or JSON when it starts with "{" or "["), within the bounds."""
    text = read_text(path, max_bytes=max_bytes)
    if text.lstrip()[:1] in ("{", "["):  # JSON, as the generator writes it, parses 50x faster
        try:
            return json.loads(text, object_pairs_hook=_unique_pairs)
        except json.JSONDecodeError:
            pass  # YAML's flow style starts so too: YAML decides
        except ValueError as exc:
            raise UnsafeInputError(str(path), str(exc)) from None
        except RecursionError:
            raise UnsafeInputError(str(path), "nested too deeply") from None
    return parse(text, str(path), max_nodes=max_nodes)


def read_text(path: Path, *, max_bytes: int = MAX_BYTES) -> str:
    """The file's text, refused before reading when larger than `max_bytes`."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise UnsafeInputError(str(path), f"{size:,} bytes; the limit is {max_bytes:,}")
        data = path.read_bytes()
    except OSError as exc:
        raise UnsafeInputError(str(path), f"cannot read: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnsafeInputError(str(path), f"not UTF-8 text (byte 0x{data[exc.start]:02x}"
                               f" at offset {exc.start})") from None


def parse(text: str, name: str, *, max_nodes: int = MAX_NODES) -> Any:
    """YAML text to data: bounds checked on the event stream first, duplicate keys refused."""
    try:
        check(text, name, max_nodes=max_nodes)
        loader = _UniqueKeyLoader(text)
        loader.source = name
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        problem = " ".join(str(exc.problem or exc.context or "malformed").split())
        raise UnsafeInputError(where, f"not valid YAML: {problem}", malformed=True) from None
    except yaml.YAMLError as exc:
        raise UnsafeInputError(name, f"not valid YAML: {' '.join(str(exc).split())}",
                               malformed=True) from None


def check(text: str, name: str, *, max_nodes: int = MAX_NODES) -> None:
    """Refuse YAML whose expanded size or depth is over the limit, stopping at the first excess.

    Each anchored node's expanded size is known when it ends; an alias adds that size.
    """
    expanded: dict[str, int] = {}
    open_nodes: list[tuple[str | None, int]] = []  # (anchor, total when the node started)
    total = depth = aliases = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent):
            total += expanded.get(event.anchor or "", 0)
            aliases += 1
        elif isinstance(event, yaml.ScalarEvent):
            total += 1
            if event.anchor:
                expanded[event.anchor] = 1
        elif isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise UnsafeInputError(f"{name}:{_line(event)}", "nested deeper than the"
                                       f" limit of {MAX_DEPTH} levels")
            open_nodes.append((event.anchor, total))
            total += 1
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
            anchor, start = open_nodes.pop()
            if anchor:
                expanded[anchor] = total - start
        if total > max_nodes:
            raise UnsafeInputError(f"{name}:{_line(event)}", f"more than the limit of"
                                   f" {max_nodes:,} values" + (" once its aliases are expanded"
                                   f" ({aliases:,} so far: an alias bomb?)" if aliases else ""))


def _line(event: yaml.Event) -> int:
    return event.start_mark.line + 1 if event.start_mark else 0


class _UniqueKeyLoader(_Loader):
    """A safe loader that refuses a key given twice in one mapping (YAML would keep the last)."""

    source = ""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = (key_node.tag, key_node.value)
                if key in seen:
                    mark = key_node.start_mark
                    raise UnsafeInputError(f"{self.source}:{mark.line + 1}:{mark.column + 1}",
                                           f"not valid YAML: duplicate key {key_node.value!r}"
                                           " (YAML would keep only the last)")
                seen.add(key)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    mapping = dict(pairs)
    if len(mapping) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key!r} (JSON would keep only the last)")
            seen.add(key)
    return mapping
