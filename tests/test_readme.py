"""The README's examples, run or checked, so that they cannot rot.

* Every ```python block runs, each in a fresh folder laid out with the names the README uses:
  ``path/to/faces`` is the session's tiny dataset and ``path/to/gallery`` its gallery
  (``tests/conftest.py``'s ``trained``), ``runs/faces`` holds the tiny trained run (its entries
  linked, so new files such as ``runs/faces/eval`` land in the test's folder, never in the shared
  run), ``a.jpg``, ``b.jpg`` and ``query.jpg`` are images of them. The recipe an example passes to
  ``load_config`` (checked to be a real one) is swapped for the tiny settings of
  ``tiny_train_settings``: the test writes them to a file of the recipe's name in its folder, and
  ``--config`` takes a file in the working folder over a packaged recipe of the same name
  (``siamkit.training.config.find_config``). So the examples stay as a user writes them while
  training takes seconds, and the overrides the README passes still apply on top. A block that
  trains gets no ``runs/`` folder, as it makes its run itself.
* Every ```bash line that starts with ``siamkit `` names a real command, and every ``--flag`` on it
  is one of that command's options (read from the command functions, as ``benchmarks/fuzz_cli.py``
  does), so a renamed flag fails here without running anything heavy.
* The HTTP API section's endpoints, form fields and curl examples match the app's routes.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from tests.conftest import load_benchmark, tiny_train_settings

REPOSITORY = Path(__file__).resolve().parents[1]
README = REPOSITORY / "README.md"
TEXT = README.read_text(encoding="utf-8")


def code_blocks(language: str, text: str = TEXT) -> list[tuple[int, str]]:
    """``(line number of the opening fence, code)`` of every fenced block of ``language``."""
    return [
        (text.count("\n", 0, match.start()) + 1, match.group(1))
        for match in re.finditer(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)
    ]


def section(title: str) -> str:
    """The README's ``## title`` section, up to the next ``## ``."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", TEXT, flags=re.S | re.M)
    assert match, f"README.md has no '## {title}' section"
    return match.group(1)


PYTHON_BLOCKS = code_blocks("python")


# --- the Python examples run --------------------------------------------------------------------


@pytest.fixture
def registries_restored():
    """Entries an example registers (``siamkit.LOSSES.register``) are removed afterwards."""
    import siamkit

    registries = [siamkit.LOSSES, siamkit.MINERS, siamkit.SAMPLERS, siamkit.READERS, siamkit.BACKBONES]
    before = [set(registry.names()) for registry in registries]
    yield
    for registry, names in zip(registries, before):
        for name in set(registry.names()) - names:
            registry.unregister(name)


def recipes_named(code: str) -> list[str]:
    """The recipes (names or YAML paths) an example passes to ``load_config``."""
    return re.findall(r"load_config\(\s*[\"']([^\"']+)[\"']", code)


def lay_out(folder: Path, trained: dict[str, Path], with_run: bool, recipes: list[str]) -> None:
    """The README's placeholder paths under ``folder``, pointing at the tiny fixtures."""
    (folder / "path" / "to").mkdir(parents=True)
    (folder / "path" / "to" / "faces").symlink_to(trained["data"], target_is_directory=True)
    (folder / "path" / "to" / "gallery").symlink_to(trained["gallery"], target_is_directory=True)
    # Image files keep the README's names; decoding goes by content, not by the extension.
    shutil.copyfile(trained["data"] / "id_00" / "img_0.png", folder / "a.jpg")
    shutil.copyfile(trained["data"] / "id_00" / "img_1.png", folder / "b.jpg")
    shutil.copyfile(trained["gallery"] / "id_01" / "img_0.png", folder / "query.jpg")
    for recipe in recipes:  # a file in the working folder wins over the packaged recipe of its name
        (folder / recipe).parent.mkdir(parents=True, exist_ok=True)
        (folder / recipe).write_text(yaml.safe_dump(tiny_train_settings()))
    if with_run:
        run = folder / "runs" / "faces"
        run.mkdir(parents=True)
        for entry in trained["run"].iterdir():
            (run / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())


