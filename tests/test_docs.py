"""The documentation builds without a warning (sphinx-build -W), API reference included."""

import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _build(tmp_path, *extra):
    pytest.importorskip("sphinx")
    pytest.importorskip("numpydoc")
    pytest.importorskip("sphinx_gallery")
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-E", "-b", "html", *extra,
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")],
        capture_output=True, text=True, timeout=1800,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return tmp_path / "html"


def test_docs_build_without_warnings(tmp_path):
    """The whole site with -W: API pages, intersphinx links, the gallery's pages (examples not run here)."""
    html = _build(tmp_path, "-D", "plot_gallery=0")
    api = (html / "api.html").read_text()
    assert "ContrastiveEmbedder" in api and "evaluate_embeddings" in api
    page = (html / "generated" / "sklearn_ssl.ContrastiveEmbedder.html").read_text()
    assert "https://scikit-learn.org/stable/modules/generated/sklearn.pipeline.Pipeline.html" in page or \
        "scikit-learn.org/stable" in (html / "index.html").read_text()
    gallery = (html / "auto_examples" / "index.html").read_text()
    assert "plot_quickstart" in gallery


@pytest.mark.slow
def test_docs_build_with_the_gallery_run(tmp_path):
    """The gallery's examples run during the build (minutes): each page shows its output."""
    html = _build(tmp_path)
    assert "accuracy" in (html / "auto_examples" / "plot_quickstart.html").read_text()
