"""The team directory across instances (issue 18): signups and logins on any instance.

A team's state lives on its owner, but login and signup carry only the team's name, so the
proxy cannot route them: any instance answers them, from the engine (real-time GETs by
id: the name and username claims, the team, the user) when it does not own the team.
The owner learns of a user who signed up elsewhere at her first request (a GET by id) or
at the next directory poll (one search for all the teams it owns), whichever comes first.
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
    """A user of the team this owner has not seen yet (signed up through another instance)."""
    user = directory.get_user(ctx.engine, user_id)
    if user is None or user.get("team_id") != state.id:
        return None
    state.add_user(user)
    return user


def poll(ctx, team_ids: list[str]):
    """Add the recent signups of the teams this instance owns to their states."""
    since = (datetime.now(timezone.utc) - POLL_WINDOW).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    for user in directory.users_since(ctx.engine, team_ids, since):
        state = ctx.teams.peek(user["team_id"])
        if state is not None and user["id"] not in state.users:
            state.add_user(user)
