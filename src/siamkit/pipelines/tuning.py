"""``siamkit tune DATA --budget 30m``: an Optuna search for a recipe, scored by identity folds.

Each trial draws settings (``siamkit.pipelines.tuning_space``) and is scored by
``cross_validate`` over the development identities (train + validation; the test identities are
never touched): the mean validation ROC AUC of k fold runs. After each fold the running mean goes
to Optuna's median pruner, which stops a trial that is already below the median of earlier trials
at that fold. The first trial is the recipe as given, so the best recipe is never one that cross-
validates worse than it. The study lives in ``OUT/study.db`` (SQLite): running the same command
again continues it with a new budget. ``OUT/best.yaml`` is the best recipe, with ``max_epochs``
read from the peak of its mean validation curve, ready for ``siamkit train --config OUT/best.yaml``;
``OUT/tuning.html`` shows every trial, the search's progress and each setting against the score.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from siamkit.errors import SiamkitError
from siamkit.io.atomic import write_text_atomic
from siamkit.training.config import TrainConfig, load_config

log = logging.getLogger("siamkit")

STUDY_NAME = "siamkit-tune"
# Raised whenever a dimension's range or choices change (siamkit.pipelines.tuning_space): a study
# started with other distributions cannot be continued (Optuna refuses a parameter's new range).
SPACE_VERSION = 2


def parse_budget(text: str | float | int) -> float:
    """``30m``, ``2h``, ``90s`` or a bare number of minutes -> seconds."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text) * 60
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(text))
        if not match:
            raise SiamkitError(f"--budget '{text}': give a time such as 30m, 2h or 90s")
        seconds = float(match.group(1)) * {"s": 1, "m": 60, "": 60, "h": 3600}[match.group(2)]
    if seconds <= 0:
        raise SiamkitError(f"--budget '{text}': must be above 0")
    return seconds


@dataclass
class TuneResult:
    out: Path
    best_yaml: Path
    report_path: Path
    trials_csv: Path
    best_score: float
    best_spread: float
    best_trial: int
    trials: int


def _settings_record(data, config: TrainConfig, space: list[str], folds: int) -> dict:
    return {"data": str(Path(data).resolve()), "recipe": config.to_dict(), "space": space, "folds": folds, "space_version": SPACE_VERSION}


def _check_same_study(out: Path, record: dict) -> None:
    """A study folder continues only with the settings it was started with."""
    path = out / "tune.json"
    if not path.is_file():
        return
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise SiamkitError(f"{path}: cannot be read; remove {out} or use another --out") from None
    if stored.get("space_version") != record["space_version"]:
        raise SiamkitError(f"{out}: holds a tuning study from another siamkit version's search space; use another --out")
    changed = [key for key in ("data", "recipe", "space", "folds") if stored.get(key) != record.get(key)]
    if changed:
        raise SiamkitError(
            f"{out}: holds a tuning study with other {', '.join(changed)}; continue it with the same options or use another --out"
        )


def _close_interrupted_trials(study, folder: Path | None = None) -> None:
    """Trials left running by a process that was killed are marked failed (one study, one process)."""
    import optuna

    for trial in study.trials:
        if trial.state == optuna.trial.TrialState.RUNNING:
            log.info("tune: trial %d was interrupted; marked failed", trial.number)
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
            if folder is not None:
                _trim_fold_runs(folder / "trials" / f"{trial.number:03d}")


def _trim_fold_runs(trial_folder: Path) -> None:
    """A trial keeps its numbers (fold.json, history.csv, config.yaml, split.json), not its weights."""
    for fold in trial_folder.glob("fold-*"):
        for name in ("checkpoints", "model"):
            shutil.rmtree(fold / name, ignore_errors=True)


