"""The sklearn-ssl command: every subcommand, its outputs and its error paths.

Most tests call ``main(argv)`` in-process (fast: no interpreter start); a few run
``python -m sklearn_ssl.cli`` in a subprocess to check what a user sees in a shell:
exit status, one error line, no traceback.
"""

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from sklearn_ssl import cli
from sklearn_ssl.io._files import load_embeddings

from _verdicts import p_values, verdicts

N = 48


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Tiny 5-band images, a catalogue and a model pretrained once through the CLI."""
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, N)
    x = rng.normal(size=(N, 5, 12, 12)).astype("float32")
    x[:, :, 4:8, 4:8] += 3.0 * y[:, None, None, None]  # a class signal the embeddings can pick up
    np.save(d / "images.npy", x)
    ids = np.arange(100, 100 + N)
    np.savez(d / "images.npz", images=x, ids=ids)
    z = rng.uniform(0.02, 0.3, N)
    pd.DataFrame({"id": ids[::-1], "label": np.where(y, "spiral", "elliptical")[::-1], "redshift": z[::-1],
                  "flag": np.ones(N, int)[::-1]}).to_csv(d / "catalog.csv", index=False)
    rc = cli.main(["pretrain", "--images", str(d / "images.npz"), "--out", str(d / "model.joblib"),
                   "--max-epochs", "1", "--batch-size", "16", "--device", "cpu", "--quiet"])
    assert rc == 0
    return d


def run(*argv):
    return cli.main([str(a) for a in argv])


def error_line(err):
    """The single 'sklearn-ssl: error:' line of stderr (progress lines may precede it)."""
    lines = [line for line in err.splitlines() if line.startswith("sklearn-ssl: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert err.rstrip().endswith(lines[0])
    return lines[0]


def files(folder):
    return sorted(p.name for p in folder.iterdir())


# -- pretrain -----------------------------------------------------------------------------
def test_pretrain_writes_a_loadable_model(data, capsys):
    import joblib

    model = joblib.load(data / "model.joblib")
    assert model.input_shape_ == (5, 12, 12)
    assert model.max_epochs == 1 and model.batch_size == 16


def test_pretrain_hyperparameters_reach_the_embedder(tmp_path, data, capsys):
    import joblib

    out = tmp_path / "moco.joblib"
    assert run("pretrain", "--images", data / "images.npy", "--out", out, "--method", "moco", "--max-epochs", 1,
               "--batch-size", 16, "--temperature", 0.2, "--projection-dim", 16, "--queue-size", 32,
               "--normalize", "asinh", "--device", "cpu", "--seed", 3, "--quiet") == 0
    model = joblib.load(out)
    assert (model.method, model.temperature, model.projection_dim, model.normalize, model.random_state) == (
        "moco", 0.2, 16, "asinh", 3)
    assert "pretrained moco on 48 images" in capsys.readouterr().out


def test_pretrain_flags_have_the_estimator_names_and_reach_it(tmp_path, data, capsys):
    import joblib

    out = tmp_path / "m.joblib"
    assert run("pretrain", "--images", data / "images.npy", "--out", out, "--max-epochs", 2, "--batch-size", 16,
               "--lr", "auto", "--lr-schedule", "step", "--checkpoint-dir", tmp_path / "ckpt", "--checkpoint-every",
               2, "--method", "byol", "--device", "cpu", "--quiet") == 0
    model = joblib.load(out)
    assert (model.max_epochs, model.lr, model.lr_, model.lr_schedule, model.checkpoint_every, model.method) == (
        2, "auto", 1e-3, "step", 2, "byol")
    assert run("pretrain", "--images", data / "images.npy", "--out", out, "--max-epochs", 1, "--batch-size", 16,
               "--lr", 0.01, "--lr-schedule", "none", "--device", "cpu", "--quiet", "--overwrite") == 0
    model = joblib.load(out)
    assert (model.lr_, model.lr_schedule) == (0.01, None)


@pytest.mark.parametrize("old, new, value", [("--epochs", "--max-epochs", "7"), ("--catalog", "--catalogue", "c.csv"),
                                             ("--no-progress", "--quiet", None)])
def test_former_option_spellings_still_work_with_a_future_warning(old, new, value):
    parser = cli._parser()
    command = {"--catalog": ["evaluate", "--embeddings", "e.csv", "--target", "t"],
               "--epochs": ["pretrain", "--images", "x.npy", "--out", "m.joblib"], "--no-progress": ["demo"]}[old]
    with pytest.warns(FutureWarning, match=f"{old} is deprecated.*use {new}"):
        args = parser.parse_args([*command, old, *([] if value is None else [value])])
    expected = parser.parse_args([*command, new, *([] if value is None else [value])])
    assert vars(args) == vars(expected)
    help_text = parser._subparsers._group_actions[0].choices[command[0]].format_help()
    assert re.search(re.escape(old) + r"(?![\w-])", help_text) is None  # hidden from --help


def test_former_option_spelling_warns_in_one_line_on_the_command_line(tmp_path, data, capsys):
    assert run("evaluate", "--embeddings", tmp_path / "e.csv", "--catalog", tmp_path / "missing.csv",
               "--target", "label") == 1
    err = capsys.readouterr().err
    assert "sklearn-ssl: warning: --catalog is deprecated" in err and "use --catalogue" in err


def test_redirected_output_has_no_colour_codes_or_bars(tmp_path, data, capsys, monkeypatch):
    """Logs written to a file get the loss table but no ANSI colours and no carriage-return bars."""
    import io

    from sklearn_ssl.engine import _training

    assert run("pretrain", "--images", data / "images.npy", "--out", tmp_path / "m.joblib", "--max-epochs", 1,
               "--batch-size", 16, "--device", "cpu") == 0
    captured = capsys.readouterr()
    assert "train_loss" in captured.out and "pretrained simclr" in captured.out
    for text in (captured.out, captured.err):
        assert "\x1b[" not in text and "\r" not in text
    import joblib

    assert "ProgressBar" not in {type(cb).__name__ for _, cb in joblib.load(tmp_path / "m.joblib").net_.callbacks_}

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert _training.on_terminal(Terminal()) and not _training.on_terminal(io.StringIO())
    monkeypatch.setattr(sys, "stdout", Terminal())
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert run("pretrain", "--images", data / "images.npy", "--out", tmp_path / "m.joblib", "--max-epochs", 1,
               "--batch-size", 16, "--device", "cpu", "--overwrite") == 0
    assert "\x1b[" in sys.stdout.getvalue()  # on a terminal, skorch colours the best loss as before
    assert "ProgressBar" in {type(cb).__name__ for _, cb in joblib.load(tmp_path / "m.joblib").net_.callbacks_}


def test_pretrain_bad_output_fails_before_training(tmp_path, data, capsys):
    assert run("pretrain", "--images", data / "images.npy", "--out", tmp_path / "model.txt", "--quiet") == 1
    err = capsys.readouterr().err
    assert "'.txt'" in error_line(err) and "read " not in err
    assert run("pretrain", "--images", data / "images.npy", "--out", tmp_path / "no" / "m.joblib") == 1
    assert "does not exist" in capsys.readouterr().err


def test_pretrain_invalid_hyperparameter_is_one_line(tmp_path, data, capsys):
    assert run("pretrain", "--images", data / "images.npy", "--out", tmp_path / "m.joblib",
               "--encoder", "vgg", "--quiet") == 1
    assert "Unknown encoder 'vgg'" in error_line(capsys.readouterr().err)
    assert files(tmp_path) == []


def test_pretrain_augmentation_preset_band_mismatch(tmp_path, data, capsys):
    # the 'decals' preset needs 3 bands; the images have 5
    assert run("pretrain", "--images", data / "images.npy", "--out", tmp_path / "m.joblib",
               "--augmentations", "decals", "--quiet") == 1
    assert "3 bands" in capsys.readouterr().err
    assert files(tmp_path) == []


@pytest.mark.parametrize("argv, message", [
    (["pretrain", "--images", "x.npy"], "--out"),
    (["pretrain", "--images", "x.npy", "--out", "m.joblib", "--max-epochs", "0"], "must be >= 1"),
    (["pretrain", "--images", "x.npy", "--out", "m.joblib", "--method", "swav"], "invalid choice"),
    (["evaluate", "--embeddings", "e.csv", "--catalogue", "c.csv"], "--target"),
    (["frobnicate"], "invalid choice"),
    ([], "required"),
])
def test_usage_errors_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


# -- embed ----------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".csv", ".npy"])
def test_embed_formats(tmp_path, data, suffix, capsys):
    out = tmp_path / f"emb{suffix}"
    assert run("embed", "--model", data / "model.joblib", "--images", data / "images.npz", "--out", out) == 0
    Z, ids = load_embeddings(out)
    assert Z.shape[0] == N and np.isfinite(Z).all()
    if suffix == ".csv":
        np.testing.assert_array_equal(ids, np.arange(100, 100 + N))
    assert files(tmp_path) == [out.name]  # no temporary file left over


def test_embed_parquet(tmp_path, data, capsys):
    out = tmp_path / "emb.parquet"
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        assert run("embed", "--model", data / "model.joblib", "--images", data / "images.npz", "--out", out) == 1
        assert "pyarrow" in capsys.readouterr().err
        assert files(tmp_path) == []
        return
    assert run("embed", "--model", data / "model.joblib", "--images", data / "images.npz", "--out", out) == 0
    Z, ids = load_embeddings(out)
    assert Z.shape[0] == N and ids[0] == 100


def test_embed_from_fits_folder(tmp_path, data, capsys):
    from sklearn_ssl.io.cutouts import save_cutouts

    x = np.load(data / "images.npy")
    save_cutouts(x[:10], tmp_path / "fits", "ugriz", ids=np.arange(100, 110))
    out = tmp_path / "emb.csv"
    assert run("embed", "--model", data / "model.joblib", "--images", tmp_path / "fits", "--out", out) == 0
    Z, ids = load_embeddings(out)
    assert Z.shape[0] == 10 and sorted(map(str, ids)) == [str(i) for i in range(100, 110)]


@pytest.mark.parametrize("layout", ["cube", "hdus", "files"])
def test_fits_folder_round_trip_every_layout(tmp_path, data, layout, capsys):
    """What save_cutouts writes, pretrain and embed read as the same images (5 bands, one row per object)."""
    from sklearn_ssl.io.cutouts import save_cutouts

    x = np.load(data / "images.npy")[:8]
    save_cutouts(x, tmp_path / "fits", "ugriz", ids=np.arange(100, 108), layout=layout)
    assert run("embed", "--model", data / "model.joblib", "--images", data / "images.npy", "--out",
               tmp_path / "ref.npy") == 0
    out = tmp_path / "emb.csv"
    assert run("embed", "--model", data / "model.joblib", "--images", tmp_path / "fits", "--out", out) == 0
    assert "read 8 images of shape (5, 12, 12)" in capsys.readouterr().err
    Z, ids = load_embeddings(out)
    assert ids.tolist() == list(range(100, 108))
    np.testing.assert_allclose(Z, np.load(tmp_path / "ref.npy")[:8], rtol=1e-5, atol=1e-6)
    assert run("embed", "--model", data / "model.joblib", "--images", tmp_path / "fits", "--bands", "u,g,r,i,z",
               "--out", out, "--overwrite") == 0
    np.testing.assert_allclose(load_embeddings(out)[0], Z, rtol=1e-5, atol=1e-6)
    assert run("pretrain", "--images", tmp_path / "fits", "--out", tmp_path / "m.joblib", "--max-epochs", 1,
               "--batch-size", 4, "--bands", "gri", "--device", "cpu") == 0
    assert "read 8 images of shape (3, 12, 12)" in capsys.readouterr().err


@pytest.mark.parametrize("text, bands", [
    ("ugriz", list("ugriz")), ("g,r,i", ["g", "r", "i"]), ("HSC-G,HSC-R", ["HSC-G", "HSC-R"]),
    (" F115W, F150W ", ["F115W", "F150W"]), ("HSC-G", ["HSC-G"]), ("Ks,", ["Ks"]),
])
def test_bands_option_parses_names(text, bands):
    assert cli._parser().parse_args(["embed", "--model", "m", "--images", "i", "--out", "o",
                                     "--bands", text]).bands == bands


def test_bands_option_with_hyphenated_names(tmp_path, data, capsys):
    from sklearn_ssl.io.cutouts import save_cutouts

    x = np.load(data / "images.npy")[:6]
    save_cutouts(x, tmp_path / "hsc", ["HSC-G", "HSC-R", "HSC-I", "HSC-Z", "HSC-Y"], layout="files")
    assert run("pretrain", "--images", tmp_path / "hsc", "--bands", "HSC-I,HSC-G", "--out", tmp_path / "m.joblib",
               "--max-epochs", 1, "--batch-size", 4, "--device", "cpu") == 0
    assert "read 6 images of shape (2, 12, 12)" in capsys.readouterr().err
    assert run("pretrain", "--images", tmp_path / "hsc", "--bands", "HSC-G,HSC-X", "--out", tmp_path / "m2.joblib",
               "--quiet") == 1
    assert "missing band(s) ['HSC-X']" in error_line(capsys.readouterr().err)
    with pytest.raises(SystemExit):
        cli.main(["pretrain", "--images", "x", "--out", "m.joblib", "--bands", "g,g"])
    assert "give each band once" in capsys.readouterr().err


@pytest.fixture(scope="module")
def grz_model(data):
    """A model pretrained on FITS cutouts stored in g, r, z order (the names are in the headers)."""
    from sklearn_ssl.io import save_cutouts

    x = np.load(data / "images.npy")[:, :3]
    ids = [f"obj{i:03d}" for i in range(N)]  # sorted file names keep the array's order
    save_cutouts(x, data / "grz", "grz", ids=ids)
    save_cutouts(x[:, ::-1], data / "zrg", "zrg", ids=ids)  # the same objects, bands stored z, r, g
    save_cutouts(x, data / "gri", "gri", ids=ids)  # no z band
    assert run("pretrain", "--images", data / "grz", "--out", data / "grz.joblib", "--max-epochs", 1,
               "--batch-size", 16, "--device", "cpu", "--quiet") == 0
    return data / "grz.joblib"


def test_pretrain_remembers_the_bands(tmp_path, data, grz_model, capsys):
    import joblib

    assert joblib.load(grz_model).bands_ == ["g", "r", "z"]  # from the FITS headers
    out = tmp_path / "m.joblib"
    assert run("pretrain", "--images", data / "images.npy", "--bands", "u,g,r,i,z", "--out", out, "--max-epochs", 1,
               "--batch-size", 16, "--device", "cpu", "--quiet") == 0  # --bands names an array's channels
    assert joblib.load(out).bands_ == list("ugriz")


def test_embed_puts_bands_in_the_model_order_or_refuses(tmp_path, data, grz_model, capsys):
    """The issue-33 case: a g,r,z model applied to z,r,g files without --bands embedded the wrong
    pixels without a word; they are reordered to the model's order, and a missing band is refused."""
    assert run("embed", "--model", grz_model, "--images", data / "grz", "--out", tmp_path / "grz.csv") == 0
    assert "reordered" not in capsys.readouterr().err
    assert run("embed", "--model", grz_model, "--images", data / "zrg", "--out", tmp_path / "zrg.csv") == 0
    assert "from z,r,g to g,r,z, the order the model was trained on" in capsys.readouterr().err
    np.testing.assert_allclose(load_embeddings(tmp_path / "zrg.csv")[0], load_embeddings(tmp_path / "grz.csv")[0],
                               rtol=1e-5, atol=1e-6)
    assert run("embed", "--model", grz_model, "--images", data / "gri", "--out", tmp_path / "gri.csv") == 1
    line = error_line(capsys.readouterr().err)
    assert "trained on bands g,r,z (in this order)" in line and "has bands g,r,i: missing z" in line
    np.save(tmp_path / "zrg.npy", np.load(data / "images.npy")[:, 2::-1])
    assert run("embed", "--model", grz_model, "--images", tmp_path / "zrg.npy", "--bands", "z,r,g",
               "--out", tmp_path / "zrg_npy.csv") == 0
    np.testing.assert_allclose(load_embeddings(tmp_path / "zrg_npy.csv")[0],
                               load_embeddings(tmp_path / "grz.csv")[0],
                               rtol=1e-5, atol=1e-6)
    assert run("embed", "--model", grz_model, "--images", tmp_path / "zrg.npy", "--out", tmp_path / "n.csv") == 0
    assert "warning: the model was trained on bands g,r,z" in capsys.readouterr().err  # unknown: cannot check


