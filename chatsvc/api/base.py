"""What every REST view shares: request parsing, authentication, and its OpenAPI record.

Views parse with a schema, call one chat/ function, and return plain data: the view
functions stay a few lines each.
"""
import functools

from flask import current_app, g, request
from marshmallow import Schema, ValidationError

from chatsvc.chat import accounts
from chatsvc.errors import BadRequest


def ctx():
    """The process's ChatContext (built by create_app)."""
    return current_app.extensions["chatsvc"]


def load_json(schema: Schema) -> dict:
    data = request.get_json(silent=True)
    if data is None:
        raise BadRequest("the request body must be a JSON object", {"_body": ["expected JSON"]})
    if not isinstance(data, dict):
        raise BadRequest("the request body must be a JSON object", {"_body": ["expected an object"]})
    return _load(schema, data)


def load_args(schema: Schema) -> dict:
    return _load(schema, request.args.to_dict())


def _load(schema: Schema, data: dict) -> dict:
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise BadRequest("invalid request", exc.messages) from None


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def me() -> dict:
    return g.user


def endpoint(summary: str, *, body: type[Schema] | None = None, query: type[Schema] | None = None,
             response: type[Schema] | None = None, status: int = 200, auth: bool = True):
    """Mark a view: authenticate it (unless ``auth=False``) and record its contract for
    the OpenAPI document (chatsvc.api.openapi reads ``view.openapi``)."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if auth:
                user, digest = accounts.authenticate(ctx(), _bearer_token())
                g.user, g.token_hash = user, digest
            return view(*args, **kwargs)

        wrapper.openapi = {"summary": summary, "body": body, "query": query,
                           "response": response, "status": status, "auth": auth}
        return wrapper

    return decorate
