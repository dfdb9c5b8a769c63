import csv
import json
from pathlib import PurePath

import pytest

from siamkit.errors import SiamkitError
from siamkit.pipelines.sweep import parse_vary, run_sweep
from tests.conftest import make_identity_images, quick_onnx_export, tiny_train_settings


@pytest.fixture(autouse=True)
def _quick_export():
    """Every sweep run is evaluated, which exports its model folder to ONNX: the quick exporter."""
    with quick_onnx_export():
        yield


def _shared_settings() -> dict:
    settings = tiny_train_settings(max_epochs=1, ways="2", episodes=20, plots=False)  # sweep.html has its own figure
    settings.pop("evaluate")  # a sweep evaluates every run
    return settings


def test_a_sweep_trains_one_run_per_value_on_one_split(tmp_path):
    data = make_identity_images(tmp_path / "data", identities=8, per_identity=4)
    out = tmp_path / "sweep"
    # triplet loss: the margin is one of its settings (multi-similarity, the default, ignores it)
    result = run_sweep(data, out, ["margin=0.25,0.5"], overrides={**_shared_settings(), "loss": "triplet"})

    runs = [out / "margin=0.25", out / "margin=0.5"]
    for run in runs:
        assert (run / "model" / "config.json").is_file() and (run / "metrics.json").is_file()
        assert (run / "report.html").is_file() and not (run / "plots").exists()  # plots: false reaches the evaluation
    assert (runs[0] / "split.json").read_text() == (runs[1] / "split.json").read_text()
    margins = [json.loads((run / "model" / "config.json").read_text())["margin"] for run in runs]
    assert margins == [0.25, 0.5]

    with open(out / "sweep.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["margin"] for row in rows] == ["0.25", "0.5"]
    assert {"run", "test_roc_auc", "test_eer", "precision_at_1", "map_at_r", "one_shot_2way", "best_val_roc_auc"} <= set(rows[0])
    html = (out / "sweep.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in html and "margin=0.25" in html and "https://" not in html
    assert result.csv_path == out / "sweep.csv" and len(result.rows) == 2
    assert "test_roc_auc" in result.table_text()

    # Run again: finished runs with the same settings are reused, not retrained, also a run
    # written before the report-only key plots existed.
    import yaml

    stored = yaml.safe_load((runs[0] / "config.yaml").read_text())
    del stored["plots"]
    (runs[0] / "config.yaml").write_text(yaml.safe_dump(stored))
    before = (runs[0] / "model" / "model.safetensors").stat().st_mtime_ns
    again = run_sweep(data, out, ["margin=0.25,0.5"], overrides={**_shared_settings(), "loss": "triplet"})
    assert (runs[0] / "model" / "model.safetensors").stat().st_mtime_ns == before
    assert again.rows == result.rows


@pytest.mark.parametrize(
    "vary, message",
    [
        (["marign=0.1,0.2"], "did you mean 'margin'"),
        (["margin=0.1", "lr=0.1"], "exactly one option"),
        (["margin"], "KEY=V1,V2"),
        (["margin=0.1,,0.2"], "KEY=V1,V2"),
        (["margin=0.1,0.1"], "listed twice"),
        (["split=0.5,0.25,0.25"], "cannot vary"),
        (["plots=true,false"], "not the models"),
    ],
)
def test_bad_vary_is_a_user_error(vary, message):
    with pytest.raises(SiamkitError, match=message):
        parse_vary(vary)


def test_a_bad_value_fails_before_any_training(tmp_path):
    with pytest.raises(SiamkitError, match="margin=big"):
        run_sweep(tmp_path / "no-data-needed", tmp_path / "sweep", ["margin=0.5,big"])
    assert not (tmp_path / "sweep").exists()


def test_values_are_read_as_yaml_scalars():
    assert parse_vary(["lr=1e-3, 0.01"]) == ("lr", [("1e-3", 0.001), ("0.01", 0.01)])
    assert parse_vary(["augment=true,false"])[1] == [("true", True), ("false", False)]


@pytest.mark.parametrize(
    "settings, reason",
    [
        ({}, "multi-similarity loss ignores the margin"),
        ({"loss": "bce"}, "bce loss ignores the margin"),
        ({"loss": "multi-similarity", "sampling": "fixed", "miner": "semi-hard"}, "ignores the margin"),
    ],
)
def test_varying_a_margin_the_loss_ignores_is_refused(tmp_path, settings, reason):
    # Every run would train the same model while the table records different margins.
    with pytest.raises(SiamkitError, match=reason):
        run_sweep(tmp_path / "no-data-needed", tmp_path / "sweep", ["margin=0.25,0.5"], overrides=settings)
    assert not (tmp_path / "sweep").exists()


def test_varying_the_miner_where_no_miner_runs_is_refused(tmp_path):
    settings = {"sampling": "fixed", "loss": "contrastive"}
    with pytest.raises(SiamkitError, match="no miner"):
        run_sweep(tmp_path / "no-data-needed", tmp_path / "sweep", ["miner=all,batch-hard"], overrides=settings)
    # a class-level loss learns from class labels: no miner, and this one has no margin either
    settings = {"sampling": "online", "loss": "normalized-softmax"}
    with pytest.raises(SiamkitError, match="no miner runs with --loss normalized-softmax"):
        run_sweep(tmp_path / "no-data-needed", tmp_path / "sweep", ["miner=all,batch-hard"], overrides=settings)
    with pytest.raises(SiamkitError, match="the normalized-softmax loss has no margin and no miner runs with it"):
        run_sweep(tmp_path / "no-data-needed", tmp_path / "sweep", ["margin=0.1,0.2"], overrides=settings)


def test_the_margin_counts_where_the_loss_or_its_miner_uses_it():
    from siamkit.training.config import load_config
    from siamkit.training.losses import margin_is_used

    for settings in ({"loss": "triplet"}, {"loss": "contrastive"}, {"loss": "arcface"}, {"miner": "semi-hard"}):
        assert margin_is_used(load_config(None, settings)), settings
    assert not margin_is_used(load_config(None, {}))


def _test_identities(run) -> set[str]:
    return {PurePath(path).parent.name for path in json.loads((run / "split.json").read_text())["test"]}


def test_a_sweep_over_folds_tests_each_run_on_its_own_fold(tmp_path):
    import yaml

    from siamkit.data.dataset import scan_dataset
    from siamkit.data.splits import make_split
    from siamkit.training.config import load_config

    data = make_identity_images(tmp_path / "data", identities=8, per_identity=4)
    out = tmp_path / "sweep"
    run_sweep(data, out, ["fold=1/2,2/2"], overrides={**_shared_settings(), "split_by": "identity"})

    tested = []
    for run in (out / "fold=1_2", out / "fold=2_2"):
        config = load_config(None, yaml.safe_load((run / "config.yaml").read_text()))
        expected = make_split(scan_dataset(data), config.split_by, config.split, config.seed, config.fold)
        tested.append(_test_identities(run))
        assert tested[-1] == {PurePath(path).parent.name for path in expected.test}, run.name
    assert tested[0].isdisjoint(tested[1])
    html = (out / "sweep.html").read_text(encoding="utf-8")
    assert "same split" not in html and "its own split" in html
