"""The layers stay layers: tcra/model, the information model every block reads, imports no
block above it (not even under TYPE_CHECKING or inside a function), and no public class name
means two things."""

import ast
from collections import defaultdict

from tests.conftest import ROOT

MODEL = ROOT / "tcra" / "model"
LEAVES = ("tcra.errors",)
"""Modules below the model: they import nothing of tcra."""
PACKAGES = ("tcra", "providers", "components", "blueprints")


def tcra_imports(source: str, package: str) -> list[str]:
    """Every tcra module a module of `package` imports, wherever its import statements are."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "tcra"]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: from the package, up level - 1
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            if module.split(".")[0] == "tcra":
                found.append(module)
    return found


def allowed(module: str) -> bool:
    return module == "tcra.model" or module.startswith("tcra.model.") or module in LEAVES


def test_the_model_imports_no_layer_above_it():
    wrong = [f"{path.relative_to(ROOT)} imports {module}"
             for path in sorted(MODEL.glob("*.py"))
             for module in tcra_imports(path.read_text(), "tcra.model")
             if not allowed(module)]
    assert wrong == []


def test_the_model_s_leaves_import_nothing_of_tcra():
    for leaf in LEAVES:
        source = (ROOT / (leaf.replace(".", "/") + ".py")).read_text()
        assert tcra_imports(source, "tcra") == [], f"{leaf} is no leaf"


def test_an_import_of_a_block_is_caught():
    """The check sees what the model must not do (tcra.tcm was the cycle of issue 15)."""
    blocks = ("tcm", "mco", "mcm", "wdm", "lab", "capi", "vip", "providers", "components",
              "blueprints")
    source = "".join(f"from tcra.{b} import x\n" for b in blocks) + (
        "import tcra.tcm.compute\nfrom ..mco import y\nfrom . import fabric\n"
        "if TYPE_CHECKING:\n    from tcra.lab import spec\n")
    found = tcra_imports(source, "tcra.model")
    assert [m for m in found if not allowed(m)] == [
        *(f"tcra.{b}" for b in blocks), "tcra.tcm.compute", "tcra.mco", "tcra.lab"]
    assert "tcra.model" in found


def test_each_public_class_name_is_defined_once():
    """Two classes of one name read as one thing; a second meaning gets its own name."""
    where = defaultdict(list)
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.parse(path.read_text(), str(path)).body:
                if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                    where[node.name].append(str(path.relative_to(ROOT)))
    assert {name: paths for name, paths in where.items() if len(paths) > 1} == {}
