"""The console and kiosk over real HTTP through the app (no browser): sessions, CSRF, roles, security headers,
the kiosk's answer, and /docs served without any other host."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from service.db.models import ConsoleSession
from service.db.types import utcnow
from service.web.security import CSP

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def _no_inline_script(html: str) -> bool:
    """No <script> without a src, no on...= event handler attribute, no javascript: URL."""
    inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    return not inline and not re.search(r"\son[a-z]+\s*=", html) and "javascript:" not in html


def _browser(app: FastAPI) -> TestClient:
    """A client with its own cookie jar, on the app the session's client already started."""
    return TestClient(app, follow_redirects=False)


def _sign_in(app: FastAPI, key: str) -> tuple[TestClient, str]:
    browser = _browser(app)
    page = browser.get("/console/signin")
    match = CSRF_RE.search(page.text)
    assert match is not None
    answer = browser.post("/console/signin", data={"key": key, "csrf_token": match.group(1)})
    assert answer.status_code == 303 and answer.headers["location"] == "/console/people", answer.text
    people = browser.get("/console/people")
    match = CSRF_RE.search(people.text)
    assert match is not None
    return browser, match.group(1)


def _key(admin: TestClient, role: str, door_ids: list[int] | None = None) -> str:
    body = {"name": f"console {role}", "role": role, "door_ids": door_ids or []}
    created = admin.post("/v1/keys", json=body)
    assert created.status_code == 201, created.text
    token: str = created.json()["key"]
    return token


def test_sign_in_sets_a_strict_http_only_cookie_and_pages_carry_the_csp(
    app: FastAPI, client: TestClient, admin_headers: dict[str, str]
) -> None:
    key = admin_headers["Authorization"].removeprefix("Bearer ")
    browser = _browser(app)
    assert browser.get("/console/people").headers["location"] == "/console/signin"
    page = browser.get("/console/signin")
    assert page.headers["content-security-policy"] == CSP and "'unsafe-inline'" not in CSP
    assert page.headers["x-frame-options"] == "DENY"
    assert _no_inline_script(page.text)
    token = CSRF_RE.search(page.text)
    assert token is not None
    wrong = browser.post("/console/signin", data={"key": "fg_nope.nope", "csrf_token": token.group(1)})
    assert wrong.status_code == 401
    browser, _csrf = _sign_in(app, key)
    cookie = next(c for c in browser.cookies.jar if c.name == "fg_console")
    assert cookie.path == "/console" and cookie.has_nonstandard_attr("HttpOnly")
    assert cookie.get_nonstandard_attr("SameSite", "").lower() == "strict"
    assert not cookie.secure  # plain http here; https (or FACEGATE_CONSOLE_SECURE_COOKIE) makes it Secure


def test_sign_in_without_the_form_token_is_refused(app: FastAPI, admin_headers: dict[str, str]) -> None:
    key = admin_headers["Authorization"].removeprefix("Bearer ")
    answer = _browser(app).post("/console/signin", data={"key": key})
    assert answer.status_code == 403 and "csrf_invalid" in answer.text
    assert "fg_console" not in answer.headers.get("set-cookie", "")


def test_a_change_without_the_csrf_token_is_refused_and_changes_nothing(
    app: FastAPI, admin: TestClient, admin_headers: dict[str, str]
) -> None:
    browser, csrf = _sign_in(app, admin_headers["Authorization"].removeprefix("Bearer "))
    refused = browser.post("/console/doors", data={"name": "csrf door", "timezone": "UTC"})
    assert refused.status_code == 403 and "csrf_invalid" in refused.text
    forged = browser.post("/console/doors", data={"name": "csrf door", "timezone": "UTC", "csrf_token": "x" * 43})
    assert forged.status_code == 403
    assert "csrf door" not in [d["name"] for d in admin.get("/v1/doors").json()["items"]]
    made = browser.post("/console/doors", data={"name": "csrf door", "timezone": "UTC", "csrf_token": csrf})
    assert made.status_code == 303
    assert "csrf door" in [d["name"] for d in admin.get("/v1/doors").json()["items"]]


def test_an_auditor_sees_but_cannot_change(app: FastAPI, admin: TestClient) -> None:
    browser, csrf = _sign_in(app, _key(admin, "auditor"))
    for page in ("people", "doors", "groups", "rules", "log", "keys", "webhooks", "status"):
        shown = browser.get(f"/console/{page}")
        assert shown.status_code == 200, page
        assert _no_inline_script(shown.text), page
        assert 'method="post" action="/console/signout"' in shown.text
        assert shown.text.count('method="post"') == 1, f"{page} offers an auditor a form that changes something"
    before = admin.get("/v1/people").json()["total"]
    refused = browser.post("/console/people", data={"external_id": "aud-1", "display_name": "A", "csrf_token": csrf})
    assert refused.status_code == 403 and "forbidden" in refused.text
    assert browser.post("/console/keys", data={"name": "x", "role": "admin", "csrf_token": csrf}).status_code == 403
    assert admin.get("/v1/people").json()["total"] == before


def test_terminal_keys_cannot_use_the_console(app: FastAPI, admin: TestClient) -> None:
    door = admin.post("/v1/doors", json={"name": "terminal-console door", "timezone": "UTC"}).json()["id"]
    browser = _browser(app)
    page = browser.get("/console/signin")
    token = CSRF_RE.search(page.text)
    assert token is not None
    answer = browser.post(
        "/console/signin", data={"key": _key(admin, "terminal", [door]), "csrf_token": token.group(1)}
    )
    assert answer.status_code == 401


