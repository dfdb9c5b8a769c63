"""How much of a hand-written PyTorch loop's training speed does siamkit's Lightning loop keep?

(a) Training images per second of siamkit's loop (the real pieces of ``siamkit.pipelines.training_run``:
    ``_train_loader``, ``SiameseNetwork.create``, ``SiameseModule`` and the Trainer that
    ``_trainer`` builds, progress bar and callbacks included) against a loop written by hand on
    the same network, batch and DataLoader::

        for images, labels, _ in loader:
            optimizer.zero_grad()
            loss = loss_fn(network(images), labels)   # multi-similarity over all pairs
            loss.backward()
            optimizer.step()

    The ratio siamkit / bare is what the framework costs (goal: >= 0.95).
(b) The bare loop with ``channels_last`` on and off (``TrainConfig.channels_last``, on by
    default), as a ratio; ``--all-formats`` also times siamkit's loop with it off.
(c) The loops' own cost per step, on a stand-in network (a pooling layer and siamkit's head) fed
    preloaded batches: with almost no compute and no image decoding left, the difference is what
    Lightning, logging, the progress bar and the BatchNorm hook add to every step. It does not
    depend on how busy the cores are the way (a) does, so it says whether a ratio below the goal
    is the loop or the neighbours.

The model is the default recipe: tf_efficientnet_lite0 with its offline ImageNet weights and
siamkit's head, the last 3 stages trained with frozen BatchNorm statistics, multi-similarity loss
over all pairs, AdamW at lr 1e-4. Images are AT&T faces from ../shared/data/att_faces when present
(else generated ones), drawn in M-per-class batches with training augmentation by one DataLoader
(``_train_loader``, with the workers ``siamkit train`` would start) that every variant iterates.

What is timed: each round is one epoch of ``--warmup + --steps`` batches (the dataset is made
that size). A step's time is the gap between the ends of consecutive steps (Lightning's
``on_train_batch_end``, the end of the bare loop's body), so it holds everything a step costs:
waiting for the batch, hooks, logging, progress bar, forward, backward and the optimizer. The
first ``--warmup`` steps of a round (workers resuming, optimizer state allocation) are not
counted. Nothing is turned off on the Lightning side: ``_trainer`` runs unchanged with
``max_epochs=1``; its validation (one batch), checkpoints and history.csv are written once per
round, after the last training step, outside the timed steps, as in real training where they
happen once per epoch. The progress bar draws into a discarded buffer instead of the terminal.

All variants run in one process, interleaved round by round (the order reversed every other
round), and images/s comes from the median step, so load from other processes hits them alike
and a step that waited seconds for a core does not decide the comparison. Results merge into
docs/benchmarks.json under "train_speed" and docs/benchmarks.md is re-rendered (``--no-save``
leaves both alone).

On cores that other jobs share, PyTorch's default of one thread per core left the training
steps (of both loops alike) 1.5-5x slower than one thread, and the comparison swung by tens of
percent from run to run; ``--threads 1`` gives a steadier ratio there.

    .venv/bin/python benchmarks/train_speed.py      # ~4 minutes on 2 idle cores, 10+ on busy ones
    .venv/bin/python benchmarks/train_speed.py --threads 1
    .venv/bin/python benchmarks/train_speed.py --rounds 5 --steps 10 --image-size 224 --all-formats
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FACES = ROOT.parent / "shared" / "data" / "att_faces"
RESULTS = ROOT / "docs" / "benchmarks.json"
REPORT = ROOT / "docs" / "benchmarks.md"
GOAL = 0.95
IDENTITIES = 40


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=6, help="timed steps per round and variant")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps at the start of each round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=160)
    parser.add_argument("--threads", type=int, default=None, help="PyTorch threads (default: PyTorch's choice, as in siamkit train)")
    parser.add_argument("--generated", action="store_true", help="generated images even when AT&T faces are present")
    parser.add_argument("--all-formats", action="store_true", help="also time siamkit's loop with channels_last off")
    parser.add_argument("--overhead-steps", type=int, default=150, help="steps per round of (c); 0 skips it")
    parser.add_argument("--no-save", action="store_true", help="print only; leave docs/benchmarks.json and .md alone")
    args = parser.parse_args()
    if args.warmup < 1 or args.steps < 2 or args.rounds < 1:
        parser.error("--warmup must be >= 1, --steps >= 2 and --rounds >= 1")
    if args.warmup + args.steps < 4:
        parser.error("--warmup + --steps must be >= 4 (siamkit's epochs hold at least 4 batches)")
    if 0 < args.overhead_steps < 20:
        parser.error("--overhead-steps: use 0 or at least 20")
    return args


# -- data ---------------------------------------------------------------------------------------
def make_dataset(folder: Path, images: int, identities: int, generated: bool, seed: int = 0) -> str:
    """``images`` files spread over ``identities`` folders: AT&T faces (repeated when more are
    asked for than exist), else a smooth per-identity pattern with per-image noise and shift."""
    import numpy as np
    from PIL import Image

    faces = sorted(FACES.iterdir()) if FACES.is_dir() and not generated else []
    rng = np.random.default_rng(seed)
    patterns = [rng.integers(0, 256, size=(4, 4, 3)).astype(np.uint8) for _ in range(identities)]
    for index in range(images):
        identity, rank = index % identities, index // identities
        target = folder / f"id{identity:03d}"
        target.mkdir(parents=True, exist_ok=True)
        if faces:
            sources = sorted(faces[identity % len(faces)].glob("*.pgm"))
            shutil.copyfile(sources[rank % len(sources)], target / f"{rank:04d}.pgm")
            continue
        base = np.asarray(Image.fromarray(patterns[identity]).resize((92, 112), Image.Resampling.BICUBIC), dtype=np.float32)
        pixels = np.roll(base, int(rng.integers(-8, 9)), axis=1) + rng.normal(0, 12, base.shape)
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(target / f"{rank:04d}.png")
    return "AT&T faces" if faces else "generated images"


# -- the two loops ------------------------------------------------------------------------------
def siamkit_round(config, network, loader, val_loader, val_pairs, num_classes: int, run_folder: Path) -> list[tuple[float, float]]:
    """One epoch through siamkit's own Trainer and module; the (wall, CPU) time at each step's end."""
    import lightning as L

    from siamkit.training.module import SiameseModule
    from siamkit.pipelines.lightning_fit import _trainer

    class StepClock(L.Callback):
        def __init__(self):
            self.ends: list[tuple[float, float]] = []

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_index):
            self.ends.append((time.perf_counter(), time.process_time()))

    trainer, _ = _trainer(config, run_folder, "cpu", run_folder / "history.csv")
    clock = StepClock()
    trainer.callbacks.append(clock)
    module = SiameseModule(config, network, num_classes, val_pairs)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):  # the progress bar
        # The same two filters as run.train, and two about the benchmark's own setup.
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        warnings.filterwarnings("ignore", ".*number of training batches.*")
        warnings.filterwarnings("ignore", ".*module\\(s\\) in eval mode.*")  # frozen BatchNorm, from round 2 on
        warnings.filterwarnings("ignore", ".*LeafSpec.*")
        trainer.fit(module, loader, val_loader)
    return clock.ends


def bare_round(network, loader, channels_last: bool, config) -> list[tuple[float, float]]:
    """One epoch of the hand-written loop; the (wall, CPU) time at each step's end."""
    import torch
    from pytorch_metric_learning import losses

    loss_fn = losses.MultiSimilarityLoss(alpha=2, beta=50, base=0.5)  # no indices: all pairs
    trainable = [p for p in network.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, eps=config.eps, weight_decay=config.weight_decay)
    network.train()  # SiameseNetwork.train keeps the frozen BatchNorm layers in eval mode
    ends = []
    for images, labels, _ in loader:
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        optimizer.zero_grad()
        loss = loss_fn(network(images), labels)
        loss.backward()
        optimizer.step()
        ends.append((time.perf_counter(), time.process_time()))
    return ends


