"""``siamkit sweep``: one training run per value of one option, side by side.

Every run trains on the same train identities, picks its threshold on the same validation
identities and is measured on the same test identities: the first run makes ``split.json`` and
every later run is handed that split, so the only thing that differs between runs is the option
being varied. Varying an option that decides the split (``fold``, ``split_by``, ``seed``,
``closed_set``) is the exception: each run then makes the split its own config describes, so each
run of ``--vary fold=1/5,...,5/5`` is tested on its own fold. Runs go to ``OUT/<key>=<value>/``
(each a full run folder with its own report); ``OUT/sweep.csv`` and ``OUT/sweep.html`` put their
numbers side by side. A run folder that already holds a finished run with the same settings is
reused, so an interrupted sweep can be restarted.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from siamkit.errors import SiamkitError
from siamkit.pipelines.sweep_grid import _configs, _folder_name, parse_vary  # noqa: F401  (moved; old import path)
from siamkit.pipelines.sweep_table import (  # noqa: F401  (moved; old import path)
    LABELS,
    PRIMARY_METRICS,
    SweepResult,
    _columns,
    _run_row,
    _write_csv,
    _write_html,
)
from siamkit.training.config import TrainConfig

log = logging.getLogger("siamkit")

# Options that decide which identities a run trains, validates and is tested on (make_split's
# arguments): varying one gives every run the split its own config describes.
SPLIT_OPTIONS = ("fold", "split_by", "seed", "closed_set", "split")


def _finished(run: Path, config: TrainConfig, split_path: Path | None) -> bool:
    """A finished run (model, metrics) trained with exactly these settings and the sweep's split
    (``split_path``; None for the first run, or where each run makes its own split): safe to reuse."""
    import yaml

    needed = ("metrics.json", "model/config.json", "config.yaml", "split.json")
    if not all((run / name).is_file() for name in needed):
        return False
    try:
        stored = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
        # plots only changes the report: a run written before the key existed, or with figures, is the same run;
        # with cv_folds the run stores the epochs the folds chose in place of the ones asked for
        ignore = {"plots": None}
        # a key added since the run was written reads as its default (what that run did)
        stored = {**TrainConfig().to_dict(), **stored}
        if config.cv_folds >= 2:  # the folds chose max_epochs within the schedule asked for
            ignore.update(max_epochs=None, schedule_epochs=None, patience=None, keep=None)
            schedule = max(stored["schedule_epochs"] or 0, stored["max_epochs"])
            if schedule != config.cosine_epochs or stored["max_epochs"] > config.max_epochs:
                return False
        same_config = {**stored, **ignore} == {**config.to_dict(), **ignore}
        same_split = split_path is None or (run / "split.json").read_bytes() == split_path.read_bytes()
    except (OSError, yaml.YAMLError, TypeError, KeyError):  # unreadable, or not a config mapping
        return False
    return same_config and same_split


def _train_and_evaluate(data, run: Path, config: TrainConfig, split) -> None:
    """Every sweep run is evaluated on the shared test identities, whatever ``evaluate`` says."""
    import dataclasses

    from siamkit.pipelines.train_and_evaluate import train_and_evaluate

    train_and_evaluate(data, run, dataclasses.replace(config, evaluate=True), split=split)


def run_sweep(
    data: str | os.PathLike,
    out: str | os.PathLike,
    vary: list[str] | str,
    config_path: str | os.PathLike | None = None,
    overrides: dict | None = None,
) -> SweepResult:
    """Train and evaluate one run per value in ``vary`` (e.g. ``["lr=3e-5,1e-4,3e-4"]``), all on one
    split unless the varied option decides the split (``SPLIT_OPTIONS``); options come from
    ``config_path`` and ``overrides`` as for ``siamkit train``."""
    key, values = parse_vary(vary)
    configs = _configs(key, values, config_path, overrides)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    shared_split, split_path = None, None
    own_splits = key in SPLIT_OPTIONS  # each run makes the split its config describes
    if own_splits:
        log.info("sweep: %s decides the split, so each run makes its own", key)
    rows = []
    for number, ((value_text, value), config) in enumerate(zip(values, configs), start=1):
        run = out / _folder_name(key, value_text)
        if _finished(run, config, split_path):
            log.info("sweep run %d/%d %s=%s: reusing the finished run in %s", number, len(values), key, value_text, run)
        else:
            if (run / "checkpoints" / "last.ckpt").is_file():
                raise SiamkitError(f"{run}: holds an unfinished run or one with other settings; remove it or use another --out")
            log.info("sweep run %d/%d: %s=%s -> %s", number, len(values), key, value_text, run)
            _train_and_evaluate(data, run, config, shared_split)
        if shared_split is None and not own_splits:
            from siamkit.data.splits import Split

            split_path = run / "split.json"
            shared_split = Split.load(split_path)
        rows.append(_run_row(key, value, run, out))

    columns = _columns(rows)
    csv_path = out / "sweep.csv"
    _write_csv(csv_path, columns, rows)
    html_path = _write_html(out, key, columns, rows, split_path)
    result = SweepResult(out, key, [v for _, v in values], columns, rows, csv_path, html_path)
    for line in result.table_text().splitlines():
        log.info("%s", line)
    log.info("sweep table: %s and %s", csv_path, html_path)
    return result
