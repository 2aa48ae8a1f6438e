"""The tests' one set of helpers: REST with a token, the common flows (a team, a chat, a
send, history), error assertions, one polling loop, and a WebSocket that keeps its frames
and lets a test wait for them; for in-process tests, a recording publisher and a team."""
import json
import struct
import subprocess
import time
import uuid

import requests
import websocket
from websocket import ABNF


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

    def patch(self, path, **kw):
        return self.call("PATCH", path, **kw)

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


def team_with_chat(api: Api, *usernames: str, title=None) -> dict:
    """A fresh team (``make_team``) and a chat of all its members made by the first:
    {"team", "chat_id", and each username: its session}."""
    team, people = make_team(api, *(usernames or ("ann", "bob")))
    first, *others = people.values()
    return {**people, "team": team, "chat_id": create_chat(first, *others, title=title)["id"]}


def _user_id(who) -> str:
    return who if isinstance(who, str) else who["user"]["id"]


def create_chat(person, *others, title=None, expect=201) -> dict:
    """``person`` creates a chat with ``others`` (sessions or user ids); asserts the status
    (201 new, 200 an existing direct chat) and returns the Chat."""
    payload = {"member_ids": [_user_id(o) for o in others]}
    if title is not None:
        payload["title"] = title
    return ok(person["api"].post("/api/chats", json=payload), expect)


def post_message(person, chat_id, body, client_msg_id=None, **extra) -> requests.Response:
    """POST a message as ``person`` (a fresh client_msg_id unless given; ``extra`` fields
    such as thread_id go in the body too): the raw answer."""
    return person["api"].post(f"/api/chats/{chat_id}/messages",
                              json={"body": body, "client_msg_id": client_msg_id or uuid.uuid4().hex, **extra})


def send(person, chat_id, body, client_msg_id=None, expect=201, **extra) -> dict:
    """Send over REST and return the Message; asserts the status (201 new, 200 a retry)."""
    return ok(post_message(person, chat_id, body, client_msg_id, **extra), expect)


def send_ws(ws: "WS", chat_id, body, client_msg_id=None) -> dict:
    """Send over a WebSocket and return the acknowledged Message."""
    ack = ws.request({"type": "send", "chat_id": chat_id, "body": body,
                      "client_msg_id": client_msg_id or uuid.uuid4().hex})
    assert ack["type"] == "ack", ack
    return ack["message"]


def history(person, chat_id, **params) -> dict:
    """One page of a chat's history as ``person`` sees it: {"messages", "has_more"}."""
    return ok(person["api"].get(f"/api/chats/{chat_id}/messages", params=params))


def whole_history(person, chat_id) -> list[dict]:
    """Every message of the chat, paged back from the newest (200 a page), ascending."""
    messages, before = [], None
    while True:
        page = history(person, chat_id, limit=200, **({"before": before} if before else {}))
        messages[:0] = page["messages"]
        if not page["has_more"]:
            return messages
        before = page["messages"][0]["id"]


# ---------------------------------------------------------------------------- assertions

def ok(response: requests.Response, status=200):
    """Assert the status; the JSON body (None when there is none)."""
    assert response.status_code == status, (response.request.method, response.request.url,
                                            response.status_code, response.text)
    return response.json() if response.content else None


def assert_error(response: requests.Response, status: int, code: str, field=None) -> dict:
    """Assert a PROTOCOL.md error answer: the status, the code, a message, and (if given)
    the field it names. Returns the error object."""
    assert response.status_code == status, (response.request.method, response.request.url,
                                            response.status_code, response.text)
    error = response.json()["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"], error
    if field is not None:
        assert field in error.get("fields", {}), error
    return error


def bad_request(response, field=None) -> dict:
    return assert_error(response, 400, "bad_request", field)


def not_found(response) -> dict:
    return assert_error(response, 404, "not_found")


def forbidden(response) -> dict:
    return assert_error(response, 403, "forbidden")


