"""Reading published self-supervised checkpoints into the package's torchvision-named ResNets.

Three layouts are understood; everything below was read in the authors' public code
(files cited), nothing is guessed. Where the code does not state a fact, the record
says so.

``"hayat2021"`` -- Hayat et al. (2021), github.com/mahayat/ssl-sky-surveys.
    ``models/resnet.py`` is torchvision's ResNet with ``num_channels`` input bands, a
    7x7 **stride-1** ``conv1`` and the max-pool commented out. ``utils/load_trained_model.py``
    builds ``resnet50(num_channels=5, num_classes=180)``, reads ``checkpoint['model_state']``
    or ``checkpoint['state_dict']`` ("some checkpoints have a different name for the model
    key"), keeps ``module.encoder_q.*`` (DDP-prefixed MoCo query encoder) or ``module.*``
    keys, drops ``encoder_k``, and replaces ``fc`` by an identity when the checkpoint has no
    matching ``fc`` (the pretrained model: 2048-d representation after global pooling).
    ``train.py`` saves ``{'iters', 'epoch', 'model_state', 'optimizer_state_dict'}`` of the
    DDP-wrapped model. ``"auto"`` asks for 5 input bands before calling a DDP/MoCo file
    ``"hayat2021"``: facebookresearch/moco's ImageNet checkpoints share the key layout but take 3. Input (``utils/data_loader.py``, ``config/photoz.yaml``,
    ``utils/sdss_dr12_galactic_reddening.py``): 5 SDSS DR12 bands in the order of the
    extinction vector ``R = [4.239, 3.303, 2.285, 1.698, 1.263]`` (u, g, r, i, z),
    de-reddened with the catalogue E(B-V), centre 64x64 crop (``crop_size: 64``) of the
    107x107 cutouts (the example notebook shows ``(N, 5, 107, 107)``), then
    ``ToTensor`` with no further scaling or normalisation. Flux units and pixel scale are
    not stated in the code (the README refers to the paper's appendix).
    Published at https://portal.nersc.gov/project/dasrepo/self-supervised-learning-sdss/checkpoints/
    (``pretrained_paper_model.pth.tar``).

``"stein2022"`` -- Stein et al. (2022), github.com/georgestein/ssl-legacysurvey.
    ``ssl_legacysurvey/moco/moco2_module.py`` (``Moco_v2``, a PyTorch Lightning module
    from lightning-bolts) holds ``encoder_q`` and ``encoder_k``, each a standard
    ``torchvision.models`` ResNet (stride-2 stem with max-pool, 3 input channels) built
    with ``num_classes=emb_dim`` (128), whose ``fc`` becomes
    ``Sequential(Linear(d, d), ReLU(), Linear(d, emb_dim))`` with ``use_mlp``; plus
    ``queue``, ``queue_ptr``, ``val_queue``, ``val_queue_ptr`` buffers. Lightning's
    ``ModelCheckpoint`` (``scripts/train_ssl.py``) writes ``state_dict`` with these keys.
    ``scripts/predict.py`` takes ``encoder_q`` and sets ``fc`` to an identity for
    representations. Input: the README's cutouts are 152x152 px in g, r, z;
    ``decals_augmentations.py`` centre-crops 96x96 (``npix_out``) and its ``ToRGB``
    (``m=0.03, Q=20``, scales g 6.0, r 3.4, z 2.2) **reorders the channels to z, r, g**,
    multiplies by the scales and an arcsinh stretch, and clips to [0, 1]; pixels are
    0.262 arcsec (comment in ``decals_augmentations.py``), fluxes in nanomaggies
    (``utils/to_rgb.py``). Published as Lightning checkpoints on the Globus endpoint
    named in the README.

``"torchvision"`` -- a plain ``torchvision.models.resnet*`` state dict (``conv1.weight``,
    ``layer1.0.conv1.weight``, ...), any band count; the stem defaults to torchvision's
    (``"imagenet"``). Its expected input is whatever the model was trained on.

Files are read with ``torch.load(weights_only=True)``: a file that needs code execution
to unpickle is refused.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import zipfile
from dataclasses import dataclass, field

import torch
from torch import nn

from .encoders import _RESNET_LAYOUTS, ResNet, _Bottleneck

LAYOUTS = ("hayat2021", "stein2022", "torchvision")

_STEM = {"hayat2021": "astro", "stein2022": "imagenet", "torchvision": "imagenet"}
_IMAGE_SIZE = {"hayat2021": 64, "stein2022": 96, "torchvision": None}
_NOT_STATED = "not stated in the published code"

EXPECTED_INPUT = {
    "hayat2021": {
        "bands": ("u", "g", "r", "i", "z"),
        "image_size": 64,
        "pixel_scale_arcsec": _NOT_STATED + " (SDSS frames are 0.396 arcsec/px)",
        "flux_units": _NOT_STATED + " (README: see the paper's appendix)",
        "normalisation": "de-reddened with the catalogue E(B-V) (R = 4.239, 3.303, 2.285, 1.698, 1.263), "
                         "centre 64x64 crop of 107x107 cutouts, no scaling",
        "sources": ("mahayat/ssl-sky-surveys: models/resnet.py, utils/load_trained_model.py, "
                    "utils/data_loader.py, utils/sdss_dr12_galactic_reddening.py, config/photoz.yaml"),
    },
    "stein2022": {
        "bands": ("z", "r", "g"),
        "image_size": 96,
        "pixel_scale_arcsec": 0.262,
        "flux_units": "nanomaggies (before ToRGB)",
        "normalisation": "ToRGB: channels reordered g,r,z -> z,r,g, scaled by (2.2, 3.4, 6.0), arcsinh stretch "
                         "with m=0.03, Q=20, clipped to [0, 1]; centre 96x96 crop of 152x152 cutouts",
        "sources": ("georgestein/ssl-legacysurvey: ssl_legacysurvey/moco/moco2_module.py, scripts/predict.py, "
                    "ssl_legacysurvey/data_loaders/decals_augmentations.py, ssl_legacysurvey/utils/to_rgb.py"),
    },
    "torchvision": {
        "bands": _NOT_STATED,
        "image_size": None,
        "pixel_scale_arcsec": _NOT_STATED,
        "flux_units": _NOT_STATED,
        "normalisation": _NOT_STATED,
        "sources": "a plain torchvision ResNet state dict",
    },
}


@dataclass
class PublishedModel:
    """What a published checkpoint holds, in the package's terms."""

    path: str
    sha256: str
    layout: str
    depth: int
    width: int
    in_channels: int
    encoder: dict = field(repr=False)
    head: list = field(repr=False)  # (weight, bias) of the head's Linear layers, in order
    key_encoder: dict | None = field(default=None, repr=False)
    key_head: list = field(default_factory=list, repr=False)

    @property
    def stem(self) -> str:
        return _STEM[self.layout]

    @property
    def moco(self) -> bool:
        return self.key_encoder is not None

    @property
    def projection_dim(self) -> int | None:
        """Output size of a two-layer MLP head (MoCo v2's), else None."""
        return int(self.head[-1][0].shape[0]) if len(self.head) == 2 else None

    @property
    def default_input_shape(self) -> tuple[int, int, int] | None:
        size = _IMAGE_SIZE[self.layout]
        return None if size is None else (self.in_channels, size, size)

    def build_encoder(self) -> ResNet:
        return ResNet(self.depth, in_channels=self.in_channels, width=self.width, stem=self.stem)

    def source(self) -> dict:
        return {"path": self.path, "layout": self.layout, "sha256": self.sha256,
                "architecture": f"resnet{self.depth}", "stem": self.stem, "in_channels": self.in_channels,
                "moco_key_encoder": self.moco, "head_layers": len(self.head)}

    def expected_input(self) -> dict:
        return dict(EXPECTED_INPUT[self.layout])

    def check_bands(self, n_bands: int) -> None:
        if n_bands != self.in_channels:
            raise ValueError(
                f"The checkpoint {self.path!r} ({self.layout}) expects {self.in_channels}-band images "
                f"(conv1 has {self.in_channels} input channels); X has {n_bands} bands. Give images in the "
                f"bands the model was trained on: {EXPECTED_INPUT[self.layout]['bands']}."
            )


