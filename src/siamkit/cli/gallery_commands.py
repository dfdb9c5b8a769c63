"""``siamkit gallery add|remove|list|import`` and ``siamkit keys add``: the living gallery's store
from the command line (the same store ``siamkit serve --gallery STORE`` serves and enrolls into).

STORE is an SQLite file (created by the first ``add`` or ``import``) or a ``postgresql://`` URL.
A running server sees what these commands write within a fraction of a second.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from pathlib import Path
from typing import List, Optional

import typer

log = logging.getLogger("siamkit")

STORE_HELP = "Gallery store: an SQLite file, or a postgresql://USER@HOST/DB URL."

gallery_app = typer.Typer(help="Enroll, remove and list images in a gallery store (what siamkit serve --gallery serves).", no_args_is_help=True)
keys_app = typer.Typer(help="API keys for siamkit serve --api-keys.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    from siamkit.cli.help_format import SiamkitCommand, SiamkitGroup

    for group in (gallery_app, keys_app):
        for command in group.registered_commands:
            command.cls = SiamkitCommand
    app.add_typer(gallery_app, name="gallery", cls=SiamkitGroup)
    app.add_typer(keys_app, name="keys", cls=SiamkitGroup)


@gallery_app.command("add")
def add_command(
    store: str = typer.Argument(..., help=STORE_HELP),
    images: List[Path] = typer.Argument(..., help="Image files, or one gallery (folder of identity folders, CSV listing, IDX folder)."),
    model: Path = typer.Option(..., "--model", help="Model folder; the store keeps this model's embeddings only."),
    label: Optional[str] = typer.Option(None, "--label", help="Identity of every image given (default: each image's folder name)."),
    metadata: str = typer.Option("", "--metadata", help='JSON object kept with each image, such as {"camera": "north gate"}.'),
    backend: str = typer.Option("auto", help="auto (onnxruntime when installed) | onnx | torch."),
) -> None:
    """Embed images and enroll them, all in one transaction (an unreadable image: nothing added)."""
    from siamkit.gallery import NewItem, open_store
    from siamkit.gallery.records import check_label, check_metadata
    from siamkit.inference.gallery import gallery_images
    from siamkit.inference.siamese_model import SiameseModel

    extra = check_metadata(metadata)
    if label is not None:
        label = check_label(label)
    listed = gallery_images(images[0] if len(images) == 1 else images)
    loaded = SiameseModel.load(model, backend=backend)
    gallery = open_store(store, create=True, model_id=loaded.model_id, embedding_dim=loaded.embedding_dim)
    with gallery:
        paths = [path for path, _ in listed]
        embeddings = loaded.embed(paths, progress=len(paths) >= 1000)
        items = []
        for (path, own_label), embedding in zip(listed, embeddings):
            data = _image_bytes(path)
            items.append(NewItem(check_label(label or own_label or Path(path).parent.name), embedding, data, Path(path.split("#")[0]).name,
                                 hashlib.sha256(data).hexdigest(), extra))
        ids = gallery.add(items)
    typer.echo(f"enrolled {len(ids)} image(s) in {gallery.location}: ids {_id_ranges(ids)}")


@gallery_app.command("remove")
def remove_command(
    store: str = typer.Argument(..., help=STORE_HELP),
    ids: List[int] = typer.Argument(..., help="Ids of the images to remove (from siamkit gallery list)."),
) -> None:
    """Remove images by id (unknown ids are named, the rest removed)."""
    from siamkit.gallery import open_store

    with open_store(store) as gallery:
        removed = gallery.remove(ids)
    missing = sorted(set(ids) - set(removed))
    if missing:
        log.warning("no image with id %s in %s", ", ".join(map(str, missing)), gallery.location)
    typer.echo(f"removed {len(removed)} image(s) from {gallery.location}")


@gallery_app.command("list")
def list_command(
    store: str = typer.Argument(..., help=STORE_HELP),
    label: Optional[str] = typer.Option(None, "--label", help="Only this identity's images."),
    offset: int = typer.Option(0, "--offset", min=0, help="Skip this many items."),
    limit: int = typer.Option(50, "--limit", min=1, max=500, help="Items to list."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object: items, total."),
) -> None:
    """List enrolled images by id (or, without --label, also the labels and their counts)."""
    from siamkit.gallery import open_store

    with open_store(store) as gallery:
        items, total = gallery.list(label, offset, limit), gallery.count(label)
        labels = gallery.labels() if label is None else None
    if as_json:
        typer.echo(json.dumps({"items": items, "total": total, "offset": offset, "limit": limit}, ensure_ascii=False))
        return
    if labels is not None:
        typer.echo(f"{total} image(s), {len(labels)} label(s): " + ", ".join(f"{name} ({count})" for name, count in labels[:20])
                   + (" ..." if len(labels) > 20 else ""))
    for item in items:
        typer.echo(f"{item['id']}\t{item['label']}\t{item['filename']}")
    if offset + len(items) < total:
        typer.echo(f"... {total - offset - len(items)} more (--offset {offset + len(items)})")


@gallery_app.command("import")
def import_command(
    store: str = typer.Argument(..., help=STORE_HELP),
    index: Path = typer.Argument(..., help="A gallery index written by siamkit index (its embeddings, labels and images are copied)."),
) -> None:
    """Copy a siamkit index (.idx) into a store: its embeddings as they are, its images where readable."""
    import numpy as np

    from siamkit.errors import SiamkitError
    from siamkit.gallery import NewItem, open_store
    from siamkit.search import GalleryIndex

    source = GalleryIndex.load(index)
    try:
        vectors = source.faiss_index.reconstruct_batch(np.asarray(source.ids, dtype=np.int64))
    except RuntimeError:
        raise SiamkitError(f"{index}: a {source.kind} index cannot give its embeddings back; add the gallery with siamkit gallery add STORE GALLERY --model MODEL") from None
    items, unreadable = [], 0
    for item_id, vector in zip(source.ids, vectors):
        entry = source.get(item_id)
        try:
            data = _image_bytes(entry["path"])
        except (OSError, SiamkitError):
            data, unreadable = None, unreadable + 1
        items.append(NewItem(entry["label"] or Path(entry["path"]).parent.name, vector, data, Path(entry["path"].split("#")[0]).name,
                             entry.get("content_hash", "") or "", {"imported_from": str(index)}))
    with open_store(store, create=True, model_id=source.model_id, embedding_dim=source.embedding_dim) as gallery:
        ids = gallery.add(items)
    if unreadable:
        log.warning("%d image file(s) of the index could not be read: enrolled without an image to show", unreadable)
    typer.echo(f"imported {len(ids)} image(s) from {index} into {gallery.location}")


@keys_app.command("add")
def keys_add_command(
    file: Path = typer.Argument(..., help="Key file for siamkit serve --api-keys (created, mode 600)."),
    name: str = typer.Argument(..., help="Who the key is for (shown in the server's log instead of the key)."),
    scope: str = typer.Option("read", "--scope", help="read (compare, embed, search, browse) | write (also enroll and remove)."),
) -> None:
    """Make a new API key: its hash goes into FILE, the key itself is printed once."""
    from siamkit.gallery.keys import add_key

    key = add_key(file, name, scope)
    log.info("added key %r (%s scope) to %s; it is shown only now", name, scope, file)
    typer.echo(key)


def _image_bytes(path: str) -> bytes:
    """The file's bytes; for an image inside a file (IDX ``file#index``), a PNG of it."""
    from siamkit.data.images import load_image

    if Path(path).is_file():
        return Path(path).read_bytes()
    buffer = io.BytesIO()
    load_image(path).save(buffer, "PNG")
    return buffer.getvalue()


def _id_ranges(ids: list[int]) -> str:
    if not ids:
        return "none"
    return f"{ids[0]}-{ids[-1]}" if ids == list(range(ids[0], ids[-1] + 1)) and len(ids) > 1 else ", ".join(map(str, ids))
