"""Published checkpoints (Hayat et al. 2021, Stein et al. 2022, torchvision) as fitted embedders.

No downloads: each test writes random weights with the published key names and shapes,
saved the way the authors' code saves them, and compares ``transform`` with a forward
pass written here from ``torch.nn.functional`` (not the package's encoder).
"""

import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from sklearn_ssl import ContrastiveEmbedder, SimilaritySearch
from sklearn_ssl.cli import main

BLOCKS = {18: ("basic", (2, 2, 2, 2)), 50: ("bottleneck", (3, 4, 6, 3))}


# -- torchvision-named random weights and an independent forward pass --------------------
def torchvision_state(depth, in_channels, seed, width=64):
    """A state dict with torchvision's ResNet key names and shapes, random weights and BN statistics."""
    gen = torch.Generator().manual_seed(seed)
    kind, counts = BLOCKS[depth]
    sd = {}

    def conv(name, out, inp, k):
        sd[f"{name}.weight"] = torch.randn(out, inp, k, k, generator=gen) * (1.0 / (inp * k * k)) ** 0.5

    def bn(name, c):
        sd[f"{name}.weight"] = 1 + 0.1 * torch.randn(c, generator=gen)
        sd[f"{name}.bias"] = 0.1 * torch.randn(c, generator=gen)
        sd[f"{name}.running_mean"] = 0.1 * torch.randn(c, generator=gen)
        sd[f"{name}.running_var"] = 0.5 + torch.rand(c, generator=gen)
        sd[f"{name}.num_batches_tracked"] = torch.tensor(100)

    conv("conv1", width, in_channels, 7)
    bn("bn1", width)
    inp = width
    for s, n in enumerate(counts):
        planes = width * 2**s
        for b in range(n):
            p = f"layer{s + 1}.{b}"
            if kind == "basic":
                conv(f"{p}.conv1", planes, inp, 3), bn(f"{p}.bn1", planes)
                conv(f"{p}.conv2", planes, planes, 3), bn(f"{p}.bn2", planes)
                out = planes
            else:
                conv(f"{p}.conv1", planes, inp, 1), bn(f"{p}.bn1", planes)
                conv(f"{p}.conv2", planes, planes, 3), bn(f"{p}.bn2", planes)
                conv(f"{p}.conv3", 4 * planes, planes, 1), bn(f"{p}.bn3", 4 * planes)
                out = 4 * planes
            if (s > 0 and b == 0) or inp != out:
                conv(f"{p}.downsample.0", out, inp, 1), bn(f"{p}.downsample.1", out)
            inp = out
    return sd


def mlp_head(dim, emb_dim, seed):
    gen = torch.Generator().manual_seed(seed)
    return {"fc.0.weight": torch.randn(dim, dim, generator=gen) / dim**0.5, "fc.0.bias": torch.zeros(dim),
            "fc.2.weight": torch.randn(emb_dim, dim, generator=gen) / dim**0.5, "fc.2.bias": torch.zeros(emb_dim)}


