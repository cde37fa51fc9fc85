"""API keys over HTTP: every endpoint but health needs one; roles are enforced; keys are shown once, revocable;
rate limits answer 429."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from service.api.ratelimit import RateLimiter

PROTECTED = [
    ("get", "/v1/people"),
    ("post", "/v1/people"),
    ("get", "/v1/access/log"),
    ("post", "/v1/access/check"),
    ("post", "/v1/identify"),
    ("post", "/v1/verify"),
    ("get", "/v1/keys"),
    ("get", "/v1/doors"),
    ("get", "/metrics"),
    ("post", "/v1/faces/detect"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_no_key_is_401(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path)
    assert response.status_code == 401
    assert response.json()["code"] == "auth_required"
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("token", ["nonsense", "fg_00000000." + "A" * 43, "x" * 600])
def test_wrong_key_is_401(client: TestClient, token: str) -> None:
    response = client.get("/v1/people", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and response.json()["code"] == "auth_invalid"


def test_health_needs_no_key(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["threshold"] > 0


def _key(admin: TestClient, role: str, door_ids: list[int] | None = None) -> tuple[int, dict[str, str]]:
    response = admin.post("/v1/keys", json={"name": f"{role} test", "role": role, "door_ids": door_ids or []})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["key"].startswith(body["prefix"] + ".")
    return body["id"], {"Authorization": f"Bearer {body['key']}"}


def test_roles_are_enforced(admin: TestClient) -> None:
    door = admin.post("/v1/doors", json={"name": "auth-door", "timezone": "UTC"}).json()["id"]
    _, terminal = _key(admin, "terminal", [door])
    _, auditor = _key(admin, "auditor")
    for headers in (terminal, auditor):
        assert admin.get("/v1/people", headers=headers).json()["code"] == "forbidden"
        assert admin.post("/v1/keys", json={"name": "x", "role": "admin"}, headers=headers).status_code == 403
    assert admin.get("/v1/access/log", headers=auditor).status_code == 200
    assert admin.get("/metrics", headers=auditor).status_code == 200
    assert admin.get("/v1/access/log", headers=terminal).status_code == 403


def test_key_listing_never_shows_secrets_and_revocation_works(admin: TestClient) -> None:
    key_id, headers = _key(admin, "auditor")
    listed = admin.get("/v1/keys").json()
    assert all("key" not in item for item in listed)
    assert any(item["id"] == key_id for item in listed)
    assert admin.get("/v1/access/log", headers=headers).status_code == 200
    assert admin.delete(f"/v1/keys/{key_id}").json()["revoked_at"] is not None
    assert admin.get("/v1/access/log", headers=headers).json()["code"] == "auth_invalid"
    assert all(item["id"] != key_id for item in admin.get("/v1/keys").json())


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"name": "t", "role": "terminal"}, 422, "terminal_needs_doors"),
        ({"name": "t", "role": "auditor", "door_ids": [1]}, 422, "doors_only_for_terminals"),
        ({"name": "t", "role": "terminal", "door_ids": [2**31 - 1]}, 404, "door_not_found"),
        ({"name": "t", "role": "root"}, 422, "request_invalid"),
    ],
)
def test_bad_key_requests(admin: TestClient, body: dict[str, object], status: int, code: str) -> None:
    before = len(admin.get("/v1/keys").json())
    response = admin.post("/v1/keys", json=body)
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert len(admin.get("/v1/keys").json()) == before


def test_rate_limiter_refills() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=2, clock=lambda: now[0])
    assert limiter.acquire(1) == 0.0 and limiter.acquire(1) == 0.0
    assert limiter.acquire(1) == pytest.approx(1.0)
    assert limiter.acquire(2) == 0.0  # keys do not share buckets
    now[0] = 1.0
    assert limiter.acquire(1) == 0.0
    assert RateLimiter(per_minute=0, burst=1).acquire(1) == 0.0


def test_rate_limit_answers_429(client: TestClient, admin_headers: dict[str, str]) -> None:
    saved = client.app.state.rate_limiter
    client.app.state.rate_limiter = RateLimiter(per_minute=1, burst=2)
    try:
        statuses = [client.get("/v1/keys", headers=admin_headers).status_code for _ in range(3)]
        response = client.get("/v1/keys", headers=admin_headers)
    finally:
        client.app.state.rate_limiter = saved
    assert statuses[:2] == [200, 200] and statuses[2] == 429
    assert response.json()["code"] == "rate_limited" and int(response.headers["retry-after"]) >= 1


def test_a_key_cannot_revoke_itself_nor_the_last_admin(admin: TestClient) -> None:
    me = next(k for k in admin.get("/v1/keys").json() if k["role"] == "admin" and k["prefix"].startswith("fg_"))
    response = admin.delete(f"/v1/keys/{me['id']}")
    assert (response.status_code, response.json()["code"]) == (409, "key_in_use")
    other_id, other = _key(admin, "admin")
    # With another admin key, the first one can go; then the other is the last admin and stays.
    assert admin.delete(f"/v1/keys/{other_id}", headers=other).json()["code"] == "key_in_use"
    assert admin.get("/v1/keys", headers=other).status_code == 200


def test_a_terminal_key_may_only_ask_the_access_check(admin: TestClient, lfw_jpeg: bytes) -> None:
    """A terminal key could score any face against any enrolled person (/v1/verify) and read raw embeddings
    (/v1/faces/detect?embeddings=true): a door terminal needs the access check only."""
    door = admin.post("/v1/doors", json={"name": "terminal-only-door", "timezone": "UTC"}).json()["id"]
    _, terminal = _key(admin, "terminal", [door])
    image = {"image": ("f.jpg", lfw_jpeg, "image/jpeg")}
    for path, data in [
        ("/v1/verify", {"person_id": "1"}),
        ("/v1/identify", None),
        ("/v1/faces/detect?embeddings=true", None),
    ]:
        response = admin.post(path, data=data, files=image, headers=terminal)
        assert (response.status_code, response.json()["code"]) == (403, "forbidden"), path
    frames = [("frames", ("f.jpg", lfw_jpeg, "image/jpeg"))]
    check = admin.post("/v1/access/check", data={"door_id": str(door)}, files=frames, headers=terminal)
    assert check.status_code == 200, check.text
    assert admin.post("/v1/faces/detect", files=image, headers=terminal).status_code == 200  # to aim the camera