def test_models_saved_without_bands_still_load_and_embed(tmp_path, data, grz_model, capsys):
    import joblib

    model = joblib.load(grz_model)
    del model.bands_  # as saved before bands_ existed
    model.save(tmp_path / "old.joblib")
    assert run("embed", "--model", tmp_path / "old.joblib", "--images", data / "zrg", "--out",
               tmp_path / "e.csv") == 0
    err = capsys.readouterr().err
    assert "warning" not in err and "reordered" not in err


def test_cli_advice_names_cli_options(tmp_path, data, capsys):
    """The errors point to options the command line has (--impute, --on-error skip), and they work."""
    from sklearn_ssl.io.cutouts import save_cutouts

    x = np.load(data / "images.npy")[:6].copy()
    x[1, 2, 3, 4] = np.nan
    x[2, 0, 0, 0] = np.inf
    np.save(tmp_path / "nan.npy", x)
    out = tmp_path / "emb.csv"
    assert run("embed", "--model", data / "model.joblib", "--images", tmp_path / "nan.npy", "--out", out) == 1
    line = error_line(capsys.readouterr().err)
    assert "--impute local" in line and "Pipeline" not in line
    assert run("embed", "--model", data / "model.joblib", "--images", tmp_path / "nan.npy", "--out", out,
               "--impute", "local") == 0
    assert "filled 2 NaN/infinite pixels" in capsys.readouterr().err
    Z, _ = load_embeddings(out)
    assert Z.shape[0] == 6 and np.isfinite(Z).all()

    save_cutouts(x[:4], tmp_path / "fits", "ugriz", ids=list("abcd"))
    save_cutouts(np.zeros((1, 5, 11, 11), "float32"), tmp_path / "fits", "ugriz", ids=["odd"])
    out = tmp_path / "emb_fits.csv"
    assert run("embed", "--model", data / "model.joblib", "--images", tmp_path / "fits", "--out", out,
               "--impute", "median") == 1
    line = error_line(capsys.readouterr().err)
    assert "--on-error skip" in line and "on_error=" not in line
    assert run("embed", "--model", data / "model.joblib", "--images", tmp_path / "fits", "--out", out,
               "--impute", "median", "--on-error", "skip") == 0
    assert "odd.fits" in capsys.readouterr().err  # the warning names the skipped file
    assert load_embeddings(out)[1].tolist() == list("abcd")


