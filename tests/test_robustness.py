"""Failures never lose work or return garbage: checkpoints, resume, training health, persistence."""

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skorch.callbacks import Callback
from skorch.exceptions import DeviceWarning

from sklearn_ssl import ContrastiveEmbedder
from test_fuzz import input_problems, outcome


def small(**params):
    defaults = dict(max_epochs=2, batch_size=16, projection_dim=8, random_state=0)
    return ContrastiveEmbedder(**{**defaults, **params})


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).normal(size=(48, 2, 8, 8)).astype(np.float32)


KILLED_RUN = textwrap.dedent(
    """
    import os, signal, sys
    import numpy as np
    from skorch.callbacks import Callback
    from sklearn_ssl import ContrastiveEmbedder

    class KillAtEpoch(Callback):
        def on_epoch_end(self, net, **kwargs):
            if len(net.history) == 3:
                os.kill(os.getpid(), signal.SIGKILL)

    X = np.load(sys.argv[1])
    ContrastiveEmbedder(method="moco", max_epochs=6, batch_size=16, projection_dim=8, random_state=0,
                        checkpoint_dir=sys.argv[2], callbacks=[KillAtEpoch()]).fit(X)
    """
)


def test_killed_pretraining_resumes_to_the_uninterrupted_result(X, tmp_path):
    np.save(tmp_path / "X.npy", X)
    ckpt = tmp_path / "ckpt"
    script = tmp_path / "run.py"
    script.write_text(KILLED_RUN)
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "X.npy"), str(ckpt)], capture_output=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    assert os.listdir(ckpt) == ["checkpoint.pt"]  # no temporary file left behind

    params = dict(method="moco", max_epochs=6, batch_size=16, projection_dim=8, random_state=0)
    resumed = ContrastiveEmbedder(checkpoint_dir=str(ckpt), **params).fit(X)
    reference = ContrastiveEmbedder(**params).fit(X)
    losses = resumed.net_.history[:, "train_loss"]
    assert len(losses) == 6
    # epochs 1-2 come from the killed run's checkpoint, 3-6 from the resumed one: the same stream
    np.testing.assert_allclose(losses, reference.net_.history[:, "train_loss"], rtol=1e-5)
    np.testing.assert_allclose(resumed.transform(X), reference.transform(X), rtol=1e-5, atol=1e-6)


def test_finished_checkpoint_is_reused_and_foreign_one_refused(X, tmp_path):
    a = small(checkpoint_dir=str(tmp_path)).fit(X)
    b = small(checkpoint_dir=str(tmp_path)).fit(X)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    with pytest.raises(ValueError, match="made by a run with other parameters or data.*another checkpoint_dir"):
        small(checkpoint_dir=str(tmp_path), temperature=0.5, resume="strict").fit(X)
    with pytest.raises(ValueError, match="other parameters or data"):
        small(checkpoint_dir=str(tmp_path), resume="strict").fit(X[:40])
    with pytest.warns(UserWarning, match="other parameters or data.*starts afresh"):  # resume="auto"
        small(checkpoint_dir=str(tmp_path)).fit(X[:40])


def test_unreadable_checkpoint_names_the_file(X, tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="Cannot read the checkpoint .*checkpoint.pt"):
        small(checkpoint_dir=str(tmp_path)).fit(X)


def test_checkpoint_of_another_module_layout_is_refused_by_name(X, tmp_path):
    """A checkpoint written before the pretraining method became one module (``projector``,
    ``key_encoder``... at the top level) is refused with what to do, not a KeyError."""
    small(checkpoint_dir=str(tmp_path), max_epochs=1).fit(X)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    state["modules"]["projector"] = state["modules"].pop("method")
    torch.save(state, tmp_path / "checkpoint.pt")
    with pytest.raises(ValueError, match=r"holds the modules .*'projector'.*another version of sklearn-ssl.*Delete"):
        small(checkpoint_dir=str(tmp_path), max_epochs=1).fit(X)


def test_resume_restores_the_learning_rate_schedule(X, tmp_path):
    """The checkpoint is restored in on_train_begin, before the schedule is set up from the
    history: a run resumed after 2 of 4 epochs follows the same cosine learning rates."""
    with pytest.raises(RuntimeError, match="stop after 2"):
        small(checkpoint_dir=str(tmp_path), max_epochs=4, callbacks=[StopAfter(2)]).fit(X)
    assert len(torch.load(tmp_path / "checkpoint.pt", weights_only=True)["history"]) == 2
    resumed = small(checkpoint_dir=str(tmp_path), max_epochs=4).fit(X)
    reference = small(max_epochs=4).fit(X)
    assert resumed.net_.history[:, "event_lr"] == pytest.approx(reference.net_.history[:, "event_lr"])
    assert resumed.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(
        reference.net_.optimizer_.param_groups[0]["lr"])


