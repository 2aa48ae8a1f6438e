"""Teams and accounts: create a team, sign up, log in and out, me, the directory."""
from flask import Blueprint, g

from chatsvc.api import schemas as s
from chatsvc.api.base import client_address, ctx, endpoint, load_args, load_json, me
from chatsvc.chat import accounts, people, roles
from chatsvc.chat.accounts import public_user

bp = Blueprint("accounts", __name__)


@bp.post("/api/teams")
@endpoint("Create a team and its first member (the admin)", body=s.CreateTeamIn,
          response=s.CreateTeamOut, status=201, auth=False, per_address="team_address")
def create_team():
    data = load_json(s.CreateTeamIn())
    team, user, token = accounts.create_team(ctx(), data["name"], data["username"],
                                             data["display_name"], data["password"])
    return {"team": {k: team[k] for k in ("id", "name", "invite_code")},
            "user": public_user(user), "token": token}, 201


@bp.post("/api/auth/signup")
@endpoint("Join a team with its invite code", body=s.SignupIn, response=s.SessionOut,
          status=201, auth=False, per_address="signup_address")
def signup():
    data = load_json(s.SignupIn())
    user, token = accounts.signup(ctx(), data["team"], data["invite_code"], data["username"],
                                  data["display_name"], data["password"], client_address())
    return {"user": public_user(user), "token": token}, 201


@bp.post("/api/auth/login")
@endpoint("Log in", body=s.LoginIn, response=s.SessionOut, auth=False)
def login():
    data = load_json(s.LoginIn())
    user, token = accounts.login(ctx(), data["team"], data["username"], data["password"],
                                 client_address())
    return {"user": public_user(user), "token": token}


@bp.post("/api/auth/logout")
@endpoint("Revoke this token (REST and its WebSocket connections)", status=204)
def logout():
    accounts.logout(ctx(), g.token_hash)
    return "", 204


@bp.post("/api/auth/logout-all")
@endpoint("Log out everywhere: revoke every token of the caller, this one too", status=204)
def logout_everywhere():
    accounts.logout_everywhere(ctx(), me())
    return "", 204


@bp.post("/api/auth/password")
@endpoint("Change the password (the current one required); every other token is revoked",
          body=s.PasswordIn, status=204)
def change_password():
    data = load_json(s.PasswordIn())
    accounts.change_password(ctx(), me(), g.token_hash, data["current_password"],
                             data["new_password"])
    return "", 204


@bp.get("/api/me")
@endpoint("The caller (with her roles: admin, compliance)", response=s.MeOut)
def get_me():
    return roles.user_view(me())


@bp.get("/api/users")
@endpoint("The caller's team directory, by username or name prefix", query=s.DirectoryQuery,
          response=s.UsersOut)
def directory():
    q = load_args(s.DirectoryQuery())["q"]
    return {"users": people.directory(ctx(), me(), q)}
