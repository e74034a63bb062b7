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
    start = text.index(".. tables:begin: real_sdss_corrected/roc_auc")
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
