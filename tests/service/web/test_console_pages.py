"""The console's changes over HTTP, each checked through the JSON API (the same storage): people (suspend,
validity, enrol with per-image results, delete after confirmation), groups and members, rules, keys (the secret
shown once), webhooks (the secret shown once, events re-sent)."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from test_console_http import _key, _sign_in


def test_people_pages(app: FastAPI, admin: TestClient, fixture_face_paths: list[Path], att_pgm: bytes) -> None:
    browser, csrf = _sign_in(app, _key(admin, "admin"))
    made = browser.post(
        "/console/people",
        data={"external_id": "page-1", "display_name": "Page One", "valid_from": "2026-01-01", "csrf_token": csrf},
    )
    assert made.status_code == 303
    person = admin.get("/v1/people?search=page-1").json()["items"][0]
    assert person["valid_from"].startswith("2026-01-01T00:00:00")
    taken = browser.post("/console/people", data={"external_id": "page-1", "display_name": "X", "csrf_token": csrf})
    assert taken.status_code == 422 and "external_id_taken" in taken.text
    backwards = browser.post(
        "/console/people",
        data={
            "external_id": "page-2",
            "display_name": "X",
            "valid_from": "2026-02-01",
            "valid_until": "2026-01-01",
            "csrf_token": csrf,
        },
    )
    assert backwards.status_code == 422 and admin.get("/v1/people?search=page-2").json()["total"] == 0

    pid = person["id"]
    saved = browser.post(
        f"/console/people/{pid}",
        data={
            "display_name": "Page One",
            "status": "suspended",
            "valid_from": "",
            "valid_until": "",
            "csrf_token": csrf,
        },
    )
    assert saved.status_code == 303
    after = admin.get(f"/v1/people/{pid}").json()
    assert after["status"] == "suspended" and after["valid_from"] is None

    files = [
        ("images", ("face.jpg", fixture_face_paths[2].read_bytes(), "image/jpeg")),
        ("images", ("att.pgm", att_pgm, "image/x-portable-graymap")),
        ("images", ("junk.jpg", b"not an image", "image/jpeg")),
    ]
    enrolled = browser.post(f"/console/people/{pid}/faces", data={"csrf_token": csrf, "force": "on"}, files=files)
    assert enrolled.status_code == 200, enrolled.text
    rows = re.findall(r"<tr>\s*<td>(\d)</td>.*?</tr>", enrolled.text, re.S)
    assert rows == ["1", "2", "3"]
    assert "refused: " in enrolled.text and "enrolled" in enrolled.text
    assert admin.get(f"/v1/people/{pid}").json()["templates"] >= 1

    confirm = browser.get(f"/console/people/{pid}/delete")
    assert confirm.status_code == 200 and "Delete for good" in confirm.text
    assert admin.get(f"/v1/people/{pid}").status_code == 200  # asking is not deleting
    gone = browser.post(f"/console/people/{pid}/delete", data={"csrf_token": csrf})
    assert gone.status_code == 303 and admin.get(f"/v1/people/{pid}").status_code == 404


def test_groups_rules_keys_and_webhooks_pages(app: FastAPI, admin: TestClient) -> None:
    browser, csrf = _sign_in(app, _key(admin, "admin"))
    person = admin.post("/v1/people", json={"external_id": "grp-1", "display_name": "Group Member"}).json()["id"]
    door = admin.post("/v1/doors", json={"name": "pages door", "timezone": "America/New_York"}).json()["id"]

    made = browser.post("/console/groups", data={"name": "pages group", "csrf_token": csrf})
    assert made.status_code == 303
    group = int(made.headers["location"].split("?")[0].rsplit("/", 1)[1])
    unknown = browser.post(f"/console/groups/{group}/members", data={"external_id": "nobody", "csrf_token": csrf})
    assert unknown.status_code == 422 and "person_not_found" in unknown.text
    browser.post(f"/console/groups/{group}/members", data={"external_id": "grp-1", "csrf_token": csrf})
    members = admin.get(f"/v1/groups/{group}/members").json()["items"]
    assert [m["person_id"] for m in members] == [person]

    rule = browser.post(
        "/console/rules",
        data={
            "group_id": str(group),
            "door_id": str(door),
            "w0_days": ["sat", "sun"],
            "w0_start": "22:00",
            "w0_end": "06:00",
            "csrf_token": csrf,
        },
    )
    assert rule.status_code == 303
    rules = admin.get(f"/v1/rules?group_id={group}").json()["items"]
    assert rules[0]["windows"] == [{"days": ["sat", "sun"], "start": "22:00", "end": "06:00"}]
    assert "sat, sun 22:00–06:00" in browser.get("/console/rules").text
    both = browser.post("/console/rules", data={"group_id": str(group), "external_id": "grp-1", "csrf_token": csrf})
    assert both.status_code == 422 and "rule_subject" in both.text
    assert browser.post(f"/console/rules/{rules[0]['id']}/delete", data={"csrf_token": csrf}).status_code == 303
    assert admin.get(f"/v1/rules?group_id={group}").json()["total"] == 0
    browser.post(f"/console/groups/{group}/members/{person}/delete", data={"csrf_token": csrf})
    assert admin.get(f"/v1/groups/{group}/members").json()["total"] == 0

    created = browser.post(
        "/console/keys",
        data={"name": "pages terminal", "role": "terminal", "door_ids": [str(door)], "csrf_token": csrf},
    )
    assert created.status_code == 201
    secret = re.search(r'id="new_key" readonly value="([^"]+)"', created.text)
    assert secret is not None
    assert secret.group(1) not in browser.get("/console/keys").text  # shown once
    key_id = next(k["id"] for k in admin.get("/v1/keys").json() if secret.group(1).startswith(k["prefix"]))
    revoked = browser.post(f"/console/keys/{key_id}/revoke", data={"csrf_token": csrf})
    assert revoked.status_code == 303
    assert next(k for k in admin.get("/v1/keys?include_revoked=true").json() if k["id"] == key_id)["revoked_at"]

    hook = browser.post(
        "/console/webhooks",
        data={"url": "http://127.0.0.1:9/pages", "door_ids": [str(door)], "decisions": ["denied"], "csrf_token": csrf},
    )
    assert hook.status_code == 201
    hook_secret = re.search(r'id="new_secret" readonly value="([^"]+)"', hook.text)
    assert hook_secret is not None and hook_secret.group(1) not in browser.get("/console/webhooks").text
    listed = [h for h in admin.get("/v1/webhooks").json() if h["url"] == "http://127.0.0.1:9/pages"]
    assert listed[0]["door_ids"] == [door] and listed[0]["decisions"] == ["denied"]
    missing = browser.post("/console/webhooks/events/999999/resend", data={"csrf_token": csrf})
    assert missing.status_code == 404
    assert browser.post(f"/console/webhooks/{listed[0]['id']}/delete", data={"csrf_token": csrf}).status_code == 303
    assert browser.post(f"/console/groups/{group}/delete", data={"csrf_token": csrf}).status_code == 303
    assert browser.post(f"/console/doors/{door}/delete", data={"csrf_token": csrf}).status_code == 303
    assert admin.get(f"/v1/doors/{door}").status_code == 404
