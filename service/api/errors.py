"""Every error leaves the API as RFC 9457 problem details (``application/problem+json``) with a stable
machine-readable ``code``.

- :class:`ApiError` (an ``HTTPException``, so it also passes FastAPI's body parsing): errors the service
  raises itself, each subclass with its status and code.
- :mod:`models.imageio` errors keep their ``code``; the status says whose fault: 413 too large,
  415 unsupported format, 400 anything else (empty, not an image, truncated).
- Request validation → 422 ``request_invalid`` with per-field errors (never echoing the input).
- Framework HTTP errors (404, 405, a body that cannot be parsed...) → their status and a code per status.
- The database unreachable (connection refused or lost, SQLite locked past its busy timeout) → 503 ``not_ready``
  with ``Retry-After``: the request changed nothing and may be retried.
- Anything else → 500 ``internal_error``; the details go to the log, never to the client.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from models.imageio import ImageError, ImageTooLargeError, UnsupportedFormatError
from service.repositories.errors import ConflictError, NotFoundError, StorageError
from service.schemas import FieldError, Problem

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"

# Codes for HTTP errors raised by the framework itself rather than by facegate.
_HTTP_STATUS_CODES: Final[dict[int, str]] = {
    400: "request_malformed",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
}


# Errors that say the database cannot be reached now, not that the request is wrong: OperationalError is what the
# drivers raise for a refused or lost connection (and SQLite for "database is locked").
DATABASE_UNAVAILABLE: Final = (OperationalError, InterfaceError, DisconnectionError)
DATABASE_RETRY_AFTER_S: Final = 5


class ApiError(StarletteHTTPException):
    """An error the service reports on purpose. Subclasses fix ``status_code``, ``code`` and ``title``."""

    status_code_default: int = 500
    code: str = "internal_error"
    title: str = "Internal error"

    def __init__(self, detail: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code=self.status_code_default, detail=detail or self.title, headers=headers)


class NotReadyError(ApiError):
    """The face model is not loaded (start-up not finished, or shutting down)."""

    status_code_default = 503
    code = "not_ready"
    title = "Service not ready"


class UploadTooLargeError(ApiError):
    """The request body or the uploaded file is over ``max_upload_bytes``."""

    status_code_default = 413
    code = "upload_too_large"
    title = "Upload too large"


class BodyTimeoutError(ApiError):
    """The request body stopped arriving: no part of it came for ``body_timeout_s`` seconds."""

    status_code_default = 408
    code = "body_timeout"
    title = "Request body timed out"


class TooManyImagesError(ApiError):
    """More images in one request than ``max_images_per_request``."""

    status_code_default = 422
    code = "too_many_images"
    title = "Too many images"

    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} images per request")


class AuthRequiredError(ApiError):
    """No API key was sent."""

    status_code_default = 401
    code = "auth_required"
    title = "API key required"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class AuthInvalidError(AuthRequiredError):
    """The key is unknown, wrong or revoked (which of them is not said)."""

    code = "auth_invalid"
    title = "API key not valid"


class ForbiddenError(ApiError):
    """The key's role may not do this."""

    status_code_default = 403
    code = "forbidden"
    title = "Not allowed for this key"


class DoorNotAllowedError(ForbiddenError):
    """A terminal key asked about a door it is not bound to."""

    code = "door_not_allowed"
    title = "Door not allowed for this key"


class RateLimitedError(ApiError):
    """The key sent more requests than its rate limit allows."""

    status_code_default = 429
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(
            f"rate limit reached; retry in {retry_after_s:.1f} s",
            headers={"Retry-After": str(math.ceil(retry_after_s))},
        )


def storage_error_status(error: StorageError) -> int:
    """The HTTP status of a repository error."""
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, ConflictError):
        return 409
    return 422


def image_error_status(error: ImageError) -> int:
    """The HTTP status of a decode failure."""
    if isinstance(error, ImageTooLargeError):
        return 413
    if isinstance(error, UnsupportedFormatError):
        return 415
    return 400


