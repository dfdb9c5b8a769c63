"""How close does embedding image files get to the model's own speed, and is onnxruntime faster?

(a) Images per second of ``SiameseModel.embed(paths)`` (decode + resize + normalise in
    background threads, model in the foreground) against the same model on tensors that were
    decoded beforehand. The ratio says how much of the model's speed the file pipeline keeps
    (goal: >= 0.9). For reference it also times the pipeline with exact decoding (no JPEG
    draft) and the plain torchvision one (``Preprocessing.eval_transform`` per image).
(b) Embeddings per second of onnxruntime against eager PyTorch on the same preloaded tensors,
    and the largest absolute difference between their embeddings.

All variants run in one process, interleaved round by round, and each reports its median, so
load from other processes on a shared machine hits them alike.

The model is the default backbone (tf_efficientnet_lite0 with its offline ImageNet weights,
160 px, untrained head) unless ``--model`` names a trained model folder. The images are 640x480
JPEG photos made from ../shared/data/att_faces when present (faces pasted on a textured
background), else smooth synthetic photos.

    PYTHONPATH=src python benchmarks/embed_speed.py              # 2-4 minutes on 2 busy cores
    PYTHONPATH=src python benchmarks/embed_speed.py --model runs/faces/model --images 512
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FACES = ROOT.parent / "shared" / "data" / "att_faces"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="a trained model folder (default: untrained head on the default backbone)")
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="PyTorch / onnxruntime threads (the target is 2 cores)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per variant (median reported)")
    return parser.parse_args()


def make_photos(folder: Path, count: int, width: int, height: int, seed: int = 0) -> list[str]:
    """Realistic-size JPEGs: a face (or blob) on a smooth textured background, with sensor noise."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    faces = sorted(FACES.glob("*/*.pgm")) if FACES.is_dir() else []
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        coarse = rng.integers(0, 256, size=(6, 8, 3)).astype(np.uint8)
        canvas = Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC)
        if faces:
            face = Image.open(faces[index % len(faces)]).convert("RGB")
            scale = 0.9 * height / face.height
            face = face.resize((int(face.width * scale), int(face.height * scale)), Image.Resampling.BICUBIC)
            canvas.paste(face, (int(rng.integers(0, width - face.width)), int(0.05 * height)))
        pixels = np.asarray(canvas, dtype=np.float32) + rng.normal(0, 6, (height, width, 3))
        path = folder / f"photo_{index:04d}.jpg"
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, quality=90)
        paths.append(str(path))
    return paths


def default_model_folder(folder: Path) -> Path:
    from siamkit.data.preprocessing import Preprocessing
    from siamkit.models.backbone import backbone_data_config
    from siamkit.models.model_folder import ModelConfig, save_model_folder
    from siamkit.models.network import SiameseNetwork

    network = SiameseNetwork.create("tf_efficientnet_lite0", "auto", 128, 512).eval()
    preprocessing = Preprocessing.from_timm_config(backbone_data_config(network.backbone), 160)
    config = ModelConfig("tf_efficientnet_lite0", preprocessing, 128, 512, threshold=1.0, training={"note": "untrained head (benchmark)"})
    return save_model_folder(folder, config, network.state_dict())


def torchvision_pipeline(model, paths: list[str], batch_size: int) -> None:
    """The plain way: per-image torchvision transform in a thread pool, one batch ahead."""
    from concurrent.futures import ThreadPoolExecutor

    import torch

    from siamkit.data.images import load_image
    from siamkit.inference.embedder import decode_threads

    transform = model.config.preprocessing.eval_transform()
    chunks = [paths[i : i + batch_size] for i in range(0, len(paths), batch_size)]

    def decode(chunk):
        return torch.stack(list(pool.map(lambda path: transform(load_image(path)), chunk)))

    with ThreadPoolExecutor(decode_threads()) as pool, ThreadPoolExecutor(1) as prefetch:
        pending = prefetch.submit(decode, chunks[0])
        for index in range(len(chunks)):
            batch = pending.result()
            if index + 1 < len(chunks):
                pending = prefetch.submit(decode, chunks[index + 1])
            model.embed_tensors(batch)


def timed_rounds(variants: dict, rounds: int) -> dict[str, tuple[float, float]]:
    """Median (wall seconds, CPU seconds) of each variant, interleaved round by round."""
    wall: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, run in variants.items():
            started, started_cpu = time.perf_counter(), time.process_time()
            run()
            wall[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - started_cpu)
    return {name: (statistics.median(wall[name]), statistics.median(cpu[name])) for name in variants}


def main() -> None:
    args = parse_args()
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = str(args.threads)
    sys.path.insert(0, str(ROOT / "src"))
    import torch

    torch.set_num_threads(args.threads)

    work = Path(tempfile.mkdtemp(prefix="siamkit-embed-speed-"))
    try:
        run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> None:
    import numpy as np
    import torch

    from siamkit.inference.embedder import pipelined_decode
    from siamkit.inference.siamese_model import SiameseModel

    paths = make_photos(work / "photos", args.images, args.width, args.height)
    size_kb = sum(os.path.getsize(p) for p in paths) / len(paths) / 1024
    folder = args.model or default_model_folder(work / "model")
    model = SiameseModel.load(folder, backend="torch", batch_size=args.batch_size)
    preprocessing = model.config.preprocessing
    print(f"{len(paths)} JPEG files {args.width}x{args.height} (mean {size_kb:.0f} KiB, {'AT&T faces' if FACES.is_dir() else 'synthetic'}); "
          f"model {model.config.backbone} at {preprocessing.image_size}px, D={model.embedding_dim}; batch {args.batch_size}; "
          f"{args.threads} torch threads; {os.cpu_count()} CPUs; torch {torch.__version__}")

    started = time.perf_counter()
    onnx_model = SiameseModel.load(folder, backend="onnx", batch_size=args.batch_size, jpeg_draft=True)
    load_seconds = time.perf_counter() - started
    exact = SiameseModel.load(folder, backend="onnx", batch_size=args.batch_size)
    # Preloaded, decoded exactly as Preprocessing.eval_transform does (no JPEG draft).
    tensors = [batch.images for batch in pipelined_decode(paths, preprocessing, args.batch_size, draft=False)]
    for warm in (model, onnx_model):  # allocator, thread pools, file cache
        warm.embed(paths[: args.batch_size])
    n = len(paths)

    times = timed_rounds(
        {
            "onnx tensors": lambda: [onnx_model.embed_tensors(batch) for batch in tensors],
            "onnx files": lambda: onnx_model.embed(paths),
            "onnx files exact": lambda: exact.embed(paths),
            "onnx files torchvision": lambda: torchvision_pipeline(exact, paths, args.batch_size),
            "torch tensors": lambda: [model.embed_tensors(batch) for batch in tensors],
            "torch files": lambda: model.embed(paths),
        },
        args.rounds,
    )
    rate = {name: n / wall for name, (wall, _) in times.items()}
    cpu_ms = {name: 1000 * cpu / n for name, (_, cpu) in times.items()}

    def row(label: str, name: str, reference: str | None = None) -> None:
        ratio = f"   ratio {rate[name] / rate[reference]:.3f}" if reference else ""
        print(f"    {label:<44} {rate[name]:7.1f} images/s  ({cpu_ms[name]:5.1f} CPU-ms/image){ratio}")

    print(f"(a) SiameseModel.embed(files) vs the same model on preloaded tensors (median of {args.rounds} interleaved rounds)")
    print("  onnxruntime (the default backend)")
    row("model on preloaded tensors", "onnx tensors")
    row("SiameseModel.embed(files)", "onnx files", "onnx tensors")
    row("  same, exact decode (no JPEG draft)", "onnx files exact", "onnx tensors")
    row("  torchvision eval_transform per image", "onnx files torchvision", "onnx tensors")
    print("  PyTorch eager")
    row("model on preloaded tensors", "torch tensors")
    row("SiameseModel.embed(files)", "torch files", "torch tensors")

    torch_embeddings = np.concatenate([model.embed_tensors(batch) for batch in tensors])
    onnx_embeddings = np.concatenate([onnx_model.embed_tensors(batch) for batch in tensors])
    print(f"(b) onnxruntime vs eager PyTorch on the same preloaded tensors (first ONNX load, export included: {load_seconds:.1f} s)")
    print(f"    onnxruntime {rate['onnx tensors']:.1f} vs PyTorch {rate['torch tensors']:.1f} embeddings/s: "
          f"ratio {rate['onnx tensors'] / rate['torch tensors']:.2f}; "
          f"max |onnx - torch| = {np.abs(onnx_embeddings - torch_embeddings).max():.2e}")
    drafted = onnx_model.embed(paths)
    distance = np.linalg.norm(drafted - onnx_embeddings, axis=1)
    print(f"    JPEG draft vs exact decode, same image: embedding distance mean {distance.mean():.4f}, max {distance.max():.4f} "
          f"(between different photos: median {np.median(np.linalg.norm(onnx_embeddings[1:] - onnx_embeddings[:-1], axis=1)):.4f})")


if __name__ == "__main__":
    main()
