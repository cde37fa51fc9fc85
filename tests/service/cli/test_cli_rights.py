"""``facegate doors``, ``groups``, ``grant``, ``revoke`` and ``rules list``: the rights an operator manages, with
their mistakes (bad time zone, bad time range, unknown door, a grant naming both or neither subject)."""

from __future__ import annotations

import json

from cli_support import Cli, error_line


def test_doors(cli: Cli) -> None:
    assert cli("doors", "add", "main entrance", "--tz", "Europe/Paris").stdout.strip() == (
        "added door 1 'main entrance' (Europe/Paris)"
    )
    added = json.loads(cli("doors", "add", "lab", "--timezone", "Asia/Tokyo", "--json").stdout)
    assert added["name"] == "lab" and added["timezone"] == "Asia/Tokyo"
    listing = cli("doors", "list").stdout
    assert "main entrance" in listing and "Asia/Tokyo" in listing
    page = json.loads(cli("doors", "list", "--json").stdout)
    assert page["total"] == 2 and [d["name"] for d in page["items"]] == ["main entrance", "lab"]

    taken = cli("doors", "add", "lab", "--tz", "UTC", code=1)
    assert error_line(taken) == "error: a door named 'lab' exists already (name_taken)"
    zone = cli("doors", "add", "cellar", "--tz", "Mars/Olympus", code=1)
    assert error_line(zone) == "error: unknown time zone 'Mars/Olympus' (timezone_invalid)"
    assert cli("doors", "add", "x", code=2).exit_code == 2  # --timezone is required: a usage error

    cli("doors", "delete", "lab", code=1)  # no terminal to confirm on: aborted
    assert json.loads(cli("doors", "list", "--json").stdout)["total"] == 2
    assert cli("doors", "delete", "#2", "--yes").stdout.strip() == "deleted door 2 'lab'"
    unknown = cli("doors", "delete", "lab", "--yes", code=1)
    assert error_line(unknown) == "error: door 'lab' does not exist (door_not_found)"


def test_groups_and_members(cli: Cli) -> None:
    for badge in ("B-1", "B-2", "B-3"):
        cli("people", "add", badge, f"Person {badge}")
    assert cli("groups", "add", "night shift").stdout.strip() == "added group 1 'night shift'"
    assert "2 added, 0 already members" in cli("groups", "members", "add", "night shift", "B-1", "B-2").stdout
    assert "0 added, 1 already members" in cli("groups", "members", "add", "night shift", "B-1").stdout
    members = json.loads(cli("groups", "members", "list", "night shift", "--json").stdout)
    assert [m["external_id"] for m in members["items"]] == ["B-1", "B-2"]
    assert "1 removed" in cli("groups", "members", "remove", "night shift", "B-1").stdout
    not_member = cli("groups", "members", "remove", "night shift", "B-3", code=1)
    assert "(member_not_found)" in error_line(not_member)
    unknown = cli("groups", "members", "add", "night shift", "B-2", "nobody", code=1)
    assert error_line(unknown) == "error: person 'nobody' does not exist (person_not_found)"
    assert json.loads(cli("groups", "members", "list", "1", "--json").stdout)["total"] == 1  # all or nothing

    listing = cli("groups", "list").stdout.splitlines()
    assert listing[0].split()[:3] == ["ID", "NAME", "MEMBERS"]
    assert listing[1].split()[:4] == ["1", "night", "shift", "1"]
    assert json.loads(cli("groups", "list", "--json").stdout)["items"][0]["name"] == "night shift"
    taken = cli("groups", "add", "night shift", code=1)
    assert "(name_taken)" in error_line(taken)
    assert "deleted group 1" in cli("groups", "delete", "night shift", "--yes").stdout
    assert "(group_not_found)" in error_line(cli("groups", "delete", "1", "-y", code=1))


