"""Write the intersphinx inventories of numpy, scikit-learn, torch and astropy from the installed packages.

The docs build has no network (as on CI), so intersphinx cannot download each project's
``objects.inv``. This script lists the public classes and functions of the modules our docs
refer to, as each project's documentation names them, and writes an inventory in Sphinx's
format for each (``docs/_inventories/<project>.inv``), mapped to the project's URL scheme.
Run it again after upgrading a dependency: ``python docs/make_inventories.py``.
"""

import importlib
import inspect
import pathlib
import zlib

HERE = pathlib.Path(__file__).parent / "_inventories"

#: project -> (package, modules whose public objects are listed, URL of one object)
PROJECTS = {
    "numpy": ("numpy", ["numpy", "numpy.random", "numpy.lib.format"], "reference/generated/{name}.html#{name}"),
    "sklearn": ("sklearn", ["sklearn.base", "sklearn.pipeline", "sklearn.model_selection", "sklearn.linear_model",
                            "sklearn.frozen", "sklearn.preprocessing", "sklearn.decomposition", "sklearn.neighbors",
                            "sklearn.metrics", "sklearn.ensemble", "sklearn.cross_decomposition", "sklearn.impute",
                            "sklearn.utils", "sklearn.utils.validation", "sklearn.exceptions", "sklearn.manifold",
                            "sklearn.isotonic", "sklearn.svm", "sklearn.neural_network"],
                "modules/generated/{name}.html#{name}"),
    "torch": ("torch", ["torch", "torch.nn", "torch.optim", "torch.optim.lr_scheduler", "torch.amp"],
              "generated/{name}.html#{name}"),
    "astropy": ("astropy", ["astropy.stats", "astropy.visualization", "astropy.io.fits", "astropy.cosmology",
                            "astropy.units", "astropy.table", "astropy.modeling.models"],
                "api/{name}.html#{name}"),
}


def _objects(modules):
    for modname in modules:
        module = importlib.import_module(modname)
        yield modname, "py:module", modname
        for attr in getattr(module, "__all__", None) or dir(module):
            if attr.startswith("_"):
                continue
            try:
                obj = getattr(module, attr, None)
            except ImportError:  # experimental names (scikit-learn's halving searches)
                obj = None
            role = "py:class" if inspect.isclass(obj) else "py:function" if callable(obj) else None
            if role:
                yield f"{modname}.{attr}", role, f"{modname}.{attr}"


#: Labels that docstrings we inherit refer to (scikit-learn's ``score`` methods), as (name, uri).
LABELS = {
    "sklearn": [("accuracy_score", "modules/model_evaluation.html#accuracy-score"),
                ("r2_score", "modules/model_evaluation.html#r2-score")],
}


def write(project: str) -> pathlib.Path:
    package, modules, url = PROJECTS[project]
    version = importlib.import_module(package).__version__
    lines, seen = [], set()
    for name, role, target in _objects(modules):
        if name not in seen:
            seen.add(name)
            uri = url.format(name=target) if role != "py:module" else url.format(name=target).split("#")[0]
            lines.append(f"{name} {role} 1 {uri} -")
    lines += [f"{label} std:label -1 {uri} -" for label, uri in LABELS.get(project, [])]
    header = (f"# Sphinx inventory version 2\n# Project: {project}\n# Version: {version}\n"
              "# The remainder of this file is compressed using zlib.\n").encode()
    path = HERE / f"{project}.inv"
    HERE.mkdir(exist_ok=True)
    path.write_bytes(header + zlib.compress(("\n".join(sorted(lines)) + "\n").encode()))
    return path


if __name__ == "__main__":
    for project in PROJECTS:
        print(write(project))