def test_sign_out_revocation_and_expiry_end_the_session(app: FastAPI, admin: TestClient) -> None:
    key = _key(admin, "admin")
    browser, csrf = _sign_in(app, key)
    assert browser.post("/console/signout", data={"csrf_token": csrf}).status_code == 303
    assert browser.get("/console/people").status_code == 303

    browser, _ = _sign_in(app, key)
    factory = app.state.sessionmaker
    with factory.begin() as session:
        session.execute(update(ConsoleSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert browser.get("/console/people").headers["location"] == "/console/signin"

    browser, _ = _sign_in(app, key)
    key_id = next(k["id"] for k in admin.get("/v1/keys").json() if key.startswith(k["prefix"]))
    assert admin.delete(f"/v1/keys/{key_id}").status_code in (200, 204)
    assert browser.get("/console/people").headers["location"] == "/console/signin"


def test_bad_console_input_is_a_4xx_that_changes_nothing(app: FastAPI, admin: TestClient) -> None:
    browser, csrf = _sign_in(app, _key(admin, "admin"))
    bad_zone = browser.post("/console/doors", data={"name": "zone door", "timezone": "Mars/Base", "csrf_token": csrf})
    assert bad_zone.status_code == 422 and "timezone_invalid" in bad_zone.text
    bad_rule = browser.post("/console/rules", data={"csrf_token": csrf})
    assert bad_rule.status_code == 422
    bad_hook = browser.post("/console/webhooks", data={"url": "file:///etc/passwd", "csrf_token": csrf})
    assert bad_hook.status_code == 422 and "url_invalid" in bad_hook.text
    assert browser.get("/console/people/2147483647").status_code == 404
    assert browser.get("/console/people/0").status_code == 422


def _granted_scores_counted(admin: TestClient) -> float:
    """How many granted decisions' scores ``/metrics`` has observed so far."""
    text = admin.get("/metrics").text
    found = re.search(r'^facegate_decision_score_count\{outcome="granted"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def test_the_kiosk_answers_with_the_name_only_when_granted(
    app: FastAPI, admin: TestClient, fixture_face_paths: list[Path], lfw_dir: Path
) -> None:
    door = admin.post("/v1/doors", json={"name": "kiosk http door", "timezone": "UTC"}).json()["id"]
    other = admin.post("/v1/doors", json={"name": "kiosk other door", "timezone": "UTC"}).json()["id"]
    person = admin.post("/v1/people", json={"external_id": "kiosk-http", "display_name": "Kiosk Person"}).json()["id"]
    # A real face that no other test of this session's database enrols: with a bundled fixture face, another
    # test's person with the same face made the answer depend on test order (ambiguous match).
    image = (lfw_dir / "Hugo_Chavez" / "Hugo_Chavez_0001.jpg").read_bytes()
    enrolled = admin.post(f"/v1/people/{person}/faces", files=[("images", ("a.jpg", image, "image/jpeg"))])
    assert enrolled.status_code == 201, enrolled.text
    kiosk = _browser(app)
    assert kiosk.post(f"/kiosk/{door}/check").status_code == 401  # not signed in
    form = kiosk.get(f"/kiosk/{door}")
    token = CSRF_RE.search(form.text)
    assert token is not None
    wrong_door = kiosk.post(
        f"/kiosk/{door}/signin", data={"key": _key(admin, "terminal", [other]), "csrf_token": token.group(1)}
    )
    assert wrong_door.status_code == 401
    token = CSRF_RE.search(wrong_door.text)
    assert token is not None
    signed = kiosk.post(
        f"/kiosk/{door}/signin", data={"key": _key(admin, "terminal", [door]), "csrf_token": token.group(1)}
    )
    assert signed.status_code == 303
    page = kiosk.get(f"/kiosk/{door}")
    csrf = re.search(r'data-csrf="([^"]+)"', page.text)
    assert csrf is not None and page.headers["content-security-policy"] == CSP
    frames = [("frames", ("f.jpg", image, "image/jpeg"))]
    assert kiosk.post(f"/kiosk/{door}/check", files=frames).status_code == 403  # no CSRF header

    headers = {"X-CSRF-Token": csrf.group(1)}
    denied = kiosk.post(f"/kiosk/{door}/check", files=frames, headers=headers)
    assert denied.status_code == 200 and denied.json() == {
        "granted": False,
        "name": None,
        "message": "No access at this door",
    }
    rule = admin.post("/v1/rules", json={"person_id": person, "door_id": door})
    assert rule.status_code == 201
    scored_before = _granted_scores_counted(admin)
    granted = kiosk.post(f"/kiosk/{door}/check", files=frames, headers=headers)
    assert granted.json() == {"granted": True, "name": "Kiosk Person", "message": "Welcome"}
    # A kiosk decision counts in /metrics like an API one, its score included.
    assert _granted_scores_counted(admin) == scored_before + 1
    stranger = kiosk.post(
        f"/kiosk/{door}/check",
        files=[("frames", ("s.jpg", fixture_face_paths[3].read_bytes(), "image/jpeg"))],
        headers=headers,
    )
    assert stranger.json()["granted"] is False and stranger.json()["name"] is None
    assert set(stranger.json()) == {"granted", "name", "message"}
    too_many = kiosk.post(f"/kiosk/{door}/check", files=frames * 4, headers=headers)
    assert too_many.status_code in (400, 403)


@pytest.mark.parametrize("path", ["/docs", "/console/signin"])
def test_pages_load_nothing_from_another_host(client: TestClient, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/") or s.startswith("#") for s in sources), sources
    assert "cdn" not in page.text.lower() and "http://" not in page.text and "https://" not in page.text
    assert client.get("/redoc").status_code == 404
    for source in sources:
        if source.startswith("/static/"):
            assert client.get(source).status_code == 200, source