def reference_forward(sd, x, depth, stem):
    """torchvision's ResNet forward (eval mode) from the state dict alone, without ``fc``."""
    kind, counts = BLOCKS[depth]

    def bn(t, p):
        return F.batch_norm(t, sd[f"{p}.running_mean"], sd[f"{p}.running_var"], sd[f"{p}.weight"],
                            sd[f"{p}.bias"], training=False, eps=1e-5)

    def conv(t, p, stride=1):
        w = sd[f"{p}.weight"]
        return F.conv2d(t, w, stride=stride, padding=w.shape[-1] // 2)

    x = F.relu(bn(conv(x, "conv1", 1 if stem == "astro" else 2), "bn1"))
    if stem == "imagenet":
        x = F.max_pool2d(x, 3, 2, 1)
    for s, n in enumerate(counts):
        for b in range(n):
            p, stride = f"layer{s + 1}.{b}", 2 if (s > 0 and b == 0) else 1
            if kind == "basic":
                out = F.relu(bn(conv(x, f"{p}.conv1", stride), f"{p}.bn1"))
                out = bn(conv(out, f"{p}.conv2"), f"{p}.bn2")
            else:
                out = F.relu(bn(conv(x, f"{p}.conv1"), f"{p}.bn1"))
                out = F.relu(bn(conv(out, f"{p}.conv2", stride), f"{p}.bn2"))
                out = bn(conv(out, f"{p}.conv3"), f"{p}.bn3")
            identity = x
            if f"{p}.downsample.0.weight" in sd:
                identity = bn(conv(x, f"{p}.downsample.0", stride), f"{p}.downsample.1")
            x = F.relu(out + identity)
    return x.mean(dim=(2, 3)).numpy()


def assert_close(Z, ref):
    np.testing.assert_allclose(Z, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())


# -- files as the authors' code writes them ------------------------------------------------
def write_hayat(path, depth=18, in_channels=5, key="state_dict"):
    """MoCo v2 under DistributedDataParallel (``module.encoder_q.``/``module.encoder_k.``, MLP head in
    ``fc``, queue), saved as a dict with the epoch (``utils/load_trained_model.py`` reads
    ``model_state`` or ``state_dict``)."""
    q, k = torchvision_state(depth, in_channels, 1), torchvision_state(depth, in_channels, 2)
    dim = 512 if depth == 18 else 2048
    q.update(mlp_head(dim, 128, 3))
    k.update(mlp_head(dim, 128, 4))
    sd = {**{f"module.encoder_q.{n}": v for n, v in q.items()}, **{f"module.encoder_k.{n}": v for n, v in k.items()}}
    sd["module.queue"] = F.normalize(torch.randn(128, 256), dim=0)
    sd["module.queue_ptr"] = torch.zeros(1, dtype=torch.long)
    torch.save({"epoch": 101, "arch": f"resnet{depth}", key: sd, "optimizer": {"state": {}, "param_groups": []}},
               path)
    return q, k


def write_stein(path, depth=18, use_mlp=True):
    """A PyTorch Lightning checkpoint of lightning-bolts' ``Moco_v2`` (``encoder_q.``/``encoder_k.``
    torchvision ResNets with 3 input channels, ``fc`` head, train and validation queues)."""
    q, k = torchvision_state(depth, 3, 5), torchvision_state(depth, 3, 6)
    dim = 512 if depth == 18 else 2048
    if use_mlp:
        q.update(mlp_head(dim, 128, 7)), k.update(mlp_head(dim, 128, 8))
    else:
        q.update({"fc.weight": torch.randn(128, dim), "fc.bias": torch.zeros(128)})
        k.update({"fc.weight": torch.randn(128, dim), "fc.bias": torch.zeros(128)})
    sd = {**{f"encoder_q.{n}": v for n, v in q.items()}, **{f"encoder_k.{n}": v for n, v in k.items()}}
    for name in ("queue", "val_queue"):
        sd[name] = F.normalize(torch.randn(128, 256), dim=0)
        sd[f"{name}_ptr"] = torch.zeros(1, dtype=torch.long)
    torch.save({
        "epoch": 9, "global_step": 1000, "pytorch-lightning_version": "1.5.10", "state_dict": sd,
        "hyper_parameters": {"base_encoder": f"resnet{depth}", "emb_dim": 128, "num_negatives": 256,
                             "encoder_momentum": 0.996, "softmax_temperature": 0.2, "use_mlp": use_mlp},
        "optimizer_states": [{"state": {}, "param_groups": [{"lr": 0.03}]}], "lr_schedulers": [{"last_epoch": 9}],
        "callbacks": {}}, path)
    return q, k


@pytest.fixture(scope="module")
def hayat18(tmp_path_factory):
    path = tmp_path_factory.mktemp("hayat") / "pretrained_paper_model.pth.tar"
    return path, *write_hayat(path)


def images(n, shape, seed=0):
    return np.random.default_rng(seed).normal(size=(n, *shape)).astype(np.float32)


# -- the three layouts -----------------------------------------------------------------------
def test_hayat2021_resnet50_matches_reference_forward(tmp_path):
    path = tmp_path / "pretrained_paper_model.pth.tar"
    q, _ = write_hayat(path, depth=50, key="model_state")
    emb = ContrastiveEmbedder.from_checkpoint(path, input_shape=(5, 8, 8), device="cpu")
    X = images(3, (5, 8, 8))
    Z = emb.transform(X)
    assert Z.shape == (3, 2048)
    assert_close(Z, reference_forward(q, torch.from_numpy(X), 50, "astro"))
    src = emb.init_source_
    assert (src["layout"], src["architecture"], src["stem"]) == ("hayat2021", "resnet50", "astro")
    assert len(src["sha256"]) == 64 and src["path"] == str(path)
    assert emb.expected_input_["bands"] == ("u", "g", "r", "i", "z")


def test_hayat2021_resnet18_default_input_is_the_training_crop(hayat18):
    path, q, k = hayat18
    emb = ContrastiveEmbedder.from_checkpoint(path, device="cpu")
    assert emb.input_shape_ == (5, 64, 64) and emb.n_features_in_ == 5 and emb.embedding_dim_ == 512
    assert emb.method == "moco" and emb.projection_dim == 128 and emb.max_epochs == 0 and emb.normalize is None
    X = images(2, (5, 64, 64))
    assert_close(emb.transform(X), reference_forward(q, torch.from_numpy(X), 18, "astro"))
    assert emb.init_source_["loaded"] == {"encoder": True, "head": True, "key_encoder": True, "key_head": True}
    # the published key encoder (encoder_k), not a copy of the query encoder
    key = emb.net_.method_.key_encoder.state_dict()
    torch.testing.assert_close(key["layer1.0.conv1.weight"], k["layer1.0.conv1.weight"])


@pytest.mark.parametrize("use_mlp", [True, False])
def test_stein2022_lightning_checkpoint_matches_reference_forward(tmp_path, use_mlp):
    path = tmp_path / "last.ckpt"
    q, _ = write_stein(path, use_mlp=use_mlp)
    emb = ContrastiveEmbedder.from_checkpoint(path, input_shape=(3, 32, 32), device="cpu")
    X = images(3, (3, 32, 32))
    assert_close(emb.transform(X), reference_forward(q, torch.from_numpy(X), 18, "imagenet"))
    assert emb.init_source_["layout"] == "stein2022" and emb.init_source_["stem"] == "imagenet"
    assert emb.init_source_["loaded"]["head"] is use_mlp  # a single Linear fc cannot fill a two-layer head
    assert emb.expected_input_["bands"] == ("z", "r", "g") and emb.expected_input_["pixel_scale_arcsec"] == 0.262
    assert ContrastiveEmbedder.from_checkpoint(path).input_shape_ == (3, 96, 96)


def test_torchvision_state_dict_any_band_count(tmp_path):
    path = tmp_path / "resnet18.pt"
    sd = torchvision_state(18, 4, 9)
    torch.save({**sd, "fc.weight": torch.randn(10, 512), "fc.bias": torch.zeros(10)}, path)
    with pytest.raises(ValueError, match="input_shape"):
        ContrastiveEmbedder.from_checkpoint(path)
    emb = ContrastiveEmbedder.from_checkpoint(path, input_shape=(4, 32, 32), device="cpu")
    X = images(2, (4, 32, 32))
    assert emb.init_source_["layout"] == "torchvision" and emb.method == "simclr"
    assert_close(emb.transform(X), reference_forward(sd, torch.from_numpy(X), 18, "imagenet"))
    # a forced layout decides the stem
    forced = ContrastiveEmbedder.from_checkpoint(path, layout="hayat2021", input_shape=(4, 16, 16), device="cpu")
    X = images(2, (4, 16, 16))
    assert_close(forced.transform(X), reference_forward(sd, torch.from_numpy(X), 18, "astro"))


def test_hayat2021_finetuned_checkpoint_as_train_py_saves_it(tmp_path):
    """``train.py``: ``{'iters', 'epoch', 'model_state', 'optimizer_state_dict'}`` of a DDP ResNet whose
    ``fc`` is the 180-bin photo-z classifier; the representation is the input of ``fc``."""
    path = tmp_path / "photoz_finetuned_model.pth.tar"
    sd = torchvision_state(18, 5, 11)
    model_state = {f"module.{k}": v for k, v in sd.items()}
    model_state.update({"module.fc.weight": torch.randn(180, 512), "module.fc.bias": torch.zeros(180)})
    torch.save({"iters": 10, "epoch": 64, "model_state": model_state,
                "optimizer_state_dict": {"state": {}, "param_groups": []}}, path)
    emb = ContrastiveEmbedder.from_checkpoint(path, input_shape=(5, 16, 16), device="cpu")
    assert emb.init_source_["layout"] == "hayat2021" and emb.method == "simclr"
    assert emb.init_source_["loaded"]["head"] is False  # a classifier is not a projection head
    X = images(2, (5, 16, 16))
    assert_close(emb.transform(X), reference_forward(sd, torch.from_numpy(X), 18, "astro"))


# -- refusals ----------------------------------------------------------------------------------
class _Custom:
    pass


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_text("not a checkpoint"), "not a PyTorch checkpoint"),
    (lambda p: torch.save({"weights": torch.zeros(3), "bias": torch.zeros(2)}, p), "Cannot recognise the layout"),
    (lambda p: torch.save({"epoch": 3, "hparams": {"lr": 0.1}}, p), "no model state dict"),
    (lambda p: torch.save({"state_dict": {"encoder_q.fc.weight": torch.zeros(2, 2)}, "obj": _Custom()}, p),
     "executing code"),
    (lambda p: torch.save(torch.nn.Linear(2, 2), p), "executing code"),
])
def test_foreign_files_are_refused_with_the_reason(tmp_path, make, message):
    path = tmp_path / "file.pt"
    make(path)
    with pytest.raises(ValueError, match=message):
        ContrastiveEmbedder.from_checkpoint(path, input_shape=(3, 16, 16))


