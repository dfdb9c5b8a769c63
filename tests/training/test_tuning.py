"""Identity-fold cross-validation and ``siamkit tune`` on a tiny dataset."""

from __future__ import annotations

import csv
import json

import pytest

from siamkit.errors import SiamkitError
from siamkit.pipelines.cross_validation import cross_validate
from siamkit.pipelines.tuning import parse_budget, tune
from siamkit.pipelines.tuning_space import DIMENSIONS, search_space
from siamkit.training.config import load_config
from tests.conftest import make_identity_images, tiny_train_settings


def test_cross_validation_trains_every_fold_every_epoch_and_reuses_finished_folds(tmp_path):
    data = make_identity_images(tmp_path / "data", identities=10, per_identity=4)
    config = load_config(None, tiny_train_settings(max_epochs=2, patience=1, split="0.6,0.2,0.2"))
    seen = []
    result = cross_validate(data, tmp_path / "cv", config, folds=2, on_fold=lambda fold, mean: seen.append((fold, mean)))

    assert [f.fold for f in result.folds] == [1, 2] and [s[0] for s in seen] == [1, 2]
    assert all(len(f.curve) == 2 for f in result.folds)  # patience is lifted: every fold trains every epoch
    assert result.best_epochs() in (1, 2) and len(result.mean_curve()) == 2
    assert seen[-1][1] == pytest.approx(result.score) and result.spread >= 0
    stored = json.loads((tmp_path / "cv" / "cv.json").read_text())
    assert stored["score"] == pytest.approx(result.score) and len(stored["folds"]) == 2
    test_images = set(json.loads((tmp_path / "cv" / "fold-1" / "split.json").read_text())["test"])
    for fold in (1, 2):  # validated on development identities only: no fold ever trained or validated on test images
        split = json.loads((tmp_path / "cv" / f"fold-{fold}" / "split.json").read_text())
        assert not test_images & set(split["train"] + split["val"])
        assert not (tmp_path / "cv" / f"fold-{fold}" / "metrics.json").exists()

    stamp = (tmp_path / "cv" / "fold-1" / "fold.json").stat().st_mtime_ns
    again = cross_validate(data, tmp_path / "cv", config, folds=2)
    assert (tmp_path / "cv" / "fold-1" / "fold.json").stat().st_mtime_ns == stamp
    assert again.scores == result.scores


@pytest.mark.parametrize("text, seconds", [("30m", 1800), ("2h", 7200), ("90s", 90), ("45", 2700), (1.5, 90)])
def test_budget_reads_minutes_hours_and_seconds(text, seconds):
    assert parse_budget(text) == seconds


@pytest.mark.parametrize("text", ["soon", "0m", "-3m", "5 days"])
def test_a_budget_that_is_no_time_is_a_user_error(text):
    with pytest.raises(SiamkitError, match="--budget"):
        parse_budget(text)


def test_the_search_space_follows_the_recipe():
    trained = {d.name for d in search_space(load_config(None, {}))}
    assert {"lr", "max_epochs", "loss", "miner", "trainable_stages", "augment_strength", "embedding_dim", "image_size"} <= trained
    closed_form = {d.name for d in search_space(load_config("faces-closed-form", {}))}
    assert closed_form == {"image_size", "feature_block", "feature_grid", "zoom_average", "whiten_shrink"}
    from_scratch = {d.name for d in search_space(load_config("fashion-mnist-conv", {}))}
    assert "trainable_stages" not in from_scratch and "miner" not in from_scratch  # no pretrained stages; a class-level loss
    with pytest.raises(SiamkitError, match="did you mean 'lr'"):
        search_space(load_config(None, {}), ["lrr"])
    with pytest.raises(SiamkitError, match="does not apply"):
        search_space(load_config("faces-closed-form", {}), ["lr"])
    # --set fixes a key: its dimension leaves the default space, and naming both is refused
    fixed = {d.name for d in search_space(load_config(None, {}), None, {"lr", "crop_scale"})}
    assert "lr" not in fixed and "augment_strength" not in fixed and "max_epochs" in fixed
    with pytest.raises(SiamkitError, match="--space lr: --set fixes lr"):
        search_space(load_config(None, {}), ["lr"], {"lr"})
    assert set(DIMENSIONS) >= trained | closed_form


