"""The package's layers (``landscape`` docstring): a module imports only its own layer and the
layers below it, except for type hints; and no public name is defined in two modules."""
from __future__ import annotations

import ast
from pathlib import Path

import landscape

PACKAGE = Path(landscape.__file__).parent
LAYERS = ["core", "learning", "geometry", "probes", "verdicts", "pipeline", "analysis", "reporting", "cli"]
HOME_LAYERS = {"report": "reporting", "checks": "verdicts"}  # a measure home's halves
STANDALONE = {"clean_notebook"}  # run by git and JupyterLab without the package


def layer_of(module: str) -> str:
    """The layer of a dotted module name under ``landscape`` ('cli' for the top-level modules; in a
    measure's home, its ``report`` module is of the reporting layer and its ``checks`` module of the
    verdicts layer)."""
    parts = module.split(".")
    if parts[1:2] == ["probes"] and parts[-1] in HOME_LAYERS:
        return HOME_LAYERS[parts[-1]]
    first = parts[1] if len(parts) > 1 else ""
    return first if first in LAYERS else "cli"


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ["landscape", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def runtime_imports(name: str, path: Path) -> set[str]:
    """The ``landscape`` modules ``path`` imports outside ``if TYPE_CHECKING:`` blocks."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    hinted = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
              and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING"
              for stmt in node.body for n in ast.walk(stmt)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in hinted:
            continue
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")
            base = base[:len(base) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            if not target.startswith("landscape"):
                continue
            known = modules()
            found |= {f"{target}.{a.name}" if f"{target}.{a.name}" in known else target for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("landscape")}
    return found


def test_every_module_imports_only_its_layer_and_the_layers_below():
    wrong = []
    for name, path in modules().items():
        if name == "landscape":
            continue
        mine = layer_of(name)
        for target in runtime_imports(name, path):
            if name.split(".")[-1] in STANDALONE or target == "landscape":
                wrong.append(f"{name} imports {target}")
            elif LAYERS.index(layer_of(target)) > LAYERS.index(mine):
                wrong.append(f"{name} ({mine}) imports {target} ({layer_of(target)})")
    assert not wrong, "\n".join(sorted(wrong))


def test_every_layer_says_what_it_may_import():
    for layer in LAYERS[:-1]:
        doc = ast.get_docstring(ast.parse((PACKAGE / layer / "__init__.py").read_text(encoding="utf-8")))
        assert doc and "May import:" in doc, layer


def test_the_layer_checker_sees_an_upward_import(tmp_path, monkeypatch):
    module = PACKAGE / "core" / "files.py"
    source = module.read_text(encoding="utf-8")
    planted = tmp_path / "files.py"
    planted.write_text(source + "\nfrom ..reporting import sections\n", encoding="utf-8")
    assert "landscape.reporting.sections" in runtime_imports("landscape.core.files", planted)
    assert "landscape.reporting.sections" not in runtime_imports("landscape.core.files", module)
