"""``siamkit compare``, ``embed``, ``search`` and ``export``: using a trained model.

Each command is a few lines over :class:`SiameseModel` and :class:`GalleryIndex`. Inputs are
checked (and the model id of an index compared) before anything is written, and every file is
written atomically, so a bad input ends with one error line and leaves no half-written output.
Building indexes (``siamkit index``, ``merge-index``) lives in ``index_commands``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import List, Optional

import typer

from siamkit.cli import index_commands

log = logging.getLogger("siamkit")

BACKEND_HELP = "auto (onnxruntime when installed) | onnx | torch."


def register(app: typer.Typer) -> None:
    app.command("compare")(compare_command)
    app.command("embed")(embed_command)
    index_commands.register(app)
    app.command("search")(search_command)
    app.command("export")(export_command)


def _progress():
    """A bar on a terminal, a log line per tenth of a long job elsewhere, nothing with -q."""
    from siamkit.io.terminal import progress_mode

    return progress_mode()


def _load_model(folder: Path, backend: str):
    from siamkit.inference.siamese_model import SiameseModel

    return SiameseModel.load(folder, backend=backend)


def compare_command(
    model: Path = typer.Argument(..., help="Model folder (config.json + model.safetensors)."),
    first: Path = typer.Argument(..., help="First image."),
    second: Path = typer.Argument(..., help="Second image."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    backend: str = typer.Option("auto", help=BACKEND_HELP),
) -> None:
    """How alike two images are: distance, similarity and same/different at the model's threshold."""
    import time

    started = time.perf_counter()
    loaded = _load_model(model, backend)
    log.debug("%s: %s backend, loaded in %.2f s", model, loaded.backend, time.perf_counter() - started)
    result = loaded.compare(first, second)
    log.debug("compared in %.3f s", time.perf_counter() - started)
    if as_json:
        typer.echo(json.dumps({"a": str(first), "b": str(second), **result.to_dict()}))
        return
    verdict = "same" if result.same else "different"
    typer.echo(f"{verdict}: distance {result.distance:.4f} (threshold {result.threshold:.4f}), similarity {result.similarity:.4f}")


def embed_command(
    model: Path = typer.Argument(..., help="Model folder."),
    images: Path = typer.Argument(
        ..., help="Images to embed: any dataset siamkit train accepts (folder: label = folder; CSV listing; IDX folder), or one image."
    ),
    out: Path = typer.Option(..., "--out", help="FILE.npy (with FILE.json listing paths and labels), or FILE.parquet if pyarrow is installed."),
    backend: str = typer.Option("auto", help=BACKEND_HELP),
) -> None:
    """Embed every image of a dataset (folder, CSV listing, IDX folder) into an (n, D) array."""
    from siamkit.errors import SiamkitError
    from siamkit.inference.gallery import gallery_images
    from siamkit.io.outputs import check_output_file

    suffix = out.suffix.lower()
    if suffix not in (".npy", ".parquet"):
        raise SiamkitError(f"--out {out}: give a .npy file (or .parquet, with pyarrow installed)")
    check_output_file(out)
    if suffix == ".npy":
        check_output_file(out.with_suffix(".json"), "--out (its listing)")
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise SiamkitError(f"--out {out}: writing parquet needs pyarrow (pip install pyarrow); or use .npy") from None
    found = gallery_images(images)
    loaded = _load_model(model, backend)
    embedded = loaded.embed_readable([path for path, _ in found], progress=_progress())
    index_commands.warn_skipped(embedded.errors)
    if not embedded.positions:
        raise SiamkitError(f"{images}: none of the {len(found)} image(s) could be decoded")
    rows = [found[position] for position in embedded.positions]
    if suffix == ".parquet":
        _write_parquet(out, embedded.embeddings, rows, loaded)
        typer.echo(f"embedded {len(rows)} images -> {out}")
    else:
        listing = _write_npy(out, embedded.embeddings, rows, loaded)
        typer.echo(f"embedded {len(rows)} images -> {out} (paths and labels: {listing})")


def _write_npy(out: Path, embeddings, rows, model) -> Path:
    import numpy as np

    from siamkit.io.atomic import atomic_path, write_text_atomic

    listing = out.with_suffix(".json")
    with atomic_path(out) as temporary, open(temporary, "wb") as handle:
        np.save(handle, embeddings)
    description = {
        "embeddings": out.name,
        "model_id": model.model_id,
        "model_folder": str(Path(model.folder).resolve()),
        "embedding_dim": int(embeddings.shape[1]),
        "paths": [path for path, _ in rows],
        "labels": [label for _, label in rows],
    }
    write_text_atomic(listing, json.dumps(description, indent=1))
    return listing


def _write_parquet(out: Path, embeddings, rows, model) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from siamkit.io.atomic import atomic_path

    table = pa.table(
        {
            "path": [path for path, _ in rows],
            "label": [label for _, label in rows],
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(embeddings.reshape(-1)), embeddings.shape[1]),
        }
    ).replace_schema_metadata({"siamkit.model_id": model.model_id})
    with atomic_path(out) as temporary:
        pq.write_table(table, temporary)