def ws_refused(ws: "WS", frame, code="bad_request", field=None) -> dict:
    """Send a frame that must earn an ``error`` (the answer to its ref; for raw text, the
    next error), check it, and check that the connection still answers a ping."""
    if isinstance(frame, dict):
        answer = ws.request(frame)
    else:
        ws.send(frame)
        answer = ws.wait("error")
    assert answer["type"] == "error" and answer["code"] == code, (frame, answer)
    assert isinstance(answer["message"], str) and answer["message"], answer
    if field is not None:
        assert field in answer.get("fields", {}), answer
    assert ws.request({"type": "ping"})["type"] == "pong"
    return answer


# ---------------------------------------------------------------------------- waiting

def stop_process(proc, timeout: float = 15):
    """Terminate a child process the tests started, killing it if it does not go in time."""
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_until(predicate, timeout: float, what, poll: float = 0.1):
    """Call ``predicate`` until it returns something true, and return that; fail with
    ``what`` (a string, or a callable giving one, e.g. the last thing seen) after
    ``timeout`` seconds. The one polling loop of the tests."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what() if callable(what) else what}")
        time.sleep(poll)


class WS:
    """A WebSocket client that keeps every frame and lets a test wait for one."""

    def __init__(self, base: str, token: str | None = None, auth: bool = True, timeout: float = 10,
                 path: str = "/ws"):
        self.url = base.replace("http://", "ws://") + path
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

    def read_until(self, found, timeout: float, what, read=None):
        """Read frames (into ``frames``) until ``found()`` returns something other than
        None, and return that; TimeoutError naming ``what`` (a string or a callable) after
        ``timeout`` s. The one frame-waiting loop: ``read(remaining)`` reads one frame."""
        read = read or self.recv
        deadline = time.monotonic() + timeout
        while (result := found()) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{what() if callable(what) else what} within {timeout}s; "
                                   f"last frames {self.frames[-5:]}")
            try:
                read(remaining)
            except websocket.WebSocketTimeoutException:
                pass
        return result

    def first_unseen(self, match):
        """The first unseen frame for which ``match(frame)`` holds, marked seen; or None."""
        for frame in self._unseen():
            if match(frame):
                frame["_seen"] = True
                return frame
        return None

    def wait(self, type_: str, timeout: float = 10, **match) -> dict:
        """The first unseen frame of this type (and matching fields), waiting for it."""
        def matches(frame):
            return frame["type"] == type_ and all(frame.get(k) == v for k, v in match.items())
        return self.read_until(lambda: self.first_unseen(matches), timeout, f"no {type_} frame {match}")

    def _unseen(self):
        return [f for f in self.frames if not f.get("_seen")]

    def request(self, frame: dict, timeout: float = 10) -> dict:
        """Send a frame with a fresh ref and return the answer carrying that ref."""
        ref = uuid.uuid4().hex
        self.send({**frame, "ref": ref})
        return self.read_until(lambda: self.first_unseen(lambda f: f.get("ref") == ref), timeout,
                               f"no answer to {frame['type']}")

    def wait_close(self, timeout: float = 10) -> int | None:
        """Read until the server closes; keep text frames in ``frames``. Returns the close
        code, or None when the TCP connection ended without a close frame."""
        closed = []

        def read(remaining):
            self.sock.sock.settimeout(remaining)
            try:
                frame = self.sock.recv_frame()   # a timeout goes on to read_until
            except (websocket.WebSocketConnectionClosedException, ConnectionError, OSError):
                closed.append(None)
                return
            if frame.opcode == ABNF.OPCODE_CLOSE:
                closed.append(struct.unpack("!H", frame.data[:2])[0] if len(frame.data) >= 2 else 1005)
            elif frame.opcode == ABNF.OPCODE_TEXT:
                self.frames.append(json.loads(frame.data))

        return self.read_until(lambda: closed or None, timeout, "the server did not close", read)[0]

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
