"""Private scikit-learn / skorch names are imported in one module only (sklearn_ssl/_sklearn_private.py)."""

import ast
from pathlib import Path

import sklearn_ssl

PACKAGE = Path(sklearn_ssl.__file__).parent


def private_imports(path: Path) -> list[str]:
    """``module.name`` for every import of a private sklearn/skorch module or name in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and not node.level and node.module.split(".")[0] in ("sklearn", "skorch"):
            names = [a.name for a in node.names]
            if any(part.startswith("_") for part in node.module.split(".")) or any(n.startswith("_") for n in names):
                found.append(f"{node.module}: {', '.join(names)}")
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in ("sklearn", "skorch")
                      and any(p.startswith("_") for p in a.name.split("."))]
    return found


def test_private_library_names_are_isolated_in_one_module():
    offenders = {p.name: private_imports(p) for p in PACKAGE.rglob("*.py") if p.name != "_sklearn_private.py"}
    assert {k: v for k, v in offenders.items() if v} == {}
    assert private_imports(PACKAGE / "utils" / "_sklearn_private.py")  # the test can see one when there is one