# -- files -------------------------------------------------------------------------------
_TORCH_LEGACY_MAGIC = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)[:-1]


def is_torch_file(path) -> bool:
    """Whether ``path`` is a file written by ``torch.save`` (zip or legacy format)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        return False
    if zipfile.is_zipfile(path):
        return True
    with open(path, "rb") as fh:
        return fh.read(len(_TORCH_LEGACY_MAGIC)) == _TORCH_LEGACY_MAGIC


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _load(path: str):
    if os.path.isfile(path) and not is_torch_file(path):
        raise ValueError(f"{path!r} is not a PyTorch checkpoint (not a file written by torch.save).")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except pickle.UnpicklingError as exc:
        if "weights only" not in str(exc).lower():
            raise ValueError(f"{path!r} is not a PyTorch checkpoint ({' '.join(str(exc).split())[:120]}).") from exc
        found = re.findall(r"GLOBAL ([\w.]+)", str(exc))
        raise ValueError(
            f"{path!r} can only be unpickled by executing code stored in it (it references "
            f"{', '.join(sorted(set(found))) or 'objects other than tensors and containers'}); sklearn-ssl reads "
            "weights only (torch.load(weights_only=True)). If you trust the file, extract its weights once: "
            "torch.save(torch.load(path, weights_only=False)['state_dict'], 'weights.pt'), and load that."
        ) from exc
    except Exception as exc:
        raise ValueError(f"{path!r} is not a PyTorch checkpoint ({type(exc).__name__}: "
                         f"{' '.join(str(exc).split())[:120]}).") from exc


def _state_dict(obj, path: str) -> dict:
    """The model's state dict: the object itself, or under ``state_dict`` / ``model_state``."""
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state"):
            if isinstance(obj.get(key), dict):
                return obj[key]
    found = f"a dict with keys {sorted(map(str, obj))[:8]}" if isinstance(obj, dict) else f"a {type(obj).__name__}"
    raise ValueError(
        f"{path!r} holds {found}: no model state dict (a dict of tensors at the top level or under "
        "'state_dict' / 'model_state'). Layouts understood: " + ", ".join(LAYOUTS) + "."
    )


