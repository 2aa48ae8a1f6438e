"""Roles (issue 17): team admin and compliance officer.

The team's creator is its first admin. An admin grants and takes back both roles; an admin
cannot take the last admin's role away (her own included). Roles live on the user
document (``is_admin``, ``is_compliance``) and in the team state, which every request's
authentication reads, so a change applies to the very next request.
"""
from threading import RLock   # gevent's under monkey patching

from chatsvc.chat import audit
from chatsvc.errors import Conflict, Forbidden, NotFound
from chatsvc.store import compliance as store

_locks: dict[str, RLock] = {}


def roles_of(user: dict) -> list[str]:
    return [r for r, on in (("admin", user.get("is_admin")), ("compliance", user.get("is_compliance"))) if on]


def is_admin(user: dict) -> bool:
    return bool(user.get("is_admin"))


def is_officer(user: dict) -> bool:
    """An admin or a compliance officer."""
    return bool(user.get("is_admin") or user.get("is_compliance"))


def require_admin(me: dict):
    if not is_admin(me):
        raise Forbidden("only a team admin can do this")


def require_officer(me: dict):
    if not is_officer(me):
        raise Forbidden("only a team admin or a compliance officer can do this")


def _team_lock(team_id: str) -> RLock:
    return _locks.setdefault(team_id, RLock())


def set_roles(ctx, me: dict, user_id: str, admin: bool | None, compliance: bool | None) -> dict:
    """PUT /api/admin/users/<id>/roles. Forbidden unless an admin; NotFound for a user of
    another team; Conflict when it would leave the team without an admin."""
    require_admin(me)
    state = ctx.teams.get(me["team_id"])
    with _team_lock(state.id):   # one change at a time per team: the last-admin check holds
        user = state.users.get(user_id)
        if user is None:
            raise NotFound("no such user")
        before = {"admin": bool(user.get("is_admin")), "compliance": bool(user.get("is_compliance"))}
        after = {"admin": before["admin"] if admin is None else admin,
                 "compliance": before["compliance"] if compliance is None else compliance}
        if before["admin"] and not after["admin"]:
            admins = [u for u in state.users.values() if u.get("is_admin")]
            if len(admins) <= 1:
                raise Conflict("a team needs at least one admin: grant the role to another member first")
        if after != before:
            audit.record_ctx(ctx, me, "role.change", {"user_id": user_id, "username": user["username"]},
                             {"before": before, "after": after})
            store.set_roles(ctx.engine, user_id, after["admin"], after["compliance"])
            user["is_admin"], user["is_compliance"] = after["admin"], after["compliance"]
    return user_view(user)


def user_view(user: dict) -> dict:
    from chatsvc.chat.accounts import public_user  # noqa: PLC0415
    return dict(public_user(user), roles=roles_of(user))
