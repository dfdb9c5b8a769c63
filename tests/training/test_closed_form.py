"""The closed-form embedding (issue 14): block features on a grid, mirror averaging, and the fixed
map fitted on the training identities, with ``head: none`` (nothing trained) and after a head."""

import json

import numpy as np
import pytest
import torch

from siamkit.data.dataset import scan_dataset
from siamkit.data.splits import Split
from siamkit.errors import SiamkitError
from siamkit.inference.siamese_model import SiameseModel
from siamkit.models.features import fit_postprocess
from siamkit.models.model_folder import ModelConfig, read_model_config
from siamkit.models.network import SiameseNetwork
from siamkit.pipelines.training_run import train
from siamkit.training.config import load_config
from tests.conftest import tiny_train_settings

BLOCKS_BACKBONE = "test_efficientnet"  # timm's tiny EfficientNet: conv_stem, bn1 and 5 blocks


def _closed_form(**extra):
    settings = dict(backbone=BLOCKS_BACKBONE, head="none", feature_block=2, feature_grid=2, flip_average=True,
                    postprocess="whiten", postprocess_dim=6)
    settings.update(extra)
    return tiny_train_settings(**settings)


def test_head_none_trains_nothing_and_writes_a_model_that_serves(tiny_dataset, tmp_path):
    run = tmp_path / "run"
    result = train(tiny_dataset, run, load_config(None, _closed_form()))
    assert result.epochs == 0 and not (run / "checkpoints").exists()
    assert 0.0 <= result.best_val_roc_auc <= 1.0  # measured on the validation identities' embeddings
    saved = json.loads((run / "model" / "config.json").read_text())
    assert saved["head"] == "none" and saved["features"] == {"block": 2, "grid": 2}
    assert saved["flip_average"] is True and saved["postprocess"] == "whiten"
    # 16 training images (4 identities x 4): whitening keeps at most 15 directions, 6 asked for
    assert saved["embedding_dim"] == 6

    model = SiameseModel.load(run / "model", backend="torch")
    images = sorted(tiny_dataset.glob("*/*.png"))[:4]
    embeddings = model.embed(images)
    assert embeddings.shape == (4, 6)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)

    onnx = SiameseModel.load(run / "model", backend="onnx")
    np.testing.assert_allclose(onnx.embed(images), embeddings, atol=1e-4)


def test_the_map_is_fitted_on_training_identities_only(tiny_dataset, tmp_path):
    run = tmp_path / "run"
    train(tiny_dataset, run, load_config(None, _closed_form(postprocess="center")))
    model = SiameseModel.load(run / "model", backend="torch")
    network = model.network
    split = Split.load(run / "split.json")
    dataset = scan_dataset(tiny_dataset)
    train_paths = [r.path for r in split.subset(dataset, "train").records]
    other_paths = [r.path for name in ("val", "test") for r in split.subset(dataset, name).records]

    mean = network.postprocess.mean.clone()
    network.postprocess = None  # the features the map was fitted on
    from siamkit.inference.embedder import TorchEmbedder

    embedder = TorchEmbedder(network, model.config.preprocessing, "cpu", batch_size=8)
    train_mean = embedder.embed(train_paths).mean(0)
    all_mean = embedder.embed(train_paths + other_paths).mean(0)
    np.testing.assert_allclose(mean.numpy(), train_mean, atol=1e-5)
    assert np.abs(all_mean - train_mean).max() > 1e-3  # so the check above can tell them apart


def test_a_trained_head_can_be_whitened_after_training(tiny_dataset, tmp_path):
    run = tmp_path / "run"
    result = train(tiny_dataset, run, load_config(None, tiny_train_settings(postprocess="whiten", postprocess_dim=4)))
    assert result.epochs == 1
    saved = json.loads((run / "model" / "config.json").read_text())
    assert saved["head"] == "mlp" and saved["head_dim"] == 16 and saved["embedding_dim"] == 4
    assert SiameseModel.load(run / "model", backend="torch").embed(sorted(tiny_dataset.glob("*/*.png"))[:2]).shape == (2, 4)


def test_mirror_averaging_makes_the_embedding_mirror_invariant():
    network = SiameseNetwork.create(BLOCKS_BACKBONE, "none", head="none", feature_block=3, feature_grid=2, flip_average=True).eval()
    images = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        np.testing.assert_allclose(network(images).numpy(), network(images.flip(-1)).numpy(), atol=1e-5)
        network.flip_average = False
        assert not np.allclose(network(images).numpy(), network(images.flip(-1)).numpy(), atol=1e-3)


