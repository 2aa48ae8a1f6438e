"""The team directory across instances (issue 18): signups and logins on any instance.

A team's state lives on its owner, but login and signup carry only the team's name, so the
proxy cannot route them: any instance answers them, from the engine (real-time GETs by
id: the name and username claims, the team, the user) when it does not own the team.
The owner learns of a user who signed up elsewhere at her first request (a GET by id) or
at the next directory poll (one search for all the teams it owns), whichever comes first.

A cached user can also be stale where several processes serve one team (no leases): a
password changed, a role granted or a picture set through another process. Login and
password change therefore read the user again (:func:`current_user`, one realtime GET:
both are rare), so an old password is never accepted after a change anywhere.
"""
from datetime import datetime, timedelta, timezone

from chatsvc.chat.state import TeamState
from chatsvc.store import accounts as account_store
from chatsvc.store import directory

POLL_WINDOW = timedelta(seconds=30)   # covers the engine's refresh lag and a missed poll


def one_user_view(ctx, team_id: str, username: str) -> TeamState | None:
    """A throwaway TeamState with the team and (if she exists) that one user, for login
    and signup on an instance that does not serve the team. Never cached."""
    team = account_store.get_team(ctx.engine, team_id)
    if team is None:
        return None
    view = TeamState(team)
    user_id = account_store.claim_owner(ctx.engine, account_store.username_key(team_id, username))
    user = directory.get_user(ctx.engine, user_id) if user_id else None
    if user is not None and user.get("team_id") == team_id:
        view.add_user(user)
    return view


def late_user(ctx, state: TeamState, user_id: str) -> dict | None:
    """A user of the team this process has not seen yet (signed up through another one)."""
    user = directory.get_user(ctx.engine, user_id)
    if user is None or user.get("team_id") != state.id:
        return None
    return adopt(state, user)


def current_user(ctx, state: TeamState, username: str) -> dict | None:
    """The user of that name as the engine has her now, cached copy brought up to date;
    None if there is none. The cached id saves the username claim's GET when known."""
    user_id = state.by_username.get(username.casefold())
    if user_id is None:   # perhaps signed up through another process since the team loaded
        user_id = account_store.claim_owner(ctx.engine, account_store.username_key(state.id, username))
    return late_user(ctx, state, user_id) if user_id else None


def adopt(state: TeamState, user: dict) -> dict:
    """Put the engine's copy of a user in the team state. An existing cached dict is
    updated in place, not replaced: open sockets and requests in flight hold it, and must
    see the new password hash and roles too."""
    cached = state.users.get(user["id"])
    if cached is None:
        state.add_user(user)
        return user
    cached.update(user)
    return cached


def poll(ctx, team_ids: list[str]):
    """Add the recent signups of the teams this instance owns to their states."""
    since = (datetime.now(timezone.utc) - POLL_WINDOW).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    for user in directory.users_since(ctx.engine, team_ids, since):
        state = ctx.teams.peek(user["team_id"])
        if state is not None and user["id"] not in state.users:
            state.add_user(user)
