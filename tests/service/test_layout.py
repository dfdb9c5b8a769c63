"""The service's modules: one job each, small, and the names other code imports from ``app`` still there."""

from __future__ import annotations

import ast
from pathlib import Path

import siamkit.service

SERVICE = Path(siamkit.service.__file__).parent


def test_every_service_module_is_small():
    for module in SERVICE.glob("*.py"):
        assert len(module.read_text().splitlines()) <= 300, module.name


def test_service_modules_import_without_cycles():
    """Each module's ``siamkit.service.*`` imports, followed through, never come back to it."""
    imports = {}
    for module in SERVICE.glob("*.py"):
        tree = ast.parse(module.read_text())
        names = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        imports[module.stem] = {name.rsplit(".", 1)[1] for name in names if name.startswith("siamkit.service.")}

    def reachable(start):
        seen, todo = set(), list(imports[start])
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(imports.get(name, ()))
        return seen

    for name in imports:
        if name != "__init__":
            assert name not in reachable(name), f"siamkit.service.{name} imports itself through {sorted(reachable(name))}"


def test_names_imported_from_app_are_still_there():
    from siamkit.service import app

    for name in ("ENVIRONMENT_VARIABLE", "LARGE_IMAGE_PIXELS", "MAX_EMBED_IMAGES", "MAX_K", "ServiceSettings",
                 "ServiceState", "create_app", "create_app_from_environment", "body_limits", "router"):
        assert hasattr(app, name), name