def step_durations(ends: list[tuple[float, float]], warmup: int) -> list[tuple[float, float]]:
    """(wall, main-process CPU) seconds of each step after the warm-up steps. The DataLoader
    worker's CPU time is not in it; it is the same for every loop."""
    return [(wall - wall_before, cpu - cpu_before) for (wall_before, cpu_before), (wall, cpu) in zip(ends[warmup - 1 : -1], ends[warmup:])]


def run_interleaved(variants: dict, rounds: int, batches: int, warmup: int, verbose: bool) -> dict[str, list[tuple[float, float]]]:
    """Steady-state step durations of each variant, round by round, the order reversed every other round."""
    steps: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for round_index in range(rounds):
        order = list(variants) if round_index % 2 == 0 else list(variants)[::-1]
        for name in order:
            started = time.perf_counter()
            ends = variants[name]()
            assert len(ends) == batches, (name, len(ends), batches)
            durations = step_durations(ends, warmup)
            steps[name] += durations
            if verbose:
                print(f"  round {round_index + 1} {name:<20} steps {' '.join(f'{wall:.2f}' for wall, _ in durations)} s  "
                      f"(round {time.perf_counter() - started:5.1f} s)", flush=True)
    return steps


# -- (c) the loops' own cost ----------------------------------------------------------------------
def loop_overhead(config, rounds: int, steps: int) -> dict[str, float]:
    """Median milliseconds per step of both loops on a stand-in network and preloaded batches."""
    import numpy as np
    import torch
    from torch import nn
    from torch.utils.data import DataLoader

    from siamkit.models.network import SiameseNetwork
    from siamkit.training.config import TrainConfig

    class PooledPixels(nn.Module):
        """Stands in for the backbone: 3 features per image, no weights."""

        num_features = 3

        def forward(self, images):
            return images.mean((2, 3))

    batch, per_identity = config.batch_size, config.m_per_class
    labels = torch.arange(batch // per_identity).repeat_interleave(per_identity)
    generator = torch.Generator().manual_seed(0)
    preloaded = [(torch.randn(batch, 3, 16, 16, generator=generator), labels, torch.arange(batch) + batch * i) for i in range(steps)]
    loader = DataLoader(preloaded, batch_size=None)  # a list would be read as several loaders
    val_loader = DataLoader(preloaded[:1], batch_size=None)
    val_pairs = np.array([[0, 1, 1], [0, per_identity, 0]])
    stand_in = TrainConfig(**{**config.to_dict(), "channels_last": False})
    warmup = 10
    with tempfile.TemporaryDirectory(prefix="siamkit-loop-overhead-") as folder:
        counter = iter(range(10**6))
        variants = {
            "siamkit": lambda: siamkit_round(stand_in, SiameseNetwork(PooledPixels()), loader, val_loader, val_pairs,
                                             len(labels.unique()), Path(folder) / f"run{next(counter)}"),
            "bare": lambda: bare_round(SiameseNetwork(PooledPixels()), loader, False, stand_in),
        }
        durations = run_interleaved(variants, rounds, steps, warmup, verbose=False)
    return {name: 1000 * statistics.median(wall for wall, _ in values) for name, values in durations.items()}


# -- report -------------------------------------------------------------------------------------
def hardware() -> dict:
    import torch

    model = platform.processor() or ""
    try:
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": model, "cores": os.cpu_count(), "gpu": gpu, "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "python": platform.python_version()}


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def markdown(entry: dict) -> list[str]:
    setup, hw, rates, ratios = entry["setup"], entry["hardware"], entry["images_per_second"], entry["ratios"]
    threads = f"{hw['torch_threads']} thread(s)"
    if hw.get("torch_default_threads", hw["torch_threads"]) != hw["torch_threads"]:
        threads += f" (`--threads {hw['torch_threads']}`; its default here is {hw['torch_default_threads']})"
    lines = [
        "## Training speed", "",
        f"Written by `benchmarks/train_speed.py`; {entry['date']}, commit {entry['commit']}, {hw['cores']} cores ({hw['cpu']}), "
        f"{hw['gpu'] or 'no GPU'} (CPU training), torch {hw['torch']} with {threads}; load average "
        f"{entry['load_average'][0]:.1f} before, {entry['load_average'][1]:.1f} after.",
        "",
        f"{setup['backbone']} + siamkit's head (last {setup['trainable_stages']} stages trained, frozen BatchNorm statistics), "
        f"multi-similarity loss over all pairs, AdamW; batches of {setup['batch_size']} at {setup['image_size']} px, "
        f"M-per-class from {setup['data']} with augmentation, one DataLoader ({setup['workers']} worker) for every loop. "
        f"images/s from the median of {setup['rounds']} interleaved rounds x {setup['steps']} steps (after {setup['warmup']} "
        "warm-up steps per round). siamkit's loop is `siamkit.pipelines.training_run`'s Trainer and module, unchanged (progress bar "
        "and callbacks on; validation and checkpoints come after the timed steps); the bare loop is zero_grad, forward, "
        "loss, backward, step.",
        "",
        "| loop | channels_last | images/s | s/step | vs bare loop, same format |",
        "|---|---|---|---|---|",
    ]
    for name, row in entry["variants"].items():
        versus = f"{row['vs_reference']:.3f}" if row["reference"] else "–"
        lines.append(f"| {row['loop']} | {'on' if row['channels_last'] else 'off'} | {rates[name]:.1f} | "
                     f"{setup['batch_size'] / rates[name]:.2f} | {versus} |")
    lines += [
        "",
        f"siamkit / bare loop: **{ratios['siamkit_over_bare']:.3f}** (goal ≥ {GOAL}: {'met' if ratios['goal_met'] else 'not met'}); "
        f"channels_last on / off (bare loop): **{ratios['channels_last_on_over_off']:.3f}**.",
    ]
    if entry["load_average"][0] > hw["cores"]:
        lines += ["", "Other work shared the cores (load average above the core count): a step now and then waited for a "
                  "core, so this ratio moves between runs; the loops' own cost below is what such load hardly moves."]
    overhead = entry.get("loop_overhead_ms")
    if overhead:
        extra = overhead["siamkit"] - overhead["bare"]
        lines += [
            "",
            f"The loops' own cost per step (stand-in network, preloaded batches): siamkit {overhead['siamkit']:.1f} ms, "
            f"bare {overhead['bare']:.1f} ms; the {extra:.1f} ms difference is "
            f"{100 * extra * rates['bare'] / (1000 * setup['batch_size']):.2f} % of a real bare step.",
        ]
    return lines + [""]


