"""Built-in encoders for multi-band images and vectors, and how an ``encoder`` argument becomes a module.

Every encoder maps a batch to ``(n, d)`` representations and exposes ``out_features = d``.
The ResNets follow Hayat et al. (2021): ``in_channels`` bands, a 7x7 **stride-1** stem and
**no max-pool**, so that small (e.g. 64x64) cutouts are not downsampled 4x at the stem.
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


class _BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inp: int, planes: int, stride: int = 1):
        super().__init__()
        out = planes * self.expansion
        self.body = nn.Sequential(
            nn.Conv2d(inp, planes, 3, stride, 1, bias=False), nn.BatchNorm2d(planes), nn.ReLU(inplace=True),
            nn.Conv2d(planes, out, 3, 1, 1, bias=False), nn.BatchNorm2d(out),
        )
        self.shortcut = _shortcut(inp, out, stride)

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))


class _Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inp: int, planes: int, stride: int = 1):
        super().__init__()
        out = planes * self.expansion
        self.body = nn.Sequential(
            nn.Conv2d(inp, planes, 1, bias=False), nn.BatchNorm2d(planes), nn.ReLU(inplace=True),
            nn.Conv2d(planes, planes, 3, stride, 1, bias=False), nn.BatchNorm2d(planes), nn.ReLU(inplace=True),
            nn.Conv2d(planes, out, 1, bias=False), nn.BatchNorm2d(out),
        )
        self.shortcut = _shortcut(inp, out, stride)

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))


def _shortcut(inp: int, out: int, stride: int) -> nn.Module:
    if stride == 1 and inp == out:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(inp, out, 1, stride, bias=False), nn.BatchNorm2d(out))


_RESNET_LAYOUTS = {18: (_BasicBlock, (2, 2, 2, 2)), 34: (_BasicBlock, (3, 4, 6, 3)), 50: (_Bottleneck, (3, 4, 6, 3))}


class ResNet(nn.Module):
    """ResNet-18/34/50 for ``in_channels``-band images with a stride-1 stem and no max-pool.

    Parameters
    ----------
    depth : {18, 34, 50}
        Network depth.
    in_channels : int
        Number of bands.
    width : int
        Channels of the first stage (64 in the standard ResNets).
    """

    def __init__(self, depth: int = 18, in_channels: int = 5, width: int = 64):
        super().__init__()
        if depth not in _RESNET_LAYOUTS:
            raise ValueError(f"ResNet depth must be one of {sorted(_RESNET_LAYOUTS)}, got {depth}.")
        block, counts = _RESNET_LAYOUTS[depth]
        layers = [
            nn.Conv2d(in_channels, width, 7, stride=1, padding=3, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        ]
        inp = width
        for stage, n_blocks in enumerate(counts):
            planes = width * 2**stage
            for b in range(n_blocks):
                layers.append(block(inp, planes, stride=2 if (stage > 0 and b == 0) else 1))
                inp = planes * block.expansion
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.out_features = inp
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


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
