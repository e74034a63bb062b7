"""The docs quote the quick demo's findings through a file generated from stored results."""

import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("demo_findings", ROOT / "benchmarks" / "demo_findings.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RUNS = sorted(p for p in (ROOT / "benchmarks" / "results").glob("demo_*") if (p / "label_efficiency.csv").exists())


@pytest.mark.parametrize("folder", RUNS, ids=[p.name for p in RUNS])
def test_docs_findings_are_those_of_the_stored_results(folder):
    generated = _script().findings_rst(folder)
    assert (folder / "findings.rst").read_text() == generated, (
        f"benchmarks/results/{folder.name}/findings.rst differs from what its stored files give: run "
        "python benchmarks/demo_findings.py")
    assert f".. include:: ../benchmarks/results/{folder.name}/findings.rst" in (ROOT / "docs" / "benchmarks.rst").read_text()
    assert "Verdict" in generated


def test_the_stored_runs_are_those_of_every_demo_mode():
    assert [p.name for p in RUNS] == ["demo_default", "demo_default_tuned", "demo_full", "demo_quick"]


def test_no_hand_typed_demo_findings_left_in_the_docs():
    text = (ROOT / "docs" / "benchmarks.rst").read_text()
    assert "What the default demo finds (seed 0" not in text  # the stale, hand-typed block (issue 33.6)


def test_findings_are_generated_from_the_stored_files(tmp_path):
    """The generator reads only the stored files: a verdict, the findings and the retrieval line."""
    import json

    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    rows = [dict(task="morphology", estimator=m, n_labels=100, repeat=r, metric="accuracy",
                 score=acc + 0.005 * rng.normal())
            for m, acc in (("SSL frozen", 0.85), ("supervised CNN", 0.70), ("photometry + GB", 0.85)) for r in range(5)]
    pd.DataFrame(rows).to_csv(tmp_path / "label_efficiency.csv", index=False)
    (tmp_path / "settings.json").write_text(json.dumps({
        "settings": {"random_state": 0, "n_samples": 500, "epochs": 6}, "timings_s": {"total": 81.0},
        "retrieval": {"n": 60, "top1": 0.05, "chance_top1": 1 / 60, "top5": 0.2, "chance_top5": 5 / 60}}))
    text = _script().findings_rst(tmp_path)
    assert "seed 0, 500 galaxies, 6 epochs, 5 repeat(s) per budget, 81 s" in text
    assert "* **Verdict. SSL wins** 1 of 2" in text
    assert "SSL frozen vs the supervised CNN" in text and "top-1 5.0% (chance 1.67%)" in text


def _seconds(text: str, field: str) -> float:
    value = next(line.split(": ", 1)[1] for line in text.splitlines() if field in line).strip()
    parts = [float(p) for p in value.split(":")]
    return sum(p * 60 ** i for i, p in enumerate(reversed(parts)))


@pytest.mark.parametrize("mode", ["quick", "default", "full"])
def test_demo_times_stated_are_the_stored_measurements(mode):
    """DEMO_WALL_TIME_S (the start-up line, README) and docs/benchmarks.rst give the stored /usr/bin/time run."""
    from sklearn_ssl.demo import DEMO_WALL_TIME_S

    stored = (ROOT / "benchmarks" / "results" / f"demo_{mode}" / "time.txt").read_text()
    wall, user = (int(_seconds(stored, field) + 0.5) for field in ("Elapsed (wall clock)", "User time"))  # half up
    assert DEMO_WALL_TIME_S[mode] == wall
    page = (ROOT / "docs" / "benchmarks.rst").read_text()
    assert f"     - {wall:,}\n     - {user:,}\n" in page
