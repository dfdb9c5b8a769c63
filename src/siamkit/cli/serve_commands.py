"""``siamkit serve``: the similarity web service and its web page, under uvicorn."""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import socket
from pathlib import Path
from typing import List, Optional

import typer

log = logging.getLogger("siamkit")
# uvicorn's HTTP protocol with a deadline for request heads. By name: a worker process unpickles
# its config before it starts answering uvicorn's 5 s health check, and a class would import
# torch (through siamkit.service) right then: seen as workers killed and restarted in a loop.
HTTP_PROTOCOL = "siamkit.service.deadlines:HeadDeadlineProtocol"


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)


def serve_command(
    model: Path = typer.Argument(..., help="Model folder (config.json + model.safetensors)."),
    index: Optional[Path] = typer.Option(None, "--index", help="Gallery index built with this model, for /v1/search and the gallery on the page (read-only)."),
    gallery: Optional[str] = typer.Option(None, "--gallery", help="A living gallery: an SQLite file (created if missing) or a postgresql:// URL that keys with write scope enroll into over HTTP."),
    api_keys: Optional[Path] = typer.Option(None, "--api-keys", help="Key file (siamkit keys add FILE NAME --scope write). Without it, enrolling and removing over HTTP are refused."),
    read_access: str = typer.Option("open", "--read-access", help="open: anyone may compare, embed, search and browse | key: those need a key from --api-keys too."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on. Reads are open unless --read-access key: keep it on localhost or behind a proxy otherwise."),
    port: int = typer.Option(8000, help="Port to listen on (0: any free port, printed at start)."),
    workers: int = typer.Option(1, help="Server processes, each with its own copy of the model."),
    max_upload_mb: float = typer.Option(10.0, help="Largest image accepted, in MB per image; larger uploads get 413."),
    cors_origin: Optional[List[str]] = typer.Option(None, "--cors-origin", help="Let web pages from this origin call the API (repeatable). Off by default."),
    batch_wait_ms: float = typer.Option(5.0, help="How long the first waiting image may wait for others to share its batch."),
    max_batch: int = typer.Option(32, help="Most images in one forward pass."),
    batching: bool = typer.Option(True, "--batching/--no-batching", help="Share forward passes between concurrent requests."),
    threads: int = typer.Option(1, help="CPU threads per forward pass; cores / threads passes run at once. 0: every core in each pass (may lower a lone request's latency; costs more CPU per request on a busy machine)."),
    backend: str = typer.Option("auto", help="auto (onnxruntime on CPU when installed) | onnx | torch."),
    access_log: bool = typer.Option(True, "--access-log/--no-access-log", help="Log one line per request."),
) -> None:
    """Serve a model over HTTP: compare, embed and search images, with a web page at /."""
    from siamkit.errors import SiamkitError
    from siamkit.inference.siamese_model import SiameseModel
    from siamkit.search import GalleryIndex
    from siamkit.service.settings import ServiceSettings, check_gallery_options

    if workers < 1:
        raise SiamkitError(f"--workers must be at least 1, got {workers}")
    if not 0 <= port <= 65535:
        raise SiamkitError(f"--port must be between 0 and 65535, got {port}")
    if threads < 0:
        raise SiamkitError(f"--threads must be 0 (all cores) or more, got {threads}")
    origins = tuple(origin.strip() for value in cors_origin or [] for origin in value.split(",") if origin.strip())
    settings = ServiceSettings(
        max_upload_mb=max_upload_mb, cors_origins=origins, batching=batching, batch_wait_ms=batch_wait_ms, max_batch=max_batch,
        read_access=read_access,
    )
    check_gallery_options(index is not None, gallery is not None, settings, api_keys is not None)
    keys = None
    if api_keys is not None:
        from siamkit.gallery.keys import KeyFile

        keys = KeyFile.load(api_keys)
    if threads and workers == 1:
        import torch

        torch.set_num_threads(threads)  # before loading: onnxruntime sizes its pool from it
    # Everything that can be wrong with the inputs fails here, before a port is opened.
    loaded = SiameseModel.load(model, backend=backend)
    searched = GalleryIndex.load(index) if index is not None else None
    if searched is not None:
        searched.check_model(loaded.model_id)
    store = None
    if gallery is not None:
        from siamkit.gallery import open_store

        store = open_store(gallery, create=True, model_id=loaded.model_id, embedding_dim=loaded.embedding_dim)
    listener = open_listener(host, port)
    url = f"http://{_url_host(host)}:{listener.getsockname()[1]}"
    if not _is_loopback(host) and read_access == "open":
        log.warning("listening on %s: anyone who can reach this port can compare, embed and search (--read-access key restricts it)", host)
    if store is not None:
        gallery_note = f", living gallery {store.location} of {store.count()} images ({'writable with keys' if keys else 'read-only: no --api-keys'})"
    else:
        gallery_note = f", gallery of {len(searched)} images" if searched is not None else ", no gallery"
    log.info("serving %s (%s)%s at %s (web page %s/, API docs %s/docs)", model, loaded.backend, gallery_note, url, url, url)

    try:
        if workers == 1:
            _serve_in_process(loaded, searched, settings, listener, access_log, store, keys)
        else:
            del loaded, searched
            if store is not None:
                store.close()
            _serve_with_workers(model, index, backend, threads, settings, listener, workers, access_log, gallery, api_keys)
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after its graceful shutdown: for a server, a normal stop
        log.info("stopped")


def open_listener(host: str, port: int) -> socket.socket:
    """Bind the listening socket now, so a busy port is a one-line error, not a log traceback."""
    from siamkit.errors import SiamkitError

    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(2048)
    except socket.gaierror as exc:
        raise SiamkitError(f"--host {host}: not an address of this machine ({exc.strerror})") from None
    except OSError as exc:
        raise SiamkitError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    listener.set_inheritable(True)
    return listener


def _serve_in_process(model, index, settings, listener: socket.socket, access_log: bool, store=None, keys=None) -> None:
    import uvicorn

    from siamkit.service.app import create_app

    app = create_app(model, index, settings, store, keys)
    config = uvicorn.Config(
        app, http=HTTP_PROTOCOL, log_level="info", access_log=access_log, lifespan="on", timeout_graceful_shutdown=10
    )
    uvicorn.Server(config).run(sockets=[listener])


def _serve_with_workers(
    model: Path, index: Optional[Path], backend: str, threads: int, settings, listener: socket.socket, workers: int, access_log: bool,
    gallery: Optional[str] = None, api_keys: Optional[Path] = None,
) -> None:
    import uvicorn

    from siamkit.service.app import ENVIRONMENT_VARIABLE

    os.environ[ENVIRONMENT_VARIABLE] = json.dumps(
        {
            "model": str(model.resolve()),
            "index": str(index.resolve()) if index is not None else None,
            "gallery": _absolute_store(gallery),
            "api_keys": str(api_keys.resolve()) if api_keys is not None else None,
            "backend": backend,
            "settings": settings.to_dict(),
            # Each worker's PyTorch gets its share of the cores instead of all of them.
            "torch_threads": threads or max(1, (os.cpu_count() or 1) // workers),
        }
    )
    uvicorn.run(
        "siamkit.service.app:create_app_from_environment",
        factory=True,
        fd=listener.fileno(),
        workers=workers,
        http=HTTP_PROTOCOL,
        log_level="info",
        access_log=access_log,
        timeout_graceful_shutdown=10,
    )


def _absolute_store(gallery: Optional[str]) -> Optional[str]:
    """The store location as each worker process must open it (an SQLite path made absolute)."""
    from siamkit.gallery.store import is_postgres_url, sqlite_path

    if gallery is None or is_postgres_url(gallery):
        return gallery
    return str(sqlite_path(gallery).resolve())


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
