"""Built-in encoders for multi-band images and vectors, and how an ``encoder`` argument becomes a module.

Every encoder maps a batch to ``(n, d)`` representations and exposes ``out_features = d``.
The ResNets follow Hayat et al. (2021) by default: ``in_channels`` bands, a 7x7 **stride-1** stem
and **no max-pool**, so that small (e.g. 64x64) cutouts are not downsampled 4x at the stem;
``stem="imagenet"`` gives torchvision's stride-2 stem with max-pool. Parameter names are
torchvision's, so published torchvision-based checkpoints load into them.
"""

from __future__ import annotations

import copy
import inspect
from typing import Callable, Sequence, Union

import torch
from torch import nn

__all__ = ["SmallCNN", "ResNet", "MLPEncoder", "SpectrumCNN", "build_encoder", "ENCODERS"]

EncoderSpec = Union[str, nn.Module, Callable[..., nn.Module]]


class SmallCNN(nn.Module):
    """A compact CNN (about 0.1-0.4M parameters) that trains in seconds on a CPU.

    Four 3x3 conv-BN-ReLU stages (the last three with stride 2), then global average pooling.

    Parameters
    ----------
    in_channels : int
        Number of bands.
    width : int
        Channels of the first stage; later stages have 2x, 4x and 4x.
    """

    def __init__(self, in_channels: int = 5, width: int = 32):
        super().__init__()
        chans = [width, 2 * width, 4 * width, 4 * width]
        layers, prev = [], in_channels
        for i, c in enumerate(chans):
            layers += [
                nn.Conv2d(prev, c, 3, stride=1 if i == 0 else 2, padding=1, bias=False),
                nn.BatchNorm2d(c),
                nn.ReLU(inplace=True),
            ]
            prev = c
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.out_features = prev

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def _conv_bn(inp: int, out: int, kernel: int, stride: int = 1) -> tuple[nn.Conv2d, nn.BatchNorm2d]:
    return nn.Conv2d(inp, out, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(out)


class _BasicBlock(nn.Module):
    """torchvision's ``BasicBlock`` (same attribute names, so its state dicts load unchanged)."""

    expansion = 1

    def __init__(self, inp: int, planes: int, stride: int = 1):
        super().__init__()
        out = planes * self.expansion
        self.conv1, self.bn1 = _conv_bn(inp, planes, 3, stride)
        self.relu = nn.ReLU(inplace=True)
        self.conv2, self.bn2 = _conv_bn(planes, out, 3)
        self.downsample = _downsample(inp, out, stride)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class _Bottleneck(nn.Module):
    """torchvision's ``Bottleneck`` (ResNet v1.5: the stride sits on the 3x3 convolution)."""

    expansion = 4

    def __init__(self, inp: int, planes: int, stride: int = 1):
        super().__init__()
        out = planes * self.expansion
        self.conv1, self.bn1 = _conv_bn(inp, planes, 1)
        self.conv2, self.bn2 = _conv_bn(planes, planes, 3, stride)
        self.conv3, self.bn3 = _conv_bn(planes, out, 1)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(inp, out, stride)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


def _downsample(inp: int, out: int, stride: int) -> nn.Module | None:
    if stride == 1 and inp == out:
        return None
    return nn.Sequential(*_conv_bn(inp, out, 1, stride))


_RESNET_LAYOUTS = {
    18: (_BasicBlock, (2, 2, 2, 2)),
    34: (_BasicBlock, (3, 4, 6, 3)),
    50: (_Bottleneck, (3, 4, 6, 3)),
    101: (_Bottleneck, (3, 4, 23, 3)),
    152: (_Bottleneck, (3, 8, 36, 3)),
}

_STEMS = ("astro", "imagenet")


class ResNet(nn.Module):
    """ResNet-18/34/50/101/152 for ``in_channels``-band images.

    Parameter names follow ``torchvision.models.ResNet`` (``conv1``, ``bn1``,
    ``layer1``-``layer4``, blocks with ``conv1``/``bn1``/.../``downsample``), so state
    dicts written by torchvision-based code, such as the published checkpoints of
    Hayat et al. (2021) and Stein et al. (2022), load with ``strict=True``. There is no
    ``fc``: the module returns the representation after global average pooling.

    Parameters
    ----------
    depth : {18, 34, 50, 101, 152}
        Network depth.
    in_channels : int
        Number of bands.
    width : int
        Channels of the first stage (64 in the standard ResNets).
    stem : {"astro", "imagenet"}, default="astro"
        ``"astro"``: 7x7 convolution with stride 1 and no max-pool (Hayat et al. 2021,
        ``models/resnet.py`` of mahayat/ssl-sky-surveys), so that small cutouts are not
        downsampled 4x at the stem. ``"imagenet"``: torchvision's stride-2 7x7
        convolution followed by a stride-2 3x3 max-pool (Stein et al. 2022).
    """

    def __init__(self, depth: int = 18, in_channels: int = 5, width: int = 64, stem: str = "astro"):
        super().__init__()
        if depth not in _RESNET_LAYOUTS:
            raise ValueError(f"ResNet depth must be one of {sorted(_RESNET_LAYOUTS)}, got {depth}.")
        if stem not in _STEMS:
            raise ValueError(f"ResNet stem must be one of {list(_STEMS)}, got {stem!r}.")
        block, counts = _RESNET_LAYOUTS[depth]
        self.depth, self.in_channels, self.width, self.stem = depth, in_channels, width, stem
        stride = 1 if stem == "astro" else 2
        self.conv1 = nn.Conv2d(in_channels, width, 7, stride=stride, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity() if stem == "astro" else nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        inp = width
        for stage, n_blocks in enumerate(counts):
            planes = width * 2**stage
            blocks = []
            for b in range(n_blocks):
                blocks.append(block(inp, planes, stride=2 if (stage > 0 and b == 0) else 1))
                inp = planes * block.expansion
            self.add_module(f"layer{stage + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.out_features = inp
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def __setstate__(self, state):
        modules = state.get("_modules", {})
        if "features" in modules and "conv1" not in modules:  # pickled before the torchvision names
            state = _migrate_sequential_resnet(modules["features"], state.get("training", True)).__dict__
        super().__setstate__(state)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The feature map before global pooling, ``(n, out_features, h, w)``."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.avgpool(self.forward_features(x)), 1)


_LEGACY_DEPTHS = {(False, 8): 18, (False, 16): 34, (True, 16): 50, (True, 33): 101, (True, 50): 152}
_LEGACY_BODY = {0: "conv1", 1: "bn1", 3: "conv2", 4: "bn2", 6: "conv3", 7: "bn3"}


def _migrate_sequential_resnet(features: nn.Sequential, training: bool) -> ResNet:
    """A :class:`ResNet` with the weights of one pickled by sklearn-ssl before it used torchvision's
    names (``features.0`` stem, blocks with ``body``/``shortcut``), so old saved embedders still load."""
    blocks = [m for m in features if "body" in getattr(m, "_modules", {})]
    conv = features[0]
    bottleneck = len(blocks[0].body) == 8
    with torch.random.fork_rng(devices=[]):  # the throw-away initialisation must not move the global RNG
        new = ResNet(_LEGACY_DEPTHS[(bottleneck, len(blocks))], conv.in_channels, conv.out_channels, "astro")
    names = [f"{name}.{i}" for name, layer in new.named_children() if name.startswith("layer")
             for i in range(len(layer))]
    state = {}
    for key, value in features.state_dict().items():
        index, rest = key.split(".", 1)
        index = int(index)
        if index < 2:
            state[("conv1." if index == 0 else "bn1.") + rest] = value
            continue
        block = names[blocks.index(features[index])]
        part, sub, leaf = rest.split(".", 2)
        name = _LEGACY_BODY[int(sub)] if part == "body" else f"downsample.{sub}"
        state[f"{block}.{name}.{leaf}"] = value
    new.load_state_dict(state, strict=True)
    return new.train(training)


class MLPEncoder(nn.Module):
    """A multi-layer perceptron for ``(n, d)`` vector input (catalogue features, spectra).

    Parameters
    ----------
    in_features : int
        Input dimension.
    hidden : sequence of int
        Hidden layer sizes; the last one is the representation size.
    """

    def __init__(self, in_features: int, hidden: Sequence[int] = (128, 64)):
        super().__init__()
        layers, prev = [], in_features
        for h in hidden:
            layers += [nn.Linear(prev, h), nn.BatchNorm1d(h), nn.ReLU(inplace=True)]
            prev = h
        self.net = nn.Sequential(*layers)
        self.out_features = prev

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


class SpectrumCNN(nn.Module):
    """A small 1-D CNN for spectra given as ``(n, n_wavelengths)`` vectors.

    Four conv-BN-ReLU stages (kernel 5, the last three with stride 2), then adaptive
    average pooling to 8 positions, so the representation keeps *where* in wavelength
    a feature sits (what a redshift is made of), not only that it exists.

    Parameters
    ----------
    in_features : int
        Number of wavelength bins (at least 8).
    width : int
        Channels of the first stage; later stages have 2x, 2x and 4x.
    """

    def __init__(self, in_features: int, width: int = 8):
        super().__init__()
        chans = [width, 2 * width, 2 * width, 4 * width]
        layers, prev = [], 1
        for i, c in enumerate(chans):
            layers += [nn.Conv1d(prev, c, 5, stride=1 if i == 0 else 2, padding=2, bias=False),
                       nn.BatchNorm1d(c), nn.ReLU(inplace=True)]
            prev = c
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool1d(8), nn.Flatten())
        self.out_features = prev * 8

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x.flatten(1).unsqueeze(1))


ENCODERS: dict[str, Callable[[int], nn.Module]] = {
    "small": lambda c: SmallCNN(in_channels=c),
    "resnet18": lambda c: ResNet(18, in_channels=c),
    "resnet34": lambda c: ResNet(34, in_channels=c),
    "resnet50": lambda c: ResNet(50, in_channels=c),
    "mlp": lambda d: MLPEncoder(in_features=d),
    "cnn1d": lambda d: SpectrumCNN(in_features=d),
}
_VECTOR_ENCODERS = ("mlp", "cnn1d")


def build_encoder(spec: EncoderSpec, input_shape: tuple[int, ...]) -> nn.Module:
    """Turn an ``encoder`` argument into a fresh module for inputs of ``input_shape``.

    Parameters
    ----------
    spec : str, torch.nn.Module, class or callable
        ``"auto"`` (``"small"`` for images, ``"mlp"`` for vectors), a name from
        :data:`ENCODERS`, a module instance (deep-copied, so the caller's instance is
        never trained in place), or a module class / factory. A class or factory is
        called with ``in_channels=`` (images) or ``in_features=`` (vectors) when it
        accepts that keyword, otherwise with no argument.
    input_shape : tuple of int
        Shape of one sample: ``(C, H, W)`` for images, ``(d,)`` for vectors.

    Returns
    -------
    encoder : torch.nn.Module
        A module mapping ``(n, *input_shape)`` to ``(n, d)``.
    """
    is_image = len(input_shape) == 3
    if isinstance(spec, str):
        name = spec if spec != "auto" else ("small" if is_image else "mlp")
        if name not in ENCODERS:
            raise ValueError(f"Unknown encoder {spec!r}; use one of {['auto', *ENCODERS]} or a torch.nn.Module.")
        if is_image == (name in _VECTOR_ENCODERS):
            kind = "images (n, C, H, W)" if is_image else "vectors (n, d)"
            raise ValueError(
                f"encoder={spec!r} cannot take {kind}; use 'mlp' (or 'cnn1d' for spectra) for vectors and a "
                "CNN for images."
            )
        return ENCODERS[name](input_shape[0])
    if isinstance(spec, nn.Module):
        return copy.deepcopy(spec)
    if callable(spec):
        keyword = "in_channels" if is_image else "in_features"
        try:
            accepts = keyword in inspect.signature(spec).parameters
        except (TypeError, ValueError):
            accepts = False
        module = spec(**{keyword: input_shape[0]}) if accepts else spec()
        if not isinstance(module, nn.Module):
            raise TypeError(f"encoder factory {spec!r} returned {type(module).__name__}, not a torch.nn.Module.")
        return module
    raise TypeError(f"encoder must be a name, a torch.nn.Module, or a class/factory; got {type(spec).__name__}.")


@torch.no_grad()
def output_dim(encoder: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Size of the representation, from ``out_features`` or a dry run on two zero samples."""
    dim = getattr(encoder, "out_features", None)
    if isinstance(dim, int):
        return dim
    was_training = encoder.training
    encoder.eval()
    try:
        device = next(encoder.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    out = encoder(torch.zeros((2, *input_shape), device=device))
    encoder.train(was_training)
    if out.ndim != 2:
        raise ValueError(f"encoder must return (n, d) representations; it returned shape {tuple(out.shape)}.")
    return int(out.shape[1])
