"""Replace literal text in a source file, failing unless it occurs exactly as often as expected.

Build-time patches of upstream sources use this so that a new upstream version whose text moved
stops the build with a clear message instead of silently building an unpatched program.
Usage: replace_text.py FILE COUNT OLD NEW  (OLD and NEW literal; NEW may use \\n and \\t escapes).
"""

import sys
from pathlib import Path


def replace_text(path: Path, count: int, old: str, new: str) -> None:
    """Replace every occurrence of old by new in path, which must hold exactly count of them."""
    text = path.read_text()
    found = text.count(old)
    if found != count:
        raise SystemExit(
            f"replace_text: {path}: expected {count} occurrence(s) of {old!r}, found {found}"
            " (upstream source changed: review the patch)"
        )
    path.write_text(text.replace(old, new))


def _unescape(text: str) -> str:
    """Turn the \\n and \\t a shell argument spells into the characters."""
    return text.replace("\\n", "\n").replace("\\t", "\t")


if __name__ == "__main__":
    if len(sys.argv) != 5:
        raise SystemExit("usage: replace_text.py FILE COUNT OLD NEW")
    file, count, old, new = sys.argv[1:]
    replace_text(Path(file), int(count), _unescape(old), _unescape(new))
