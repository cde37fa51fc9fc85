"""The OpenAPI document, with every error response listed as ``application/problem+json``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from service.api.errors import PROBLEM_MEDIA_TYPE

_PROBLEM_REF = "#/components/schemas/Problem"


def operation_id(route: APIRoute) -> str:
    """The route function's name (``access_check``, ``list_people``): short and stable, so that generated clients
    read well; FastAPI's default (``access_check_v1_access_check_post``) repeats the path and method. A test keeps
    them unique."""
    return route.name


class FacegateAPI(FastAPI):
    """FastAPI whose generated OpenAPI document gives error bodies their real media type.

    FastAPI files an additional response's model under ``application/json``; the service answers
    errors as ``application/problem+json``, so the document is corrected once, when first built.
    """

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            self.openapi_schema = relabel_problem_responses(super().openapi())
        return self.openapi_schema


def relabel_problem_responses(schema: dict[str, Any]) -> dict[str, Any]:
    """Move each 4xx/5xx ``Problem`` body in ``schema`` from ``application/json`` to problem+json (in place)."""
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                body = content.get("application/json")
                if status[:1] in ("4", "5") and body and body.get("schema", {}).get("$ref") == _PROBLEM_REF:
                    content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
    return schema
