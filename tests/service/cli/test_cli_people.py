"""``facegate people``: every command's success path, the JSON shape (the API's), and the operator's mistakes:
a taken external id, an unknown person, a validity period that ends before it starts, an instant without a zone."""

from __future__ import annotations

import json

from cli_support import Cli, error_line


def test_add_list_show(cli: Cli) -> None:
    result = cli("people", "add", "B-1042", "Ada Lovelace", "--valid-until", "2030-01-01T00:00:00+01:00")
    assert result.stdout.strip() == "added person 1 'B-1042' (Ada Lovelace, active)"
    cli("people", "add", "B-7", "Charles Babbage", "--suspended")

    listing = cli("people", "list").stdout.splitlines()
    assert listing[0].split("  ")[:2] == ["ID", "EXTERNAL ID"] and listing[0].endswith("TEMPLATES")
    assert "B-1042" in listing[1] and "2029-12-31 23:00:00Z" in listing[1] and listing[1].rstrip().endswith("0")
    assert "B-7" in listing[2] and "suspended" in listing[2]

    page = json.loads(cli("people", "list", "--status", "suspended", "--json").stdout)
    assert page["total"] == 1 and [p["external_id"] for p in page["items"]] == ["B-7"]
    assert set(page["items"][0]) == {
        "id",
        "external_id",
        "display_name",
        "status",
        "valid_from",
        "valid_until",
        "created_at",
        "updated_at",
        "templates",
    }
    assert json.loads(cli("people", "list", "--search", "lovelace", "--json").stdout)["total"] == 1

    shown = json.loads(cli("people", "show", "B-1042", "--json").stdout)
    assert shown["person"]["valid_until"] == "2029-12-31T23:00:00Z"
    assert shown["templates"] == [] and shown["groups"] == []
    text = cli("people", "show", "#1").stdout
    assert "external id: B-1042" in text and "templates:   0 for the serving model" in text


def test_a_person_is_named_by_external_id_then_by_id(cli: Cli) -> None:
    cli("people", "add", "2", "Badge Two")  # person 1, whose badge reads "2"
    cli("people", "add", "B-9", "Someone")  # person 2
    assert json.loads(cli("people", "show", "2", "--json").stdout)["person"]["external_id"] == "2"
    assert json.loads(cli("people", "show", "#2", "--json").stdout)["person"]["external_id"] == "B-9"
    assert json.loads(cli("people", "show", "1", "--json").stdout)["person"]["external_id"] == "2"


def test_update_suspend_resume(cli: Cli) -> None:
    cli("people", "add", "B-1", "Ada", "--valid-from", "2025-01-01T00:00:00Z")
    until = "2031-01-01T00:00:00+00:00"
    updated = json.loads(cli("people", "update", "B-1", "--name", "Ada L.", "--valid-until", until, "--json").stdout)
    assert updated["display_name"] == "Ada L." and updated["valid_from"] == "2025-01-01T00:00:00Z"
    assert updated["valid_until"] == "2031-01-01T00:00:00Z"
    cleared = json.loads(cli("people", "update", "B-1", "--valid-from", "none", "--json").stdout)
    assert cleared["valid_from"] is None and cleared["valid_until"] == "2031-01-01T00:00:00Z"

    assert cli("people", "suspend", "B-1").stdout.startswith("suspended person 1 'B-1' (Ada L., suspended)")
    assert json.loads(cli("people", "show", "B-1", "--json").stdout)["person"]["status"] == "suspended"
    assert "active" in cli("people", "resume", "B-1").stdout


def test_delete_asks_first(cli: Cli) -> None:
    cli("people", "add", "B-1", "Ada")
    refused = cli("people", "delete", "B-1", code=1, input="n\n")
    assert "Delete person 'B-1'" in refused.stdout
    assert json.loads(cli("people", "list", "--json").stdout)["total"] == 1
    cli("people", "delete", "B-1", input="y\n")
    result = cli("people", "delete", "B-1", code=1)
    assert error_line(result) == "error: person 'B-1' does not exist (person_not_found)"
    cli("people", "add", "B-2", "Bob")
    assert "'B-2' and 0 templates" in cli("people", "delete", "B-2", "--yes").stdout


def test_a_taken_external_id_is_refused(cli: Cli) -> None:
    cli("people", "add", "B-1", "Ada")
    result = cli("people", "add", "B-1", "Somebody else", code=1)
    assert error_line(result) == ("error: a person with external id 'B-1' exists already (external_id_taken)")
    assert result.stdout == ""


def test_unknown_person(cli: Cli) -> None:
    for command in (["show"], ["update", "--name", "x"], ["suspend"], ["resume"], ["delete", "--yes"]):
        result = cli("people", command[0], "nobody", *command[1:], code=1)
        assert error_line(result) == "error: person 'nobody' does not exist (person_not_found)"
    assert "person 99 does not exist" in error_line(cli("people", "show", "99", code=1))


def test_bad_validity_and_instants(cli: Cli) -> None:
    result = cli(
        "people", "add", "B-1", "Ada", "--valid-from", "2030-01-01T00:00:00Z", "--valid-until", "2029-01-01T00:00:00Z",
        code=1,
    )  # fmt: skip
    assert "valid_until must be later than valid_from (validity_invalid)" in error_line(result)
    naive = cli("people", "add", "B-1", "Ada", "--valid-from", "2030-01-01T08:00", code=1)
    assert error_line(naive) == "error: valid_from: Input should have timezone info"
    garbage = cli("people", "add", "B-1", "Ada", "--valid-until", "next tuesday", code=1)
    assert error_line(garbage).startswith("error: valid_until: Input should be a valid datetime")
    spaces = cli("people", "add", "B 1", "Ada", code=1)
    assert error_line(spaces).startswith("error: external_id: String should match pattern")
    cli("people", "add", "B-1", "Ada", "--valid-until", "2030-01-01T00:00:00Z")
    backwards = cli("people", "update", "B-1", "--valid-from", "2031-01-01T00:00:00Z", code=1)
    assert "validity_invalid" in error_line(backwards)
    assert json.loads(cli("people", "list", "--json").stdout)["total"] == 1
