import pytest
import torch
from torch import nn

from sklearn_ssl.encoders import MLPEncoder, ResNet, SmallCNN, build_encoder, output_dim


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
