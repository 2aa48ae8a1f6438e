"""Closing one team's connections when its instance hands the team over (issue 18).

The close code is public (docs/protocol.md, "Scale-out"): 4012 means "this team moved to
another instance": reconnect through the proxy, catch up with ``after=``, resend what was
not acknowledged with the same ``client_msg_id``.
"""
from chatsvc.gateway.codec import encode

CLOSE_TEAM_MOVED = 4012


def close_team(hub, team_id: str) -> int:
    """Tell and close every connection of the team's users; how many there were."""
    notice = encode({"type": "error", "code": "unavailable",
                     "message": "this team moved to another instance; reconnect"})
    closed = 0
    for conns in tuple(hub.by_user.values()):
        for conn in tuple(conns):
            if conn.user is not None and conn.user.get("team_id") == team_id:
                conn.push(notice)
                conn.close_after(CLOSE_TEAM_MOVED, "team moved to another instance")
                closed += 1
    return closed