def test_help_shows_every_default():
    """Every option of every subcommand that takes a value states its default in --help."""
    parser = cli._parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert {"demo", "pretrain", "embed", "evaluate"} <= set(commands)
    for command, sub in commands.items():
        formatter = sub._get_formatter()
        for action in sub._actions:
            if (not action.option_strings or action.required or action.nargs == 0  # positionals, required, flags
                    or getattr(action, "required_renamed", False)  # required, under either spelling
                    or action.help == argparse.SUPPRESS):  # a former spelling, hidden
                continue
            text = formatter._expand_help(action)
            assert "default" in text, f"{command} {action.option_strings[0]}: {text!r}"


@pytest.mark.parametrize("make_input, message", [
    (lambda d, t: t / "missing.npy", "no such file"),
    (lambda d, t: (t / "imgs.txt").write_text("x") and t / "imgs.txt", "unsupported image file extension"),
    (lambda d, t: np.save(t / "bands3.npy", np.zeros((4, 3, 12, 12), "float32")) or t / "bands3.npy",
     "(5, 12, 12)"),
    (lambda d, t: np.save(t / "flat.npy", np.zeros((4, 12), "float32")) or t / "flat.npy", "shape"),
    (lambda d, t: np.save(t / "nan.npy", np.full((4, 5, 12, 12), np.nan, "float32")) or t / "nan.npy", "NaN"),
    (lambda d, t: (t / "bad.npy").write_bytes(b"not numpy") and t / "bad.npy", "cannot be read"),
    (lambda d, t: np.savez(t / "k.npz", a=np.zeros(2), b=np.zeros(2)) or t / "k.npz", "--key"),
])
def test_embed_bad_images_leave_no_output(tmp_path, data, make_input, message, capsys):
    images = make_input(data, tmp_path)
    out = tmp_path / "out" / "emb.csv"
    out.parent.mkdir()
    assert run("embed", "--model", data / "model.joblib", "--images", images, "--out", out) == 1
    assert message in error_line(capsys.readouterr().err)
    assert files(out.parent) == []


