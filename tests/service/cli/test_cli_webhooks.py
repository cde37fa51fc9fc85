"""``facegate webhooks``: a subscription added, a real decision (``facegate check``) queued in the outbox, sent by
``facegate webhooks deliver`` to a real receiver, failed to dead, listed, re-sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import Cli
from webhook_receiver import running_receiver

from models.embedder import FaceEmbedder

SECRET = "whsec_cli_test_0123456789"


def test_webhooks_commands(
    cli: Cli, with_model: FaceEmbedder, fixture_face_paths: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEGATE_WEBHOOK_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("FACEGATE_WEBHOOK_BACKOFF_S", "0.001")
    monkeypatch.setenv("FACEGATE_WEBHOOK_BACKOFF_MAX_S", "0.001")
    with running_receiver(SECRET) as receiver:
        cli("doors", "add", "lobby", "--timezone", "UTC")
        bad = cli("webhooks", "add", "gopher://x/", code=1)
        assert "url_invalid" in bad.stderr
        added = cli("webhooks", "add", receiver.url, "--secret", SECRET, "--door", "lobby", "--decision", "denied")
        assert added.stdout.strip() == SECRET
        assert receiver.url in cli("webhooks", "list").stdout

        cli("check", "lobby", str(fixture_face_paths[0]), code=3)  # nobody enrolled: denied, logged, queued
        pending = json.loads(cli("webhooks", "events", "--json").stdout)
        assert [e["status"] for e in pending["items"]] == ["pending"]

        receiver.status = 503
        cli("webhooks", "deliver")
        cli("webhooks", "deliver")
        dead = json.loads(cli("webhooks", "events", "--status", "dead", "--json").stdout)["items"]
        assert len(dead) == 1 and dead[0]["attempts"] == 2 and dead[0]["last_status"] == 503

        receiver.status = 200
        cli("webhooks", "resend", str(dead[0]["id"]))
        assert "attempted 1" in cli("webhooks", "deliver").stdout
        done = json.loads(cli("webhooks", "events", "--json").stdout)["items"]
        assert done[0]["status"] == "delivered"
        assert [d.json["reason"] for d in receiver.deliveries] == ["unknown_face"] * 3
        assert all(d.verified for d in receiver.deliveries)
        cli("webhooks", "delete", "1", "--yes")
        assert "(none)" in cli("webhooks", "list").stdout
