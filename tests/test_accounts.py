"""Teams and accounts through a real server: create, sign up, log in and out, me, the
directory, and every refusal a client can run into."""
import pytest

from tests.helpers import assert_error, make_team, unique

USER_KEYS = {"id", "team_id", "username", "display_name", "avatar_color", "avatar_url"}


# -- teams ---------------------------------------------------------------------------------

def test_create_team_returns_team_admin_and_a_working_token(api):
    name = unique("Acme")
    r = api.post("/api/teams", json={"name": name, "username": "alice", "display_name": "Alice Liddell",
                                     "password": "password123"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) >= {"team", "user", "token"}
    team, user = body["team"], body["user"]
    assert set(team) >= {"id", "name", "invite_code"}
    assert team["name"] == name
    assert isinstance(team["id"], str) and team["id"].isdigit()
    assert isinstance(team["invite_code"], str) and len(team["invite_code"]) >= 8
    assert set(user) == USER_KEYS
    assert user["team_id"] == team["id"]
    assert user["username"] == "alice" and user["display_name"] == "Alice Liddell"
    assert isinstance(user["id"], str) and user["avatar_color"].startswith("#")
    assert "password" not in r.text and "password_hash" not in r.text
    me = api.as_user(body["token"]).get("/api/me")
    assert me.status_code == 200 and me.json() == dict(user, roles=["admin"])   # /api/me adds roles


def test_duplicate_team_name_is_409_whatever_the_case(api):
    name = unique("Dup")
    api.create_team(name=name)
    for again in (name, name.upper(), f"  {name.lower()} "):
        r = api.post("/api/teams", json={"name": again, "username": "other", "display_name": "Other",
                                         "password": "password123"})
        assert_error(r, 409, "conflict")


# -- signup --------------------------------------------------------------------------------

def test_signup_with_invite_code_joins_the_team(api):
    created = api.create_team()
    team = created["team"]
    r = api.post("/api/auth/signup", json={"team": team["name"], "invite_code": team["invite_code"],
                                           "username": "bob", "display_name": "Bob", "password": "hunter2hunter2"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body["user"]) == USER_KEYS
    assert body["user"]["team_id"] == team["id"]
    assert body["user"]["id"] != created["user"]["id"]
    assert api.as_user(body["token"]).get("/api/me").json()["username"] == "bob"
    # the team name is matched without regard to case
    r = api.post("/api/auth/signup", json={"team": team["name"].upper(), "invite_code": team["invite_code"],
                                           "username": "carol", "display_name": "Carol", "password": "password123"})
    assert r.status_code == 201, r.text


def test_wrong_invite_code_and_unknown_team_are_refused_alike(api):
    team = api.create_team()["team"]
    base = {"username": "mallory", "display_name": "Mallory", "password": "password123"}
    wrong_code = api.post("/api/auth/signup", json={**base, "team": team["name"], "invite_code": "not-the-code"})
    no_team = api.post("/api/auth/signup", json={**base, "team": unique("nope"), "invite_code": team["invite_code"]})
    e1 = assert_error(wrong_code, 403, "forbidden")
    e2 = assert_error(no_team, 403, "forbidden")
    assert e1 == e2, "the answer must not reveal whether the team exists"
    # nobody was created: the username is still free with the right code
    api.signup(team, "mallory")


def test_duplicate_username_is_409_whatever_the_case(api):
    team, _ = make_team(api, "dana")
    for again in ("dana", "DANA", "Dana"):
        r = api.post("/api/auth/signup", json={"team": team["name"], "invite_code": team["invite_code"],
                                               "username": again, "display_name": "Impostor",
                                               "password": "password123"})
        err = assert_error(r, 409, "conflict")
        assert "username" in err.get("fields", {}), err
    # the same username in another team is fine
    other, _ = make_team(api, "dana")
    assert other["id"] != team["id"]


# -- login / logout ------------------------------------------------------------------------

def test_login_gives_a_new_working_token(api):
    team, people = make_team(api, "erin")
    r = api.post("/api/auth/login", json={"team": team["name"], "username": "erin", "password": "password123"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user"] == people["erin"]["user"]
    assert body["token"] != people["erin"]["token"]
    assert api.as_user(body["token"]).get("/api/me").json()["id"] == body["user"]["id"]
    # case of team name and username does not matter at login
    r = api.post("/api/auth/login", json={"team": team["name"].upper(), "username": "ERIN", "password": "password123"})
    assert r.status_code == 200, r.text


def test_login_failures_are_401_and_indistinguishable(api):
    team, _ = make_team(api, "frank")
    attempts = [
        {"team": team["name"], "username": "frank", "password": "wrong-password"},
        {"team": team["name"], "username": "nobody", "password": "password123"},
        {"team": unique("noteam"), "username": "frank", "password": "password123"},
        {"team": team["name"], "username": "frank", "password": "PASSWORD123"},
    ]
    bodies = []
    for attempt in attempts:
        r = api.post("/api/auth/login", json=attempt)
        assert_error(r, 401, "unauthorized")
        bodies.append(r.json())
    assert all(b == bodies[0] for b in bodies), bodies
    assert "token" not in bodies[0]


def test_me_needs_a_valid_token(api):
    _, people = make_team(api, "gina")
    assert people["gina"]["api"].get("/api/me").status_code == 200
    assert_error(api.get("/api/me"), 401, "unauthorized")
    assert_error(api.as_user("garbage-token").get("/api/me"), 401, "unauthorized")
    assert_error(api.as_user("x" * 5000).get("/api/me"), 401, "unauthorized")
    for header in ("Basic abc", "Bearer", "Bearer   ", people["gina"]["token"]):
        r = api.get("/api/me", headers={"Authorization": header})
        assert_error(r, 401, "unauthorized")


def test_logout_kills_that_token_at_once_and_only_that_token(api):
    team, people = make_team(api, "hank")
    first = people["hank"]["api"]
    second_token = api.post("/api/auth/login", json={"team": team["name"], "username": "hank",
                                                     "password": "password123"}).json()["token"]
    second = api.as_user(second_token)
    r = first.post("/api/auth/logout")
    assert r.status_code == 204, r.text
    assert_error(first.get("/api/me"), 401, "unauthorized")
    assert_error(first.get("/api/contacts"), 401, "unauthorized")
    assert_error(first.post("/api/auth/logout"), 401, "unauthorized")
    assert second.get("/api/me").status_code == 200
    assert second.get("/api/users").status_code == 200
    # logging in again still works
    r = api.post("/api/auth/login", json={"team": team["name"], "username": "hank", "password": "password123"})
    assert r.status_code == 200


# -- validation ------------------------------------------------------------------------------

def _fields(r):
    err = assert_error(r, 400, "bad_request")
    assert isinstance(err.get("fields"), dict), err
    return err["fields"]


def test_missing_fields_are_named(api):
    assert set(_fields(api.post("/api/teams", json={}))) >= {"name", "username", "display_name", "password"}
    assert set(_fields(api.post("/api/auth/signup", json={"team": "x"}))) >= {
        "invite_code", "username", "display_name", "password"}
    assert set(_fields(api.post("/api/auth/login", json={"username": "x"}))) >= {"team", "password"}


def test_wrong_types_are_named(api):
    r = api.post("/api/teams", json={"name": 5, "username": ["a"], "display_name": None,
                                     "password": {"p": 1}})
    assert set(_fields(r)) >= {"name", "username", "display_name", "password"}
    r = api.post("/api/auth/login", json={"team": "t", "username": "u", "password": 12345678})
    assert "password" in _fields(r)


@pytest.mark.parametrize("raw, content_type", [
    ("not json at all", "application/json"),
    ("{\"name\": ", "application/json"),
    ("[1, 2, 3]", "application/json"),
    ("\"a string\"", "application/json"),
    ("name=x&username=y", "application/x-www-form-urlencoded"),
])
def test_non_json_or_non_object_body_is_400(api, raw, content_type):
    r = api.post("/api/teams", data=raw, headers={"Content-Type": content_type})
    assert_error(r, 400, "bad_request")


def test_oversize_and_undersize_fields_are_named(api):
    team = api.create_team()["team"]
    ok = {"team": team["name"], "invite_code": team["invite_code"], "username": "ivan",
          "display_name": "Ivan", "password": "password123"}
    cases = {
        "username": "u" * 33,
        "display_name": "d" * 65,
        "password": "short",
    }
    for field, value in cases.items():
        assert field in _fields(api.post("/api/auth/signup", json={**ok, field: value})), field
    assert "password" in _fields(api.post("/api/auth/signup", json={**ok, "password": "p" * 257}))
    assert "username" in _fields(api.post("/api/auth/signup", json={**ok, "username": "bad name!"}))
    assert "username" in _fields(api.post("/api/auth/signup", json={**ok, "username": ""}))
    assert "name" in _fields(api.post("/api/teams", json={"name": "n" * 65, "username": "a",
                                                          "display_name": "A", "password": "password123"}))
    # the limits themselves are fine
    r = api.post("/api/auth/signup", json={**ok, "username": "u" * 32, "display_name": "d" * 64,
                                           "password": "p" * 8})
    assert r.status_code == 201, r.text
    r = api.post("/api/auth/signup", json={**ok, "username": "v" * 32, "display_name": "d",
                                           "password": "p" * 256})
    assert r.status_code == 201, r.text


def test_request_body_over_the_limit_is_413(api):
    r = api.post("/api/teams", data="{\"name\": \"" + "x" * (2 << 20) + "\"}",
                 headers={"Content-Type": "application/json"})
    assert_error(r, 413, "too_large")


# -- directory -------------------------------------------------------------------------------

def test_directory_prefix_search_is_case_insensitive_and_team_scoped(api):
    team, people = make_team(api, "zed", "Maria", "mario", "bob")
    _, others = make_team(api, "mark", "marta")  # another team with matching names
    zed = people["zed"]["api"]

    everyone = zed.get("/api/users")
    assert everyone.status_code == 200, everyone.text
    users = everyone.json()["users"]
    assert sorted(u["username"] for u in users) == ["Maria", "bob", "mario", "zed"]
    assert all(set(u) == USER_KEYS and u["team_id"] == team["id"] for u in users)

    for q in ("mar", "MAR", "Mar"):
        got = zed.get("/api/users", params={"q": q}).json()["users"]
        assert sorted(u["username"] for u in got) == ["Maria", "mario"], q
    assert [u["username"] for u in zed.get("/api/users", params={"q": "mario"}).json()["users"]] == ["mario"]
    assert zed.get("/api/users", params={"q": "ark"}).json()["users"] == []  # prefix, not substring
    assert zed.get("/api/users", params={"q": "marta"}).json()["users"] == []  # other team's user

    # and the other team sees only its own people
    got = others["mark"]["api"].get("/api/users", params={"q": "ma"}).json()["users"]
    assert sorted(u["username"] for u in got) == ["mark", "marta"]
    assert_error(api.get("/api/users"), 401, "unauthorized")


def test_directory_finds_by_display_name_words(api):
    team = api.create_team(username="root", display_name="Root")["team"]
    api.signup(team, "jd", display_name="Jane Doe")
    token = api.post("/api/auth/login", json={"team": team["name"], "username": "root",
                                              "password": "password123"}).json()["token"]
    client = api.as_user(token)
    for q in ("jane", "DOE", "Jane D"):
        got = client.get("/api/users", params={"q": q}).json()["users"]
        assert [u["username"] for u in got] == ["jd"], q


def test_directory_query_too_long_is_400(api):
    _, people = make_team(api, "quinn")
    r = people["quinn"]["api"].get("/api/users", params={"q": "q" * 65})
    assert "q" in _fields(r)