def test_embed_bad_model_and_outputs(tmp_path, data, capsys):
    images = data / "images.npy"
    assert run("embed", "--model", data / "catalog.csv", "--images", images, "--out", tmp_path / "e.csv") == 1
    assert "not a model file" in capsys.readouterr().err
    assert run("embed", "--model", tmp_path / "none.joblib", "--images", images, "--out", tmp_path / "e.csv") == 1
    assert "no such file" in capsys.readouterr().err
    assert run("embed", "--model", data / "model.joblib", "--images", images, "--out", tmp_path / "e.h5") == 1
    assert "'.h5'" in capsys.readouterr().err
    assert run("embed", "--model", data / "model.joblib", "--images", images,
               "--out", tmp_path / "missing" / "e.csv") == 1
    assert "does not exist" in capsys.readouterr().err
    assert files(tmp_path) == []


def test_interrupt_while_writing_leaves_nothing(tmp_path, data, monkeypatch, capsys):
    """Ctrl-C in the middle of writing: exit 130, no output and no temporary file."""
    def interrupted_to_csv(self, path, *args, **kwargs):
        with open(path, "w") as fh:
            fh.write("id,emb0\n1,")  # half a file ...
        raise KeyboardInterrupt  # ... then Ctrl-C

    monkeypatch.setattr(pd.DataFrame, "to_csv", interrupted_to_csv)
    out = tmp_path / "emb.csv"
    assert run("embed", "--model", data / "model.joblib", "--images", data / "images.npz", "--out", out) == 130
    assert "interrupted" in capsys.readouterr().err
    assert files(tmp_path) == []


def test_existing_output_survives_a_failure(tmp_path, data, capsys):
    out = tmp_path / "emb.csv"
    out.write_text("precious")
    np.save(tmp_path / "bands3.npy", np.zeros((4, 3, 12, 12), "float32"))
    assert run("embed", "--model", data / "model.joblib", "--images", tmp_path / "bands3.npy", "--out", out) == 1
    assert out.read_text() == "precious"


# -- evaluate -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def embeddings(data):
    out = data / "emb.csv"
    assert run("embed", "--model", data / "model.joblib", "--images", data / "images.npz", "--out", out) == 0
    np.save(data / "emb.npy", load_embeddings(out)[0])
    return out


def test_evaluate_classification_matches_ids(tmp_path, data, embeddings, capsys):
    out = tmp_path / "metrics.json"
    assert run("evaluate", "--embeddings", embeddings, "--catalogue", data / "catalog.csv", "--target", "label",
               "--cv", 3, "--out", out) == 0
    text = capsys.readouterr().out
    assert "label: classification with logistic on 48 objects" in text and "balanced_accuracy" in text
    rows = {r["metric"]: r for r in json.loads(out.read_text())}
    # the catalogue is in reverse order: only a correct id match keeps the class signal
    assert rows["roc_auc"]["mean"] > 0.8 and rows["roc_auc"]["baseline"] == 0.5