def save(entry: dict) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from quality_report import render_markdown

    from siamkit.io.atomic import write_text_atomic

    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    results["train_speed"] = entry
    write_text_atomic(RESULTS, json.dumps(results, indent=1, sort_keys=True))
    write_text_atomic(REPORT, render_markdown(results))
    print(f"wrote {RESULTS.relative_to(ROOT)} and {REPORT.relative_to(ROOT)}")


# -- main ---------------------------------------------------------------------------------------
def main() -> int:
    args = parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    import torch

    default_threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="siamkit-train-speed-"))
    try:
        entry = run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    entry["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    entry["hardware"]["torch_default_threads"] = default_threads
    entry["markdown"] = markdown(entry)
    print(f"load average {entry['load_average'][0]:.2f} before, {entry['load_average'][1]:.2f} after")
    if not args.no_save:
        save(entry)
    return 0


def run(args: argparse.Namespace, work: Path) -> dict:
    import logging

    import torch

    from siamkit.data.dataset import scan_dataset
    from siamkit.data.preprocessing import Preprocessing
    from siamkit.models.backbone import backbone_data_config
    from siamkit.models.network import SiameseNetwork
    from siamkit.training.config import TrainConfig
    from siamkit.pipelines.lightning_fit import _train_loader, _val_loader, _validation_pairs, _workers

    logging.getLogger("siamkit").setLevel(logging.WARNING)
    config = TrainConfig(batch_size=args.batch_size, image_size=args.image_size, max_epochs=1, device="cpu").validate()
    batches = args.warmup + args.steps
    data = make_dataset(work / "train", batches * args.batch_size, IDENTITIES, args.generated)
    make_dataset(work / "val", args.batch_size, 4, args.generated)  # one batch, so the callbacks get their metric
    train_set, val_set = scan_dataset(work / "train"), scan_dataset(work / "val")

    base = SiameseNetwork.create(
        config.backbone, config.pretrained, config.embedding_dim, config.hidden_dim,
        trainable_stages=config.trainable_stages, freeze_bn_stats=config.freeze_bn_stats,
    )
    preprocessing = Preprocessing.from_timm_config(backbone_data_config(base.backbone), config.image_size)
    loader = _train_loader(train_set, preprocessing, config)
    assert len(loader) == batches, (len(loader), batches)
    val_loader, val_labels = _val_loader(val_set, preprocessing, config)
    val_pairs = _validation_pairs(val_labels, config.seed)
    num_classes = len(train_set.identities())
    batch = loader.batch_size

    # One starting point; each variant trains its own copy. run.train converts the network to
    # channels_last when the config says so, and so does the hand-written loop.
    def network(channels_last: bool):
        copied = copy.deepcopy(base)
        return copied.to(memory_format=torch.channels_last) if channels_last else copied

    contiguous = TrainConfig(**{**config.to_dict(), "channels_last": False})
    counter = iter(range(10**6))
    rows = {
        "siamkit": dict(loop="siamkit (Lightning)", channels_last=True, reference="bare"),
        "bare": dict(loop="bare PyTorch loop", channels_last=True, reference=None),
        **({"siamkit contiguous": dict(loop="siamkit (Lightning)", channels_last=False, reference="bare contiguous")}
           if args.all_formats else {}),
        "bare contiguous": dict(loop="bare PyTorch loop", channels_last=False, reference=None),
    }
    networks = {name: network(row["channels_last"]) for name, row in rows.items()}

    def variant(name: str):
        row, net = rows[name], networks[name]
        if row["loop"].startswith("siamkit"):
            settings = config if row["channels_last"] else contiguous
            return lambda: siamkit_round(settings, net, loader, val_loader, val_pairs, num_classes, work / f"run{next(counter)}")
        return lambda: bare_round(net, loader, row["channels_last"], config)

    print(f"{config.backbone} + head, last {config.trainable_stages} stages trained; multi-similarity, all pairs; AdamW; "
          f"batch {batch} at {config.image_size}px; {data}, {len(train_set)} images / {num_classes} identities; "
          f"{_workers(config)} DataLoader worker(s); {torch.get_num_threads()} torch threads; {os.cpu_count()} CPUs; "
          f"torch {torch.__version__}; load average {os.getloadavg()[0]:.1f}")
    print(f"(a, b) {args.rounds} interleaved rounds x {len(rows)} variants, {args.steps} timed steps each after {args.warmup} warm-up steps")
    steps = run_interleaved({name: variant(name) for name in rows}, args.rounds, batches, args.warmup, verbose=True)

    # The median step, not the mean: on shared cores a step now and then waits seconds for a
    # core, and one such stall in a short round would decide the comparison.
    rate = {name: batch / statistics.median(wall for wall, _ in values) for name, values in steps.items()}
    mean_rate = {name: batch * len(values) / sum(wall for wall, _ in values) for name, values in steps.items()}
    cpu_ms = {name: 1000 * statistics.median(cpu for _, cpu in values) / batch for name, values in steps.items()}
    print(f"\n{'loop':<22} {'channels_last':<14} {'images/s':>9} {'s/step':>7} {'CPU-ms/image':>13} {'mean images/s':>14}")
    for name, row in rows.items():
        print(f"{row['loop']:<22} {'on' if row['channels_last'] else 'off':<14} {rate[name]:9.1f} {batch / rate[name]:7.2f} "
              f"{cpu_ms[name]:13.1f} {mean_rate[name]:14.1f}")
    print(f"(images/s from the median of {args.rounds} x {args.steps} steps; mean images/s counts stalls too; "
          "CPU-ms/image is the main process's)")
    for name, row in rows.items():
        row["vs_reference"] = round(rate[name] / rate[row["reference"]], 4) if row["reference"] else None
    ratio = rate["siamkit"] / rate["bare"]
    formats = rate["bare"] / rate["bare contiguous"]
    print(f"\nsiamkit / bare loop (channels_last on): {ratio:.3f}  (goal >= {GOAL}: {'met' if ratio >= GOAL else 'NOT met'}); "
          f"by mean images/s {mean_rate['siamkit'] / mean_rate['bare']:.3f}")
    if args.all_formats:
        print(f"siamkit / bare loop (channels_last off): {rate['siamkit contiguous'] / rate['bare contiguous']:.3f}")
    print(f"channels_last on / off (bare loop): {formats:.3f}")

    overhead = None
    if args.overhead_steps:
        overhead = loop_overhead(config, args.rounds, args.overhead_steps)
        extra = overhead["siamkit"] - overhead["bare"]
        print(f"(c) loop cost per step on a stand-in network: siamkit {overhead['siamkit']:.1f} ms, bare {overhead['bare']:.1f} ms; "
              f"the difference is {100 * extra / (1000 * batch / rate['bare']):.2f} % of a real bare step")

    return {
        "date": time.strftime("%Y-%m-%d"), "commit": git_commit(), "hardware": hardware(),
        "setup": {"backbone": config.backbone, "trainable_stages": config.trainable_stages, "batch_size": batch,
                  "image_size": config.image_size, "data": data, "workers": _workers(config), "rounds": args.rounds,
                  "steps": args.steps, "warmup": args.warmup},
        "variants": rows,
        "images_per_second": {name: round(value, 2) for name, value in rate.items()},
        "mean_images_per_second": {name: round(value, 2) for name, value in mean_rate.items()},
        "cpu_ms_per_image": {name: round(value, 2) for name, value in cpu_ms.items()},
        "step_seconds": {name: [round(wall, 3) for wall, _ in values] for name, values in steps.items()},
        "ratios": {"siamkit_over_bare": round(ratio, 4), "channels_last_on_over_off": round(formats, 4),
                   "goal": GOAL, "goal_met": ratio >= GOAL},
        "loop_overhead_ms": {name: round(value, 2) for name, value in overhead.items()} if overhead else None,
    }


if __name__ == "__main__":
    sys.exit(main())