def test_grant_list_revoke(cli: Cli) -> None:
    cli("people", "add", "B-1", "Ada")
    cli("doors", "add", "main", "--tz", "Europe/Paris")
    cli("groups", "add", "staff")
    first = cli("grant", "--person", "B-1", "--door", "main", "--days", "mon-fri", "--from", "08:00", "--to", "18:00")
    assert first.stdout.strip() == "rule 1: person B-1 may pass main (Europe/Paris), mon-fri 08:00-18:00"
    night = json.loads(
        cli(
            "grant", "--group", "staff", "--all-doors", "--days", "fri-mon", "--from", "22:00", "--to", "06:00",
            "--valid-from", "2025-06-01T00:00:00+02:00", "--valid-until", "2025-09-01T00:00:00+02:00", "--json",
        ).stdout
    )  # fmt: skip
    assert night["door_id"] is None and night["group_id"] == 1
    assert night["windows"] == [{"days": ["mon", "fri", "sat", "sun"], "start": "22:00", "end": "06:00"}]
    assert night["valid_from"] == "2025-05-31T22:00:00Z"
    whole_days = json.loads(cli("grant", "--person", "B-1", "--door", "main", "--days", "sat", "--json").stdout)
    assert whole_days["windows"] == [{"days": ["sat"], "start": "00:00", "end": "24:00"}]
    any_time = cli("grant", "--person", "B-1", "--all-doors").stdout
    assert any_time.strip() == "rule 4: person B-1 may pass every door, any time"

    listing = cli("rules", "list").stdout.splitlines()
    assert len(listing) == 5 and "group staff" in listing[2] and "every door" in listing[2]
    assert [r["id"] for r in json.loads(cli("rules", "list", "--door", "main", "--json").stdout)["items"]] == [1, 3]
    assert json.loads(cli("rules", "list", "--group", "staff", "--json").stdout)["total"] == 1

    cli("revoke", "1", code=1, input="n\n")
    assert "revoked rule 1: person B-1 at main" in cli("revoke", "1", input="y\n").stdout
    assert "(rule_not_found)" in error_line(cli("revoke", "1", "--yes", code=1))
    assert json.loads(cli("rules", "list", "--json").stdout)["total"] == 3


def test_grant_mistakes(cli: Cli) -> None:
    cli("people", "add", "B-1", "Ada")
    cli("groups", "add", "staff")
    cli("doors", "add", "main", "--tz", "UTC")
    cases = {
        ("--person", "B-1", "--door", "main", "--from", "18:00", "--to", "18:00"): (
            "error: empty window: start_minute == end_minute == 1080 (window_invalid)"
        ),
        ("--person", "B-1", "--door", "main", "--from", "25:00", "--to", "26:00"): (
            "error: windows.0.start: String should match pattern"
        ),
        ("--person", "B-1", "--door", "main", "--from", "08:00"): (
            "error: give both --from and --to (or neither, for the whole day)"
        ),
        ("--person", "B-1", "--door", "main", "--days", "mon,funday"): "error: windows.0.days.1: Input should be",
        ("--person", "B-1", "--all-doors", "--valid-from", "2026-01-01T00:00Z", "--valid-until", "2025-01-01T00:00Z"): (
            "error: valid_until must be after valid_from (validity_invalid)"
        ),
        ("--person", "B-1", "--all-doors", "--valid-from", "2026-01-01"): "error: valid_from: Input should have",
        ("--person", "B-1", "--group", "staff", "--door", "main"): "error: give exactly one of --person and --group",
        ("--door", "main"): "error: give exactly one of --person and --group",
        ("--person", "B-1"): "error: give exactly one of --door and --all-doors",
        ("--person", "B-1", "--door", "main", "--all-doors"): "error: give exactly one of --door and --all-doors",
        ("--person", "nobody", "--door", "main"): "error: person 'nobody' does not exist (person_not_found)",
        ("--person", "B-1", "--door", "back"): "error: door 'back' does not exist (door_not_found)",
        ("--group", "night", "--all-doors"): "error: group 'night' does not exist (group_not_found)",
    }
    for args, message in cases.items():
        assert error_line(cli("grant", *args, code=1)).startswith(message), args
    assert json.loads(cli("rules", "list", "--json").stdout)["total"] == 0
