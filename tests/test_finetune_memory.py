"""Every torch estimator streams its input a batch at a time: a disk-backed collection, and
float64 or integer images in memory, are never converted or copied whole.

Measured for real: in a subprocess, after a warm-up fit (threads, lazy modules),
``RLIMIT_DATA`` (heap and anonymous maps; a read-only file mapping does not count) is set
to the process's size plus 20 MB, less than the 32 MB memmap, so any copy of the whole input
fails with a ``MemoryError``.
"""

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_DATA and /proc are Linux's")

SCRIPT = textwrap.dedent("""
    import resource, sys
    import numpy as np, torch
    torch.set_num_threads(1)
    from sklearn_ssl import ContrastiveEmbedder, FineTunedClassifier, FineTunedRegressor, PhotoZRegressor
    from sklearn_ssl.nn.encoders import SmallCNN

    kind, path, limit_mb = sys.argv[1], sys.argv[2], float(sys.argv[3])
    source = sys.argv[4] if len(sys.argv) > 4 else "memmap"
    X = np.load(path, mmap_mode="r")
    if source == "float64":  # in memory, before the limit: the estimator must not make a float32 copy
        X = np.asarray(X, dtype=np.float64)
    elif source == "uint8":
        X = np.clip(np.asarray(X) * 20 + 128, 0, 255).astype(np.uint8)
    n = len(X)
    y = np.arange(n) % 2 if kind == "classifier" else np.linspace(0.01, 0.3, n)
    cls = {"classifier": FineTunedClassifier, "regressor": FineTunedRegressor, "photoz": PhotoZRegressor,
           "embedder": ContrastiveEmbedder}[kind]
    params = dict(encoder=SmallCNN(in_channels=X.shape[1], width=4), max_epochs=1, batch_size=128,
                  device="cpu", random_state=0)
    if kind == "photoz":
        params["n_bins"] = 20  # the PDFs (n, n_bins) are output, not a copy of the input: keep them small
    if kind == "embedder":
        params.update(projection_dim=8, augmentations=None)
        cls.predict = cls.transform
    warm = np.asarray(X[:256])
    cls(**params).fit(warm, y[:256]).predict(warm)   # threads, allocator pools, lazy imports

    def vm_data_mb():
        for line in open("/proc/self/status"):
            if line.startswith("VmData:"):
                return int(line.split()[1]) / 1024

    limit = int((vm_data_mb() + limit_mb) * 2**20)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    model = cls(**params).fit(X, y)
    pred = model.predict(X)
    assert len(pred) == n and np.isfinite(pred).all()
    print("ok")
""")


@pytest.fixture(scope="module")
def big_memmap(tmp_path_factory):
    import numpy as np

    path = tmp_path_factory.mktemp("mm") / "images.npy"
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(8192, 4, 16, 16))  # 32 MiB
    rng = np.random.default_rng(0)
    for i in range(0, len(X), 4096):
        X[i:i + 4096] = rng.normal(size=(4096, 4, 16, 16))
    X.flush()
    del X
    return path


@pytest.mark.parametrize("kind", ["classifier", pytest.param("regressor", marks=pytest.mark.slow), "photoz"])
def test_fit_and_predict_on_a_memmap_never_copy_it_whole(big_memmap, kind):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, kind, str(big_memmap), "20"], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]


@pytest.mark.parametrize("kind", ["classifier", "embedder"])
@pytest.mark.parametrize("source", ["float64", "uint8"])
def test_float64_and_integer_images_in_memory_are_converted_a_batch_at_a_time(big_memmap, kind, source):
    """A float32 copy of the 8192 images (32 MiB) would exceed the +20 MB limit; the old code
    made one (validate_data for uint8, torch.as_tensor for float64) and fails here."""
    proc = subprocess.run([sys.executable, "-c", SCRIPT, kind, str(big_memmap), "20", source], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]
