"""Which team the proxy routed the current request by (issue 18).

HAProxy hashes each request on its team (docs/protocol.md, "Scale-out") and says so in
the ``X-Chatsvc-Routed`` header, which it alone sets. A request routed by team T is proof
that the proxy now sends T here, so this instance may ask T's owner to hand T over; any
other request for a team another instance holds is refused instead (chat/ownership.py).
The web layer and the gateway set the value per request; greenlets keep their own copy.
"""
from contextvars import ContextVar

HEADER = "X-Chatsvc-Routed"

routed_team: ContextVar[str | None] = ContextVar("chatsvc_routed_team", default=None)


def set_from_headers(headers) -> None:
    routed_team.set(headers.get(HEADER) or None)
