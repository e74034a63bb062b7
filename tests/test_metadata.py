"""Install metadata and the README's instructions say what is true."""

import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def setup_keywords():
    tree = ast.parse((ROOT / "setup.py").read_text())
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "setup")
    out = {}
    for kw in call.keywords:
        try:
            out[kw.arg] = ast.literal_eval(kw.value)
        except ValueError:  # e.g. open(...).read(), find_packages(...)
            continue
    return out


def test_python_requires_matches_the_dependencies_floor():
    meta = setup_keywords()
    # numpy 2.4, pandas 3.1, scipy 1.17, astropy 8.0 and scikit-learn 1.9 (the lower bounds) need Python 3.11
    assert meta["python_requires"] == ">=3.11"
    assert sys.version_info >= (3, 11)


def test_license_author_and_license_file():
    meta = setup_keywords()
    assert meta["license"] == "BSD-3-Clause" and meta["license_files"] == ["LICENSE"]
    assert meta["author"] == "sklearn-ssl developers"
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License") and "sklearn-ssl developers" in text
    assert "Neither the name of the copyright holder" in text  # the third clause


def test_readme_evaluate_target_is_a_demo_catalogue_column():
    from sklearn_ssl.datasets import make_galaxy_survey

    readme = (ROOT / "README.md").read_text()
    _, catalogue = make_galaxy_survey(8, image_size=8, random_state=0)
    targets = re.findall(r"sklearn-ssl evaluate [^`]*--target (\w+)", readme)
    assert targets and all(t in catalogue.columns for t in targets), targets


def test_readme_says_which_torch_build_pip_gives():
    readme = (ROOT / "README.md").read_text()
    assert "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in readme
    assert "CUDA" in readme
    # the two commands for a fresh machine, and CI, install torch exactly as before (CI reaches only registries)
    assert "pip install torch==2.13.0 && pip install -e . && sklearn-ssl demo" in readme
    assert 'pip install torch==2.13.0 && pip install -e ".[test]" && python -m pytest -q' in readme
    assert "python -m pip install torch==2.13.0\n" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("command, mode", [("demo --quick", "quick"), ("demo", "default"), ("demo --full", "full")])
def test_readme_states_how_long_each_demo_takes(command, mode):
    """README's table gives each mode's measured wall time, the one the demo announces when it starts."""
    from sklearn_ssl.demo import DEMO_WALL_TIME_S

    readme = (ROOT / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith(f"| `sklearn-ssl {command}` |"))
    assert re.search(rf"\| {DEMO_WALL_TIME_S[mode]} s( \([^|]*\))? \|$", row), row
