"""GET /api/openapi.json: the REST contract, generated from the views' schemas.

Every view decorated with ``api.base.endpoint`` carries its summary and schemas; this
module walks the URL map, so a new endpoint is documented by being written.
"""
import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, current_app

from chatsvc.api import schemas as s

bp = Blueprint("openapi", __name__)
_PATH_PARAM = re.compile(r"<(?:[a-z_]+:)?([a-z_]+)>")


def build_spec(app) -> dict:
    spec = APISpec(title="chatsvc", version="1.0.0", openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin()],
                   info={"description": "Search-centric team chat: REST part of protocol v1."})
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Error", schema=s.ErrorOut)
    paths: dict[str, dict] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions.get(rule.endpoint)
        meta = getattr(view, "openapi", None)
        if meta is None:
            continue
        path = _PATH_PARAM.sub(r"{\1}", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(rule, meta)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def _operation(rule, meta) -> dict:
    op = {"summary": meta["summary"], "responses": {}}
    params = [{"in": "path", "name": name, "required": True, "schema": {"type": "string"}}
              for name in _PATH_PARAM.findall(rule.rule)]
    if meta["query"] is not None:
        params.append({"in": "query", "schema": meta["query"]})
    if params:
        op["parameters"] = params
    if meta["body"] is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": meta["body"]}}}
    ok = {"description": "success"}
    if meta["response"] is not None:
        ok["content"] = {"application/json": {"schema": meta["response"]}}
    op["responses"][str(meta["status"])] = ok
    error = {"description": "error", "content": {"application/json": {"schema": "Error"}}}
    op["responses"]["400"] = error
    if meta["auth"]:
        op["security"] = [{"bearer": []}]
        op["responses"]["401"] = error
    return op


@bp.get("/api/openapi.json")
def openapi_json():
    cached = current_app.extensions.get("chatsvc.openapi")
    if cached is None:
        cached = current_app.extensions["chatsvc.openapi"] = build_spec(current_app)
    return cached
