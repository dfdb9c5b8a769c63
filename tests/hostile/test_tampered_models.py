"""A model folder that was truncated, edited or swapped is refused with one line, never half-loaded.

``config.json`` vouches for ``model.safetensors`` with a SHA-256, so a torn copy or a swapped file
is caught before any weights reach a network; weights are safetensors, so a pickle smuggled in
under that name is never executed. Each case damages a copy of the model folder trained by the
shared messy run and asks ``siamkit compare`` and/or ``siamkit evaluate`` to use it.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
from pathlib import Path

import pytest

from tests.conftest import make_identity_images
from tests.hostile import hostile_files as files
from tests.hostile.conftest import assert_one_line_error, run_all, siamkit_command

pytestmark = pytest.mark.slow  # siamkit compare / evaluate in a subprocess per case

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
CODE_RAN = "unpickled-code-ran"


def _edit_config(change):
    def tamper(folder: Path) -> None:
        config = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
        change(config)
        (folder / CONFIG).write_text(json.dumps(config), encoding="utf-8")

    return tamper


def _vouch_for_new_weights(folder: Path, data: bytes) -> None:
    """Replace the weights and update the checksum too: what a deliberate swap looks like."""
    (folder / WEIGHTS).write_bytes(data)
    _edit_config(lambda c: c["files"][WEIGHTS].update(sha256=hashlib.sha256(data).hexdigest()))(folder)


def _truncate_weights(folder: Path) -> None:
    data = (folder / WEIGHTS).read_bytes()
    (folder / WEIGHTS).write_bytes(data[: len(data) // 2])


def _truncate_config(folder: Path) -> None:
    text = (folder / CONFIG).read_text(encoding="utf-8")
    (folder / CONFIG).write_text(text[: len(text) // 2], encoding="utf-8")


class _Payload:
    """Unpickling this creates ``marker``: proof that code from the model folder ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _pickle_as_weights(folder: Path) -> None:
    _vouch_for_new_weights(folder, pickle.dumps(_Payload(folder / CODE_RAN)))


def _weights_of_another_network(folder: Path) -> None:
    import torch
    from safetensors.torch import save

    _vouch_for_new_weights(folder, save({"head.weight": torch.zeros(3, 3)}))


# (id, damage, fragment of the one error line, commands that must refuse it)
TAMPER_CASES = [
    pytest.param(_truncate_weights, "checksum does not match config.json (file truncated or replaced)", ("compare", "evaluate"), id="truncated model.safetensors"),
    pytest.param(lambda f: (f / WEIGHTS).unlink(), f"{WEIGHTS} is missing", ("evaluate",), id="model.safetensors deleted"),
    pytest.param(_truncate_config, "config.json: not valid JSON (truncated or edited?)", ("compare", "evaluate"), id="config.json truncated"),
    pytest.param(
        _edit_config(lambda c: c["files"][WEIGHTS].update(sha256="0" * 64)), "checksum does not match config.json",
        ("compare",), id="config.json wrong checksum",
    ),
    pytest.param(
        _edit_config(lambda c: c.update(format_version=99)), "model folder format 99 (siamkit 0.1.0) is not supported",
        ("compare", "evaluate"), id="config.json other format_version",
    ),
    pytest.param(_pickle_as_weights, "model.safetensors: cannot read weights", ("compare",), id="pickle as weights, checksum updated"),
    pytest.param(_weights_of_another_network, "weights do not match config.json", ("compare",), id="other network's weights, checksum updated"),
    pytest.param(
        _edit_config(lambda c: c.update(files="model.safetensors")), "config.json", ("compare",),
        id="config.json files entry not a mapping",
    ),
    pytest.param(
        _edit_config(lambda c: c.update(embedding_dim=-5)), "embedding_dim", ("compare",),
        id="config.json negative embedding_dim",
    ),
]


@pytest.fixture(scope="module")
def tamper_results(messy_run, tmp_path_factory):
    """Every damaged folder through its commands, side by side: {(case id, command): result}."""
    assert messy_run.result.returncode == 0, messy_run.result.stderr
    base = tmp_path_factory.mktemp("tampered")
    images = make_identity_images(base / "images", identities=3, per_identity=2)
    (base / "a.png").write_bytes(files.one_pixel_png())
    commands = {}
    for param in TAMPER_CASES:
        damage, _, which = param.values
        folder = base / param.id.replace(" ", "_").replace(".", "_")
        shutil.copytree(messy_run.model, folder)
        (folder / "model.onnx").unlink(missing_ok=True)  # only the files siamkit vouches for
        damage(folder)
        if "compare" in which:
            commands[(param.id, "compare")] = siamkit_command("compare", folder, base / "a.png", images / "id_00" / "img_0.png")
        if "evaluate" in which:
            commands[(param.id, "evaluate")] = siamkit_command("evaluate", folder, images, "--split", "all", "--out", base / f"{folder.name}-eval")
    return run_all(commands), base


@pytest.mark.parametrize("damage, fragment, which", TAMPER_CASES)
def test_tampered_model_folder_is_refused_in_one_line(request, tamper_results, damage, fragment, which):
    results, base = tamper_results
    case_id = request.node.callspec.id
    for command in which:
        line = assert_one_line_error(results[(case_id, command)], fragment)
        assert str(base) in line  # names the folder or file at fault
        assert not list(base.glob("*-eval/metrics.json"))  # refused before measuring anything
    assert not list(base.glob(f"*/{CODE_RAN}")), "loading the model folder executed pickled code"
