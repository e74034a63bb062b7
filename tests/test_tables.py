"""Every results table of docs/ and README.md is what benchmarks/tables.py computes from benchmarks/results/."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "tables.py"


@pytest.fixture(scope="module")
def tables():
    spec = importlib.util.spec_from_file_location("benchmark_tables", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pages_match_their_stored_results():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr


def test_a_number_edited_by_hand_is_drift(tables):
    page = ROOT / "docs" / "real_sdss.rst"
    text = page.read_text()
    assert tables.regenerate(text, False, [], "real_sdss.rst") == text
    start = text.index(".. tables:begin: real_sdss_catalogue/roc_auc")
    cell = text.index("0.", start)
    edited = text[:cell] + "0.999" + text[cell + 5:]
    problems = []
    assert tables.regenerate(edited, False, problems, "real_sdss.rst") == text and problems == []


def test_unknown_tables_and_mismatched_markers_are_reported(tables):
    problems = []
    text = ".. tables:begin: nope/none\n\nx\n\n.. tables:end: nope/none\n"
    assert tables.regenerate(text, False, problems, "p.rst") == text
    assert "no table named 'nope/none'" in problems[0]
    md = "<!-- tables:begin: a -->\nx\n<!-- tables:end: b -->\n"
    tables.regenerate(md, True, problems, "README.md")
    assert "ends with the marker of 'b'" in problems[1]


def test_results_need_their_command_commit_date_and_machine(tables, tmp_path, monkeypatch):
    (tmp_path / "meta.json").write_text('{"command": "python x.py", "date": "2026-12-03"}')
    monkeypatch.setattr(tables, "ROOT", tmp_path.parent)  # only for the relative path in the message
    with pytest.raises(ValueError, match="lacks commit, machine"):
        tables.read_meta(tmp_path)
    meta = tables.write_meta(tmp_path, ["benchmarks/x.py", "--quick"])
    assert meta["command"] == "python benchmarks/x.py --quick" and meta["commit"] and meta["machine"]
    assert tables.read_meta(tmp_path)["date"] == meta["date"]


def test_similarity_index_tables_show_the_columns_a_run_recorded(tables, tmp_path, monkeypatch):
    import json

    import pandas as pd

    monkeypatch.setattr(tables, "ROOT", tmp_path.parent)  # only for the relative paths of the source line
    row = {"algorithm": "ivfpq", "setting": "nprobe=8", "n": 1000, "dim": 128, "build_s": 12.34,
           "build_peak_mb": 20.4, "index_bytes": 88_700, "recall_at_10": 0.9434, "queries_per_s": 265.1,
           "speedup_vs_exact": 28.28}
    pd.DataFrame([row]).to_csv(tmp_path / "rows_n1000.csv", index=False)
    with pytest.raises(ValueError, match="meta_n1000.json is missing"):
        tables.similarity_index_table(tmp_path, 1000)
    meta = {"command": "python benchmarks/similarity_index.py --n 1000", "git_commit": "0123456789abcdef",
            "date_utc": "2026-12-03T21:26:00+00:00", "machine": "x86_64"}
    (tmp_path / "meta_n1000.json").write_text(json.dumps(meta))
    text = tables.similarity_index_table(tmp_path, 1000)
    assert "build CPU (s)" not in text
    assert text.split("\n")[3].split() == ["ivfpq", "nprobe=8", "12.3", "20", "88.7", "0.943", "265.1", "28.3"]
    assert "run 2026-12-03 21:26 UTC, commit 0123456789" in text
    pd.DataFrame([{**row, "build_cpu_s": 11.0}]).to_csv(tmp_path / "rows_n1000.csv", index=False)
    assert "build CPU (s)" in tables.similarity_index_table(tmp_path, 1000)
