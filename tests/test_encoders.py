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
    stem = enc.features[0]
    assert isinstance(stem, nn.Conv2d) and stem.kernel_size == (7, 7) and stem.stride == (1, 1)
    assert stem.in_channels == 5
    assert not any(isinstance(m, nn.MaxPool2d) for m in enc.modules())
    # only three stride-2 stages: 64 px input -> 8 px before pooling
    feats = enc.features[:-2](torch.zeros(1, 5, 64, 64))
    assert feats.shape[-1] == 8


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
