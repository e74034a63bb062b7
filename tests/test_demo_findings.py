"""The docs quote the quick demo's findings through a file generated from stored results."""

import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "demo_quick"


def _script():
    spec = importlib.util.spec_from_file_location("demo_findings", ROOT / "benchmarks" / "demo_findings.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not (RESULTS / "label_efficiency.csv").exists(), reason="no stored quick-demo results")
def test_docs_findings_are_those_of_the_stored_results():
    generated = _script().findings_rst(RESULTS)
    assert (RESULTS / "findings.rst").read_text() == generated, (
        "benchmarks/results/demo_quick/findings.rst differs from what its stored files give: run "
        "python benchmarks/demo_findings.py")
    assert ".. include:: ../benchmarks/results/demo_quick/findings.rst" in (ROOT / "docs" / "benchmarks.rst").read_text()
    assert "Verdict" in generated


def test_no_hand_typed_demo_findings_left_in_the_docs():
    text = (ROOT / "docs" / "benchmarks.rst").read_text()
    assert "What the default demo finds (seed 0" not in text  # the stale, hand-typed block (issue 33.6)