def _model_for(index_path: Path, model: Optional[Path]) -> Path:
    from siamkit.errors import SiamkitError

    if model is not None:
        return model
    note = index_commands.note_path(index_path)
    try:
        folder = Path(json.loads(note.read_text(encoding="utf-8"))["model_folder"])
    except (OSError, ValueError, KeyError, TypeError):
        raise SiamkitError(f"index {index_path}: no record of the model that built it ({note.name}); pass --model MODEL") from None
    if not folder.is_dir():
        raise SiamkitError(f"index {index_path} was built by {folder}, which no longer exists; pass --model MODEL")
    return folder


def search_command(
    index: Path = typer.Argument(..., help="Index file written by siamkit index."),
    queries: List[Path] = typer.Argument(..., help="Query image(s), or folders: every image in them."),
    k: int = typer.Option(10, "-k", "--top", help="Hits per query."),
    as_json: bool = typer.Option(False, "--json", help="Print the hits as JSON."),
    grid: Optional[Path] = typer.Option(None, "--grid", help="Also draw queries and hits into this PNG."),
    model: Optional[Path] = typer.Option(None, "--model", help="Model folder [default: the one that built the index]."),
    backend: str = typer.Option("auto", help=BACKEND_HELP),
) -> None:
    """The gallery images most similar to each query image, and whether each is a match at the model's threshold."""
    from siamkit.errors import SiamkitError
    from siamkit.io.outputs import check_output_file
    from siamkit.models.model_folder import model_identity, read_model_config
    from siamkit.search import GalleryIndex

    if k < 1:
        raise SiamkitError(f"-k {k}: must be at least 1")
    if grid is not None:
        check_output_file(grid, "--grid")
    queries = query_images(queries)
    gallery = GalleryIndex.load(index)
    folder = _model_for(index, model)
    read_model_config(folder)
    gallery.check_model(model_identity(folder))
    loaded = _load_model(folder, backend)
    results = loaded.bind(gallery).search_images([str(query) for query in queries], k)
    results = [mark_matches(hits, loaded.threshold) for hits in results]
    if grid is not None:
        _draw_grid(grid, queries, results, loaded.threshold)
    if as_json:
        typer.echo(json.dumps([{"query": str(query), "hits": hits} for query, hits in zip(queries, results)], indent=1))
        return
    match_at = f"(match at >= {similarity_at_threshold(loaded.threshold):.4f})"
    for query, hits in zip(queries, results):
        typer.echo(f"{query}:")
        for rank, hit in enumerate(hits, start=1):
            label = f" [{hit['label']}]" if hit["label"] else ""
            verdict = "same     " if hit["same"] else "different"
            typer.echo(
                f"  {rank:>3}. {verdict}  distance {hit['distance']:.4f}  similarity {hit['similarity']:.4f} {match_at}  {hit['path']}{label}"
            )


def mark_matches(hits: list[dict], threshold: float) -> list[dict]:
    """Each hit with ``same``: distance <= the model's threshold, the rule ``compare`` applies."""
    return [{**hit, "same": bool(hit["distance"] <= threshold)} for hit in hits]


def similarity_at_threshold(threshold: float) -> float:
    """The similarity a hit needs to be a match: the threshold on distance, in similarity's units.

    A similarity of 0.89 reads like a match to most people; next to "match at >= 0.90" it does not.
    """
    from siamkit.distances import distance_to_similarity

    return float(distance_to_similarity(threshold))


def query_images(queries: List[Path]) -> List[Path]:
    """The query images: files as given, and every image under a folder (sorted)."""
    from siamkit.data.images import is_image_file
    from siamkit.errors import SiamkitError

    found: List[Path] = []
    for query in queries:
        if not query.is_dir():
            found.append(query)
            continue
        images = sorted(path for path in query.rglob("*") if path.is_file() and is_image_file(path))
        if not images:
            raise SiamkitError(f"{query}: no image files in this query folder")
        found.extend(images)
    return found


def _draw_grid(grid: Path, queries, results, threshold: float) -> None:
    from siamkit.evaluation.plots import plot_retrieval_grid
    from siamkit.io.atomic import atomic_path

    with atomic_path(grid) as temporary:
        plot_retrieval_grid(
            temporary,
            [str(query) for query in queries],
            [[hit["path"] for hit in hits] for hits in results],
            [[hit["same"] for hit in hits] for hits in results],
            [[hit["distance"] for hit in hits] for hits in results],
            title=f"Search hits (green: distance <= {threshold:.3f})",
        )


def export_command(
    model: Path = typer.Argument(..., help="Model folder."),
    onnx: Path = typer.Option(..., "--onnx", help="ONNX file to write."),
) -> None:
    """Write the network as ONNX: images (N, C, S, S) -> L2-normalised embeddings (N, D); C is 3, or 1 for a grey-scale backbone."""
    from siamkit.io.outputs import check_output_file

    check_output_file(onnx, "--onnx")
    loaded = _load_model(model, "torch")
    path = loaded.export_onnx(onnx)
    size = loaded.config.preprocessing.image_size
    typer.echo(f"exported {path} (input 'images' N x {loaded.config.preprocessing.in_chans} x {size} x {size}, output 'embeddings' N x {loaded.embedding_dim})")
