import csv
import json
import logging

import numpy as np
import pytest

from siamkit.errors import SiamkitError
from siamkit.inference.siamese_model import SiameseModel
from siamkit.training.config import load_config
from siamkit.pipelines.training_run import train
from tests.conftest import tiny_train_settings


def _history(run):
    with open(run / "history.csv") as handle:
        return list(csv.DictReader(handle))


def test_online_training_writes_a_complete_run_folder(tiny_dataset, tmp_path):
    run = tmp_path / "run"
    result = train(tiny_dataset, run, load_config(None, tiny_train_settings()))
    for name in ("split.json", "config.yaml", "history.csv", "checkpoints/last.ckpt", "model/config.json", "model/model.safetensors"):
        assert (run / name).is_file(), name
    config = json.loads((run / "model" / "config.json").read_text())
    assert config["backbone"] == "resnet10t" and config["embedding_dim"] == 16
    assert config["training"]["protocol"] == "open-set" and 0 < config["threshold"] <= 2
    rows = _history(run)
    assert len(rows) == 1 and rows[0]["train_loss"] and rows[0]["val_roc_auc"]
    assert result.model_folder == run / "model"


@pytest.mark.parametrize(
    "settings",
    [
        {"sampling": "fixed", "loss": "contrastive"},
        {"sampling": "fixed", "loss": "triplet"},
        {"sampling": "fixed", "loss": "bce"},
        {"sampling": "online", "loss": "bce", "miner": "all"},
        {"sampling": "online", "loss": "arcface"},
        {"sampling": "online", "loss": "normalized-softmax"},
        {"sampling": "online", "loss": "multi-similarity", "miner": "batch-hard"},
    ],
    ids=lambda s: f"{s['sampling']}-{s['loss']}",
)
def test_every_sampling_mode_and_loss_trains(tiny_dataset, tmp_path, settings):
    result = train(tiny_dataset, tmp_path / "run", load_config(None, tiny_train_settings(**settings)))
    assert (result.model_folder / "model.safetensors").is_file()
    assert np.isfinite(float(_history(tmp_path / "run")[0]["train_loss"]))


def test_resume_continues_from_the_last_checkpoint(tiny_dataset, tmp_path, caplog):
    run = tmp_path / "run"
    train(tiny_dataset, run, load_config(None, tiny_train_settings(max_epochs=1)))
    split_before = (run / "split.json").read_text()
    with pytest.raises(SiamkitError, match="--resume"):
        train(tiny_dataset, run, load_config(None, tiny_train_settings(max_epochs=2)))
    with caplog.at_level(logging.INFO, logger="siamkit"):
        train(tiny_dataset, run, load_config(None, tiny_train_settings(max_epochs=2)), resume=True)
    assert "resume: continuing from" in caplog.text
    assert [row["epoch"] for row in _history(run)] == ["1", "2"]
    assert (run / "split.json").read_text() == split_before


def test_resume_without_a_checkpoint_is_an_error(tiny_dataset, tmp_path):
    with pytest.raises(SiamkitError, match="no checkpoint"):
        train(tiny_dataset, tmp_path / "run", load_config(None, tiny_train_settings()), resume=True)


def test_model_folder_round_trip_gives_the_same_embeddings(tiny_dataset, tmp_path):
    run = tmp_path / "run"
    train(tiny_dataset, run, load_config(None, tiny_train_settings()))
    model = SiameseModel.load(run / "model")
    images = sorted(tiny_dataset.rglob("*.png"))[:5]
    first, second = model.embed(images), SiameseModel.load(run / "model").embed(images)
    assert first.shape == (5, 16)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(first, second, atol=1e-6)
    result = model.compare(images[0], images[1])
    assert result.same == (result.distance <= model.threshold)
    assert model.compare(images[1], images[0]).distance == pytest.approx(result.distance, abs=1e-6)


