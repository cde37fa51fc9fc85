"""Every bad request gets its 4xx, its stable code and an application/problem+json body; a server
fault gets 500 internal_error without its details."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from models.imageio import ImageLimits
from service.api.deps import get_embedder
from service.config import Settings

DETECT = "/v1/faces/detect"
PROBLEM = "application/problem+json"


def upload(data: bytes, filename: str = "face.jpg", content_type: str = "image/jpeg") -> dict[str, Any]:
    """The ``files=`` of a multipart upload in the ``image`` field."""
    return {"image": (filename, data, content_type)}


def encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """``response`` is a problem+json body with ``status`` and ``code``; returns the body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:facegate:problem:{code}"
    assert isinstance(body["title"], str) and body["title"]
    return body


def random_bytes(_: bytes) -> bytes:
    return b"\x00\x01" + np.random.default_rng(0).bytes(4094)


def gif(_: bytes) -> bytes:
    return encode(Image.new("RGB", (64, 64), (200, 30, 30)), "GIF")


def too_many_pixels(_: bytes) -> bytes:
    return encode(Image.new("L", (1200, 1000)), "PNG")  # 1.2 Mpx (over the tests' 1 Mpx), a few kB


@pytest.mark.parametrize(
    ("make", "status", "code"),
    [
        pytest.param(lambda jpeg: b"", 400, "image_empty", id="empty"),
        pytest.param(random_bytes, 400, "image_not_an_image", id="random-bytes"),
        pytest.param(lambda jpeg: jpeg[: len(jpeg) // 2], 400, "image_truncated", id="truncated-jpeg"),
        pytest.param(gif, 415, "image_unsupported_format", id="gif"),
        pytest.param(too_many_pixels, 413, "image_too_large", id="too-many-pixels"),
    ],
)
def test_bad_image_uploads(
    admin: TestClient, lfw_jpeg: bytes, make: Callable[[bytes], bytes], status: int, code: str
) -> None:
    body = assert_problem(admin.post(DETECT, files=upload(make(lfw_jpeg))), status, code)
    assert body["instance"] == DETECT


def test_upload_one_byte_over_the_limit(admin: TestClient, settings: Settings) -> None:
    data = b"\xff\xd8" + b"x" * (settings.max_upload_bytes - 1)
    body = assert_problem(admin.post(DETECT, files=upload(data)), 413, "upload_too_large")
    assert str(settings.max_upload_bytes) in str(body["detail"])


def test_request_body_over_the_limit_is_refused_from_its_content_length(admin: TestClient, settings: Settings) -> None:
    data = b"x" * (settings.max_upload_bytes * 2)
    assert_problem(admin.post(DETECT, files=upload(data)), 413, "upload_too_large")


def test_chunked_body_over_the_limit_is_cut_off_while_streaming(admin: TestClient, settings: Settings) -> None:
    boundary = "facegate-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="big.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()

    def body() -> Iterator[bytes]:
        yield head
        for _ in range(2 * settings.max_upload_bytes // 65536):
            yield b"x" * 65536
        yield f"\r\n--{boundary}--\r\n".encode()

    headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
    response = admin.post(DETECT, content=body(), headers=headers)
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "upload_too_large")


def test_missing_image_field(admin: TestClient) -> None:
    body = assert_problem(admin.post(DETECT, data={"picture": "nope"}), 422, "request_invalid")
    assert body["errors"] == [{"loc": ["body", "image"], "msg": "Field required", "type": "missing"}]


def test_invalid_query_parameter(admin: TestClient, lfw_jpeg: bytes) -> None:
    response = admin.post(DETECT, files=upload(lfw_jpeg), params={"embeddings": "perhaps"})
    body = assert_problem(response, 422, "request_invalid")
    assert isinstance(body["errors"], list)
    assert [e["loc"] for e in body["errors"]] == [["query", "embeddings"]]
    assert "perhaps" not in response.text  # the input is not echoed


def test_unknown_path_and_wrong_method(admin: TestClient) -> None:
    assert_problem(admin.get("/v1/nowhere"), 404, "not_found")
    response = admin.get(DETECT)
    assert_problem(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"


def test_unhandled_error_is_500_without_details(
    app: FastAPI, client: TestClient, admin_headers: dict[str, str], lfw_jpeg: bytes
) -> None:
    def explode(image: object) -> list[object]:
        raise RuntimeError("secret internal state /etc/facegate")

    broken = SimpleNamespace(image_limits=ImageLimits(), detector=SimpleNamespace(detect=explode))
    app.dependency_overrides[get_embedder] = lambda: broken
    failing = TestClient(app, raise_server_exceptions=False)  # not entered: the lifespan already ran in `client`
    try:
        response = failing.post(DETECT, files=upload(lfw_jpeg), headers=admin_headers)
    finally:
        failing.close()
        app.dependency_overrides.clear()
    body = assert_problem(response, 500, "internal_error")
    assert "secret" not in response.text and "RuntimeError" not in response.text
    assert body["instance"] == DETECT


def test_openapi_lists_the_error_responses_as_problems(admin: TestClient) -> None:
    schema = admin.get("/openapi.json").json()
    responses = schema["paths"][DETECT]["post"]["responses"]
    for status in ("400", "413", "415", "422", "503"):
        assert responses[status]["content"] == {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    assert "Problem" in schema["components"]["schemas"]
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    assert schema["paths"]["/readyz"]["get"]["responses"]["503"]["content"].keys() == {PROBLEM}
