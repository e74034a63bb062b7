"""The examples run with tiny sizes, exit cleanly and print what they claim."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SDSS = ROOT.parent / "shared" / "data" / "gz_kaggle_spiral_64.npz"

# (script, arguments, text the output must contain, never empty); the multi-process accelerate example
# is run by tests/test_distributed.py under torchrun.
CASES = [
    ("plot_quickstart.py", [], "morphology accuracy, 5-fold CV: "),
    ("plot_frozen_pretrain_once.py", ["--n-samples", "90", "--epochs", "1"], "clone(FrozenEstimator(embedder))"),
    ("plot_grid_search_memory.py", ["--n-samples", "90", "--epochs", "1"], "0 embedder fits"),
    ("plot_photoz_finetune.py", ["--n-samples", "120", "--pretrain-epochs", "1", "--finetune-epochs", "1",
                                 "--min-steps", "2", "--out", "{tmp}/photoz.png"], "sigma_mad"),
    ("plot_similarity_search.py", ["--n-samples", "90", "--epochs", "1", "--out", "{tmp}/search.png"],
     "neighbour 6"),
    ("plot_semi_supervised.py", ["--n-samples", "150", "--epochs", "1"], "semi-supervised: balanced accuracy"),
    ("plot_cross_modal.py", ["--n-samples", "80", "--image-size", "8", "--epochs", "1", "--test-size", "20"],
     "zero-shot photo-z sigma_MAD"),
    ("plot_rare_objects.py", ["--n-samples", "100", "--image-size", "8", "--epochs", "1"],
     "precision at the top 1%"),
    ("plot_augmentations.py", ["{tmp}/augmentations.png"], "saved {tmp}/augmentations.png"),
    ("plot_synthetic_survey.py", [], "wrote docs/_static/synthetic_survey.png"),
    ("real_label_efficiency.py", ["--data", "{tmp}/missing.npz"], "not found"),
    ("published_model.py", ["--n-samples", "60", "--image-size", "16", "--epochs", "1",
                            "--checkpoint", "{tmp}/pretrained.pth.tar"], "continued pretraining: 1 epochs"),
]


def run_example(name, args, tmp_path):
    """Run an example as a script in a subprocess (as a user would); its stdout."""
    args = [a.format(tmp=tmp_path) for a in args]
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def run_example_here(name, args, tmp_path, monkeypatch, capsys):
    """Run an example as ``__main__`` in this process (as sphinx-gallery does), from ``tmp_path``: the
    same script without a fresh interpreter's seconds of imports; its stdout."""
    import runpy

    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(EXAMPLES / name), *[a.format(tmp=tmp_path) for a in args]])
    try:
        runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    except SystemExit as exit:
        assert exit.code in (0, None), capsys.readouterr().err[-3000:]
    finally:
        plt.close("all")
    return capsys.readouterr().out


@pytest.mark.parametrize("name, args, expected", CASES, ids=[c[0] for c in CASES])
def test_example_runs(name, args, expected, tmp_path, monkeypatch, capsys):
    assert expected, "an empty expectation matches any output"
    # the first as a user runs it, in its own interpreter; the others in this one (the same code)
    out = (run_example(name, args, tmp_path) if name == CASES[0][0]
           else run_example_here(name, args, tmp_path, monkeypatch, capsys))
    assert expected.format(tmp=tmp_path) in out
    for arg in args:  # every figure the example was asked for is written
        if arg.endswith(".png"):
            assert Path(arg.format(tmp=tmp_path)).stat().st_size > 1000


def test_every_example_is_tested():
    tested = {c[0] for c in CASES} | {"accelerate_pretrain.py"}
    assert {p.name for p in EXAMPLES.glob("*.py")} <= tested


@pytest.mark.skipif(not SDSS.is_file(), reason="real SDSS data (../shared/data) not available")
def test_real_label_efficiency_quick_run(tmp_path):
    out = run_example("real_label_efficiency.py", ["--data", str(SDSS), "--out", str(tmp_path / "out")], tmp_path)
    assert "SSL frozen + logistic" in out
    assert (tmp_path / "out" / "real_label_efficiency_summary.csv").is_file()