def test_the_python_section_has_examples():
    assert len(code_blocks("python", section("Python"))) >= 4, "the README's Python section lost its examples"


@pytest.mark.parametrize("line, code", PYTHON_BLOCKS, ids=[f"README.md:{line}" for line, _ in PYTHON_BLOCKS])
def test_python_example_runs(line, code, trained, tmp_path, monkeypatch, registries_restored):
    from siamkit.training.config import recipe_names

    recipes = recipes_named(code)
    for recipe in recipes:
        assert recipe in recipe_names() or (REPOSITORY / recipe).is_file(), f"README.md:{line}: no recipe '{recipe}'"
    trains = "siamkit.train(" in code or "train_and_evaluate(" in code
    lay_out(tmp_path, trained, with_run=not trains, recipes=recipes)
    monkeypatch.chdir(tmp_path)
    # Blank lines in front, so a traceback names the README's own line numbers.
    exec(compile("\n" * line + code, "README.md", "exec"), {"__name__": "readme_example"})
    if trains:
        assert list(tmp_path.glob("runs/*/model/model.safetensors")), "the training example wrote no model folder"


# --- the command lines name real commands and flags ---------------------------------------------


def siamkit_lines() -> list[tuple[int, str]]:
    lines = []
    for start, code in code_blocks("bash"):
        for offset, text in enumerate(code.splitlines(), start=1):
            if text.strip().startswith("siamkit "):
                lines.append((start + offset, text.strip()))
    return lines


def words_of(line: str) -> list[str]:
    """The words of a usage line: optional parts' brackets dropped (their flags are still checked),
    comments and ``...`` removed, ``--key=value`` split at the ``=``."""
    words = shlex.split(line.replace("[", " ").replace("]", " "), comments=True)
    return [word.split("=", 1)[0] if word.startswith("--") else word for word in words if word != "..."]


@pytest.fixture(scope="module")
def cli_options():
    from siamkit.cli.main import app

    fuzz = load_benchmark("fuzz_cli")
    specs = {**fuzz.command_specs(), **fuzz.group_command_specs()}
    commands = {name: {flag for param in params for flag in param.flags} for name, params in specs.items()}
    top_level = {flag for param in fuzz.command_params(app.registered_callback.callback) for flag in param.flags}
    return commands, top_level | {"--help"}


SIAMKIT_LINES = siamkit_lines()


def test_the_readme_shows_siamkit_commands():
    assert len(SIAMKIT_LINES) >= 10


def unknown_words(command_line: str, commands: dict[str, set[str]], top_level: set[str]) -> list[str]:
    """The command or flags of a ``siamkit ...`` line that the CLI does not have."""
    words = words_of(command_line)[1:]
    if words[0].startswith("-"):  # siamkit --version
        return [word for word in words if word not in top_level]
    if words[0].isupper():  # siamkit COMMAND --help: a placeholder for any command
        return [word for word in words[1:] if word not in top_level]
    if len(words) > 1 and f"{words[0]} {words[1]}" in commands:  # siamkit gallery add ...
        words = [f"{words[0]} {words[1]}", *words[2:]]
    if words[0] not in commands:
        return [words[0]]
    flags = [word for word in words[1:] if word.startswith("-") and not re.fullmatch(r"-\d.*", word)]
    return [flag for flag in flags if flag not in commands[words[0]] | {"--help"}]


@pytest.mark.parametrize("line, command_line", SIAMKIT_LINES, ids=[f"README.md:{line}" for line, _ in SIAMKIT_LINES])
def test_command_line_uses_real_flags(line, command_line, cli_options):
    unknown = unknown_words(command_line, *cli_options)
    assert not unknown, f"README.md:{line}: siamkit has no command or option '{unknown[0]}' as used in: {command_line}"