def _study(out: Path, seed: int):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # siamkit logs each trial itself, in one line
    storage = f"sqlite:///{(out / 'study.db').resolve()}"
    earlier = 0
    if (out / "study.db").is_file():
        try:
            earlier = len(optuna.load_study(study_name=STUDY_NAME, storage=storage).trials)
        except KeyError:  # a database without this study
            earlier = 0
    return optuna.create_study(
        storage=storage,
        study_name=STUDY_NAME,
        direction="maximize",
        load_if_exists=True,
        # a continued study draws its random start-up trials afresh, not the first session's again
        sampler=optuna.samplers.TPESampler(seed=seed + earlier, n_startup_trials=5),
        # A trial is stopped after a fold once 2 trials finished and its running mean is below their median there.
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0),
    )


def tune(
    data: str | os.PathLike,
    out: str | os.PathLike,
    budget: str | float = "30m",
    config_path: str | os.PathLike | None = None,
    overrides: dict | None = None,
    folds: int = 3,
    trials: int | None = None,
    space: list[str] | None = None,
) -> TuneResult:
    """Search settings for ``data`` within ``budget`` (new trials start only while time is left;
    each fold is bounded by the time remaining) and write the best recipe and the tuning report."""
    import optuna

    from siamkit.pipelines.cross_validation import cross_validate
    from siamkit.pipelines.tuning_space import first_trial, search_space, trial_config

    seconds = parse_budget(budget)
    base = load_config(config_path, overrides)
    fixed = {key for key, value in (overrides or {}).items() if value is not None}
    dimensions = search_space(base, space, fixed)
    if not dimensions:
        raise SiamkitError("--space: nothing to search for this recipe")
    if folds < 2:
        raise SiamkitError(f"--folds {folds}: cross-validation needs at least 2 folds")
    if trials is not None and trials < 1:
        raise SiamkitError(f"--trials {trials}: must be at least 1")
    from siamkit.data.cv_folds import development_folds
    from siamkit.data.dataset import scan_dataset
    from siamkit.pipelines.training_run import config_split

    dataset = scan_dataset(data)  # a missing dataset, or one that cannot be cut into the folds, is said now, not once per trial
    development_folds(dataset, config_split(dataset, base), folds, base.seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = [d.name for d in dimensions]
    record = _settings_record(data, base, names, folds)
    _check_same_study(out, record)
    write_text_atomic(out / "tune.json", json.dumps(record, indent=2))
    study = _study(out, base.seed)
    _close_interrupted_trials(study, out)
    recipe_params = first_trial(base, dimensions)
    def tried(t) -> bool:  # scored, queued, or failed on its own settings (not by an interruption)
        return t.state.name in ("COMPLETE", "PRUNED", "WAITING") or (t.state.name == "FAIL" and "error" in t.user_attrs)

    # an enqueued trial that has not started keeps its values in system_attrs["fixed_params"]
    if not any((t.params or t.system_attrs.get("fixed_params")) == recipe_params and tried(t) for t in study.trials):
        study.enqueue_trial(recipe_params)  # the recipe as given is scored first (again, if an interruption lost it)
    deadline = time.monotonic() + seconds
    log.info("tune: %s over %s, %d folds, budget %.0f min%s", ", ".join(names), data, folds, seconds / 60,
             f" (continuing a study of {len(study.trials)} trials)" if len(study.trials) > 1 else "")

    def objective(trial) -> float:
        import torch

        try:
            return scored(trial)
        except (SiamkitError, torch.cuda.OutOfMemoryError) as error:  # these settings cannot train: one line, the search goes on
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            log.warning("tune trial %d failed: %s", trial.number, reason)
            trial.set_user_attr("error", reason)
            return float("nan")  # Optuna records the trial as failed

    def scored(trial) -> float:
        config = trial_config(trial, base, dimensions)
        folder = out / "trials" / f"{trial.number:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(folder / "recipe.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))
        log.info("tune trial %d: %s", trial.number, ", ".join(f"{k}={_short(v)}" for k, v in trial.params.items()))

        def report(fold: int, running: float) -> None:
            trial.report(running, fold)
            if trial.should_prune():
                log.info("tune trial %d: pruned after fold %d (mean %.4f, below the median of earlier trials)", trial.number, fold, running)
                raise optuna.TrialPruned()

        remaining = (deadline - time.monotonic()) / 60
        try:
            cv = cross_validate(data, folder, config, folds, on_fold=report, max_minutes=remaining / folds)
        finally:
            _trim_fold_runs(folder)
        trial.set_user_attr("spread", cv.spread)
        trial.set_user_attr("fold_scores", cv.fold_scores())
        cut = [f.fold for f in cv.folds if config.head != "none" and len(f.curve) < config.max_epochs]
        if cut:  # the per-fold time limit (the budget's remainder) stopped these folds early
            trial.set_user_attr("error", f"fold(s) {', '.join(map(str, cut))} cut short by the time left in the budget")
        trial.set_user_attr("best_epochs", cv.best_epochs())
        trial.set_user_attr("recipe", config.to_dict())
        return cv.score

    def stop_when_spent(study_, trial) -> None:
        if time.monotonic() >= deadline:
            study_.stop()

    started = time.monotonic()
    try:
        study.optimize(objective, n_trials=trials, timeout=seconds, callbacks=[stop_when_spent])
    except KeyboardInterrupt:
        log.warning("tune: interrupted; the finished trials are kept in %s (run the command again to continue)", out / "study.db")
        raise
    log.info("tune: %d trials in %.1f min", len(study.trials), (time.monotonic() - started) / 60)
    return write_results(study, base, out, folds, data)


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def best_recipe(study, base: TrainConfig) -> tuple[dict, object]:
    """The best finished trial's recipe, its epochs read from the peak of the mean validation curve."""
    import optuna

    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None and math.isfinite(t.value)]
    if not finished:
        raise SiamkitError("tune: no trial finished within the budget; give a larger --budget or fewer --folds")
    best = max(finished, key=lambda t: t.value)
    recipe = dict(best.user_attrs.get("recipe") or base.to_dict())
    for key in ("evaluate", "patience", "max_time", "keep", "cv_folds", "head"):  # the folds' own settings, not the recipe's
        recipe[key] = getattr(base, key)
    if best.user_attrs.get("best_epochs"):
        epochs = int(best.user_attrs["best_epochs"])
        if recipe["schedule"] == "cosine":  # stop after the chosen epochs of the schedule the folds ran
            recipe["schedule_epochs"] = max(recipe.get("schedule_epochs") or 0, recipe["max_epochs"])
        # the score was read after the last of these epochs: train them all and keep the last, as cv_folds does
        recipe.update(max_epochs=epochs, patience=epochs + 1, keep="last")
    return recipe, best


def write_results(study, base: TrainConfig, out: Path, folds: int, data) -> TuneResult:
    from siamkit.pipelines.tuning_report import write_tuning_report, write_trials_csv

    recipe, best = best_recipe(study, base)
    TrainConfig(**recipe).validate()
    spread = float(best.user_attrs.get("spread", float("nan")))
    header = (
        f"# Chosen by siamkit tune on {Path(data).resolve()}: trial {best.number} of {len(study.trials)},\n"
        f"# mean validation ROC AUC {best.value:.4f} ± {spread:.4f} over {folds} folds of the training and validation\n"
        f"# identities (test identities untouched). Train with: siamkit train DATA --config {out / 'best.yaml'} --out RUN\n"
    )
    best_yaml = out / "best.yaml"
    write_text_atomic(best_yaml, header + yaml.safe_dump(recipe, sort_keys=False))
    trials_csv = write_trials_csv(study, out / "trials.csv")
    report = write_tuning_report(study, out, best, folds, data)
    log.info("tune: best trial %d, validation ROC AUC %.4f ± %.4f over %d folds -> %s", best.number, best.value, spread, folds, best_yaml)
    return TuneResult(out, best_yaml, report, trials_csv, float(best.value), spread, best.number, len(study.trials))
