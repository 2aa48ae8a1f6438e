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


def client_address() -> str | None:
    """The caller's address: the socket's peer, or X-Forwarded-For's entry added by a
    trusted proxy when CHATSVC_TRUSTED_PROXIES says there is one (werkzeug's ProxyFix,
    set up by create_app, has already rewritten REMOTE_ADDR then)."""
    return request.remote_addr


def load_json(schema: Schema) -> dict:
    try:
        data = request.get_json(silent=True)
    except RecursionError:   # a body nested thousands deep: the parser gives up
        raise BadRequest("the request body is nested too deeply", {"_body": ["too deep"]}) from None
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
             response: type[Schema] | None = None, status: int = 200, auth: bool = True,
             per_address: str | None = None, per_user: str | None = None,
             concurrency: str | None = None):
    """Mark a view: authenticate it (unless ``auth=False``) and record its contract for
    the OpenAPI document (chatsvc.api.openapi reads ``view.openapi``).

    Throttles (chatsvc.throttle.Throttles attribute names): ``per_address`` counts the
    call against the client address before anything else, ``per_user`` against the
    authenticated caller, ``concurrency`` holds a slot of a process-wide cap while the
    view runs. Each refuses with 429 ``rate_limited`` and Retry-After."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            throttles = ctx().throttles
            if per_address:
                getattr(throttles, per_address).hit(client_address())
            if auth:
                user, digest = accounts.authenticate(ctx(), _bearer_token())
                g.user, g.token_hash = user, digest
            if per_user:
                getattr(throttles, per_user).hit(g.user["id"])
            if concurrency:
                with getattr(throttles, concurrency):
                    return view(*args, **kwargs)
            return view(*args, **kwargs)

        wrapper.openapi = {"summary": summary, "body": body, "query": query,
                           "response": response, "status": status, "auth": auth}
        return wrapper

    return decorate