def test_auto_failure_lists_what_was_found(tmp_path):
    path = tmp_path / "odd.pt"
    torch.save({"backbone.conv.weight": torch.zeros(4, 3, 3, 3), "head.weight": torch.zeros(2, 4)}, path)
    with pytest.raises(ValueError, match=r"2 tensors.*backbone.*head") as info:
        ContrastiveEmbedder.from_checkpoint(path, input_shape=(3, 16, 16))
    assert "hayat2021" in str(info.value) and "layout=" in str(info.value)
    with pytest.raises(ValueError, match="layout must be"):
        ContrastiveEmbedder.from_checkpoint(path, layout="simclr")


def test_imagenet_moco_file_is_not_taken_for_hayat2021(tmp_path):
    """facebookresearch/moco's ImageNet checkpoints share Hayat et al.'s DDP/MoCo keys, with 3 bands."""
    path = tmp_path / "moco_v2_800ep_pretrain.pth.tar"
    sd = torchvision_state(18, 3, 12)
    torch.save({"epoch": 800, "arch": "resnet18", "state_dict": {f"module.encoder_q.{k}": v for k, v in sd.items()}},
               path)
    with pytest.raises(ValueError, match="conv1 takes 3 bands.*layout='torchvision'"):
        ContrastiveEmbedder.from_checkpoint(path, input_shape=(3, 32, 32))
    emb = ContrastiveEmbedder.from_checkpoint(path, layout="torchvision", input_shape=(3, 32, 32), device="cpu")
    X = images(2, (3, 32, 32))
    assert_close(emb.transform(X), reference_forward(sd, torch.from_numpy(X), 18, "imagenet"))


