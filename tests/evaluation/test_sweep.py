import csv
import json

import pytest

from siamkit.errors import SiamkitError
from siamkit.evaluation.sweep import parse_vary, run_sweep
from tests.conftest import make_identity_images, tiny_train_settings


def _shared_settings() -> dict:
    settings = tiny_train_settings(max_epochs=1, ways="2", episodes=20)
    settings.pop("evaluate")  # a sweep evaluates every run
    return settings


def test_a_sweep_trains_one_run_per_value_on_one_split(tmp_path):
    data = make_identity_images(tmp_path / "data", identities=8, per_identity=4)
    out = tmp_path / "sweep"
    result = run_sweep(data, out, ["margin=0.25,0.5"], overrides=_shared_settings())

    runs = [out / "margin=0.25", out / "margin=0.5"]
    for run in runs:
        assert (run / "model" / "config.json").is_file() and (run / "metrics.json").is_file()
        assert (run / "report.html").is_file()
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

    # Run again: finished runs with the same settings are reused, not retrained.
    before = (runs[0] / "model" / "model.safetensors").stat().st_mtime_ns
    again = run_sweep(data, out, ["margin=0.25,0.5"], overrides=_shared_settings())
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
        (["split=0.5,0.25,0.25"], "share one split"),
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