def _strip(sd: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}


def _describe(sd: dict) -> str:
    prefixes = sorted({k.split(".")[0] for k in sd})
    return f"{len(sd)} tensors, top-level names {prefixes[:8]}, e.g. {list(sd)[:3]}"


def _detect(obj, sd: dict, path: str) -> str:
    lightning = isinstance(obj, dict) and ("pytorch-lightning_version" in obj or "hyper_parameters" in obj)
    ddp = bool(sd) and all(k.startswith("module.") for k in sd)
    bare = _strip(sd, "module.") if ddp else sd
    moco = any(k.startswith("encoder_q.") for k in bare)
    conv1 = (_strip(bare, "encoder_q.") if moco else bare).get("conv1.weight")
    bands = int(conv1.shape[1]) if isinstance(conv1, torch.Tensor) and conv1.ndim == 4 else None
    if moco and not ddp and (lightning or "val_queue" in bare):
        return "stein2022"
    # Hayat et al.: the DDP-wrapped MoCo model, or train.py's {'model_state': DDP model}; 5 bands
    if ddp and bands == 5 and (moco or (isinstance(obj, dict) and "model_state" in obj)):
        return "hayat2021"
    if not ddp and not moco and bands is not None and "layer1.0.conv1.weight" in bare:
        return "torchvision"
    hint = ""
    if ddp and bands not in (None, 5):
        hint = (f" Its DDP{'/MoCo' if moco else ''} keys look like Hayat et al.'s, but conv1 takes {bands} bands, "
                "not their 5 (facebookresearch/moco's ImageNet models look like this: layout='torchvision').")
    raise ValueError(
        f"Cannot recognise the layout of {path!r}: found {_describe(sd)}"
        f"{' in a Lightning checkpoint' if lightning else ''}.{hint} Expected 'hayat2021' (DDP 'module.' "
        "prefixes, MoCo 'encoder_q.', 5 bands), 'stein2022' (Lightning checkpoint with 'encoder_q.' and "
        "'val_queue') or 'torchvision' ('conv1.weight', 'layer1.0.conv1.weight'); pass layout= to force one."
    )


def _split_head(sd: dict) -> tuple[dict, list]:
    """Encoder tensors and the ``fc`` head's Linear layers as (weight, bias) pairs, in order."""
    body = {k: v for k, v in sd.items() if not k.startswith("fc.")}
    fc = _strip(sd, "fc.")
    if "weight" in fc:
        return body, [(fc["weight"], fc.get("bias"))]
    idx = sorted({int(k.split(".")[0]) for k in fc if k.split(".")[0].isdigit() and k.endswith(".weight")})
    return body, [(fc[f"{i}.weight"], fc.get(f"{i}.bias")) for i in idx if fc[f"{i}.weight"].ndim == 2]


def _architecture(sd: dict, path: str) -> tuple[int, int, int]:
    """(depth, width, in_channels) of a torchvision-named ResNet state dict."""
    conv1 = sd.get("conv1.weight")
    if conv1 is None or conv1.ndim != 4 or tuple(conv1.shape[-2:]) != (7, 7):
        raise ValueError(f"{path!r} has no torchvision ResNet 'conv1.weight' of 7x7 kernels; found {_describe(sd)}.")
    counts = tuple(
        1 + max((int(m.group(1)) for k in sd if (m := re.match(rf"layer{s}\.(\d+)\.", k))), default=-1)
        for s in range(1, 5)
    )
    bottleneck = "layer1.0.conv3.weight" in sd
    for depth, (block, layout) in _RESNET_LAYOUTS.items():
        if layout == counts and (block is _Bottleneck) == bottleneck:
            return depth, int(conv1.shape[0]), int(conv1.shape[1])
    raise ValueError(f"{path!r}: blocks per stage {counts} ({'bottleneck' if bottleneck else 'basic'}) match no "
                     f"ResNet depth in {sorted(_RESNET_LAYOUTS)}.")


