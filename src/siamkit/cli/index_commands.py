"""``siamkit index`` and ``siamkit merge-index``: gallery indexes, built whole or in shards.

``siamkit index MODEL GALLERY --out INDEX`` embeds the gallery in chunks saved beside the output
(``INDEX.chunks/``), so a run that is killed picks up where it stopped when the same command is
run again; the chunks are removed once the index is written. ``--update`` instead refreshes an
existing index, embedding only new or changed images.

For galleries too large for one machine or one sitting, ``--shard I/N`` embeds only shard I of
N into a shard file (resumable in the same way), and ``siamkit merge-index SHARD... --out
INDEX`` joins the N shard files into the index a one-go build would have written, after
checking that they come from one model and one gallery listing and that none is missing,
doubled or damaged.

An index remembers which model folder built it in a small note next to it (``INDEX.model.json``),
so ``siamkit search`` needs ``--model`` only when the index was moved without its note.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import List, Optional

import typer

log = logging.getLogger("siamkit")

BACKEND_HELP = "auto (onnxruntime when installed) | onnx | torch."


def register(app: typer.Typer) -> None:
    app.command("index")(index_command)
    app.command("merge-index")(merge_index_command)


def _progress():
    """A bar on a terminal, a log line per tenth of a long job elsewhere, nothing with -q."""
    from siamkit.io.terminal import progress_mode

    return progress_mode()


def index_command(
    model: Path = typer.Argument(..., help="Model folder."),
    gallery: Path = typer.Argument(
        ..., help="Gallery: any dataset siamkit train accepts (folder: label = the image's folder; CSV listing; IDX folder)."
    ),
    out: Path = typer.Option(..., "--out", help="Index file to write (with --shard: the shard file)."),
    kind: Optional[str] = typer.Option(None, help="exact (default) | hnsw | ivf."),
    update: bool = typer.Option(False, "--update", help="If --out exists, embed only new or changed images."),
    shard: Optional[str] = typer.Option(
        None, "--shard", help="I/N: embed only shard I (0 to N-1) of N into a shard file; join the N files with siamkit merge-index."
    ),
    chunk_size: int = typer.Option(2048, "--chunk-size", help="Images per saved step: a killed run, started again, resumes from the last one."),
    backend: str = typer.Option("auto", help=BACKEND_HELP),
) -> None:
    """Build (or with --update, refresh) a search index over a gallery (folder, CSV, IDX); resumable."""
    from siamkit.errors import SiamkitError
    from siamkit.io.outputs import check_output_file
    from siamkit.search import INDEX_KINDS

    if kind is not None and kind not in INDEX_KINDS:
        raise SiamkitError(f"--kind {kind}: choose one of {', '.join(INDEX_KINDS)}")
    if out.is_dir():
        raise SiamkitError(f"--out {out}: is a folder; give an index file name")
    check_output_file(out)
    if chunk_size < 1:
        raise SiamkitError(f"--chunk-size {chunk_size}: must be at least 1")
    if shard is not None:
        if update or kind is not None:
            raise SiamkitError(f"--shard: {'--update' if update else '--kind'} does not apply to a shard; choose the kind with siamkit merge-index --kind")
        _index_shard(model, gallery, out, shard, chunk_size, backend)
    elif update and out.exists():
        _update_index(model, gallery, out, kind, backend)
    else:
        _build_index(model, gallery, out, kind, chunk_size, backend)


def _build_index(model: Path, gallery: Path, out: Path, kind: Optional[str], chunk_size: int, backend: str) -> None:
    from siamkit.inference.embedding_chunks import progress_folder, remove_progress
    from siamkit.inference.gallery_shards import ShardSpec, embed_gallery_shard, list_gallery
    from siamkit.search.shard_merge import merge_shards, skipped_images

    listing = list_gallery(gallery)  # an empty or missing gallery is reported before torch is even imported
    loaded = _load_model(model, backend)
    chunks = progress_folder(out)
    counts: dict = {}
    whole = embed_gallery_shard(loaded, listing, ShardSpec(0, 1), chunks, chunk_size, progress=_progress(), counts=counts)
    warn_skipped(skipped_images([whole]))
    if not len(whole.positions):
        remove_progress(chunks)  # nothing to resume: every image was tried
    index = merge_shards([whole], kind=kind or "exact")
    _save_index(index, out, str(loaded.folder), loaded.model_id)
    remove_progress(chunks)
    resumed = f", {counts['resumed']} by the interrupted earlier run" if counts["resumed"] else ""
    typer.echo(f"indexed {len(index)} images ({index.kind}; embedded {counts['embedded']}{resumed}, removed 0, unchanged 0) -> {out}")


def _update_index(model: Path, gallery: Path, out: Path, kind: Optional[str], backend: str) -> None:
    from siamkit.inference.gallery import build_gallery_index, gallery_images
    from siamkit.models.model_folder import model_identity, read_model_config
    from siamkit.search import GalleryIndex

    images = gallery_images(gallery)
    existing = GalleryIndex.load(out)
    read_model_config(model)  # a clear error for a folder that is not a model, before the id
    existing.check_model(model_identity(model))  # before loading (and maybe exporting) the model
    loaded = _load_model(model, backend)
    index = build_gallery_index(loaded, gallery, kind=kind, existing=existing, progress=_progress(), images=images)
    _save_index(index, out, str(loaded.folder), loaded.model_id)
    counts = index.update_counts
    change = f"embedded {counts['embedded']}, removed {counts['removed']}, unchanged {counts['unchanged']}"
    typer.echo(f"indexed {len(index)} images ({index.kind}; {change}) -> {out}")


def _index_shard(model: Path, gallery: Path, out: Path, shard: str, chunk_size: int, backend: str) -> None:
    from siamkit.inference.embedding_chunks import progress_folder, remove_progress
    from siamkit.inference.gallery_shards import ShardSpec, embed_gallery_shard, list_gallery
    from siamkit.search.shard_merge import skipped_images

    spec = ShardSpec.parse(shard)
    listing = list_gallery(gallery)
    loaded = _load_model(model, backend)
    chunks = progress_folder(out)
    part = embed_gallery_shard(loaded, listing, spec, chunks, chunk_size, progress=_progress())
    warn_skipped(skipped_images([part]))
    part.save(out)
    remove_progress(chunks)
    typer.echo(f"shard {spec}: embedded {len(part.positions)} of the gallery's {len(listing)} images -> {out}")


def merge_index_command(
    shards: List[Path] = typer.Argument(..., help="Every shard file written by siamkit index --shard I/N (all N of them)."),
    out: Path = typer.Option(..., "--out", help="Index file to write."),
    kind: Optional[str] = typer.Option(None, help="exact (default) | hnsw | ivf."),
    gallery: Optional[Path] = typer.Option(
        None, "--gallery", help="Where the merged index finds the images [default: the folder the shards were embedded from]."
    ),
) -> None:
    """Join the shard files of a gallery into one search index, as if embedded in one go."""
    from siamkit.errors import SiamkitError
    from siamkit.io.outputs import check_output_file
    from siamkit.search import INDEX_KINDS
    from siamkit.search.shard_merge import load_shards, merge_shards

    if kind is not None and kind not in INDEX_KINDS:
        raise SiamkitError(f"--kind {kind}: choose one of {', '.join(INDEX_KINDS)}")
    if out.is_dir():
        raise SiamkitError(f"--out {out}: is a folder; give an index file name")
    check_output_file(out)
    parts = load_shards(shards)
    index = merge_shards(parts, kind=kind or "exact", gallery=gallery)
    skipped = sum(len(part.skipped) for part in parts)
    _save_index(index, out, parts[0].model_folder, parts[0].model_id)
    note = f", {skipped} unreadable image(s) left out" if skipped else ""
    typer.echo(f"indexed {len(index)} images ({index.kind}; merged {len(parts)} shards{note}) -> {out}")


def _load_model(folder: Path, backend: str):
    from siamkit.inference.siamese_model import SiameseModel

    return SiameseModel.load(folder, backend=backend)


def warn_skipped(errors: dict) -> None:
    """One warning line for the images that could not be decoded (the first few named)."""
    if errors:
        reasons = list(errors.values())
        log.warning("skipped %d unreadable image(s): %s", len(reasons), "; ".join(reasons[:5]) + (" ..." if len(reasons) > 5 else ""))


def _save_index(index, out: Path, model_folder: str, model_id: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    index.save(out)
    remember_model(out, model_folder, model_id)


def note_path(index_path: Path) -> Path:
    return index_path.with_name(index_path.name + ".model.json")


def remember_model(index_path: Path, model_folder: str, model_id: str) -> None:
    from siamkit.io.atomic import write_text_atomic

    note = {"model_folder": str(Path(model_folder).resolve()), "model_id": model_id}
    try:
        write_text_atomic(note_path(index_path), json.dumps(note, indent=1))
    except OSError as exc:  # the index itself is complete; searching just needs --model then
        log.warning("could not note the model folder next to %s (%s); search with --model", index_path, exc)
