"""A small route registry that both mounts aiohttp handlers and describes them as
OpenAPI 3.1, from the same pydantic models that validate requests (no YAML, no models
written twice).

A handler declared with ``@registry.route(...)`` is called as
``handler(request, call)`` where ``call.body`` / ``call.query`` are the validated models
(or None). The wrapper raises ``ValidationFailed``/``BadRequest`` naming each field.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_origin

from aiohttp import web
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from .errors import BadRequest, ValidationFailed
from .examples import ERROR_EXAMPLES, OPERATION_ERROR_EXAMPLES, PARAMETER_EXAMPLES, example_of
from .models import ErrorOut

__all__ = ["Call", "OpenApiDocument", "Operation", "RouteRegistry", "validation_details"]

Handler = Callable[[web.Request, "Call"], Awaitable[web.StreamResponse]]

_STATUS_TEXT = {
    400: "Body is not a JSON object", 401: "Missing or wrong bearer token",
    403: "Cross-origin write from an origin not allowed", 404: "Unknown node",
    409: "Conflicts with existing state", 413: "Body larger than {max_body}",
    422: "Validation failed, or an unknown query parameter (the message names it)",
    503: "No reachable coordinator for a write, or registry full",
}


def body_limit_text(max_body_bytes: int) -> str:
    """``65536 bytes (64 KiB)``: the body limit as the document and the 413 message say it."""
    kib = max_body_bytes / 1024
    return f"{max_body_bytes} bytes ({kib:g} KiB)"


@dataclass(frozen=True, slots=True)
class Call:
    """The validated inputs of one request."""

    body: Any = None
    query: Any = None


@dataclass(slots=True)
class Operation:
    method: str
    path: str
    handler: Handler | None
    """None for a route the embedding process mounts itself (``RouteRegistry.external``)."""
    summary: str
    response: type[BaseModel]
    operation_id: str = ""
    status: int = 200
    """Status of a successful answer."""
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    write: bool = False
    """Writes are forwarded to the coordinator when this node is not it."""
    tag: str = "nodes"
    body_optional: bool = False
    """An empty body counts as ``{}`` (heartbeat)."""
    path_params: dict[str, str] = field(default_factory=dict)
    header_params: dict[str, str] = field(default_factory=dict)
    """Request headers the operation reads (name → description), documented only."""
    stream: str | None = None
    """The media type of a streamed answer (``text/event-stream``); ``response`` then
    describes one event's data, and the answer's example is ``stream_example``."""
    stream_example: str = ""


class OpenApiDocument:
    """An app's OpenAPI document, built by ``build`` on first use and kept as JSON bytes.

    Building it compiles every model's validator and JSON schema (pydantic models are
    ``defer_build``): ~0.1 s of CPU and ~2 MB that an agent nobody asks for its docs
    never spends.
    """

    def __init__(self, build: Callable[[], dict[str, Any]]) -> None:
        self._build = build
        self._body: bytes | None = None

    def body(self) -> bytes:
        """The document as JSON, built once."""
        if self._body is None:
            self._body = json.dumps(self._build()).encode()
        return self._body


def _loc(loc: tuple[Any, ...], prefix: str) -> str:
    parts = [str(p) for p in loc]
    return ".".join([prefix, *parts]) if prefix and parts else (prefix or ".".join(parts) or "body")


def validation_details(exc: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """pydantic errors as ``ErrorDetail`` dicts: ``field`` is the dotted path."""
    out = []
    for e in exc.errors(include_url=False, include_context=False, include_input=False):
        out.append({"field": _loc(tuple(e["loc"]), prefix), "message": e["msg"],
                    "type": e["type"]})
    return out


def _message(details: list[dict[str, str]], what: str) -> str:
    first = details[0]
    more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
    return f"invalid {what}: {first['field']}: {first['message']}{more}"


def _is_list(annotation: Any) -> bool:
    return get_origin(annotation) is list


def parse_query(model: type[BaseModel], request: web.Request) -> BaseModel:
    """Validate the query string against ``model``.

    Raises:
        ValidationFailed: a value breaks the model, or a parameter is not one of the
            model's (a typo such as ``?skils=gpu`` must not silently widen the answer).
    """
    unknown = sorted(set(request.query) - set(model.model_fields))
    if unknown:
        known = ", ".join(model.model_fields)
        details = [{"field": f"query.{name}", "message": "unknown query parameter",
                    "type": "unknown_parameter"} for name in unknown]
        shown = ", ".join(repr(name[:64]) for name in unknown[:5])
        raise ValidationFailed(f"query: unknown parameter {shown} (known: {known})", details)
    data: dict[str, Any] = {}
    for name, f in model.model_fields.items():
        if name not in request.query:
            continue
        if _is_list(f.annotation):
            data[name] = request.query.getall(name)
        else:
            data[name] = request.query.getone(name)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = validation_details(exc, "query")
        raise ValidationFailed(_message(details, "query parameter"), details) from exc


async def parse_body(op: Operation, request: web.Request) -> BaseModel:
    assert op.body is not None
    raw = await request.read()
    if not raw.strip() and op.body_optional:
        raw = b"{}"
    if not raw.strip():
        raise BadRequest("request body is required (a JSON object)",
                         [{"field": "body", "message": "missing", "type": "missing"}])
    try:
        # One pass: pydantic parses and validates the raw JSON (its JSON mode also refuses
        # NaN/Infinity, which Python's json module would let through).
        return op.body.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        top = [e for e in errors if not e["loc"]]
        if top and top[0]["type"] == "json_invalid":
            raise BadRequest(f"body is not valid JSON: {top[0]['msg']}",
                             [{"field": "body", "message": top[0]["msg"],
                               "type": "json_invalid"}]) from exc
        if top and top[0]["type"] == "model_type":
            raise BadRequest("body must be a JSON object",
                             [{"field": "body", "message": "not an object",
                               "type": "model_type"}]) from exc
        details = validation_details(exc)
        raise ValidationFailed(_message(details, "field"), details) from exc


class RouteRegistry:
    """Collects ``Operation``s; ``mount`` adds them to an app, ``openapi`` describes them."""

    def __init__(self) -> None:
        self.operations: list[Operation] = []

    def route(self, method: str, path: str, *, summary: str, response: type[BaseModel],
              body: type[BaseModel] | None = None, query: type[BaseModel] | None = None,
              errors: tuple[int, ...] = (), write: bool = False, tag: str = "nodes",
              body_optional: bool = False, path_params: dict[str, str] | None = None,
              header_params: dict[str, str] | None = None, stream: str | None = None,
              stream_example: str = "") -> Callable[[Handler], Handler]:
        def deco(handler: Handler) -> Handler:
            self.operations.append(Operation(
                method=method.upper(), path=path, handler=handler, summary=summary,
                response=response, operation_id=handler.__name__, body=body, query=query,
                errors=errors, write=write, tag=tag, body_optional=body_optional,
                path_params=path_params or {}, header_params=header_params or {},
                stream=stream, stream_example=stream_example))
            return handler
        return deco

    def external(self, method: str, path: str, *, operation_id: str, summary: str,
                 response: type[BaseModel], status: int = 200, tag: str = "nodes",
                 errors: tuple[int, ...] = ()) -> None:
        """Document a route that the embedding process mounts itself (the agent's
        ``POST /api/v1/agent/leave``). ``mount`` skips it; ``openapi`` lists it when the
        app serves it."""
        self.operations.append(Operation(
            method=method.upper(), path=path, handler=None, summary=summary,
            response=response, operation_id=operation_id, status=status, tag=tag,
            errors=errors))

    def mount(self, app: web.Application,
              wrap: Callable[[Operation], Callable[[web.Request], Awaitable[web.StreamResponse]]]
              ) -> None:
        """Add every operation in declaration order (declare fixed paths such as
        ``/nodes/online`` before ``/nodes/{node_id}``)."""
        for op in self.operations:
            if op.handler is not None:
                app.router.add_route(op.method, op.path, wrap(op), name=op.operation_id)

    # --- OpenAPI ------------------------------------------------------------------------

    def openapi(self, *, title: str, version: str, description: str = "",
                bearer: bool = False, extra_paths: dict[str, Any] | None = None,
                max_body_bytes: int = 64 * 1024,
                served: Callable[[str, str], bool] = lambda method, path: True,
                ) -> dict[str, Any]:
        """OpenAPI 3.1.0 document. Request bodies use pydantic's validation schema,
        responses its serialization schema; components are de-duplicated. Every body,
        answer and parameter carries an example from ``api.examples``.

        Args:
            max_body_bytes: the body limit, stated in the 413 answers.
            served: ``(method, path) -> bool``; external operations are listed only
                when it says the app serves them.
        """
        operations = [op for op in self.operations
                      if op.handler is not None or served(op.method, op.path)]
        inputs: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = []
        for op in operations:
            if op.body is not None:
                inputs.append((op.body, "validation"))
            inputs.append((op.response, "serialization"))
        inputs.append((ErrorOut, "serialization"))
        keyed = list(dict.fromkeys(inputs))
        refs, top = models_json_schema(keyed, ref_template="#/components/schemas/{model}")
        defs: dict[str, Any] = dict(top.get("$defs", {}))
        error_ref = refs[(ErrorOut, "serialization")]

        limit = body_limit_text(max_body_bytes)

        def err(status: int, operation_id: str) -> dict[str, Any]:
            text = OPERATION_ERROR_EXAMPLES.get((operation_id, status), ERROR_EXAMPLES[status])
            example = {"success": False, "error": text, "details": []}
            return {"description": _STATUS_TEXT.get(status, "Error").format(max_body=limit),
                    "content": {"application/json": {"schema": error_ref,
                                                     "example": example}}}

        paths: dict[str, Any] = {}
        for op in operations:
            params: list[dict[str, Any]] = []
            for name, desc in op.path_params.items():
                params.append({"name": name, "in": "path", "required": True,
                               "description": desc, "schema": {"type": "string"},
                               "example": PARAMETER_EXAMPLES[name]})
            for name, desc in op.header_params.items():
                params.append({"name": name, "in": "header", "required": False,
                               "description": desc, "schema": {"type": "string"},
                               "example": PARAMETER_EXAMPLES[name]})
            if op.query is not None:
                qschema = op.query.model_json_schema(ref_template="#/components/schemas/{model}")
                for name, f in op.query.model_fields.items():
                    s = dict(qschema["properties"][name])
                    s.pop("title", None)
                    p: dict[str, Any] = {"name": name, "in": "query", "required": False,
                                         "schema": s}
                    if f.description:
                        p["description"] = f.description
                    example = PARAMETER_EXAMPLES[name]
                    if _is_list(f.annotation):
                        p["style"], p["explode"] = "form", True
                        example = [example]
                    p["example"] = example
                    params.append(p)
                for k, v in qschema.get("$defs", {}).items():
                    defs.setdefault(k, v)
            statuses = set(op.errors)
            if op.path.startswith("/api/v1/"):
                statuses.add(401)
            if op.write:
                statuses |= {403, 503}
            if op.body is not None:
                statuses |= {400, 413, 422}
            if op.query is not None:
                statuses.add(422)
            content: dict[str, Any] = {"application/json": {
                "schema": refs[(op.response, "serialization")],
                "example": example_of(op.response)}}
            if op.stream is not None:
                ref = refs[(op.response, "serialization")]["$ref"]
                # One event, as OpenAPI 3.2 describes a stream's items (schemathesis
                # checks each event against it).
                event = {"type": "object", "required": ["data"], "properties": {
                    "id": {"type": "string"}, "event": {"type": "string"},
                    "retry": {"type": "integer"},
                    "data": {"type": "string", "contentMediaType": "application/json",
                             "contentSchema": {"$ref": ref}}},
                    "description": f"One Server-Sent Event; its data is a {ref}"}
                content = {op.stream: {"schema": event, "example": op.stream_example}}
            responses: dict[str, Any] = {
                str(op.status): {"description": "OK" if op.status == 200 else "Accepted",
                                 "content": content}}
            for status in sorted(statuses):
                responses[str(status)] = err(status, op.operation_id)
            entry: dict[str, Any] = {
                "summary": op.summary, "operationId": op.operation_id,
                "tags": [op.tag], "responses": responses,
            }
            if params:
                entry["parameters"] = params
            if op.body is not None:
                entry["requestBody"] = {
                    "required": not op.body_optional,
                    "description": f"JSON object of at most {limit}",
                    "content": {"application/json": {
                        "schema": refs[(op.body, "validation")],
                        "example": example_of(op.body)}}}
            if bearer and op.path.startswith("/api/v1/"):
                entry["security"] = [{"bearer": []}]
            paths.setdefault(op.path, {})[op.method.lower()] = entry
        doc: dict[str, Any] = {
            "openapi": "3.1.0",
            "info": {"title": title, "version": version, "description": description},
            "paths": {**paths, **(extra_paths or {})},
            "components": {"schemas": defs},
        }
        if bearer:
            doc["components"]["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer"}}
        return doc
