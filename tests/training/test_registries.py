"""Losses, miners and samplers are registries that user code extends before training."""

import pytest

from siamkit.errors import SiamkitError
from siamkit.losses import LOSSES, MINERS
from siamkit.registry import Registry
from siamkit.sampling import SAMPLERS
from siamkit.training.config import load_config
from tests.conftest import make_identity_images, tiny_train_settings


@pytest.fixture
def circle_loss():
    """A user's loss: a thin wrapper around pytorch-metric-learning's CircleLoss."""

    import siamkit

    @siamkit.LOSSES.register("user-circle", default_margin=0.4, uses_margin=True)
    def user_circle(margin, **_):
        from pytorch_metric_learning import losses

        return losses.CircleLoss(m=margin, gamma=80)

    yield "user-circle"
    LOSSES.unregister("user-circle")


def test_a_user_registered_loss_trains_the_tiny_model(circle_loss, tmp_path):
    from siamkit.pipelines.training_run import train

    data = make_identity_images(tmp_path / "data", identities=8, per_identity=4)
    config = load_config(None, tiny_train_settings(loss=circle_loss, miner="batch-hard"))
    assert config.effective_margin == 0.4
    result = train(data, tmp_path / "run", config)
    assert (result.model_folder / "model.safetensors").is_file()
    assert result.epochs == 1


def test_user_entries_appear_in_validation_and_the_margin_check(circle_loss):
    from siamkit.training.losses import margin_is_used, miner_is_used

    config = load_config(None, {"loss": circle_loss})
    assert margin_is_used(config) and miner_is_used(config)
    assert circle_loss in LOSSES.names()


def test_unknown_names_suggest_the_closest_one():
    with pytest.raises(SiamkitError, match=r"^unknown loss 'tripplet': did you mean 'triplet'\? \(choose one of .*contrastive"):
        LOSSES.get("tripplet")
    with pytest.raises(SiamkitError, match=r"--loss 'tripplet': unknown loss; did you mean 'triplet'\?"):
        load_config(None, {"loss": "tripplet"})
    with pytest.raises(SiamkitError, match=r"--miner 'semihard': unknown miner; did you mean 'semi-hard'\?"):
        load_config(None, {"miner": "semihard"})
    with pytest.raises(SiamkitError, match=r"--sampling 'fixd': unknown sampling; did you mean 'fixed'\?"):
        load_config(None, {"sampling": "fixd"})


def test_a_duplicate_name_is_refused_unless_replaced():
    registry = Registry("widget")
    registry.register("round", size=1)(lambda: "first")
    with pytest.raises(SiamkitError, match="widget 'round' is already registered; pass replace=True"):
        registry.register("round")(lambda: "second")
    registry.register("round", replace=True, size=2)(lambda: "third")
    assert registry.get("round")() == "third" and registry.metadata("round")["size"] == 2
    with pytest.raises(SiamkitError, match="loss 'triplet' is already registered"):
        LOSSES.register("triplet")(lambda **_: None)


def test_metadata_has_defaults_and_refuses_unknown_keys():
    assert LOSSES.metadata("bce")["pair_head"] and not LOSSES.metadata("triplet")["pair_head"]
    assert LOSSES.metadata("arcface")["class_level"] and MINERS.metadata("semi-hard")["uses_margin"]
    with pytest.raises(SiamkitError, match="unknown metadata 'uses_margn': did you mean 'uses_margin'"):
        LOSSES.register("typo-loss", uses_margn=True)(lambda **_: None)
    assert "typo-loss" not in LOSSES


def test_sampling_modes_resolve_to_registered_samplers():
    assert load_config(None, {}).sampler_name == "m-per-class"
    assert load_config(None, {"group_batches": True}).sampler_name == "group-batches"
    assert load_config(None, {"sampling": "fixed", "loss": "triplet"}).sampler_name == "fixed-triplets"
    assert load_config(None, {"sampling": "fixed", "loss": "contrastive"}).sampler_name == "fixed-pairs"
    assert load_config(None, {"sampling": "fixed-pairs", "loss": "triplet"}).sampler_name == "fixed-pairs"
    assert {"m-per-class", "group-batches", "fixed-pairs", "fixed-triplets"} <= set(SAMPLERS.names())


def test_cli_help_lists_the_registered_names():
    from siamkit.cli.train_commands import _loss_help, _miner_help, _sampling_help

    assert all(name in _loss_help() for name in LOSSES.names())
    assert all(name in _miner_help() for name in MINERS.names())
    assert all(name in _sampling_help() for name in SAMPLERS.names())
