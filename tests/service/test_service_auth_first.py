"""The key is checked before the body is read; a body that stops arriving times out; failed authentications are
rate-limited per client address; keys sent in a URL never reach the server's access log.

Measured on a running instance: ~80 MB of body were read before a request without a valid key got its 401, and
a declared but unsent body held a connection for 20 s or more. These tests drive the real app over ASGI (httpx)
with bodies that count how much of them was pulled, or never finish."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.api.ratelimit import RateLimiter

CHUNK = b"x" * 65536
PART_HEAD = (
    b'--x\r\nContent-Disposition: form-data; name="images"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
)


class CountingBody:
    """A request body of ``chunks`` chunks that records how many the server pulled; ``stall`` waits forever
    after the first chunk."""

    def __init__(self, chunks: int, *, stall: bool = False) -> None:
        self.chunks, self.stall, self.pulled = chunks, stall, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for i in range(self.chunks):
            self.pulled += 1
            yield PART_HEAD + CHUNK if i == 0 else CHUNK
            if self.stall:
                await asyncio.Event().wait()


def _post(app: FastAPI, path: str, body: CountingBody, headers: dict[str, str]) -> httpx.Response:
    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post(path, content=body, headers=headers)

    return asyncio.run(run())


@pytest.mark.parametrize("token", [None, "fg_00000000." + "A" * 43])
def test_a_request_without_a_valid_key_is_refused_before_its_body_is_read(
    client: TestClient, app: FastAPI, token: str | None
) -> None:
    body = CountingBody(3)  # 192 KiB, under the upload limit
    headers = {"content-type": "multipart/form-data; boundary=x", "content-length": str(3 * len(CHUNK))}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    response = _post(app, "/v1/people/1/faces", body, headers)
    assert response.status_code == 401, response.text
    assert response.json()["code"] == ("auth_required" if token is None else "auth_invalid")
    assert body.pulled == 0


def test_a_body_that_stops_arriving_times_out(client: TestClient, app: FastAPI, admin_headers: dict[str, str]) -> None:
    saved = app.state.body_timeout_s
    app.state.body_timeout_s = 0.2  # the wait itself; what is asserted never depends on it
    try:
        body = CountingBody(3, stall=True)
        headers = admin_headers | {
            "content-type": "multipart/form-data; boundary=x",
            "content-length": str(3 * len(CHUNK)),
        }
        response = _post(app, "/v1/people/1/faces", body, headers)
    finally:
        app.state.body_timeout_s = saved
    assert (response.status_code, response.json()["code"]) == (408, "body_timeout"), response.text


@pytest.fixture
def strict_failures(app: FastAPI) -> Iterator[None]:
    saved = app.state.auth_failure_limiter
    app.state.auth_failure_limiter = RateLimiter(per_minute=1, burst=3)
    try:
        yield
    finally:
        app.state.auth_failure_limiter = saved


def test_failed_authentications_are_rate_limited_per_address(
    client: TestClient, strict_failures: None, admin_headers: dict[str, str]
) -> None:
    bad = {"Authorization": "Bearer fg_00000000." + "B" * 43}
    codes = [client.get("/v1/people", headers=bad).json()["code"] for _ in range(4)]
    assert codes == ["auth_invalid"] * 3 + ["rate_limited"]
    # The address is locked out for a while, whatever key it sends; other addresses are not.
    locked = client.get("/v1/people", headers=admin_headers)
    assert locked.status_code == 429 and "Retry-After" in locked.headers
    elsewhere = TestClient(client.app, client=("192.0.2.7", 5000))
    assert elsewhere.get("/v1/people", headers=admin_headers).status_code == 200


def test_keys_in_a_url_never_reach_the_access_log(app: FastAPI, caplog: pytest.LogCaptureFixture) -> None:
    token = "fg_0a1b2c3d.Zk3P9vQ2xLm8Rt7Zy4Wn6Hb1Jc5Fd0GsAbCdEfGhIjKlMnO"
    secret_part = token.split(".", 1)[1]
    access = logging.getLogger("uvicorn.access")
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        for path in (
            f"/v1/people?key={token}",
            "/v1/people?api_key=s3cr3t-operator-value-that-is-long&x=1",
            f"/v1/people?access_token={token}",
            f"/v1/{token}",
        ):
            access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", path, "1.1", 401)
    text = caplog.text
    assert secret_part not in text and "s3cr3t-operator-value" not in text
    assert text.count("redacted") >= 4 and "x=1" in text
