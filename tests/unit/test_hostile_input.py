"""Hostile files through the real `tcra` command: refused in one line, fast, in little memory."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tcra import yamlsafe
from tests.conftest import EXAMPLE
from tests.unit.test_inventory import HOST, SITE

TCRA = str(Path(sys.executable).parent / "tcra")
HOSTS = ("all:\n  children:\n    sites:\n      children:\n        s1:\n          hosts:\n"
         "            h1:\n")

# Runs one command and reports its peak memory: RUSAGE_CHILDREN of a process of its own.
MEASURE = """
import json, resource, subprocess, sys, time
start = time.monotonic()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=120)
print(json.dumps({"rc": done.returncode, "out": done.stdout + done.stderr,
                  "seconds": time.monotonic() - start,
                  "rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def measured(*args: str) -> dict:
    result = subprocess.run([sys.executable, "-c", MEASURE, TCRA, *args], capture_output=True,
                            text=True, check=True, timeout=180,
                            env={"PATH": "/usr/bin:/bin", "TCRA_BMC_PASSWORD": "unused"})
    return json.loads(result.stdout)


def billion_laughs(levels: int = 9) -> list[str]:
    """10**levels strings from a few hundred bytes: each level lists the one before 10 times."""
    lines = ["lol0: &lol0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"lol{i}: &lol{i} [{', '.join([f'*lol{i - 1}'] * 10)}]" for i in range(1, levels)]
    return lines


def test_alias_bomb_in_an_inventory_is_refused_by_validate_fast_and_small(tmp_path):
    bomb = "".join(f"    {line}\n" for line in billion_laughs())
    (tmp_path / "hosts.yml").write_text(f"all:\n  vars:\n{bomb}" + HOSTS[5:])
    run = measured("validate", str(tmp_path))
    assert run["rc"] == 1
    assert run["out"] == (f"{tmp_path / 'hosts.yml'}:8: more than the limit of 250,000 values"
                          " once its aliases are expanded (42 so far: an alias bomb?)\n")
    assert run["seconds"] < 10 and run["rss_mb"] < 300, run


def test_alias_bomb_in_a_request_is_refused_by_place_fast_and_small(tmp_path):
    request = tmp_path / "bomb.yaml"
    request.write_text("\n".join(billion_laughs()) + "\nrequest:\n  name: x\n  workloads: *lol8\n")
    run = measured("place", str(request), "--inventory", str(EXAMPLE))
    assert run["rc"] == 1
    assert run["out"].startswith(f"{request}:7: more than the limit of 5,000,000 values once its"
                                 " aliases are expanded")
    assert len(run["out"].splitlines()) == 1
    assert run["seconds"] < 10 and run["rss_mb"] < 300, run


def test_a_list_field_of_many_bad_items_prints_a_bounded_report(tmp_path):
    """One alias-free list of 100,000 wrong items: 100 lines and a count, not 100,000 lines."""
    nics = ", ".join(["bad"] * 100_000)
    host = HOST.replace("memory: 8Gi", f"memory: 8Gi, sriov_nics: [{nics}]")
    (tmp_path / "hosts.yml").write_text(HOSTS)
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "s1.yml").write_text(SITE)
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars" / "h1.yml").write_text(host)
    run = measured("validate", str(tmp_path))
    lines = run["out"].splitlines()
    assert run["rc"] == 1 and len(lines) == 101
    assert lines[0] == ("host h1: tcra_capabilities.sriov_nics.0: Input should be a valid"
                        " dictionary or instance of SriovNic (got 'bad')")
    assert lines[-1] == "... and 99,900 more problem(s)"
    assert run["seconds"] < 60 and run["rss_mb"] < 1000, run


@pytest.mark.parametrize(("text", "expected"), [
    ("a: [" * 200, "nested deeper than the limit of 100 levels"),
    ("a: 1\nb: {c: 1, c: 2}\n", "2:11: not valid YAML: duplicate key 'c' (YAML would keep"
                                 " only the last)"),
    ('{"a": 1, "a": 2}', "duplicate key 'a' (JSON would keep only the last)"),
    ("a: [unclosed\n", "2:1: not valid YAML: did not find expected ',' or ']'"),
])
def test_yamlsafe_refuses_in_one_line(tmp_path, text, expected):
    path = tmp_path / "in.yaml"
    path.write_text(text)
    with pytest.raises(yamlsafe.UnsafeInputError) as caught:
        yamlsafe.load(path)
    assert expected in str(caught.value) and "\n" not in str(caught.value)
    assert str(caught.value).startswith(str(path))


def test_yamlsafe_refuses_size_and_encoding_before_parsing(tmp_path):
    path = tmp_path / "in.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(yamlsafe.UnsafeInputError, match=r"not UTF-8 text \(byte 0xe9 at offset"
                       r" 9\)"):
        yamlsafe.load(path)
    path.write_text("a: " + "x" * 2000)
    with pytest.raises(yamlsafe.UnsafeInputError, match="2,003 bytes; the limit is 1,000"):
        yamlsafe.load(path, max_bytes=1000)


def test_yamlsafe_keeps_what_users_legitimately_write(tmp_path):
    path = tmp_path / "in.yaml"
    path.write_text("base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  x: 3\nlist: [*b, *b]\n")
    assert yamlsafe.load(path) == {"base": {"x": 1, "y": 2}, "d": {"x": 3, "y": 2},
                                   "list": [{"x": 1, "y": 2}, {"x": 1, "y": 2}]}
    path.write_text('{"request": {"name": "r"}}')
    assert yamlsafe.load(path) == {"request": {"name": "r"}}