def test_evaluate_photoz_metrics(tmp_path, data, embeddings, capsys):
    out = tmp_path / "metrics.csv"
    assert run("evaluate", "--embeddings", embeddings, "--catalogue", data / "catalog.csv", "--target", "redshift",
               "--cv", 3, "--out", out) == 0
    table = pd.read_csv(out, index_col=0)
    assert {"sigma_mad", "bias", "outlier_fraction", "r2"} <= set(table.index)
    assert "photoz with knn" in capsys.readouterr().out


def test_evaluate_row_order_and_markdown(tmp_path, data, embeddings, capsys):
    cat = pd.read_csv(data / "catalog.csv").iloc[::-1]  # back to image order; .npy has no ids
    cat.to_csv(tmp_path / "ordered.csv", index=False)
    out = tmp_path / "m.md"
    assert run("evaluate", "--embeddings", data / "emb.npy", "--catalogue", tmp_path / "ordered.csv",
               "--target", "label", "--cv", 3, "--model", "knn", "--out", out, "--match-by-order") == 0
    assert out.read_text().startswith("| metric | mean | std | baseline |")


@pytest.mark.parametrize("argv, message", [
    (["--target", "nope"], "no column 'nope'"),
    (["--target", "flag"], "single class"),
    (["--target", "label", "--model", "ridge"], "does not fit task"),
    (["--target", "label", "--task", "regression"], "numeric target"),
    (["--target", "label", "--cv", "40"], "too few"),
    (["--target", "label", "--id-column", "objid"], "no id column 'objid'"),
    (["--target", "label", "--out", "metrics.xlsx"], "'.xlsx'"),
])
def test_evaluate_errors(tmp_path, data, embeddings, argv, message, capsys):
    os.chdir(tmp_path)
    assert run("evaluate", "--embeddings", embeddings, "--catalogue", data / "catalog.csv", *argv) == 1
    assert message in error_line(capsys.readouterr().err)
    assert files(tmp_path) == []


def test_evaluate_bad_inputs(tmp_path, data, embeddings, capsys):
    cat = data / "catalog.csv"
    assert run("evaluate", "--embeddings", tmp_path / "e.csv", "--catalogue", cat, "--target", "label") == 1
    assert "no such file" in capsys.readouterr().err
    assert run("evaluate", "--embeddings", embeddings, "--catalogue", tmp_path / "c.csv", "--target", "label") == 1
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "short.csv").write_text("label\na\nb\n")
    assert run("evaluate", "--embeddings", data / "emb.npy", "--catalogue", tmp_path / "short.csv",
               "--target", "label") == 1
    assert "carries no object ids" in capsys.readouterr().err
    assert run("evaluate", "--embeddings", data / "emb.npy", "--catalogue", tmp_path / "short.csv",
               "--target", "label", "--match-by-order") == 1
    assert "48 embeddings but 2 catalogue rows" in capsys.readouterr().err
    pd.DataFrame({"id": [1, 2], "label": ["a", "b"]}).to_csv(tmp_path / "other.csv", index=False)
    assert run("evaluate", "--embeddings", embeddings, "--catalogue", tmp_path / "other.csv", "--target", "label") == 1
    assert "no embedding id of" in error_line(capsys.readouterr().err)


@pytest.mark.parametrize("column", ["objid", "OBJID", "object_id"])
def test_evaluate_matches_a_recognised_id_column_not_the_row_order(tmp_path, data, embeddings, column, capsys):
    """The issue-33 case: a catalogue whose id column is not 'id' used to be matched by row order
    (ROC AUC at chance); it is matched by its recognised id column, in any case."""
    cat = pd.read_csv(data / "catalog.csv").rename(columns={"id": column})
    cat.to_csv(tmp_path / "cat.csv", index=False)
    out = tmp_path / "metrics.json"
    assert run("evaluate", "--embeddings", embeddings, "--catalogue", tmp_path / "cat.csv", "--target", "label",
               "--cv", 3, "--out", out) == 0
    rows = {r["metric"]: r for r in json.loads(out.read_text())}
    assert rows["roc_auc"]["mean"] > 0.8  # by order (the catalogue is reversed) it is near 0.5


def test_evaluate_refuses_order_matching_unless_asked(tmp_path, data, embeddings, capsys):
    cat = pd.read_csv(data / "catalog.csv").rename(columns={"id": "serial"})
    cat.to_csv(tmp_path / "cat.csv", index=False)
    argv = ["evaluate", "--embeddings", embeddings, "--catalogue", tmp_path / "cat.csv", "--target", "label", "--cv", 3]
    assert run(*argv) == 1
    line = error_line(capsys.readouterr().err)
    assert "no id column" in line and "objid" in line and "--id-column" in line and "--match-by-order" in line
    assert run(*argv, "--id-column", "serial") == 0
    assert run(*argv, "--match-by-order") == 0  # asked for: the user says both are in one order


def test_evaluate_names_unmatched_ids(tmp_path, data, embeddings, capsys):
    cat = pd.read_csv(data / "catalog.csv")
    cat["id"] = cat["id"] + 10_000  # none matches
    cat.to_csv(tmp_path / "cat.csv", index=False)
    assert run("evaluate", "--embeddings", embeddings, "--catalogue", tmp_path / "cat.csv", "--target", "label") == 1
    line = error_line(capsys.readouterr().err)
    assert "no embedding id" in line and "'100'" in line and "'10147'" in line
    cat = pd.read_csv(data / "catalog.csv").iloc[6:]  # 6 embeddings have no row
    cat.to_csv(tmp_path / "part.csv", index=False)
    assert run("evaluate", "--embeddings", embeddings, "--catalogue", tmp_path / "part.csv", "--target", "label",
               "--cv", 3) == 0
    assert "matched 42 of 48 embeddings to catalogue rows by 'id'; 6 have no row" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["pretrain", "embed", "evaluate", "convert", "convert-ids"])