def _with_batch_counters(sd: dict) -> dict:
    """Add the ``num_batches_tracked`` counters that files from before torch 0.4.1 lack (unused in eval)."""
    out = dict(sd)
    for k in sd:
        if k.endswith(".running_mean"):
            out.setdefault(k[: -len("running_mean")] + "num_batches_tracked", torch.tensor(0))
    return out


def _check_keys(module: nn.Module, sd: dict, what: str, path: str) -> None:
    own = module.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    wrong = [f"{k} {tuple(sd[k].shape)} vs {tuple(own[k].shape)}" for k in own
             if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        raise ValueError(
            f"The {what} in {path!r} does not match a {type(module).__name__}: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}, wrong shapes {wrong[:5]}."
        )


def read_published(path, layout: str = "auto") -> PublishedModel:
    """Read a published checkpoint (see the module docstring for the layouts).

    Raises
    ------
    ValueError
        Unknown layout, a file that is not a PyTorch checkpoint or needs code execution,
        or weights that do not form a torchvision-named ResNet.
    """
    if layout not in ("auto", *LAYOUTS):
        raise ValueError(f"layout must be 'auto' or one of {list(LAYOUTS)}; got {layout!r}.")
    path = os.fspath(path)
    obj = _load(path)
    sd = _state_dict(obj, path)
    if layout == "auto":
        layout = _detect(obj, sd, path)
    if sd and all(k.startswith("module.") for k in sd):
        sd = _strip(sd, "module.")
    key = None
    if any(k.startswith("encoder_q.") for k in sd):
        sd, key = _strip(sd, "encoder_q."), _strip(sd, "encoder_k.") or None
    encoder, head = _split_head(sd)
    encoder = {k: v for k, v in encoder.items() if k.split(".")[0] in {"conv1", "bn1"} or k.startswith("layer")}
    depth, width, in_channels = _architecture(encoder, path)
    encoder = _with_batch_counters(encoder)
    model = PublishedModel(path, _sha256(path), layout, depth, width, in_channels, encoder, head)
    reference = model.build_encoder()
    _check_keys(reference, encoder, "encoder", path)
    if key is not None:
        model.key_encoder, model.key_head = _split_head(key)
        model.key_encoder = _with_batch_counters(model.key_encoder)
        _check_keys(reference, model.key_encoder, "key encoder (encoder_k)", path)
    return model


# -- into a net --------------------------------------------------------------------------
def _load_linears(module: nn.Module, layers: list) -> bool:
    """Copy (weight, bias) pairs into ``module``'s Linear layers when count and shapes match."""
    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
    if len(linears) != len(layers) or any(
        lin.weight.shape != w.shape or (b is None) != (lin.bias is None) for lin, (w, b) in zip(linears, layers)
    ):
        return False
    with torch.no_grad():
        for lin, (w, b) in zip(linears, layers):
            lin.weight.copy_(w)
            if b is not None:
                lin.bias.copy_(b)
    return True


def load_into_net(net, model: PublishedModel) -> dict:
    """Initialise a built contrastive net from ``model``: encoder (strictly), projection head
    (its Linear layers, when their number and shapes match), MoCo key encoder and key head
    (the published ones when present, else copies of the query side).

    Returns what was loaded, for the fitted embedder's record.
    """
    encoder = net.module_
    try:
        encoder.load_state_dict(model.encoder, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"The weights of {model.path!r} do not fit the encoder: {' '.join(str(exc).split())[:300]}"
                         ) from exc
    method = net.method_
    head = _load_linears(method.projector, model.head) if model.head else False
    loaded = {"encoder": True, "head": head, "key_encoder": False, "key_head": False}
    key_encoder = getattr(method, "key_encoder", None)
    if isinstance(key_encoder, nn.Module):
        if model.key_encoder is not None:
            key_encoder.load_state_dict(model.key_encoder, strict=True)
            loaded["key_encoder"] = True
        else:
            key_encoder.load_state_dict(encoder.state_dict())
    key_projector = getattr(method, "key_projector", None)
    if isinstance(key_projector, nn.Module):
        loaded["key_head"] = bool(model.key_head) and head and _load_linears(key_projector, model.key_head)
        if not loaded["key_head"]:
            key_projector.load_state_dict(method.projector.state_dict())
    return loaded