def test_backbone_batchnorm_statistics_stay_frozen_inside_lightning(tiny_dataset, tmp_path, monkeypatch):
    """Lightning resets module modes after validation without calling ``train()``; the frozen
    BatchNorm layers must still be in eval mode at every training step, and their running
    statistics must not move."""
    import torch

    from siamkit.training import module as training_module

    seen = []
    original = training_module.SiameseModule.training_step

    def recording_step(self, batch, batch_index):
        norms = [m for m in self.network.backbone.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        seen.append(sum(m.training for m in norms))
        if not hasattr(self, "_start_stats"):
            self._start_stats = [m.running_mean.clone() for m in norms]
        return original(self, batch, batch_index)

    monkeypatch.setattr(training_module.SiameseModule, "training_step", recording_step)
    result = train(tiny_dataset, tmp_path / "run", load_config(None, tiny_train_settings(max_epochs=2)))
    assert seen and all(count == 0 for count in seen)
    model = SiameseModel.load(result.model_folder)
    from siamkit.models.backbone import create_backbone

    fresh = create_backbone("resnet10t", "none").state_dict()
    trained = model.network.backbone.state_dict()
    # running statistics are never updated: still the initial zeros/ones
    assert all(torch.equal(trained[k], fresh[k]) for k in trained if k.endswith(("running_mean", "running_var")))


def test_idx_dataset_trains_on_its_own_split(tmp_path):
    from siamkit.pipelines.train_and_evaluate import train_and_evaluate
    from tests.data.test_idx import make_idx_dataset

    data = make_idx_dataset(tmp_path / "fm", train=48, test=24)
    settings = tiny_train_settings(split="0.75,0.25,0.0", evaluate=True, ways="2", episodes=10, plots=False)
    result = train_and_evaluate(data, tmp_path / "run", load_config(None, settings))
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    assert split["protocol"].startswith("closed-set") and len(split["test"]) == 24
    metrics = json.loads(result.metrics_path.read_text())
    assert metrics["test_images"] == 24 and metrics["protocol"]["setting"].startswith("closed-set")


def test_group_split_and_fold_come_from_the_config(tmp_path):
    from tests.conftest import make_identity_images

    for group in range(3):
        make_identity_images(tmp_path / "data" / f"alphabet_{group}", identities=3, per_identity=3, seed=group)
    settings = tiny_train_settings(split_by="group", split="0.34,0.33,0.33", evaluate=False)
    train(tmp_path / "data", tmp_path / "run", load_config(None, settings))
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    assert split["protocol"] == "open-set by group" and split["group_counts"] == {"train": 1, "val": 1, "test": 1}


def test_group_batches_draw_each_batch_from_two_groups(tmp_path):
    from siamkit.data.dataset import scan_dataset
    from siamkit.data.preprocessing import Preprocessing
    from siamkit.pipelines.lightning_fit import _train_loader
    from tests.conftest import make_identity_images

    for group in range(4):
        make_identity_images(tmp_path / "data" / f"alphabet_{group}", identities=4, per_identity=4, seed=group)
    dataset = scan_dataset(tmp_path / "data")
    config = load_config(None, tiny_train_settings(group_batches=True, batch_size=8, m_per_class=2, workers=0))
    preprocessing = Preprocessing(image_size=32, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), interpolation="bilinear")
    loader = _train_loader(dataset, preprocessing, config)
    group_of_label = {}
    for record in dataset.records:
        group_of_label[record.label] = record.group
    names = sorted(group_of_label)
    batches = list(loader)
    assert len(batches) == 6  # every pair of the 4 groups once: 64 images / 8 per batch / 6 pairs rounds to 1
    for _, labels, _ in batches:
        groups = {group_of_label[names[int(label)]] for label in labels}
        assert len(groups) == 2 and len(labels) == 8


def test_group_batches_need_groups(tiny_dataset, tmp_path):
    settings = tiny_train_settings(group_batches=True, evaluate=False)
    with pytest.raises(SiamkitError, match="group_batches: needs every training identity inside a group folder"):
        train(tiny_dataset, tmp_path / "run", load_config(None, settings))


def _trainable_weights(run):
    import torch

    state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    statistics = ("running_mean", "running_var", "num_batches_tracked")
    return {k: v for k, v in state.items() if k.startswith("network.") and not k.endswith(statistics)}


def test_resume_with_more_epochs_replans_the_schedule_and_trains(tiny_dataset, tmp_path, caplog):
    # A finished cosine run ends at lr 0; resuming it for more epochs must still move the weights.
    import torch

    run = tmp_path / "run"
    train(tiny_dataset, run, load_config(None, tiny_train_settings(max_epochs=1)))
    before = _trainable_weights(run)
    with caplog.at_level(logging.INFO, logger="siamkit"):
        train(tiny_dataset, run, load_config(None, tiny_train_settings(max_epochs=2)), resume=True)
    after = _trainable_weights(run)
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert any(".head." in k for k in changed) and any(".backbone." in k for k in changed)
    assert "re-planned the cosine learning-rate schedule" in caplog.text
    rows = _history(run)
    assert [row["epoch"] for row in rows] == ["1", "2"] and float(rows[1]["lr"]) > 0
