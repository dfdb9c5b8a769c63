"""How good are siamkit's recipes on real datasets, next to the untrained backbone and the papers?

Runs a packaged recipe (``src/siamkit/recipes/``, ``siamkit train --config NAME``) end to end through the library (split -> train -> evaluate on
identities the model never saw) and records, per recipe, the primary metric of the trained model,
the same metric of the untrained backbone on the same test images, the published reference,
the goal, wall time and the hardware. Results merge into ``docs/benchmarks.json`` (one entry per
recipe, so recipes can be rerun one at a time) and ``docs/benchmarks.md`` is rendered from it.

Recipes:
  att-faces       AT&T faces, 5 folds by identity (8 test subjects each), EER mean and spread
  att-faces-closed-form  the same folds, nothing trained: block-4 grid features, flip and zoom averaging, PCA whitening
  att-faces-plain the same folds, no config at all (what `siamkit train FOLDER` does), ROC AUC
  omniglot        Omniglot background, whole alphabets held out, 20-way one-shot within alphabet
  omniglot-conv4  the same with a 4-block CNN trained from scratch on 28 px grey-scale characters,
                  on 3 splits of the alphabets (seeds 0, 1, 2: the split and the initial weights)
  fashion-mnist   Fashion-MNIST IDX files, the official 10,000 test images, precision@1
  fashion-mnist-conv  the same with a CNN trained from scratch at 28 px, NormalizedSoftmax loss
  seeds           AT&T fold 1: the seed notebooks' approaches (fixed pairs + contrastive, fixed
                  triplets + triplet loss, BCE pairs) against online mining, with everything
                  else (backbone, image size, optimiser, epochs, images per epoch) equal

    .venv/bin/python benchmarks/quality.py att-faces omniglot     # one or more recipes
    .venv/bin/python benchmarks/quality.py --all --workdir /tmp/quality
    .venv/bin/python benchmarks/quality.py --render               # rewrite the .md from the .json

Wall times are for the 2-core machine the numbers were taken on; the load average before and
after each run is recorded because other work on the same cores slows a run down.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from quality_report import render_markdown  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
RESULTS = ROOT / "docs" / "benchmarks.json"
REPORT = ROOT / "docs" / "benchmarks.md"


@dataclass
class Recipe:
    name: str
    data: Path
    config: str | None  # a packaged recipe's name (src/siamkit/recipes/NAME.yaml); None: the defaults
    primary: tuple  # path into metrics.json
    primary_label: str
    higher_is_better: bool
    goal: float
    reference: dict | None
    folds: int = 0
    split_seeds: tuple = ()  # one run per seed of a seeded (group) split, averaged like folds
    overrides: dict = field(default_factory=dict)


RECIPES = {
    "att-faces": Recipe(
        "att-faces", SHARED / "att_faces", "att-faces", ("verification", "eer"), "test EER",
        higher_is_better=False, goal=0.01, folds=5,
        reference={"value": 0.0333, "metric": "EER", "source": "Khalil-Hani and Sung (2014), Siamese CNN"},
    ),
    "att-faces-closed-form": Recipe(
        "att-faces-closed-form", SHARED / "att_faces", "faces-closed-form", ("verification", "eer"), "test EER",
        higher_is_better=False, goal=0.02, folds=5,
        reference={"value": 0.0333, "metric": "EER", "source": "Khalil-Hani and Sung (2014), Siamese CNN"},
    ),
    "att-faces-plain": Recipe(
        "att-faces-plain", SHARED / "att_faces", None, ("verification", "roc_auc"), "test ROC AUC, plain siamkit train",
        higher_is_better=True, goal=0.99, folds=5,
        reference=None,  # the goal is issue 14's; no paper reports this protocol
    ),
    "omniglot": Recipe(
        "omniglot", SHARED / "omniglot" / "background", "omniglot", ("one_shot", "20", "accuracy"),
        "20-way one-shot accuracy within held-out alphabets", higher_is_better=True, goal=0.95,
        reference={"value": 0.92, "metric": "20-way one-shot, unseen alphabets",
                   "source": "Koch, Zemel and Salakhutdinov (2015), convolutional Siamese network"},
    ),
    "omniglot-conv4": Recipe(
        "omniglot-conv4", SHARED / "omniglot" / "background", "omniglot-conv4", ("one_shot", "20", "accuracy"),
        "20-way one-shot accuracy within held-out alphabets (conv4 from scratch)", higher_is_better=True, goal=0.95,
        split_seeds=(0, 1, 2),  # issue 15's goal: the mean over 3 splits of the 30 alphabets
        reference={"value": 0.92, "metric": "20-way one-shot, unseen alphabets",
                   "source": "Koch, Zemel and Salakhutdinov (2015), convolutional Siamese network"},
    ),
    "fashion-mnist": Recipe(
        "fashion-mnist", FASHION_MNIST, "fashion-mnist", ("retrieval", "precision_at_1"),
        "precision@1 on the 10,000 test images", higher_is_better=True, goal=0.93,
        reference={"value": 0.919, "metric": "pair accuracy (our pair accuracy is reported beside it)",
                   "source": "a hobby Siamese network repository"},
    ),
    "fashion-mnist-conv": Recipe(
        "fashion-mnist-conv", FASHION_MNIST, "fashion-mnist-conv", ("retrieval", "precision_at_1"),
        "precision@1 on the 10,000 test images (CNN from scratch)", higher_is_better=True, goal=0.93,
        reference={"value": 0.919, "metric": "pair accuracy (our pair accuracy is reported beside it)",
                   "source": "a hobby Siamese network repository"},
    ),
}

# The seed notebooks' training approaches; everything not listed comes from the att-faces recipe
# with SEED_COMMON on top (smaller images and fewer epochs, so six runs fit in half an hour).
SEED_COMMON = {"image_size": 112, "max_epochs": 10, "patience": 4}
SEED_APPROACHES = {
    "fixed pairs + contrastive (seed 002)": {"sampling": "fixed", "loss": "contrastive"},
    "fixed triplets + triplet loss (seed 000)": {"sampling": "fixed", "loss": "triplet"},
    "fixed pairs + BCE head (seed 003)": {"sampling": "fixed", "loss": "bce"},
    "online, all pairs + contrastive": {"sampling": "online", "loss": "contrastive", "miner": "all"},
    "online, semi-hard triplets + triplet loss": {"sampling": "online", "loss": "triplet", "miner": "semi-hard"},
    "online, all pairs + multi-similarity (default)": {"sampling": "online", "loss": "multi-similarity", "miner": "all"},
}

# Secondary numbers kept for every run (trained model and untrained backbone).
METRICS = {
    "roc_auc": ("verification", "roc_auc"),
    "eer": ("verification", "eer"),
    "pair_accuracy": ("verification", "accuracy"),
    "precision_at_1": ("retrieval", "precision_at_1"),
    "map_at_r": ("retrieval", "map_at_r"),
    "one_shot_5": ("one_shot", "5", "accuracy"),
    "one_shot_20": ("one_shot", "20", "accuracy"),
    "one_shot_20_across_groups": ("one_shot_across_groups", "20", "accuracy"),
    "five_shot_5": ("k_shot", "5", "5", "accuracy"),
    "five_shot_20": ("k_shot", "5", "20", "accuracy"),
    "five_shot_20_across_groups": ("k_shot_across_groups", "5", "20", "accuracy"),
}


def lookup(tree: dict, path: tuple):
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


def hardware() -> dict:
    import torch

    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": model, "cores": os.cpu_count(), "gpu": gpu, "torch": torch.__version__, "python": platform.python_version()}


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def evaluate_finished_training(data: Path, out: Path, config):
    """Evaluate a run whose training finished but whose evaluation did not (it crashed, or a
    metric was fixed since), exactly as ``train_and_evaluate`` would have; the training time
    is read from the run folder's file times (config.yaml written at the start, the model
    folder at the end)."""
    from types import SimpleNamespace

    from siamkit.pipelines.train_and_evaluate import evaluate_run

    model_config = json.loads((out / "model" / "config.json").read_text())
    evaluation = evaluate_run(data, out, config)
    train_seconds = (out / "model" / "config.json").stat().st_mtime - (out / "config.yaml").stat().st_mtime
    training = model_config.get("training", {})
    return SimpleNamespace(
        metrics_path=evaluation.metrics_path, best_val_roc_auc=training.get("best_val_roc_auc"),
        epochs=training.get("epochs"), seconds=train_seconds,
    )


def run_once(recipe: Recipe, out: Path, overrides: dict, reuse_trained: bool = False) -> dict:
    """Train and evaluate one configuration; the numbers that go into the table."""
    from siamkit.training.config import load_config, recipe_file
    from siamkit.pipelines.train_and_evaluate import train_and_evaluate

    config = load_config(recipe_file(recipe.config) if recipe.config else None, {**recipe.overrides, **overrides})
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    reused = reuse_trained and (out / "model" / "config.json").is_file()
    if reused:
        result = evaluate_finished_training(recipe.data, out, config)
        seconds = result.seconds + time.perf_counter() - started
    else:
        result = train_and_evaluate(recipe.data, out, config)
        seconds = time.perf_counter() - started
    metrics = json.loads(Path(result.metrics_path).read_text())
    row = {
        "seed": config.seed,
        "primary": lookup(metrics, recipe.primary),
        "primary_ci95": [lookup(metrics, (*recipe.primary[:-1], "ci95_low")), lookup(metrics, (*recipe.primary[:-1], "ci95_high"))],
        "baseline_primary": lookup(metrics.get("baseline", {}), recipe.primary),
        "best_val_roc_auc": result.best_val_roc_auc,
        "epochs": result.epochs,
        "train_seconds": round(result.seconds, 1),
        "wall_seconds": round(seconds, 1),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "test_identities": metrics.get("test_identities"),
        "test_images": metrics.get("test_images"),
        "run_folder": str(out),
        "evaluated_after_training_in_a_separate_process": bool(reused),
    }
    for name, path in METRICS.items():
        row[name] = lookup(metrics, path)
        row[f"baseline_{name}"] = lookup(metrics.get("baseline", {}), path)
    logging.getLogger("siamkit").info("%s: %s = %s (untrained %s), %.0f s", out.name, recipe.primary_label,
                                      row["primary"], row["baseline_primary"], seconds)
    return row


def mean_and_spread(rows: list[dict], key: str) -> dict | None:
    import numpy as np

    values = [row[key] for row in rows if isinstance(row.get(key), (int, float))]
    if not values:
        return None
    return {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
            "min": float(np.min(values)), "max": float(np.max(values)), "n": len(values)}


def run_recipe(recipe: Recipe, workdir: Path, reuse_trained: bool = False) -> dict:
    if recipe.folds:
        runs = [run_once(recipe, workdir / recipe.name / f"fold-{i}", {"split_by": "identity", "fold": f"{i}/{recipe.folds}"}, reuse_trained)
                for i in range(1, recipe.folds + 1)]
    elif recipe.split_seeds:
        runs = [run_once(recipe, workdir / recipe.name / f"seed-{seed}", {"seed": seed}, reuse_trained)
                for seed in recipe.split_seeds]
    else:
        runs = [run_once(recipe, workdir / recipe.name, {}, reuse_trained)]
    keys = ["primary", "baseline_primary", "best_val_roc_auc", "wall_seconds", *METRICS, *(f"baseline_{m}" for m in METRICS)]
    summary = {key: mean_and_spread(runs, key) for key in keys}
    value, baseline = summary["primary"]["mean"], summary["baseline_primary"]["mean"]
    met = value >= recipe.goal if recipe.higher_is_better else value <= recipe.goal
    beats = value > baseline if recipe.higher_is_better else value < baseline
    return {
        "recipe": recipe.name, "config": recipe.config, "data": str(recipe.data),
        "primary_metric": recipe.primary_label, "higher_is_better": recipe.higher_is_better,
        "value": value, "baseline": baseline, "goal": recipe.goal, "goal_met": bool(met),
        "beats_untrained_backbone": bool(beats), "reference": recipe.reference,
        "folds": recipe.folds, "split_seeds": list(recipe.split_seeds), "summary": summary, "runs": runs,
        "total_wall_seconds": round(sum(run["wall_seconds"] for run in runs), 1),
        "hardware": hardware(), "commit": git_commit(), "date": time.strftime("%Y-%m-%d"),
    }


def run_seed_approaches(workdir: Path) -> dict:
    """Every approach on AT&T fold 1/5 with the same images-per-epoch budget, so only how
    pairs/triplets are formed (and the loss) differs."""
    from siamkit.data.dataset import scan_dataset
    from siamkit.data.splits import make_split

    recipe = RECIPES["att-faces"]
    started = time.perf_counter()
    split = make_split(scan_dataset(recipe.data), "identity", "0.7,0.15,0.15", 0, "1/5")
    train_images = len(split.train)
    rows = {}
    for index, (name, overrides) in enumerate(SEED_APPROACHES.items()):
        per_item = 3 if overrides["loss"] == "triplet" and overrides["sampling"] == "fixed" else 2
        settings = {**SEED_COMMON, "split_by": "identity", "fold": "1/5", "pairs_per_epoch": train_images // per_item, **overrides}
        rows[name] = {"overrides": overrides, **run_once(recipe, workdir / "seeds" / f"approach-{index}", settings)}
    return {
        "recipe": "seeds", "data": str(recipe.data), "split": "AT&T faces, identity fold 1/5 (26 train / 6 val / 8 test subjects)",
        "images_per_epoch": train_images, "common": SEED_COMMON, "approaches": rows,
        "total_wall_seconds": round(time.perf_counter() - started, 1),
        "hardware": hardware(), "commit": git_commit(), "date": time.strftime("%Y-%m-%d"),
    }


def save(name: str | None = None, entry: dict | None = None) -> None:
    """Merge one recipe's entry into the JSON as it is on disk now (other scripts, such as
    train_speed.py, write their own keys meanwhile) and re-render the page."""
    from siamkit.io.atomic import write_text_atomic

    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    if name is not None:
        results[name] = entry
    write_text_atomic(RESULTS, json.dumps(results, indent=1, sort_keys=True))
    write_text_atomic(REPORT, render_markdown(results))
    print(f"wrote {RESULTS.relative_to(ROOT)} and {REPORT.relative_to(ROOT)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("recipes", nargs="*", help=f"any of: {', '.join([*RECIPES, 'seeds'])}")
    parser.add_argument("--all", action="store_true", help="every recipe and the seeds' side-by-side")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/siamkit-quality"))
    parser.add_argument("--render", action="store_true", help="only rewrite docs/benchmarks.md from the JSON")
    parser.add_argument("--reuse-trained", action="store_true",
                        help="where a run folder already holds a trained model, evaluate it instead of training again")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    if args.render:
        save()
        return 0
    chosen = [*RECIPES, "seeds"] if args.all else args.recipes
    if not chosen:
        parser.error("name a recipe or use --all")
    unknown = [name for name in chosen if name not in RECIPES and name != "seeds"]
    if unknown:
        parser.error(f"unknown recipe '{unknown[0]}'; choose from {', '.join([*RECIPES, 'seeds'])}")
    for name in chosen:
        missing = RECIPES[name].data if name in RECIPES else RECIPES["att-faces"].data
        if not missing.exists():
            print(f"{name}: dataset {missing} not found, skipped", file=sys.stderr)
            continue
        entry = run_seed_approaches(args.workdir) if name == "seeds" else run_recipe(RECIPES[name], args.workdir, args.reuse_trained)
        save(name, entry)  # after every recipe: hours of work are not lost to a later crash
    return 0


if __name__ == "__main__":
    sys.exit(main())
