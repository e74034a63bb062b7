"""The package's house: subpackages by job, imports that run one way, private names kept at home (issue 28)."""

import ast
import importlib
import pathlib
import re

import pytest

import sklearn_ssl

ROOT = pathlib.Path(sklearn_ssl.__file__).parent
DOCS = ROOT.parent / "docs"

#: Layers, lowest first: a module may import from its own layer or a lower one.
LAYERS = {
    "utils": 0,
    "augment": 1, "nn": 1, "datasets": 1,
    "engine": 2,
    "estimators": 3,
    "io": 4,
    "plotting": 5, "evaluation": 5,
    "discovery": 6,
    "demo": 7,
    "cli": 8, "__init__": 8,
}


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: pathlib.Path):
    """(target module, imported names) of every import in a file, at any depth."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] == "sklearn_ssl":
                names = [a.name for a in node.names]
                for n in names:  # "from pkg import module"
                    if (ROOT.parent / (target.replace(".", "/") + f"/{n}.py")).exists() or \
                            (ROOT.parent / target.replace(".", "/") / n / "__init__.py").exists():
                        yield f"{target}.{n}", []
                yield target, names
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "sklearn_ssl":
                    yield a.name, []


MODULES = {_module_name(p): p for p in ROOT.rglob("*.py")}


def _subpackage(module: str) -> str:
    parts = module.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def _graph():
    graph = {m: set() for m in MODULES}
    for m, path in MODULES.items():
        for target, _ in _imports(path):
            parts = target.split(".")
            for i in range(1, len(parts) + 1):  # importing a.b.c runs a and a.b first
                t = ".".join(parts[:i])
                if t in MODULES and t != m and not m.startswith(t + ".") and t != "sklearn_ssl":
                    graph[m].add(t)
    return graph


def test_import_graph_has_no_cycles():
    graph = _graph()
    index, low, on_stack, stack, cycles, counter = {}, {}, set(), [], [], [0]

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_every_subpackage_has_a_layer():
    assert {_subpackage(m) for m in MODULES} <= set(LAYERS)


def test_imports_run_down_the_layers():
    upward = []
    for m, path in MODULES.items():
        own = _subpackage(m)
        for target, _ in _imports(path):
            if target == "sklearn_ssl":
                continue
            other = _subpackage(target)
            if other != own and LAYERS[other] > LAYERS[own]:
                upward.append(f"{m} -> {target}")
    assert not upward, "imports running up the layers:\n" + "\n".join(sorted(set(upward)))


def test_private_names_stay_in_their_subpackage_or_come_from_the_engine():
    leaks = []
    for m, path in MODULES.items():
        own = _subpackage(m)
        for target, names in _imports(path):
            other = _subpackage(target)
            if other in (own, "engine") or target == "sklearn_ssl":
                continue
            private_module = any(p.startswith("_") for p in target.split(".")[2:])
            private_names = [n for n in names if n.startswith("_")]
            if private_module or private_names:
                leaks.append(f"{m}: from {target} import {', '.join(names)}")
    assert not leaks, "private names used outside their subpackage:\n" + "\n".join(sorted(set(leaks)))


def test_no_flat_private_modules_at_the_top():
    top = sorted(p.name for p in ROOT.glob("*.py"))
    assert top == ["__init__.py", "cli.py", "plotting.py"], top


def _api_page_entries():
    """(module, name) of every autosummary entry on the API page."""
    module, entries = None, []
    for line in (DOCS / "api.rst").read_text().splitlines():
        m = re.match(r"^\.\. currentmodule:: (\S+)", line)
        if m:
            module = m.group(1)
        elif module and re.match(r"^   [A-Za-z_][\w.]*$", line):
            entries.append((module, line.strip()))
    return entries


def test_every_name_on_the_api_page_imports_from_its_path():
    entries = _api_page_entries()
    assert len(entries) > 40
    for module, name in entries:
        assert hasattr(importlib.import_module(module), name), f"{module}.{name}"


def test_every_public_estimator_is_on_the_api_page():
    listed = {name for _, name in _api_page_entries()}
    assert set(sklearn_ssl.__all__) - {"label_efficiency", "SimilaritySearch", "GalaxyFeatures", "make_galaxy_survey",
                                       "load_cutouts", "save_cutouts", "read_catalogue"} <= listed


@pytest.mark.parametrize("name", sklearn_ssl.__all__)
def test_top_level_names_are_the_subpackages_objects(name):
    obj = getattr(sklearn_ssl, name)
    assert obj.__module__.split(".")[1] in LAYERS


def test_every_import_in_the_package_resolves():
    """Function-level imports too: a moved module's ``from . import name`` fails only when called."""
    missing = []
    for m, path in MODULES.items():
        for target, names in _imports(path):
            module = importlib.import_module(target)
            for name in names:
                if not hasattr(module, name) and f"{target}.{name}" not in MODULES:
                    missing.append(f"{m}: from {target} import {name}")
    assert not missing, missing