def test_zoom_averaging_is_saved_served_and_exported(tiny_dataset, tmp_path):
    run = tmp_path / "run"
    train(tiny_dataset, run, load_config(None, _closed_form(zoom_average=0.75, image_size=48)))
    saved = json.loads((run / "model" / "config.json").read_text())
    assert saved["zoom_average"] == 0.75
    images = sorted(tiny_dataset.glob("*/*.png"))[:4]
    model = SiameseModel.load(run / "model", backend="torch")
    assert model.network.zoom_average == 0.75
    embeddings = model.embed(images)
    np.testing.assert_allclose(SiameseModel.load(run / "model", backend="onnx").embed(images), embeddings, atol=1e-4)
    with torch.no_grad():  # the zoomed view is part of the embedding, outside training only
        batch = torch.randn(2, 3, 48, 48)
        network = model.network.eval()
        zoomed = network(batch)
        network.zoom_average = 0.0
        assert not torch.allclose(zoomed, network(batch), atol=1e-3)
        network.zoom_average = 0.75
        network.train()  # training sees each image once, as it is
        plain = torch.nn.functional.normalize(network.features(network.backbone, batch), dim=1)
        assert torch.allclose(network.embed_features(batch), plain, atol=1e-5)


def test_centre_zoom_takes_the_middle_and_keeps_the_size():
    from siamkit.models.network import centre_zoom

    images = torch.zeros(1, 1, 10, 10)
    images[..., 1:9, 1:9] = 1.0  # a frame of zeros one pixel wide
    zoomed = centre_zoom(images, 0.8)
    assert zoomed.shape == images.shape
    assert torch.allclose(zoomed, torch.ones_like(zoomed))  # the 8 x 8 middle, scaled up: the frame is gone


def test_block_features_have_the_grid_times_the_channels():
    pooled = SiameseNetwork.create(BLOCKS_BACKBONE, "none", head="none")
    gridded = SiameseNetwork.create(BLOCKS_BACKBONE, "none", head="none", feature_block=4, feature_grid=3)
    assert pooled.feature_dim == pooled.backbone.num_features
    channels = gridded.backbone.blocks[4][-1].conv_pwl.out_channels
    assert gridded.feature_dim == channels * 9
    with torch.no_grad():
        assert gridded.eval()(torch.randn(2, 3, 32, 32)).shape == (2, channels * 9)


@pytest.mark.parametrize(
    ("backbone", "block", "message"),
    [("resnet10t", 2, "has no 'blocks' stages"), (BLOCKS_BACKBONE, 9, "has blocks 0 to 4")],
)
def test_a_block_the_backbone_lacks_is_one_line(backbone, block, message):
    with pytest.raises(SiamkitError, match=message) as error:
        SiameseNetwork.create(backbone, "none", head="none", feature_block=block)
    assert "\n" not in str(error.value) and f"feature_block {block}" in str(error.value)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"head": "linear"}, "--head"),
        ({"postprocess": "pca"}, "--postprocess"),
        ({"feature_block": -2}, "feature_block -2"),
        ({"feature_grid": 0}, "--feature-grid"),
        ({"zoom_average": 1.0}, "--zoom-average"),
        ({"zoom_average": -0.5}, "--zoom-average"),
        ({"head": "none", "loss": "bce", "sampling": "fixed"}, "pair head"),
    ],
)
def test_bad_layout_settings_are_refused(settings, message):
    with pytest.raises(SiamkitError, match=message):
        load_config(None, tiny_train_settings(**settings))


def test_folders_written_before_the_layout_keys_still_load(trained, tmp_path):
    import shutil

    folder = tmp_path / "old"
    shutil.copytree(trained["model"], folder)
    path = folder / "config.json"
    data = json.loads(path.read_text())
    for key in ("head", "head_dim", "features", "flip_average", "zoom_average", "postprocess"):
        data.pop(key, None)
    path.write_text(json.dumps(data))
    config, _ = read_model_config(folder)
    assert config.head == "mlp" and config.feature_block == -1 and config.postprocess == "none"
    before = SiameseModel.load(trained["model"], backend="torch").embed(sorted(trained["data"].glob("*/*.png"))[:2])
    after = SiameseModel.load(folder, backend="torch").embed(sorted(trained["data"].glob("*/*.png"))[:2])
    np.testing.assert_array_equal(before, after)


def test_whitening_gives_unit_variance_on_the_fit_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 10)) @ rng.normal(size=(10, 10)) + 5
    mean, matrix = fit_postprocess(x, "whiten", 4)
    projected = (x - mean) @ matrix
    assert matrix.shape == (10, 4)
    np.testing.assert_allclose(np.cov(projected.T, bias=True), np.eye(4), atol=1e-3)
    with pytest.raises(ValueError, match="unknown"):
        fit_postprocess(x, "lda", 4)