def test_wrong_band_count_names_the_problem(hayat18):
    path = hayat18[0]
    with pytest.raises(ValueError, match="expects 5-band images.*3 bands"):
        ContrastiveEmbedder.from_checkpoint(path, input_shape=(3, 16, 16))
    with pytest.raises(ValueError, match="expects 5-band images"):
        ContrastiveEmbedder(init=path).fit(images(4, (3, 16, 16)))
    emb = ContrastiveEmbedder.from_checkpoint(path, input_shape=(5, 16, 16))
    with pytest.raises(ValueError, match=r"\(3, 16, 16\)"):
        emb.transform(images(2, (3, 16, 16)))


def test_init_with_a_named_encoder_is_refused(hayat18):
    with pytest.raises(ValueError, match="encoder='auto'.*resnet18, astro stem"):
        ContrastiveEmbedder(init=hayat18[0], encoder="resnet18", max_epochs=0).fit(images(2, (5, 8, 8)))


def test_truncated_weights_are_refused(tmp_path):
    path = tmp_path / "resnet18.pt"
    sd = torchvision_state(18, 3, 0)
    del sd["layer2.0.bn1.running_var"]
    torch.save(sd, path)
    with pytest.raises(ValueError, match="running_var"):
        ContrastiveEmbedder.from_checkpoint(path, input_shape=(3, 16, 16))


