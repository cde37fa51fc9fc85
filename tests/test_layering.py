"""The package direction of DESIGN.md: ``training → models ← service``, and one direction inside
``service``.

``models`` imports neither ``training`` nor ``service``; ``service`` never imports ``training``.
Inside ``service`` every room (sub-package or top-level module) has a layer, and a room imports
only rooms of lower layers (docs/ARCHITECTURE.md draws them). Checked on the source (every import
statement, at any depth), so a lazy import inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {"models": {"training", "service"}, "service": {"training"}, "training": {"service"}}


# service's rooms, lowest first; a room may import its own modules and rooms of lower layers only.
SERVICE_LAYERS: tuple[frozenset[str], ...] = tuple(
    frozenset(rooms.split())
    for rooms in (
        "domain",  # pure rules: policy, matching, threshold, keys, webhook formats, face analysis
        "config_secrets",  # secret settings read from FACEGATE_<NAME>_FILE, the database passwords' checks
        "config",  # Settings
        "db",  # schema, sessions, migrations, grants
        "schemas",  # request/response shapes and queries: what API, console and CLI send to the layers below
        "repositories index",  # SQL per table (takes the schemas); the vector index (a cache of SQL's templates)
        "database faces delivery server",  # wiring pieces: engine, face model, webhook sender, uvicorn
        "runtime startup",  # DB + model + index + threshold, one per process; the server's start sequence
        "core",  # use cases: access check, enrolment, recognition, re-embedding, schema → repository records
        "api",  # HTTP routes, auth, limits, metrics
        "web cli",  # console and kiosk (HTML over api's pieces); the facegate command
        "main __main__ alembic config_docs",  # the app factory, the entry point, migrations, the settings table
    )
)


def imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_follow_the_design(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no sources under {package}/"
    violations = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in files
        for name in sorted(imported_top_levels(path) & FORBIDDEN[package])
    ]
    assert not violations, "layering broken:\n" + "\n".join(violations)


def service_room(module: str) -> str | None:
    """``service.api.routes.people`` → ``api``; ``service`` itself → ``None``."""
    parts = module.split(".")
    return parts[1] if parts[0] == "service" and len(parts) > 1 else None


def imported_service_rooms(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    rooms: set[str | None] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            rooms.update(service_room(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "service":  # from service import runtime
                rooms.update(alias.name for alias in node.names)
            else:
                rooms.add(service_room(node.module))
    return {room for room in rooms if room is not None}


def layer_of(room: str) -> int:
    for layer, rooms in enumerate(SERVICE_LAYERS):
        if room in rooms:
            return layer
    raise AssertionError(f"service/{room} has no layer in SERVICE_LAYERS: give it one")


def test_every_import_inside_service_runs_one_way() -> None:
    violations = []
    for path in sorted((ROOT / "service").rglob("*.py")):
        relative = path.relative_to(ROOT / "service")
        room = relative.parts[0].removesuffix(".py")
        if room == "__init__":
            continue
        for other in sorted(imported_service_rooms(path) - {room}):
            if layer_of(other) >= layer_of(room):
                violations.append(f"service/{relative} ({room}) imports service.{other}")
    assert not violations, "service's layers broken:\n" + "\n".join(violations)


def test_every_service_room_has_a_layer() -> None:
    rooms = {p.name.removesuffix(".py") for p in (ROOT / "service").iterdir() if p.suffix == ".py" or p.is_dir()}
    rooms -= {"__init__", "__pycache__", "py.typed"}
    assert sorted(room for room in rooms if not any(room in layer for layer in SERVICE_LAYERS)) == []


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from training.export import main\n    import service.main\n")
    assert imported_top_levels(bad) == {"training", "service"}
    upward = tmp_path / "upward.py"
    upward.write_text("def f():\n    from service.api.errors import ProblemError\n    from service import runtime\n")
    assert imported_service_rooms(upward) == {"api", "runtime"}
    assert layer_of("api") > layer_of("core") > layer_of("runtime") > layer_of("repositories") > layer_of("domain")
    assert layer_of("repositories") > layer_of("schemas") > layer_of("db")  # repositories and use cases take schemas


HTTP_PACKAGES = {"fastapi", "starlette"}
HTTP_ROOMS = {"api", "web", "main"}  # the HTTP layer and above; everything below works without a request


def test_only_the_http_layer_imports_the_web_framework() -> None:
    violations = [
        f"service/{path.relative_to(ROOT / 'service')} imports {name}"
        for path in sorted((ROOT / "service").rglob("*.py"))
        if path.relative_to(ROOT / "service").parts[0].removesuffix(".py") not in HTTP_ROOMS
        for name in sorted(imported_top_levels(path) & HTTP_PACKAGES)
    ]
    assert not violations, "HTTP below the HTTP layer:\n" + "\n".join(violations)