def problem_response(
    request: Request,
    status: int,
    code: str,
    *,
    title: str | None = None,
    detail: str | None = None,
    errors: list[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A problem+json response; ``title`` defaults to the status phrase."""
    problem = Problem(
        type=f"urn:facegate:problem:{code}",
        title=title or HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=request.url.path,
        code=code,
        errors=errors,
    )
    return JSONResponse(
        problem.model_dump(mode="json", exclude_none=True),
        status_code=status,
        headers=headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


async def exception_to_problem(request: Request, exc: Exception) -> JSONResponse:
    """The problem+json response for any exception that reached the edge of the app."""
    if isinstance(exc, ApiError):
        return problem_response(
            request, exc.status_code, exc.code, title=exc.title, detail=exc.detail, headers=exc.headers
        )
    if isinstance(exc, StarletteHTTPException):
        code = _HTTP_STATUS_CODES.get(exc.status_code, f"http_{exc.status_code}")
        return problem_response(request, exc.status_code, code, detail=exc.detail, headers=exc.headers)
    if isinstance(exc, StorageError):
        errors = [FieldError(loc=list(loc), msg=code, type=code) for loc, code in exc.field_errors] or None
        return problem_response(request, storage_error_status(exc), exc.code, detail=str(exc), errors=errors)
    if isinstance(exc, ImageError):
        logger.info("refused image on %s: %s (%s)", request.url.path, exc.code, exc)
        return problem_response(request, image_error_status(exc), exc.code, title="Unusable image", detail=str(exc))
    if isinstance(exc, RequestValidationError):
        # Only where and why: the offending input (possibly the uploaded bytes) is never echoed back.
        errors = [
            FieldError(
                loc=[part for part in err.get("loc", ()) if isinstance(part, str | int)],
                msg=err["msg"],
                type=err["type"],
            )
            for err in exc.errors()
        ]
        return problem_response(
            request,
            422,
            "request_invalid",
            title="Invalid request",
            detail="The request does not match the API; see errors.",
            errors=errors,
        )
    if isinstance(exc, DATABASE_UNAVAILABLE):
        logger.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return problem_response(
            request,
            503,
            NotReadyError.code,
            title=NotReadyError.title,
            detail="The database is not reachable; retry later.",
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
        )
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(
        request, 500, "internal_error", title="Internal error", detail="The server failed; the error was logged."
    )


def install_error_handlers(app: FastAPI) -> None:
    """Make every error of ``app`` a problem+json response."""
    # Each expected class has its own handler: only ``Exception`` goes through Starlette's ServerErrorMiddleware,
    # which re-raises after answering (and so closes the client's keep-alive connection).
    expected = (StarletteHTTPException, StorageError, ImageError, RequestValidationError, *DATABASE_UNAVAILABLE)
    for exc_class in (*expected, Exception):
        app.add_exception_handler(exc_class, exception_to_problem)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for error statuses, each a :class:`Problem` body.

    FastAPI lists them under ``application/json``; :func:`service.api.openapi.build_openapi` renames
    that to ``application/problem+json``.
    """
    descriptions = {
        400: "The upload is not a usable image (code image_empty, image_not_an_image, image_truncated...).",
        413: "The upload (upload_too_large) or the image's pixel count (image_too_large) is over the limit.",
        415: "The image format is not accepted (image_unsupported_format).",
        401: "No API key (auth_required), or a key that is unknown, wrong or revoked (auth_invalid).",
        403: "The key's role may not do this (forbidden), or a terminal asked about another door (door_not_allowed).",
        404: "The addressed resource does not exist (<kind>_not_found).",
        409: "The change conflicts with existing data (e.g. external_id_taken, name_taken).",
        422: "The request does not match the API (request_invalid) or breaks a data rule (its own code).",
        429: "The key's rate limit is reached (rate_limited); see Retry-After.",
        503: "The model is not loaded yet, or the database is not reachable (not_ready); see Retry-After.",
    }
    return {
        status: {"model": Problem, "description": descriptions.get(status, HTTPStatus(status).phrase)}
        for status in statuses
    }
