"""`/docs`: the API reference rendered on the server from the app's own OpenAPI document.

FastAPI's Swagger UI page loads its code and styles from a CDN, so any browser opening /docs would
run a third party's script on this origin. The only packages that ship those files for Python are
stale (swagger-ui-bundle carries Swagger UI 4.15 from 2022) and the UI needs inline script and
styles the dashboard's policy refuses; this page needs neither and reads without JavaScript.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from autopack.server.context import context_of
from autopack.server.dashboard import templates

router = APIRouter(include_in_schema=False)

METHODS = ("get", "post", "put", "patch", "delete")
REF_PREFIX = "#/components/schemas/"


def type_of(schema: dict[str, Any]) -> str:
    """A short reading of a JSON schema: `RunRequest`, `list[str]`, `int | null`, `"a" | "b"`."""
    if "$ref" in schema:
        return str(schema["$ref"]).removeprefix(REF_PREFIX)
    if "enum" in schema:
        return " | ".join(repr(value) for value in schema["enum"])
    if "const" in schema:
        return repr(schema["const"])
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return " | ".join(type_of(part) for part in schema[key])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"list[{type_of(schema.get('items', {}))}]"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"dict[str, {type_of(schema['additionalProperties'])}]"
    return str(kind)


def _operation(path: str, method: str, operation: dict[str, Any]) -> dict[str, Any]:
    body = operation.get("requestBody", {}).get("content", {})
    return {
        "anchor": f"{method}-{path}".replace("/", "-").replace("{", "").replace("}", ""),
        "method": method.upper(),
        "path": path,
        "summary": operation.get("summary", ""),
        "description": operation.get("description", ""),
        "parameters": [
            {
                "name": p["name"],
                "where": p["in"],
                "required": p.get("required", False),
                "type": type_of(p.get("schema", {})),
                "description": p.get("description", ""),
            }
            for p in operation.get("parameters", [])
        ],
        "body": [
            {"media_type": media, "type": type_of(content.get("schema", {}))}
            for media, content in body.items()
        ],
        "responses": [
            {"status": status, "description": response.get("description", "")}
            for status, response in operation.get("responses", {}).items()
        ],
    }


def _schema(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    required = set(schema.get("required", []))
    return {
        "name": name,
        "description": schema.get("description", ""),
        "type": type_of(schema) if "properties" not in schema else "object",
        "fields": [
            {
                "name": field,
                "type": type_of(spec),
                "required": field in required,
                "description": spec.get("description", ""),
            }
            for field, spec in schema.get("properties", {}).items()
        ],
    }


def reference(document: dict[str, Any]) -> dict[str, Any]:
    operations = [
        _operation(path, method, item[method])
        for path, item in document.get("paths", {}).items()
        for method in METHODS
        if method in item
    ]
    schemas = [
        _schema(name, schema)
        for name, schema in sorted(document.get("components", {}).get("schemas", {}).items())
    ]
    info = document.get("info", {})
    return {"info": info, "operations": operations, "schemas": schemas}


@router.get("/docs")
def docs_page(request: Request) -> HTMLResponse:
    values = reference(request.app.openapi())
    return templates.TemplateResponse(
        request,
        "docs.html",
        {"project_id": context_of(request).project_id, "signed_in": False, **values},
    )
