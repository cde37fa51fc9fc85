"""``facegate keys``, ``log``, ``db upgrade``, ``index``, ``model info``, the help of every command and what every
command does when the database cannot be reached. None of these loads the face model's detector."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import typer
from cli_support import Cli, CliEnv, error_line

from models.package import load_package
from service.cli import app
from service.db.models import Decision, KeyRole
from service.db.session import create_db_engine, make_sessionmaker
from service.domain.outcomes import AccessOutcome, MatchedPerson
from service.domain.policy import Reason
from service.repositories.access_log import append_entry
from service.repositories.keys import Principal, authenticate


def _principal(env: CliEnv, token: str) -> Principal | None:
    engine = create_db_engine(env.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            return authenticate(session, token=token)
    finally:
        engine.dispose()


def test_keys_create_list_revoke(cli: Cli, cli_env: CliEnv) -> None:
    cli("db", "upgrade")
    created = cli("keys", "create", "--role", "admin", "--name", "first")
    token = created.stdout.strip()
    assert created.stdout.count("\n") == 1 and token.startswith("fg_")  # the secret alone on stdout
    assert "store it now, it is not shown again" in created.stderr
    principal = _principal(cli_env, token)
    assert principal is not None and principal.role is KeyRole.ADMIN

    cli("doors", "add", "front", "--tz", "UTC")
    terminal = cli("keys", "create", "--role", "terminal", "--door", "front").stdout.strip()
    bound = _principal(cli_env, terminal)
    assert bound is not None and bound.door_ids == frozenset({1})
    assert "at least one door (terminal_needs_doors)" in error_line(cli("keys", "create", "--role", "terminal", code=1))
    assert "door 7 does not exist" in error_line(cli("keys", "create", "--role", "terminal", "--door", "7", code=1))
    assert cli("keys", "create", "--role", "root", code=2).exit_code == 2

    keys = json.loads(cli("keys", "list", "--json").stdout)
    assert [(k["name"], k["role"], k["door_ids"]) for k in keys] == [
        ("first", "admin", []),
        ("terminal key", "terminal", [1]),
    ]
    assert token not in cli("keys", "list").stdout and keys[0]["prefix"] in cli("keys", "list").stdout

    last = cli("keys", "revoke", "1", "--yes", code=1)
    assert error_line(last) == "error: this is the last active admin key (last_admin_key)"
    prefix = keys[1]["prefix"]
    assert cli("keys", "revoke", prefix, "--yes").stdout.strip() == f"revoked key 2 {prefix}"
    assert _principal(cli_env, terminal) is None
    assert len(json.loads(cli("keys", "list", "--json").stdout)) == 1
    assert len(json.loads(cli("keys", "list", "--all", "--json").stdout)) == 2
    assert "(key_not_found)" in error_line(cli("keys", "revoke", "fg_nothere", "--yes", code=1))


def test_log_filters_and_formats(cli: Cli, cli_env: CliEnv) -> None:
    cli("people", "add", "B-1", "Ada")
    cli("doors", "add", "front", "--tz", "UTC")
    cli("doors", "add", "back", "--tz", "UTC")
    start = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
    engine = create_db_engine(cli_env.database_url)
    with make_sessionmaker(engine).begin() as session:
        for minute, (door, decision, reason, person) in enumerate(
            [
                (1, Decision.GRANTED, "granted", 1),
                (1, Decision.DENIED, "unknown_face", None),
                (2, Decision.DENIED, "no_rule", 1),
                (2, Decision.GRANTED, "granted", 1),
            ]
        ):
            outcome = AccessOutcome(
                decision=decision,
                reason=Reason(reason),
                door_id=door,
                person=MatchedPerson(person, "B-1", "Ada") if person else None,
                rule_id=None,
                score=0.8 if person else 0.2,
                margin=0.3,
                frames=1,
                usable_frames=1,
                quality={"blur": 40.0},
                latency_ms=12.5,
                stages_ms={},
                log_id=None,
                model_id="fg1-test",
                at=start + timedelta(minutes=minute),
            )
            append_entry(session, outcome, door_name=["front", "back"][door - 1], key_id=None)
    engine.dispose()

    table = cli("log").stdout.splitlines()
    assert table[0].split()[:4] == ["ID", "TIME", "DECISION", "REASON"] and len(table) == 5
    assert table[1].split()[:5] == ["4", "2025-06-02", "08:03:00Z", "granted", "granted"]  # newest first
    page = json.loads(cli("log", "--json").stdout)
    assert page["total"] == 4 and page["items"][0]["quality"] == {"blur": 40.0}

    def ids(*args: str) -> list[int]:
        return [e["id"] for e in json.loads(cli("log", *args, "--format", "json").stdout)["items"]]

    assert ids("--door", "front") == [2, 1]
    assert ids("--person", "B-1", "--decision", "granted") == [4, 1]
    assert ids("--since", "2025-06-02T10:01:00+02:00", "--until", "2025-06-02T08:03:00Z") == [3, 2]
    assert ids("--reason", "no_rule") == [3]
    assert ids("--limit", "1", "--offset", "1") == [3]

    rows = list(csv.DictReader(io.StringIO(cli("log", "--format", "csv", "--decision", "denied").stdout)))
    assert [(r["id"], r["reason"], r["door_name"], r["person_external_id"]) for r in rows] == [
        ("3", "no_rule", "back", "B-1"),
        ("2", "unknown_face", "front", ""),
    ]
    assert rows[0]["ts"] == "2025-06-02T08:02:00+00:00" and json.loads(rows[0]["quality"]) == {"blur": 40.0}

    naive = cli("log", "--since", "2025-06-02T08:00", code=1)
    assert error_line(naive) == "error: --since: Input should have timezone info (e.g. 2025-06-01T08:00:00+02:00)"
    assert "(door_not_found)" in error_line(cli("log", "--door", "cellar", code=1))
    assert "(person_not_found)" in error_line(cli("log", "--person", "B-9", code=1))
    assert cli("log", "--since", "2030-01-01T00:00:00Z").stdout.strip() == "no entries"


def test_db_upgrade_and_an_unreachable_database(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli("db", "upgrade").stdout.strip() == "database is at the newest schema"
    password = "s3cret-pw-7Kq2xZ9mLw4"  # not a placeholder: the settings would refuse it before connecting
    monkeypatch.setenv("FACEGATE_DATABASE_URL", f"postgresql+psycopg://facegate:{password}@127.0.0.1:1/facegate")
    for args in (["people", "list"], ["doors", "add", "x", "--tz", "UTC"], ["log"], ["db", "upgrade"]):
        line = error_line(cli(*args, code=1))
        assert line.startswith("error: database unreachable (postgresql+psycopg://facegate:***@127.0.0.1:1/facegate)")
        assert "s3cret" not in line
    waited = cli("db", "upgrade", "--wait", "0.2", code=1)
    assert "not reachable after 0.2 s" in error_line(waited) and "s3cret" not in waited.stderr
    monkeypatch.setenv("FACEGATE_DB_WAIT_S", "0.3")  # the start sequence's wait, from the settings
    waited = cli("db", "upgrade", code=1)
    assert "not reachable after 0.3 s" in error_line(waited) and "s3cret" not in waited.stderr
    # An invalid setting is exit status 2, naming its variable, before any connection.
    monkeypatch.setenv("FACEGATE_PORT", "many")
    assert error_line(cli("doors", "list", code=2)).startswith("error: FACEGATE_PORT: Input should be a valid integer")


def test_model_info(cli: Cli) -> None:
    info = json.loads(cli("model", "info", "--json").stdout)
    assert info["model_id"].startswith("fg1-") and info["trained"] is True
    assert info["architecture"]["backbone"] == "iresnet18" and info["architecture"]["embedding_size"] == 512
    assert [p["far"] for p in info["calibration"]["thresholds"]] == [0.0001, 0.001, 0.01]
    # the gallery-aware threshold: an empty gallery counts as one template, so FPIR 1e-3 is FAR 1e-3 per comparison,
    # split between the best- and mean-template searches (template_match max) and divided by the domain factor;
    # the mean template's tail, higher, sets it
    calibration = load_package().calibration
    far = 1e-3 / 2 / calibration.domain_factor
    assert (info["threshold_basis"], info["threshold_gallery_size"], info["target_fpir"]) == ("fpir", 0, 1e-3)
    assert info["per_comparison_far"] == pytest.approx(far)
    assert (info["template_match"], info["frame_fusion"]) == ("max", "all_agree")
    assert info["threshold_matched"] == "max:single_vs_mean"
    mean_tail = calibration.tail_for("single", "mean")
    assert mean_tail is not None and info["threshold_in_force"] == pytest.approx(mean_tail.score_at(far), abs=1e-4)
    assert info["threshold_in_force"] > info["calibration"]["thresholds"][1]["threshold"]  # the per-pair one
    assert "for FPIR 0.001 per check at 0 templates" in cli("model", "info").stdout
    assert info["path"].endswith("models/packages/default")
    text = cli("model", "info").stdout
    assert f"model id:     {info['model_id']}" in text and "TARGET FAR  THRESHOLD  TAR" in text


def test_index_status_and_rebuild(cli: Cli, cli_env: CliEnv) -> None:
    status = json.loads(cli("index", "status", "--json").stdout)
    assert status["file"] is None and status["current"] is False and "no index file" in status["problem"]
    cli("index", "rebuild", code=1)  # asks first
    assert not cli_env.index_path.exists()
    rebuilt = cli("index", "rebuild", "--yes").stdout
    assert rebuilt.startswith(f"rebuilt {cli_env.index_path}: 0 templates of fg1-") and "at revision 0" in rebuilt
    status = json.loads(cli("index", "status", "--json").stdout)
    assert status["current"] is True and status["problem"] is None
    assert status["file"] == {"model_id": status["model_id"], "kind": "flat", "dim": 512, "revision": 0, "templates": 0}
    assert "current:    yes" in cli("index", "status").stdout


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group (Typer's own copy of click's Group)
            found += _commands(command, (*prefix, name))
        else:
            found.append(((*prefix, name), command))
    return found


def test_every_command_has_help_with_an_example(cli: Cli) -> None:
    commands = _commands(typer.main.get_group(app))
    assert len(commands) == 40  # 32 + issue 14's `webhooks` group (7) + `db info`
    for path, _ in commands:
        text = cli(*path, "--help").stdout
        assert "Example: facegate " in text or "Example: FACEGATE_" in text, path
    root = cli("--help").stdout
    assert "--install-completion" in root and "--show-completion" in root


def test_failures_are_one_line(cli: Cli, cli_env: CliEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    with sqlite3.connect(cli_env.folder / "facegate.db") as connection:  # at the newest revision, a table gone
        connection.execute("DROP TABLE doors")
    unmigrated = error_line(cli("doors", "list", code=1))
    assert unmigrated == "error: database error: no such table: doors (is the schema migrated? facegate db upgrade)"
    cli_env.folder.joinpath("facegate.db").unlink()
    cli("db", "upgrade")

    def boom(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr("service.repositories.doors.list_doors", boom)
    result = cli("doors", "list", code=1)
    expected = "error: unexpected RuntimeError: boom second line (run with --verbose for the traceback)"
    assert error_line(result) == expected
    verbose = cli("--verbose", "doors", "list", code=1)
    assert verbose.stderr.splitlines()[-1].startswith("error: unexpected RuntimeError")


def test_serve_runs_the_app_factory(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: calls.append({"app": app, **kwargs}))
    monkeypatch.setenv("FACEGATE_HOST", "0.0.0.0")
    cli("serve", "--port", "8123", "--workers", "2")
    assert calls == [
        {
            "app": "service.main:create_app",
            "factory": True,
            "host": "0.0.0.0",
            "port": 8123,
            "workers": 2,
            "log_level": "info",
        }
    ]


def test_serve_prepares_the_database_once_before_the_workers(
    cli: Cli, cli_env: CliEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The start sequence: migrate and store the admin key in the parent, then start FACEGATE_WORKERS workers
    that are told not to migrate (they build their settings from the environment)."""
    import os

    from service.db.presence import inspect_database
    from service.domain.keys import generate_token, token_prefix

    path = cli_env.folder / "facegate.db"
    path.unlink()
    token = generate_token()
    monkeypatch.setenv("FACEGATE_ADMIN_KEY", token)
    monkeypatch.setenv("FACEGATE_WORKERS", "3")
    seen: list[dict[str, Any]] = []

    def fake_run(app: str, **kwargs: Any) -> None:
        with sqlite3.connect(path) as connection:
            prefixes = [row[0] for row in connection.execute("SELECT prefix FROM api_keys")]
        state = inspect_database(cli_env.database_url)
        seen.append({"workers": kwargs["workers"], "migrate": os.environ.get("FACEGATE_MIGRATE_ON_START")})
        seen.append({"current": state.current, "prefixes": prefixes})

    monkeypatch.setattr("uvicorn.run", fake_run)
    cli("serve")
    assert seen == [{"workers": 3, "migrate": "false"}, {"current": True, "prefixes": [token_prefix(token)]}]
    assert "FACEGATE_MIGRATE_ON_START" not in os.environ, "restored after the server stopped"
    cli("serve", "--workers", "2")  # again: the key is stored once
    assert seen[-2:] == [{"workers": 2, "migrate": "false"}, {"current": True, "prefixes": [token_prefix(token)]}]