def test_existing_outputs_are_kept_unless_overwrite(tmp_path, data, embeddings, command, capsys):
    """pretrain --out used to replace an existing model without a word (issue 33.3); every output of
    the command line now needs --overwrite to be replaced, checked before any work."""
    out = tmp_path / {"pretrain": "m.joblib", "embed": "e.csv", "evaluate": "m.json"}.get(command, "x.npy")
    argv = {"pretrain": ["pretrain", "--images", data / "images.npy", "--out", out, "--max-epochs", 1,
                         "--batch-size", 16, "--device", "cpu", "--quiet"],
            "embed": ["embed", "--model", data / "model.joblib", "--images", data / "images.npz", "--out", out,
                      "--quiet"],
            "evaluate": ["evaluate", "--embeddings", embeddings, "--catalogue", data / "catalog.csv", "--target",
                         "label", "--cv", 3, "--out", out]}.get(command, ["convert", data / "images.npz", out,
                                                                       "--quiet"])
    existing = tmp_path / "x.ids.npy" if command == "convert-ids" else out
    existing.write_bytes(b"hours of work")
    assert run(*argv) == 1
    line = error_line(capsys.readouterr().err)
    assert f"{existing}: already exists; pass --overwrite" in line
    assert existing.read_bytes() == b"hours of work"
    if command != "pretrain":  # --overwrite replaces it (pretrain: test_pretrain_flags_have_the_estimator_names...)
        assert run(*argv, "--overwrite") == 0
        assert existing.read_bytes() != b"hours of work"


