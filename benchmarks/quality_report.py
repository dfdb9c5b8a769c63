"""docs/benchmarks.md from docs/benchmarks.json: the table a user reads before trusting a recipe.

Kept apart from quality.py so the page can be re-rendered (``quality.py --render``) without
importing torch or rerunning anything, and so the wording of the page lives in one place.
"""

from __future__ import annotations

from pathlib import Path

HEADER = """# Benchmarks: recipe quality on identities the model never saw

Written by `benchmarks/quality.py` (the numbers below are in `docs/benchmarks.json`); rerun a
recipe with `.venv/bin/python benchmarks/quality.py RECIPE`. Every number is measured on test
identities (subjects, characters) that no training or validation step saw, except Fashion-MNIST,
whose 10 classes are the same in training and test (its official test images are used). The
decision threshold comes from validation identities. "Untrained backbone" is the same backbone
with its ImageNet weights and no training, embedded and scored the same way on the same test
images. Wall time covers scanning, training, threshold choice and the full evaluation on the
machine named in each section; a load average above its core count means other work shared the
cores and the time is pessimistic.
"""


def _number(value, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _spread(stats: dict | None, percent: bool = False) -> str:
    if not stats:
        return "–"
    scale, unit = (100.0, " %") if percent else (1.0, "")
    if stats.get("n", 1) > 1:
        return f"{stats['mean'] * scale:.2f} ± {stats['std'] * scale:.2f}{unit} (n={stats['n']})"
    return f"{stats['mean'] * scale:.4g}{unit}" if percent else _number(stats["mean"])


def _minutes(seconds) -> str:
    return "–" if seconds is None else f"{seconds / 60:.1f} min"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _hardware(entry: dict) -> str:
    hw = entry.get("hardware") or {}
    gpu = hw.get("gpu") or "no GPU"
    return f"{hw.get('cores', '?')} cores ({hw.get('cpu', '?')}), {gpu}, torch {hw.get('torch', '?')}"


def _summary(results: dict) -> list[str]:
    rows = []
    for name in ("att-faces", "omniglot", "fashion-mnist"):
        entry = results.get(name)
        if not entry:
            continue
        percent = entry["primary_metric"].endswith("EER")
        reference = entry["reference"]
        rows.append([
            name, entry["primary_metric"], _spread(entry["summary"]["primary"], percent),
            _spread(entry["summary"]["baseline_primary"], percent),
            f"{reference['value'] * 100:.2f} % ({reference['source']})" if percent else f"{reference['value']:.3f} ({reference['source']})",
            f"{'≤' if not entry['higher_is_better'] else '≥'} {entry['goal'] * 100 if percent else entry['goal']:g}{' %' if percent else ''}",
            "**met**" if entry["goal_met"] else "not met",
            "yes" if entry["beats_untrained_backbone"] else "**no**",
            _minutes(entry["total_wall_seconds"] / max(1, entry.get("folds") or 1)),
        ])
    if not rows:
        return []
    header = ["recipe", "primary metric", "siamkit", "untrained backbone", "published", "goal", "goal met", "beats untrained", "wall time per run"]
    return ["## Summary", "", *_table(header, rows), ""]


def _details(entry: dict) -> list[str]:
    lines = [f"## {entry['recipe']}", "",
             f"Recipe `{Path(entry['config']).stem}` on `{entry['data']}`; {entry['date']}, commit {entry['commit']}, {_hardware(entry)}.", ""]
    summary = entry["summary"]
    names = [("roc_auc", "ROC AUC"), ("eer", "EER"), ("pair_accuracy", "pair accuracy (validation threshold)"),
             ("precision_at_1", "precision@1"), ("map_at_r", "MAP@R"), ("one_shot_5", "5-way one-shot"),
             ("one_shot_20", "20-way one-shot"), ("one_shot_20_across_groups", "20-way one-shot across groups")]
    rows = [[label, _spread(summary.get(key)), _spread(summary.get(f"baseline_{key}"))]
            for key, label in names if summary.get(key)]
    lines += _table(["test metric", "siamkit", "untrained backbone"], rows) + [""]
    if entry.get("folds"):
        fold_rows = [[f"{i}", _number(run["eer"]), _number(run["baseline_eer"]), _number(run["roc_auc"]),
                      _number(run["best_val_roc_auc"]), str(run["epochs"]), _minutes(run["wall_seconds"]),
                      f"{run['load_average'][0]:.1f} / {run['load_average'][1]:.1f}"]
                     for i, run in enumerate(entry["runs"], start=1)]
        lines += _table(["fold", "test EER", "untrained EER", "test ROC AUC", "best val ROC AUC", "epochs", "wall", "load before / after"], fold_rows) + [""]
    else:
        run = entry["runs"][0]
        lines += [f"Best validation ROC AUC {_number(run['best_val_roc_auc'])} after {run['epochs']} epochs; "
                  f"{run['test_identities']} test identities, {run['test_images']} test images; "
                  f"wall {_minutes(run['wall_seconds'])} (load average {run['load_average'][0]:.1f} before, "
                  f"{run['load_average'][1]:.1f} after).", ""]
        if run.get("evaluated_after_training_in_a_separate_process"):
            lines[-2] += (" The evaluation ran again in a second process (`--reuse-trained`) after the first was "
                          "killed for memory; training time is taken from the run folder's file times.")
    return lines


def _seeds(entry: dict) -> list[str]:
    lines = ["## The seed notebooks' approaches against online mining", "",
             f"{entry['split']}; every approach sees {entry['images_per_epoch']} training images per epoch, with the "
             "backbone, optimiser and learning rate of the `att-faces` recipe, and "
             f"{', '.join(f'{k} {v}' for k, v in entry.get('common', {}).items())}. "
             "Fixed pairs/triplets are drawn once (seeded) and reused every epoch, as in the notebooks; online "
             "sampling forms new M-per-class batches every epoch and mines every pair or triplet in them. "
             f"{entry['date']}, commit {entry['commit']}, {_hardware(entry)}.", ""]
    rows = []
    for name, run in entry["approaches"].items():
        rows.append([name, _number(run["roc_auc"]), _number(run["eer"]), _number(run["precision_at_1"]),
                     _number(run["map_at_r"]), _number(run["one_shot_5"]), _number(run["best_val_roc_auc"]),
                     str(run["epochs"]), _minutes(run["wall_seconds"])])
    first = next(iter(entry["approaches"].values()))
    rows.append(["untrained backbone", _number(first["baseline_roc_auc"]), _number(first["baseline_eer"]),
                 _number(first["baseline_precision_at_1"]), _number(first["baseline_map_at_r"]),
                 _number(first["baseline_one_shot_5"]), "–", "–", "–"])
    header = ["approach", "test ROC AUC", "test EER", "precision@1", "MAP@R", "5-way one-shot", "best val ROC AUC", "epochs", "wall"]
    return lines + _table(header, rows) + [""]


def render_markdown(results: dict) -> str:
    lines = [HEADER, *_summary(results)]
    for name in ("att-faces", "omniglot", "fashion-mnist"):
        if results.get(name):
            lines += _details(results[name])
    if results.get("seeds"):
        lines += _seeds(results["seeds"])
    if results.get("train_speed"):
        lines += results["train_speed"].get("markdown", [])
    return "\n".join(lines).rstrip() + "\n"
