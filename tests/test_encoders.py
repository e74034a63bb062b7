import pytest
import torch
from torch import nn

from sklearn_ssl.nn.encoders import MLPEncoder, ResNet, SmallCNN, build_encoder, output_dim


@pytest.mark.parametrize("name, dim", [("small", 128), ("resnet18", 512), ("resnet34", 512), ("resnet50", 2048)])
def test_builtin_image_encoders_take_n_bands(name, dim):
    enc = build_encoder(name, (5, 16, 16)).eval()
    assert enc(torch.zeros(2, 5, 16, 16)).shape == (2, dim)
    assert output_dim(enc, (5, 16, 16)) == dim


def test_resnet_stem_is_stride_one_without_maxpool():
    enc = ResNet(18, in_channels=5)
    stem = enc.conv1
    assert isinstance(stem, nn.Conv2d) and stem.kernel_size == (7, 7) and stem.stride == (1, 1)
    assert stem.in_channels == 5
    assert not any(isinstance(m, nn.MaxPool2d) for m in enc.modules())
    # only three stride-2 stages: 64 px input -> 8 px before pooling
    feats = enc.forward_features(torch.zeros(1, 5, 64, 64))
    assert feats.shape[-1] == 8


def test_resnet_imagenet_stem_downsamples_four_times_with_maxpool():
    enc = ResNet(18, in_channels=3, stem="imagenet")
    assert enc.conv1.stride == (2, 2) and isinstance(enc.maxpool, nn.MaxPool2d)
    # stem /4, then three stride-2 stages: 64 px -> 2 px, as in torchvision
    assert enc.forward_features(torch.zeros(1, 3, 64, 64)).shape[-1] == 2
    with pytest.raises(ValueError, match="stem"):
        ResNet(18, stem="cifar")


@pytest.mark.parametrize("depth, n_tensors", [(18, 120), (50, 318)])
def test_resnet_parameter_names_are_torchvision_names(depth, n_tensors):
    """Key names and counts of torchvision's resnet18/resnet50 state dicts (122 and 320 entries) minus ``fc``."""
    keys = list(ResNet(depth, in_channels=3, stem="imagenet").state_dict())
    assert len(keys) == n_tensors
    assert keys[:3] == ["conv1.weight", "bn1.weight", "bn1.bias"]
    assert "layer2.0.downsample.0.weight" in keys and "layer4.1.bn2.running_var" in keys
    assert ("layer1.0.conv3.weight" in keys) == (depth == 50)
    assert not any(k.startswith("fc.") for k in keys)


def test_auto_picks_cnn_for_images_and_mlp_for_vectors():
    assert isinstance(build_encoder("auto", (3, 8, 8)), SmallCNN)
    assert isinstance(build_encoder("auto", (10,)), MLPEncoder)


def test_module_instance_is_copied_and_factories_get_channels():
    inst = SmallCNN(in_channels=3, width=8)
    built = build_encoder(inst, (3, 8, 8))
    assert built is not inst and isinstance(built, SmallCNN)
    assert build_encoder(SmallCNN, (4, 8, 8)).features[0].in_channels == 4

    def factory():
        return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 7))

    enc = build_encoder(factory, (3, 8, 8))
    assert output_dim(enc, (3, 8, 8)) == 7


def test_bad_encoder_specs_raise_clear_errors():
    with pytest.raises(ValueError, match="Unknown encoder 'resnet99'"):
        build_encoder("resnet99", (3, 8, 8))
    with pytest.raises(ValueError, match="cannot take vectors"):
        build_encoder("resnet18", (10,))
    with pytest.raises(ValueError, match="cannot take images"):
        build_encoder("mlp", (3, 8, 8))
    with pytest.raises(TypeError, match="not a torch.nn.Module"):
        build_encoder(lambda: 3, (3, 8, 8))
    with pytest.raises(ValueError, match=r"must return \(n, d\)"):
        output_dim(nn.Identity(), (3, 8, 8))


class _OldBlock(nn.Module):
    """The residual block as sklearn-ssl pickled it before torchvision names (body / shortcut)."""

    def __init__(self, inp, planes, stride, bottleneck):
        super().__init__()
        out = planes * (4 if bottleneck else 1)
        if bottleneck:
            layers = [nn.Conv2d(inp, planes, 1, bias=False), nn.BatchNorm2d(planes), nn.ReLU(),
                      nn.Conv2d(planes, planes, 3, stride, 1, bias=False), nn.BatchNorm2d(planes), nn.ReLU(),
                      nn.Conv2d(planes, out, 1, bias=False), nn.BatchNorm2d(out)]
        else:
            layers = [nn.Conv2d(inp, planes, 3, stride, 1, bias=False), nn.BatchNorm2d(planes), nn.ReLU(),
                      nn.Conv2d(planes, out, 3, 1, 1, bias=False), nn.BatchNorm2d(out)]
        self.body = nn.Sequential(*layers)
        self.shortcut = nn.Identity() if stride == 1 and inp == out else nn.Sequential(
            nn.Conv2d(inp, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))


def _old_resnet_features(counts, bottleneck, in_channels, width=8):
    layers, inp = [nn.Conv2d(in_channels, width, 7, 1, 3, bias=False), nn.BatchNorm2d(width), nn.ReLU()], width
    for stage, n in enumerate(counts):
        for b in range(n):
            layers.append(_OldBlock(inp, width * 2**stage, 2 if stage > 0 and b == 0 else 1, bottleneck))
            inp = width * 2**stage * (4 if bottleneck else 1)
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())


@pytest.mark.parametrize("depth, counts, bottleneck", [(18, (2, 2, 2, 2), False), (50, (3, 4, 6, 3), True)])
def test_resnet_pickled_before_torchvision_names_still_loads(depth, counts, bottleneck):
    torch.manual_seed(0)
    features = _old_resnet_features(counts, bottleneck, in_channels=3)
    for m in features.modules():
        if isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.running_mean, std=0.1), nn.init.uniform_(m.running_var, 0.5, 1.5)
    features.eval()
    old = nn.Module()
    old.features, old.out_features = features, 64 * (4 if bottleneck else 1)
    old.eval()
    new = ResNet.__new__(ResNet)
    new.__setstate__(dict(old.__dict__))  # what unpickling an old ResNet does
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(new(x), features(x))
    assert (new.depth, new.width, new.stem, new.training) == (depth, 8, "astro", False)
