"""Small clients for tests: REST with a token, and a WebSocket that sorts frames."""
import json
import time
import uuid

import requests
import websocket


def engine_answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


class Api:
    """REST calls against a server; ``as_user(token)`` returns a client with that token."""

    def __init__(self, base: str, token: str | None = None):
        self.base = base
        self.token = token
        self.session = requests.Session()

    def as_user(self, token: str) -> "Api":
        return Api(self.base, token)

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        return self.session.request(method, self.base + path, headers=headers, timeout=30, **kwargs)

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, **kw):
        return self.call("POST", path, **kw)

    def put(self, path, **kw):
        return self.call("PUT", path, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)

    # -- common flows -------------------------------------------------------------
    def create_team(self, name=None, username="admin", display_name="Admin User", password="password123"):
        r = self.post("/api/teams", json={"name": name or unique("team"), "username": username,
                                          "display_name": display_name, "password": password})
        assert r.status_code == 201, r.text
        return r.json()

    def signup(self, team: dict, username: str, display_name=None, password="password123"):
        r = self.post("/api/auth/signup", json={
            "team": team["name"], "invite_code": team["invite_code"], "username": username,
            "display_name": display_name or username.title(), "password": password})
        assert r.status_code == 201, r.text
        return r.json()


def make_team(api: Api, *usernames: str):
    """A fresh team whose first member is usernames[0]; returns (team, {username: session})
    where a session is {"user", "token", "api"}."""
    created = api.create_team(username=usernames[0], display_name=usernames[0].title())
    team = created["team"]
    people = {usernames[0]: {"user": created["user"], "token": created["token"],
                             "api": api.as_user(created["token"])}}
    for name in usernames[1:]:
        s = api.signup(team, name)
        people[name] = {"user": s["user"], "token": s["token"], "api": api.as_user(s["token"])}
    return team, people


class WS:
    """A WebSocket client that keeps every frame and lets a test wait for one."""

    def __init__(self, base: str, token: str | None = None, auth: bool = True, timeout: float = 10):
        self.url = base.replace("http://", "ws://") + "/ws"
        self.sock = websocket.create_connection(self.url, timeout=timeout)
        self.frames: list[dict] = []
        self.ready = None
        if auth:
            self.send({"type": "auth", "token": token})
            self.ready = self.wait("ready")

    def send(self, frame):
        self.sock.send(frame if isinstance(frame, str) else json.dumps(frame))

    def recv(self, timeout: float = 10) -> dict:
        self.sock.settimeout(timeout)
        frame = json.loads(self.sock.recv())
        self.frames.append(frame)
        return frame

    def wait(self, type_: str, timeout: float = 10, **match) -> dict:
        """The first unseen frame of this type (and matching fields), waiting for it."""
        deadline = time.monotonic() + timeout
        for frame in self._unseen():
            if frame["type"] == type_ and all(frame.get(k) == v for k, v in match.items()):
                frame["_seen"] = True
                return frame
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {type_} frame {match} within {timeout}s; got {self.frames[-5:]}")
            frame = self.recv(remaining)
            if frame["type"] == type_ and all(frame.get(k) == v for k, v in match.items()):
                frame["_seen"] = True
                return frame

    def _unseen(self):
        return [f for f in self.frames if not f.get("_seen")]

    def request(self, frame: dict, timeout: float = 10) -> dict:
        """Send a frame with a fresh ref and return the answer carrying that ref."""
        ref = uuid.uuid4().hex
        self.send({**frame, "ref": ref})
        deadline = time.monotonic() + timeout
        for f in self._unseen():
            if f.get("ref") == ref:
                f["_seen"] = True
                return f
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no answer to {frame['type']} within {timeout}s")
            f = self.recv(remaining)
            if f.get("ref") == ref:
                f["_seen"] = True
                return f

    def drain(self, quiet: float = 0.3) -> list[dict]:
        """Read until nothing arrives for ``quiet`` seconds; return the unseen frames."""
        try:
            while True:
                self.recv(quiet)
        except (websocket.WebSocketTimeoutException, TimeoutError):
            pass
        return self._unseen()

    def close(self):
        try:
            self.sock.close()
        except Exception:
            pass


# ---------------------------------------------------------------------------- in process

class RecordingPublisher:
    """The Publisher chat/ talks to, recording what it is asked to deliver."""

    def __init__(self):
        self.calls: list[tuple[list[str], dict]] = []   # (user ids, event), in call order
        self.disconnected: list[str] = []

    def publish(self, user_ids, event):
        self.calls.append((list(user_ids), event))

    def disconnect_token(self, token_hash):
        self.disconnected.append(token_hash)

    def presence_of(self, user_id):
        return "offline", None

    def events(self, type_: str) -> list[tuple[list[str], dict]]:
        return [(users, event) for users, event in self.calls if event["type"] == type_]

    def clear(self):
        self.calls.clear()


def local_team(ctx, *usernames: str) -> tuple[dict, dict[str, dict]]:
    """A fresh team made through chat/ in this process: (team, {username: user doc})."""
    from chatsvc.chat import accounts
    team, first, _ = accounts.create_team(ctx, unique("team"), usernames[0], usernames[0].title(),
                                          "password123")
    people = {usernames[0]: first}
    for name in usernames[1:]:
        people[name], _ = accounts.signup(ctx, team["name"], team["invite_code"], name, name.title(),
                                          "password123")
    return team, people