@pytest.mark.slow  # six small training runs
def test_tune_scores_trials_by_folds_writes_the_best_recipe_and_continues(tmp_path):
    import yaml

    data = make_identity_images(tmp_path / "data", identities=10, per_identity=4)
    settings = tiny_train_settings(max_epochs=2, split="0.6,0.2,0.2", plots=False)
    recipe = tmp_path / "tiny.yaml"  # a recipe file: --set would fix the keys it names
    recipe.write_text(yaml.safe_dump(settings))
    out = tmp_path / "tune"
    result = tune(data, out, "10m", config_path=recipe, folds=2, trials=2, space=["lr", "max_epochs"])

    with open(out / "trials.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 and result.trials == 2
    assert float(rows[0]["lr"]) == pytest.approx(1e-4) and rows[0]["max_epochs"] == "2"  # trial 0 is the recipe itself
    best = load_config(out / "best.yaml")  # a recipe siamkit train reads
    assert best.backbone == settings["backbone"] and best.image_size == 32 and best.evaluate is False
    assert 1 <= best.max_epochs <= 4 and best.keep == "last" and best.patience == best.max_epochs + 1
    assert best.cosine_epochs >= best.max_epochs  # the folds' schedule, stopped at the chosen epoch
    assert "siamkit tune" in (out / "best.yaml").read_text().splitlines()[0]
    html = (out / "tuning.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in html and "Search progress" in html and "https://" not in html
    for trial in (out / "trials").iterdir():  # trials keep their numbers, not their weights
        assert not list(trial.glob("fold-*/model")) and not list(trial.glob("fold-*/checkpoints"))
    assert list((out / "trials" / "000").glob("fold-*/history.csv"))

    again = tune(data, out, "10m", config_path=recipe, folds=2, trials=1, space=["lr", "max_epochs"])
    assert again.trials == 3  # the study continued from study.db
    with pytest.raises(SiamkitError, match="other folds"):
        tune(data, out, "10m", config_path=recipe, folds=3, trials=1, space=["lr", "max_epochs"])


@pytest.mark.slow  # three small training runs; cross_validate itself is covered in the quick suite above
def test_cv_folds_choose_the_epochs_then_train_them_and_keep_the_last(tmp_path):
    import yaml

    from siamkit.pipelines.train_and_evaluate import train_and_evaluate

    data = make_identity_images(tmp_path / "data", identities=10, per_identity=4)
    config = load_config(None, tiny_train_settings(max_epochs=3, split="0.6,0.2,0.2", cv_folds=2))
    result = train_and_evaluate(data, tmp_path / "run", config)

    cv = json.loads((tmp_path / "run" / "cv" / "cv.json").read_text())
    assert len(cv["folds"]) == 2 and all(len(fold["curve"]) == 3 for fold in cv["folds"])
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["max_epochs"] == cv["best_epochs"] and saved["keep"] == "last"
    assert saved["schedule_epochs"] == 3  # the folds' cosine schedule, stopped after the chosen epochs
    assert result.epochs == cv["best_epochs"]  # every chosen epoch trained, none cut by early stopping
    run_split = json.loads((tmp_path / "run" / "split.json").read_text())
    fold_split = json.loads((tmp_path / "run" / "cv" / "fold-1" / "split.json").read_text())
    assert fold_split["test"] == run_split["test"]
    assert sorted(fold_split["train"] + fold_split["val"]) == sorted(run_split["train"] + run_split["val"])


def test_small_validation_sets_are_scored_on_every_pair():
    import numpy as np

    from siamkit.pipelines.lightning_fit import ALL_PAIRS_UP_TO, _validation_pairs

    labels = [i // 10 for i in range(60)]  # AT&T's 6 validation subjects x 10 images
    pairs = _validation_pairs(labels, seed=0)
    assert len(pairs) == 60 * 59 // 2 and pairs[:, 2].sum() == 6 * 45
    assert {tuple(p) for p in pairs[:, :2].tolist()} == {(a, b) for a in range(60) for b in range(a + 1, 60)}

    many = [i % 50 for i in range(int((2 * ALL_PAIRS_UP_TO) ** 0.5) + 2)]  # above the bound: a balanced sample
    sampled = _validation_pairs(many, seed=0)
    assert len(sampled) < len(many) * (len(many) - 1) // 2
    assert sampled[:, 2].sum() * 2 == len(sampled)
    assert np.all(sampled[:, 0] != sampled[:, 1])


def test_trial_zero_is_the_recipe_itself():
    import dataclasses

    import optuna

    from siamkit.pipelines.tuning_space import first_trial, trial_config

    recipes = (
        load_config(None, {}), load_config("att-faces", {"trainable_stages": -1}), load_config("faces-closed-form", {}),
        load_config("faces-closed-form", {"feature_block": -1, "whiten_shrink": 0.0, "feature_grid": 4}),
    )
    for recipe in recipes:
        dimensions = search_space(recipe)
        trial = optuna.trial.FixedTrial(first_trial(recipe, dimensions))
        drawn = trial_config(trial, recipe, dimensions)
        assert dataclasses.asdict(drawn) == dataclasses.asdict(recipe)


def test_the_cross_validated_score_is_read_at_one_epoch_count_for_every_fold(tmp_path):
    from siamkit.pipelines.cross_validation import CrossValidation, FoldResult, fold_config

    folds = [FoldResult(1, 0.95, 3, [0.90, 0.95, 0.93], 1.0, tmp_path), FoldResult(2, 0.99, 3, [0.80, 0.90, 0.99], 1.0, tmp_path)]
    cv = CrossValidation(folds)
    assert cv.best_epochs() == 3 and cv.score == pytest.approx(0.96)  # not the mean of each fold's own best (0.97)
    assert cv.fold_scores() == [0.93, 0.99]
    closed_form = CrossValidation([FoldResult(1, 0.98, 0, [], 1.0, tmp_path), FoldResult(2, 0.96, 0, [], 1.0, tmp_path)])
    assert closed_form.best_epochs() is None and closed_form.score == pytest.approx(0.97)
    # head auto: the folds measure the head it trains, so they have curves to choose epochs from
    assert fold_config(load_config(None, {})).head == "mlp"


def test_a_trial_left_running_by_a_killed_process_is_closed_and_the_recipe_queued_again(tmp_path):
    import optuna

    from siamkit.pipelines.tuning import _close_interrupted_trials, _study

    study = _study(tmp_path, seed=0)
    study.enqueue_trial({"lr": 1e-4})
    trial = study.ask()  # started, then the process died
    assert trial.params == {} and study.trials[0].state == optuna.trial.TrialState.RUNNING
    again = _study(tmp_path, seed=0)
    _close_interrupted_trials(again)
    assert again.trials[0].state == optuna.trial.TrialState.FAIL


def test_a_study_from_another_search_space_is_not_continued(tmp_path):
    from siamkit.pipelines import tuning

    record = tuning._settings_record(tmp_path, load_config(None, {}), ["lr"], 3)
    (tmp_path / "tune.json").write_text(json.dumps({**record, "space_version": tuning.SPACE_VERSION - 1}))
    with pytest.raises(SiamkitError, match="another siamkit version's search space"):
        tuning._check_same_study(tmp_path, record)
    (tmp_path / "tune.json").write_text(json.dumps({**record, "space": ["lr", "loss"]}))
    with pytest.raises(SiamkitError, match="other space"):
        tuning._check_same_study(tmp_path, record)