def test_model_config_refuses_a_bad_layout(tmp_path):
    from siamkit.data.preprocessing import Preprocessing

    config = ModelConfig("resnet10t", Preprocessing(32, (0.5,) * 3, (0.5,) * 3), embedding_dim=8, head="conv")
    with pytest.raises(SiamkitError, match="head"):
        config.check(str(tmp_path))


def _auto_inputs(tiny_dataset):
    from siamkit.data.preprocessing import Preprocessing
    from siamkit.models.backbone import backbone_data_config

    config = load_config(None, tiny_train_settings(backbone=BLOCKS_BACKBONE))
    assert config.head == "auto"  # the default
    network = SiameseNetwork.create(BLOCKS_BACKBONE, "none", 16, 32).eval()
    preprocessing = Preprocessing.from_timm_config(backbone_data_config(network.backbone), 32)
    return config, network, preprocessing, scan_dataset(tiny_dataset)


@pytest.mark.parametrize(("candidate_auc", "kept"), [(0.99, "closed-form"), (0.5, "trained")])
def test_head_auto_keeps_whichever_scores_higher_on_validation(tiny_dataset, caplog, candidate_auc, kept):
    import logging

    from siamkit.pipelines.postprocess_fit import choose_embedding

    config, network, preprocessing, dataset = _auto_inputs(tiny_dataset)
    scored = []

    def score(candidate):
        scored.append(candidate)
        return 0.7, candidate_auc

    with caplog.at_level(logging.INFO, logger="siamkit"):
        result = choose_embedding((network, config, 1.0, 0.9), config, preprocessing, dataset, score)
    assert len(scored) == 1 and scored[0].head is None and scored[0].features.block == 5 - 3
    assert "validation ROC AUC 0.9000 trained head" in caplog.text
    if kept == "closed-form":
        candidate, chosen, threshold, auc = result
        assert candidate is scored[0] and chosen.head == "none" and chosen.postprocess == "whiten"
        assert (threshold, auc) == (0.7, 0.99) and candidate.postprocess is not None
    else:
        assert result[0] is network and result[1] is config


def test_head_auto_tries_nothing_on_large_data_or_with_a_pair_head(tiny_dataset, monkeypatch):
    from siamkit.pipelines import postprocess_fit

    config, network, preprocessing, dataset = _auto_inputs(tiny_dataset)

    def score(candidate):
        raise AssertionError("no candidate should be scored")

    monkeypatch.setattr(postprocess_fit, "CLOSED_FORM_MAX_IMAGES", len(dataset.records) - 1)
    trained = (network, config, 1.0, 0.9)
    assert postprocess_fit.choose_embedding(trained, config, preprocessing, dataset, score) is trained
    monkeypatch.setattr(postprocess_fit, "CLOSED_FORM_MAX_IMAGES", 5000)
    paired = SiameseNetwork.create(BLOCKS_BACKBONE, "none", 16, 32, pair_head=True)
    trained = (paired, config, 1.0, 0.9)
    assert postprocess_fit.choose_embedding(trained, config, preprocessing, dataset, score) is trained
    no_blocks = SiameseNetwork.create("resnet10t", "none", 16, 32)
    trained = (no_blocks, config, 1.0, 0.9)
    assert postprocess_fit.choose_embedding(trained, config, preprocessing, dataset, score) is trained


def test_head_auto_training_writes_the_kept_embedding(tiny_dataset, tmp_path):
    run = tmp_path / "run"
    result = train(tiny_dataset, run, load_config(None, tiny_train_settings(backbone=BLOCKS_BACKBONE)))
    saved = json.loads((run / "model" / "config.json").read_text())
    assert (run / "history.csv").is_file()  # the head was trained either way
    if saved["head"] == "none":
        assert saved["features"]["block"] == 2 and saved["postprocess"] == "whiten" and result.epochs == 0
    else:
        assert saved["head"] == "mlp" and saved["features"]["block"] == -1 and result.epochs == 1
    assert "embedding" in saved["training"]
    SiameseModel.load(run / "model", backend="torch").embed(sorted(tiny_dataset.glob("*/*.png"))[:2])


def test_the_closed_form_candidate_mirror_averages_only_where_mirror_images_match():
    from siamkit.pipelines.postprocess_fit import closed_form_config

    faces = closed_form_config(load_config(None, tiny_train_settings()), 7)
    characters = closed_form_config(load_config(None, tiny_train_settings(horizontal_flip=False)), 7)
    assert faces.flip_average and not characters.flip_average
    assert faces.feature_block == characters.feature_block == 4 and faces.head == "none"
    assert closed_form_config(load_config(None, tiny_train_settings()), 3) is None
