import pytest
import torch

from siamkit.errors import SiamkitError
from siamkit.models.backbone import check_backbone_name, create_backbone, set_trainable_stages
from siamkit.models.network import SiameseNetwork


def test_unknown_backbone_suggests_names():
    with pytest.raises(SiamkitError, match="did you mean .*mobilenetv2_100"):
        check_backbone_name("mobilenet_v2_100")


def test_weights_file_round_trip_and_mismatch(tmp_path):
    from safetensors.torch import save_file

    source = create_backbone("resnet10t", "none")
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(tmp_path / "w.safetensors"))
    loaded = create_backbone("resnet10t", tmp_path / "w.safetensors")
    assert torch.equal(loaded.state_dict()["conv1.0.weight"], source.state_dict()["conv1.0.weight"])
    with pytest.raises(SiamkitError, match="do not fit"):
        create_backbone("resnet14t", tmp_path / "w.safetensors")
    with pytest.raises(SiamkitError, match="file not found"):
        create_backbone("resnet10t", tmp_path / "missing.pth")


def test_auto_without_offline_weights_fails_clearly_when_offline(monkeypatch):
    import timm

    def offline(*args, **kwargs):
        if kwargs.get("pretrained"):
            raise ConnectionError("no network")
        return original(*args, **kwargs)

    original = timm.create_model
    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.raises(SiamkitError, match="no offline weights for 'resnet10t'"):
        create_backbone("resnet10t", "auto")


def test_trainable_stages_freeze_the_front():
    model = create_backbone("resnet10t", "none")
    frozen = set_trainable_stages(model, 1)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert frozen and trainable and all(n.startswith("layer4") for n in trainable)
    assert set_trainable_stages(model, -1) == []
    assert set_trainable_stages(model, 0) and not any(p.requires_grad for p in model.parameters())


def test_network_embeddings_are_unit_length_and_frozen_bn_stays_in_eval():
    network = SiameseNetwork.create("resnet10t", "none", embedding_dim=8, hidden_dim=16, trainable_stages=1)
    network.train()
    assert network._frozen_bn and all(not m.training for m in network._frozen_bn)
    out = network(torch.randn(4, 3, 32, 32))
    assert out.shape == (4, 8)
    assert torch.allclose(out.norm(dim=1), torch.ones(4), atol=1e-5)