# -- in a real shell ------------------------------------------------------------------------
def shell(*argv, cwd):
    return subprocess.run([sys.executable, "-m", "sklearn_ssl.cli", *map(str, argv)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_subprocess_error_is_one_line_without_traceback(tmp_path, data):
    proc = shell("embed", "--model", data / "model.joblib", "--images", "missing.npy", "--out", "e.csv",
                 cwd=tmp_path)
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sklearn-ssl: error: ")
    assert "missing.npy" in lines[0] and "no such file" in lines[0]
    assert "Traceback" not in proc.stdout + proc.stderr


def test_subprocess_help_and_version(tmp_path):
    proc = shell("--help", cwd=tmp_path)
    assert proc.returncode == 0
    for command in ("demo", "pretrain", "embed", "evaluate"):
        assert command in proc.stdout


# -- demo -----------------------------------------------------------------------------------
@pytest.fixture
def tiny_demo(monkeypatch, tmp_path_factory):
    """The --quick settings shrunk further so that the whole demo runs in seconds (in this process,
    with the catalogue-feature cache in a temporary folder: the fixture's value)."""
    from sklearn_ssl import demo

    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    tiny = dict(demo.DEMO_SETTINGS["quick"], image_size=16, width=4, batch_size=32, budgets=(12,), all_labels=True,
                finetune_epochs=1, finetune_steps=1, photoz_bins=20, semi_supervised=True,
                catalogue_baselines=True, n_repeats=1, n_jobs=None,
                cross_survey=dict(target="redshift", n_samples=60, image_size=16, n_labels=(6,), n_repeats=2,
                                  pretrain_epochs=1, finetune_steps=2, width=4, batch_size=32,
                                  catalogue_baselines=False,
                                  methods=("SSL frozen + logistic (survey aug.)", "supervised CNN")))
    monkeypatch.setitem(demo.DEMO_SETTINGS, "quick", tiny)
    return cache


def test_demo_writes_a_complete_report_and_a_log(tmp_path, tiny_demo, monkeypatch, capsys):
    import re

    from sklearn_ssl import demo

    monkeypatch.setitem(demo.DEMO_SETTINGS["quick"], "n_jobs", 2)  # the fits in two processes
    out = tmp_path / "report"
    assert run("demo", "--quick", "--n-samples", 60, "--max-epochs", 2, "--device", "cpu", "--out", out) == 0
    captured = capsys.readouterr()
    text, err = captured.out, captured.err
    assert "SSL frozen" in text and "supervised CNN" in text and "report.html" in text
    # a redirected log (stderr is not a terminal here, as under nohup or CI) gets a line per step, per
    # pretraining epoch, per chunk of catalogue features and per fit, with the time left
    assert "[1/9] simulating 60 galaxies" in err and "[9/9] writing the report" in err
    assert re.search(r"pretraining: epoch 1/2, loss \d+\.\d+ \(\d+ s\)", err)
    assert re.search(r"catalogue features 60/60: images \d+-60 \(\d+\.\d s; \d+ s elapsed, done\)", err)
    fits = re.findall(r"(morphology|redshift|cross-survey) fits (\d+)/(\d+): (.+?), (\d+) labels, repeat \d/\d "
                      r"\((\d+\.\d) s; \d+ s elapsed, (about \d+ s left|done)\)", err)
    morphology = [f for f in fits if f[0] == "morphology"]
    assert len(morphology) == int(morphology[0][2]) >= 10  # every fit has its line
    assert {f[3] for f in morphology} >= {"supervised CNN", "SSL frozen + logistic", "photometry + GB"}
    assert {f[3] for f in fits if f[0] == "redshift"} >= {"SSL fine-tuned photo-z head"}
    assert {f[3] for f in fits if f[0] == "cross-survey"} == {"SSL frozen + logistic (survey aug.)", "supervised CNN"}
    assert any((tiny_demo / "sklearn-ssl").rglob("output.pkl"))  # the features are cached for the next run
    names = set(files(out))
    assert {"report.md", "report.html", "label_efficiency.csv", "summary.csv", "catalog.csv", "embeddings.csv",
            "model.joblib", "settings.json", "figures", "rare_objects.csv", "cross_survey.csv",
            "label_selection.csv"} <= names
    figures = set(files(out / "figures"))
    assert figures == {"galaxies.png", "augmentations.png", "training_loss.png", "embedding_map.png",
                       "label_efficiency.png", "photoz.png", "cross_survey.png"}
    md = (out / "report.md").read_text()
    assert "## Choosing which galaxies to label" in md and "typiclust" in md
    for name in figures:
        assert f"figures/{name}" in md and (out / "figures" / name).stat().st_size > 10_000
    html = (out / "report.html").read_text()
    assert html.count("<img ") == len(figures)
    tables = html_tables(html)
    summary = pd.read_csv(out / "summary.csv")
    assert len(tables) == 5  # summary, label-efficiency curve, rare-object search, cross-survey study, selection
    assert tables[0][0] == list(summary.columns)  # header row: the column names, one <th> each
    assert len(tables[0]) == 1 + len(summary)  # then one <tr> per method
    assert [row[0] for row in tables[0][1:]] == summary.iloc[:, 0].tolist()
    for table in tables:
        assert all(len(row) == len(table[0]) for row in table)  # every row has one cell per column
        assert not any("|" in cell for row in table for cell in row)
    assert "|---" not in html and "<td>|" not in html  # no Markdown table syntax left anywhere
    table = pd.read_csv(out / "label_efficiency.csv")
    assert set(table.estimator) == {"SSL frozen", "raw-pixel PCA", "supervised CNN", "SSL fine-tuned",
                                    "semi-supervised SSL", "photometry + GB", "morphology + GB",
                                    "photometry + morphology + GB", "constant", "BYOL frozen", "SimSiam frozen",
                                    "CLIP frozen"}
    assert set(table.n_labels) == {12, 42} and table.score.notna().all()  # 42: the whole training split
    assert set(table.query("task == 'redshift'").estimator) == set(table.estimator)
    assert "SSL fine-tuned" not in set(table.query("task == 'morphology'").estimator)
    rare = pd.read_csv(out / "rare_objects.csv")
    assert rare.embedding.tolist() == ["SimCLR", "BYOL", "SimSiam", "CLIP", "raw arcsinh pixels"]
    assert rare.filter(like="precision").stack().between(0, 1).all() and rare["ROC AUC"].between(0, 1).all()
    found = json.loads((out / "settings.json").read_text())["retrieval"]
    assert found["n"] > 0 and 0 <= found["top1"] <= found["top5"] <= 1
    assert "Beyond SimCLR" in md and "held out of pretraining" in md
    crossed = pd.read_csv(out / "cross_survey.csv")
    assert set(crossed.test) == {"A", "B"} and set(crossed.estimator) == {"SSL frozen + logistic (survey aug.)",
                                                                          "supervised CNN"}
    assert "## Cross-survey study" in md and "Survey A: seeing 1.35" in md and "drop A - B" in md
    assert files(tmp_path) == ["report"]  # no temporary folder left
    if importlib.util.find_spec("bokeh"):  # the explorer of the demo survey, linked from the report
        assert '<a href="explorer/index.html">Open the explorer</a>' in html
        assert len(files(out / "explorer" / "thumbs")) == 60 and (out / "explorer" / "index.html").stat().st_size
    else:
        assert "pip install 'sklearn-ssl[explore]'" in md
    # the report's files feed the other subcommands
    assert run("evaluate", "--embeddings", out / "embeddings.csv", "--catalogue", out / "catalog.csv",
               "--target", "morphology", "--cv", 2) == 0


def html_tables(text):
    """Every <table> of an HTML page as a list of rows, each a list of cell texts (th or td)."""
    from html.parser import HTMLParser

    class Tables(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tables, self.cell = [], None

        def handle_starttag(self, tag, attrs):
            if tag == "table":
                self.tables.append([])
            elif tag == "tr":
                self.tables[-1].append([])
            elif tag in ("td", "th"):
                self.cell = ""

        def handle_endtag(self, tag):
            if tag in ("td", "th"):
                self.tables[-1][-1].append(self.cell)
                self.cell = None

        def handle_data(self, data):
            if self.cell is not None:
                self.cell += data

    parser = Tables()
    parser.feed(text)
    return parser.tables


def test_report_html_tables_have_rows_and_cells():
    from sklearn_ssl.utils._markdown import markdown_to_html

    frame = pd.DataFrame({"method (350 labels)": ["SSL frozen", "a|b <x>"], "accuracy": [0.938, np.nan],
                          "bias": [-0.00123, 0.5]})
    text = markdown_to_html(["# Title", "", "some **bold** text", "", frame, "", "- a finding"], "t")
    assert html_tables(text) == [[["method (350 labels)", "accuracy", "bias"], ["SSL frozen", "0.938", "-0.00123"],
                                  ["a|b <x>", "", "0.5"]]]
    assert "<strong>bold</strong>" in text and "<li>a finding</li>" in text


def test_report_folder_is_replaced_only_when_complete(tmp_path):
    from sklearn_ssl.utils._atomic import atomic_dir

    out = tmp_path / "report"
    with atomic_dir(out) as tmp:
        (tmp / "a.txt").write_text("first")
    with pytest.raises(RuntimeError):
        with atomic_dir(out) as tmp:
            (tmp / "a.txt").write_text("half")
            raise RuntimeError("failed half way")
    assert (out / "a.txt").read_text() == "first"  # the earlier report is intact
    with atomic_dir(out) as tmp:
        (tmp / "b.txt").write_text("second")
    assert sorted(files(out)) == [".sklearn-ssl-report", "b.txt"]
    assert files(tmp_path) == ["report"]


def test_demo_refuses_to_overwrite_other_folders(tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    assert run("demo", "--quick", "--out", tmp_path / "mine") == 1
    assert "is not a sklearn-ssl report" in error_line(capsys.readouterr().err)
    assert files(tmp_path / "mine") == ["thesis.tex"]
    assert run("demo", "--quick", "--out", tmp_path / "no" / "report") == 1
    assert "does not exist" in capsys.readouterr().err
    assert run("demo", "--quick", "--n-samples", 10, "--out", tmp_path / "r") == 1
    assert "too small" in capsys.readouterr().err


def test_demo_interrupted_leaves_nothing(tmp_path, tiny_demo, monkeypatch, capsys):
    from sklearn_ssl.demo import _run as demo

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "_label_efficiency_runs", interrupted)  # after pretraining wrote the model
    assert run("demo", "--quick", "--n-samples", 60, "--max-epochs", 1, "--device", "cpu",
               "--out", tmp_path / "report", "--quiet") == 130
    assert files(tmp_path) == []


def test_demo_findings_state_what_the_table_shows():
    from sklearn_ssl.demo._report import _findings

    noise = np.array([0.02, -0.02, 0.03, -0.03, 0.0])  # each method its own permutation: paired spread
    acc = {"SSL frozen": (0.83, 0.86), "supervised CNN": (0.70, 0.92), "photometry + GB": (0.60, 0.62),
           "morphology + GB": (0.82, 0.70), "constant": (0.25, 0.25)}
    sig = {"SSL frozen": (0.040, 0.030), "supervised CNN": (0.030, 0.025), "SSL fine-tuned": (0.0301, 0.024),
           "photometry + GB": (0.020, 0.018), "constant": (0.045, 0.045)}
    rows = [dict(task="morphology", estimator=m, n_labels=n, repeat=r, metric="accuracy",
                 score=v + np.roll(noise, k)[r]) for k, (m, vals) in enumerate(acc.items())
            for n, v in zip((10, 100), vals) for r in range(5)]
    rows += [dict(task="redshift", estimator=m, n_labels=n, repeat=r, metric="sigma_mad",
                  score=v + np.roll(noise, k)[r] / 10) for k, (m, vals) in enumerate(sig.items())
             for n, v in zip((10, 100), vals) for r in range(5)]
    table = pd.DataFrame(rows)
    lines = _findings(table)
    morph_cat, morph_cnn, z_cat, z_cnn, ft_cat, ft_cnn = lines[:6]
    ratios = lines[6:]  # then the label ratios: SSL frozen / fine-tuned against the CNN and the best catalogue row
    assert [line.split(": ")[0] for line in ratios] == [
        "**Morphology accuracy**, label ratio, SSL frozen vs supervised CNN",
        "**Morphology accuracy**, label ratio, SSL frozen vs morphology + GB",
        "**Photo-z sigma_MAD**, label ratio, SSL frozen vs supervised CNN",
        "**Photo-z sigma_MAD**, label ratio, SSL frozen vs photometry + GB",
        "**Photo-z sigma_MAD**, label ratio, SSL fine-tuned vs supervised CNN",
        "**Photo-z sigma_MAD**, label ratio, SSL fine-tuned vs photometry + GB"]
    # the CNN's curve, 0.70 at 10 labels and 0.92 at 100, linear in log n, reaches SSL frozen's 0.83 at
    # 10 ** (1 + 0.13 / 0.22) = 39 labels, and its 0.86 (at 100) at 53
    assert "SSL frozen at 10 labels matches supervised CNN at 3.9x as many labels" in ratios[0]
    assert "SSL frozen at 100 labels matches supervised CNN at 0.53x as many labels" in ratios[0]
    assert morph_cat.startswith("**Morphology accuracy**") and "paired difference +0.010" in morph_cat
    assert verdicts(morph_cat) == {(10, "SSL frozen", "morphology + GB"): (0.83, "~", 0.82),
                                   (100, "SSL frozen", "morphology + GB"): (0.86, ">", 0.70)}
    # at 100 labels the CNN's lead alone has p = 0.047, but not after Holm over the report's 12 comparisons
    assert verdicts(morph_cnn) == {(10, "SSL frozen", "supervised CNN"): (0.83, ">", 0.70),
                                   (100, "SSL frozen", "supervised CNN"): (0.86, "~", 0.92)}
    (p10, q10), (p100, q100) = p_values(morph_cnn)
    assert q10 < 0.05 and p100 < 0.05 < q100 and "over 12 comparisons" in morph_cnn
    assert [v for _, v, _ in verdicts(z_cat).values()] == ["<", "<"]  # lower sigma_MAD is better
    assert {k: v for k, (_, v, _) in verdicts(ft_cnn).items()} == {
        (10, "SSL fine-tuned", "supervised CNN"): "~", (100, "SSL fine-tuned", "supervised CNN"): "~"}
    one = _findings(table[table.repeat == 0])
    assert all("too few to compare" in line and "beats" not in line for line in one)


def test_terminal_summary_has_blanks_not_nan():
    from sklearn_ssl.demo._report import _summary_text

    summary = pd.DataFrame({"method (350 labels)": ["SSL frozen", "SSL fine-tuned"],
                            "morphology accuracy": [0.9, np.nan], "photo-z sigma_MAD": [0.02, 0.018]})
    text = _summary_text(summary, dict(n_samples=10, epochs=1, device="cpu"), {"total": 1.0}, "r")
    assert "nan" not in text.lower() and "0.9000" in text and "0.0180" in text


def test_demo_says_up_front_how_long_it_takes():
    from sklearn_ssl.demo import DEMO_WALL_TIME_S
    from sklearn_ssl.demo._run import _expected_time

    text = _expected_time("default", changed=False)
    assert f"about {round(DEMO_WALL_TIME_S['default'] / 60)} minutes on an idle 2-core CPU" in text
    assert f"first look in about {DEMO_WALL_TIME_S['quick']} s: sklearn-ssl demo --quick" in text
    assert f"full study in about {round(DEMO_WALL_TIME_S['full'] / 60)} minutes: sklearn-ssl demo --full" in text
    assert "--quick" not in _expected_time("quick", changed=False).split(":", 1)[1]
    assert "in proportion" in _expected_time("quick", changed=True)
    assert DEMO_WALL_TIME_S["quick"] < 60 and DEMO_WALL_TIME_S["default"] <= 300  # the measured times promised


@pytest.mark.parametrize("flags, mode, progress, tune", [([], "default", True, None),
                                                          (["--quick", "--quiet"], "quick", False, None),
                                                          (["--full", "--tune"], "full", True, True)])
def test_demo_flags_reach_run_demo(flags, mode, progress, tune, monkeypatch, tmp_path):
    from sklearn_ssl import demo

    seen = {}
    monkeypatch.setattr(demo, "run_demo", lambda **kwargs: seen.update(kwargs))
    assert run("demo", *flags, "--out", tmp_path / "r", "--cache", "none") == 0
    assert seen["mode"] == mode and seen["progress"] is progress and seen["cache"] is None
    assert seen["tune"] is tune


def test_demo_modes_are_exclusive(capsys):
    with pytest.raises(SystemExit):
        run("demo", "--quick", "--full")
    assert "not allowed with argument" in capsys.readouterr().err