class StopAfter(Callback):
    def __init__(self, epochs):
        self.epochs = epochs

    def on_epoch_begin(self, net, **kwargs):  # epoch `epochs` is complete and checkpointed
        if len(net.history) == self.epochs + 1:
            raise RuntimeError(f"stop after {self.epochs}")


class NaNEncoder(torch.nn.Module):
    def __init__(self, in_channels=2):
        super().__init__()
        self.lin = torch.nn.Linear(in_channels * 64, 4)
        self.out_features = 4

    def forward(self, x):
        return self.lin(x.flatten(1)) * float("nan")


def test_nan_loss_stops_with_epoch_and_causes(X):
    with pytest.raises(FloatingPointError, match=r"diverged in epoch 1: the training loss became nan.*learning rate"):
        small(encoder=NaNEncoder).fit(X)


class ConstantEncoder(torch.nn.Module):
    """Ignores its input: the textbook collapsed representation."""

    def __init__(self):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.ones(6))
        self.out_features = 6

    def forward(self, x):
        return self.bias.expand(len(x), -1) + 0 * x.mean()


def test_collapsed_representation_warns(X):
    with pytest.warns(RuntimeWarning, match="collapsed"):
        small(encoder=ConstantEncoder, max_epochs=1).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        small(max_epochs=1).fit(X)


def test_save_load_round_trip_and_device_override(X, tmp_path):
    emb = small().fit(X)
    emb.save(tmp_path / "emb.joblib")
    loaded = ContrastiveEmbedder.load(tmp_path / "emb.joblib", device="cpu")
    np.testing.assert_array_equal(loaded.transform(X), emb.transform(X))
    assert loaded.device_ == "cpu"
    assert os.listdir(tmp_path) == ["emb.joblib"]


def test_failed_save_leaves_no_file(X, tmp_path):
    emb = small(encoder=lambda in_channels: NaNEncoder(in_channels), max_epochs=0).fit(X)
    with pytest.raises(Exception):
        emb.save(tmp_path / "emb.joblib")  # a lambda factory cannot be pickled
    assert os.listdir(tmp_path) == []


def test_load_errors_are_clear(tmp_path):
    (tmp_path / "junk.joblib").write_bytes(b"junk")
    with pytest.raises(ValueError, match="Cannot read a fitted embedder from .*junk.joblib"):
        ContrastiveEmbedder.load(tmp_path / "junk.joblib")
    import joblib

    joblib.dump({"not": "an embedder"}, tmp_path / "dict.joblib")
    with pytest.raises(ValueError, match="holds a dict, not a ContrastiveEmbedder"):
        ContrastiveEmbedder.load(tmp_path / "dict.joblib")


def test_model_trained_on_cuda_loads_on_a_cpu_only_machine(X):
    emb = small().fit(X)
    expected = emb.transform(X)
    # what a pickle written on a GPU machine records: the net's device is CUDA
    emb.net_.device = emb.device_ = "cuda"
    blob = pickle.dumps(emb)
    if torch.cuda.is_available():
        pytest.skip("this checks the CPU-only fallback")
    with pytest.warns(DeviceWarning):
        loaded = pickle.loads(blob)
    assert loaded.device_ == "cpu"
    np.testing.assert_array_equal(loaded.transform(X), expected)


def test_batch_size_larger_than_data_is_capped(X):
    emb = small(batch_size=10_000, max_epochs=1).fit(X[:20])
    assert emb.net_.batch_size == 20
    assert emb.transform(X[:3]).shape == (3, emb.embedding_dim_)


@pytest.mark.parametrize(
    "bad, exc, match",
    [
        (np.zeros((4, 2, 8, 8), dtype=np.complex64), ValueError, "[Cc]omplex"),
        (np.array([[["a"] * 8] * 8] * 4, dtype=object)[:, None], ValueError, "could not convert|Unable to convert"),
    ],
)
def test_complex_and_object_dtypes_are_refused(bad, exc, match):
    with pytest.raises(exc, match=match):
        small().fit(bad)


@pytest.mark.filterwarnings("ignore:The learned representation has collapsed")
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(0, 6),
    shape=st.sampled_from([(), (3,), (1, 4, 4), (2, 5, 7), (2, 4), (1, 1, 1, 2)]),
    dtype=st.sampled_from([np.float32, np.float64, np.int16, np.uint8, np.bool_]),
    poison=st.sampled_from([None, np.nan, np.inf]),
)
def test_fuzzed_inputs_give_a_result_or_a_clear_error(n, shape, dtype, poison):
    X = np.ones((n, *shape), dtype=dtype) if shape else np.ones(n, dtype=dtype)
    if poison is not None and X.size and np.issubdtype(X.dtype, np.floating):
        X.flat[0] = poison
    Z = outcome(lambda: small(max_epochs=1, batch_size=4).fit(X).transform(X),
                 input_problems(n, shape, dtype, poison, min_samples=2))
    if Z is not None:
        assert Z.shape[0] == n and np.isfinite(Z).all()