def test_normalize_needs_data(hayat18):
    with pytest.raises(ValueError, match="normalize='asinh' needs statistics"):
        ContrastiveEmbedder.from_checkpoint(hayat18[0], normalize="asinh")


# -- a fitted scikit-learn transformer ------------------------------------------------------
def test_works_in_pipelines_search_clone_and_pickle(hayat18):
    path, q, _ = hayat18
    emb = ContrastiveEmbedder.from_checkpoint(path, input_shape=(5, 16, 16), batch_size=4, device="cpu")
    X = images(12, (5, 16, 16))
    Z = emb.transform(X)
    assert emb.net_.batch_size == 4
    y = np.arange(12) % 2
    pipe = make_pipeline(FrozenEstimator(emb), LogisticRegression(max_iter=200)).fit(X, y)
    assert pipe.predict(X).shape == (12,)
    again = pickle.loads(pickle.dumps(emb))
    np.testing.assert_array_equal(again.transform(X), Z)
    assert again.init_source_ == emb.init_source_
    # clone + fit (as in a search) reloads the published weights, for X's image size
    refit = clone(emb).fit(images(4, (5, 24, 24)))
    X24 = images(2, (5, 24, 24))
    assert_close(refit.transform(X24), reference_forward(q, torch.from_numpy(X24), 18, "astro"))
    search = SimilaritySearch(n_neighbors=2).fit(Z)
    _, idx = search.kneighbors(Z[:1])
    assert idx[0, 0] == 0


def test_continued_pretraining_starts_from_the_published_weights(hayat18):
    path, q, k = hayat18
    X = images(8, (5, 8, 8), seed=1)
    emb = ContrastiveEmbedder.from_checkpoint(path, input_shape=(5, 8, 8))
    emb.set_params(max_epochs=1, batch_size=8, queue_size=8, lr=1e-3, random_state=0).fit(X)
    assert len(emb.net_.history) == 1 and emb.init_source_["loaded"]["key_encoder"]
    w = emb.encoder_.state_dict()["conv1.weight"]
    moved = float((w - q["conv1.weight"]).norm() / q["conv1.weight"].norm())
    assert 0 < moved < 0.1  # trained, starting from (and staying near) the published weights
    key = emb.net_.method_.key_encoder.state_dict()["conv1.weight"]
    assert float((key - k["conv1.weight"]).norm() / k["conv1.weight"].norm()) < 0.1  # from the published encoder_k
    # still a valid estimator: clone keeps the recipe, pickling keeps the weights
    assert clone(emb).get_params()["init"] == str(path)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(emb)).transform(X), emb.transform(X))
    # the init parameter alone does the same, reproducibly
    direct = ContrastiveEmbedder(init=path, max_epochs=1, batch_size=8, queue_size=8, lr=1e-3, method="moco",
                                 normalize=None, random_state=0).fit(X)
    np.testing.assert_allclose(direct.transform(X), emb.transform(X), rtol=1e-5, atol=1e-6)


def test_cli_embeds_with_a_published_checkpoint(hayat18, tmp_path, capsys):
    path, q, _ = hayat18
    X = images(6, (5, 16, 16))
    np.save(tmp_path / "images.npy", X)
    out = tmp_path / "emb.npy"
    assert main(["embed", "--model", str(path), "--images", str(tmp_path / "images.npy"), "--out", str(out),
                 "--device", "cpu"]) == 0
    assert "512 features" in capsys.readouterr().out
    assert_close(np.load(out), reference_forward(q, torch.from_numpy(X), 18, "astro"))
    bad = tmp_path / "bad.pt"
    torch.save({"x": torch.zeros(2)}, bad)
    assert main(["embed", "--model", str(bad), "--images", str(tmp_path / "images.npy"),
                 "--out", str(tmp_path / "e2.npy")]) == 1
    err = capsys.readouterr().err
    assert "Cannot recognise the layout" in err and "Traceback" not in err
    assert not (tmp_path / "e2.npy").exists()