def test_the_check_catches_renamed_flags_and_commands(cli_options):
    assert words_of("siamkit evaluate M D --out E [--split test|all] ...  # note") == [
        "siamkit", "evaluate", "M", "D", "--out", "E", "--split", "test|all"
    ]
    assert unknown_words("siamkit index M G --out g.idx [--kinds exact]", *cli_options) == ["--kinds"]
    assert unknown_words("siamkit indexx M G --out g.idx", *cli_options) == ["indexx"]
    assert unknown_words("siamkit --versions", *cli_options) == ["--versions"]
    assert unknown_words("siamkit search g.idx q.jpg -k 10 [--grid hits.png]", *cli_options) == []


# --- the HTTP API section matches the app ---------------------------------------------------------

HTTP = section("HTTP API")
TABLE_ROWS = re.findall(r"^\| `(GET|POST|DELETE) (/[^`]*)` \|([^|]*)\|", HTTP, flags=re.M)
CURL_LINES = [line.strip() for _, code in code_blocks("bash", HTTP) for line in code.splitlines() if line.strip().startswith("curl ")]


@pytest.fixture(scope="module")
def app(trained):
    from siamkit.inference.siamese_model import SiameseModel
    from siamkit.service import create_app

    return create_app(SiameseModel.load(trained["model"]))


@pytest.fixture(scope="module")
def operations(app) -> dict[tuple[str, str], dict[str, bool]]:
    """``(method, path) -> {form field: required}`` of every endpoint in the app's OpenAPI schema,
    which is what clients and /docs see (the app's route table is FastAPI's internal business)."""
    schema = app.openapi()
    found = {}
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            fields = {}
            for content in operation.get("requestBody", {}).get("content", {}).values():
                body = content["schema"]
                if "$ref" in body:
                    body = schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]
                required = set(body.get("required", ()))
                fields.update({name: name in required for name in body.get("properties", {})})
            found[(method.upper(), path)] = fields
    return found


def test_the_http_section_lists_endpoints_and_curl_examples():
    assert len(TABLE_ROWS) >= 7 and len(CURL_LINES) >= 2


@pytest.mark.parametrize("method, path, fields", TABLE_ROWS, ids=[f"{m} {p}" for m, p, _ in TABLE_ROWS])
def test_table_endpoint_exists_with_its_form_fields(app, operations, method, path, fields):
    documented = set(re.findall(r"`([a-z_]+)`", fields))
    if (method, path) not in operations:  # the page and /docs are not API operations: ask for them
        from starlette.testclient import TestClient

        assert method == "GET" and not documented, f"README's HTTP API table: the app has no {method} {path}"
        assert TestClient(app).get(path).status_code == 200, f"README's HTTP API table: GET {path} does not answer"
        return
    accepted = operations[(method, path)]
    assert documented == set(accepted), f"{method} {path}: README lists {sorted(documented)}, the endpoint takes {sorted(accepted)}"


def test_every_endpoint_of_the_app_is_in_the_table(operations):
    missing = sorted(set(operations) - {(method, path) for method, path, _ in TABLE_ROWS})
    assert not missing, f"endpoints missing from the README's HTTP API table: {missing}"


def _route_matches(route: str, path: str) -> bool:
    """``/v1/gallery/{item_id}`` matches ``/v1/gallery/17``."""
    return re.fullmatch(re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(route)), path) is not None


@pytest.mark.parametrize("curl", CURL_LINES)
def test_curl_example_matches_its_endpoint(operations, curl):
    words = shlex.split(curl)
    fields = [words[i + 1].split("=", 1)[0] for i, word in enumerate(words) if word == "-F"]
    url = next(word for word in words if word.startswith("http"))
    method = words[words.index("-X") + 1] if "-X" in words else ("POST" if fields else "GET")
    path = urlparse(url).path
    accepted = next((found for (verb, route), found in operations.items() if verb == method and _route_matches(route, path)), None)
    assert accepted is not None, f"no endpoint {method} {path} for: {curl}"
    assert set(fields) <= set(accepted), f"{curl}: the endpoint takes {sorted(accepted)}"
    missing = [name for name, required in accepted.items() if required and name not in fields]
    assert not missing, f"{curl}: leaves out the required field {missing[0]}"
