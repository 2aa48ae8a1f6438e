"""For the scale-out tests: a real cluster of their own (scripts/cluster on free ports)
and a client that behaves as the protocol asks clients to behind the proxy: it connects
to /ws?team=<team id>, reconnects when closed, catches up with ``after=``, and resends
what was not acknowledged with the same ``client_msg_id``."""
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid

import requests
import websocket

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "cluster")


def free_base(count: int, low: int = 20000, high: int = 40000) -> int:
    """A port such that it and the ``count - 1`` after it are free now."""
    for _ in range(200):
        base = low + (uuid.uuid4().int % (high - low))
        socks = []
        try:
            for k in range(count):
                s = socket.socket()
                s.bind(("127.0.0.1", base + k))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port range")


class Cluster:
    """``scripts/cluster`` driven by a test: up (starts whatever is missing), status, down."""

    def __init__(self, instances: int = 2, engine_nodes: int = 3, **env):
        self.name = f"test-{uuid.uuid4().hex[:8]}"
        ports = {"engine": free_base(engine_nodes), "transport": free_base(engine_nodes),
                 "app": free_base(instances), "proxy": free_base(1)}
        self.args = ["--name", self.name, "--instances", str(instances), "--engine-nodes", str(engine_nodes),
                     "--engine-port", str(ports["engine"]), "--transport-port", str(ports["transport"]),
                     "--app-port", str(ports["app"]), "--proxy-port", str(ports["proxy"]),
                     "--prefix", self.name]
        # The tests sign many people up from one address: the abuse throttles scaled as for
        # the suite's other servers (tests/conftest.py).
        self.env = dict(os.environ, CHATSVC_PRESENCE_GRACE="1", CHATSVC_SEND_RATE="1000",
                        CHATSVC_SEND_BURST="10000", CHATSVC_THROTTLE_SCALE="1000", **env)
        self.env.pop("CHATSVC_SECRET", None)

    def run(self, *command, check=True) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, SCRIPT, *command, *self.args], env=self.env,
                                capture_output=True, text=True, timeout=600)
        if check and result.returncode != 0:
            raise AssertionError(f"scripts/cluster {command[0]} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def up(self):
        self.run("up")
        return self

    def status(self) -> dict:
        return json.loads(self.run("status", "--json").stdout)

    def down(self):
        self.run("down", "--purge", check=False)

    @property
    def secret(self) -> str:
        with open(os.path.join(ROOT, "var", "cluster", self.name, "state.json")) as f:
            return json.load(f)["secret"]

    def proxy(self, command: str) -> str:
        """One command on HAProxy's stats socket (admin level), e.g. disable server ..."""
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(os.path.join(ROOT, "var", "cluster", self.name, "haproxy.sock"))
            s.sendall(command.encode() + b"\n")
            out = b""
            while chunk := s.recv(65536):
                out += chunk
        return out.decode()

    def served(self) -> dict[int, set[str]]:
        """instance port -> the teams it says it serves now (instances that answer)."""
        out = {}
        if not hasattr(self, "_ports"):
            self._ports = [inst["port"] for inst in self.status()["instances"]]
            self._secret = self.secret
        for port in self._ports:
            try:
                r = requests.get(f"http://127.0.0.1:{port}/internal/teams",
                                 headers={"X-Chatsvc-Secret": self._secret}, timeout=2)
            except requests.RequestException:
                continue
            if r.status_code == 200:
                out[port] = set(r.json()["teams"])
        return out


class Member:
    """One user's device: a WebSocket through the proxy that keeps itself connected."""

    def __init__(self, base: str, session: dict, chat_ids: list[str]):
        self.base = base
        self.token = session["token"]
        self.user = session["user"]
        self.team_id = self.user["team_id"]
        self.chat_ids = list(chat_ids)
        self.lock = threading.Lock()
        self.seen: dict[str, set[int]] = {c: set() for c in chat_ids}   # chat -> message ids
        self.pushed_per_conn: list[list[int]] = []      # each connection's pushed message ids
        self.pending: dict[str, dict] = {}              # client_msg_id -> send frame
        self.acked: dict[str, int] = {}                 # client_msg_id -> message id
        self.ack_times: list[float] = []
        self.readies: list[float] = []
        self.closes: list[tuple[float, int | None]] = []
        self.ws = None
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopped = True
        if self.ws is not None:
            try:
                self.ws.close()
            except Exception:
                pass
        self.thread.join(10)

    def send(self, chat_id: str, body: str):
        cid = uuid.uuid4().hex
        frame = {"type": "send", "chat_id": chat_id, "body": body, "client_msg_id": cid, "ref": cid}
        with self.lock:
            self.pending[cid] = frame
        self._try_send(frame)

    def _try_send(self, frame):
        ws = self.ws
        if ws is None:
            return
        try:
            ws.send(json.dumps(frame))
        except Exception:
            pass   # the reader notices the close and resends after reconnecting

    # -- the connection's life ----------------------------------------------------
    def _run(self):
        while not self.stopped:
            try:
                self._connect_and_read()
            except Exception:
                pass
            if not self.stopped:
                time.sleep(0.2)

    def _connect_and_read(self):
        url = self.base.replace("http://", "ws://") + f"/ws?team={self.team_id}"
        ws = websocket.create_connection(url, timeout=10)
        try:
            ws.send(json.dumps({"type": "auth", "token": self.token}))
            ready = json.loads(ws.recv())
            if ready.get("type") != "ready":
                raise ConnectionError(f"not ready: {ready}")
            pushed: list[int] = []
            with self.lock:
                self.pushed_per_conn.append(pushed)
            self.ws = ws
            self.readies.append(time.monotonic())
            self._catch_up()
            with self.lock:
                unacked = list(self.pending.values())
            for frame in unacked:   # the same client_msg_id: the server's idempotency decides
                self._try_send(frame)
            ws.settimeout(1)
            while not self.stopped:
                try:
                    raw = ws.recv()
                except websocket.WebSocketTimeoutException:
                    self._resend_stale()
                    continue
                if not raw:
                    break
                self._on_frame(json.loads(raw), pushed)
        except websocket.WebSocketConnectionClosedException:
            pass
        finally:
            self.ws = None
            code = getattr(ws, "status", None)
            self.closes.append((time.monotonic(), code))
            try:
                ws.close()
            except Exception:
                pass

    def _resend_stale(self):
        with self.lock:
            unacked = list(self.pending.values())
        for frame in unacked:
            self._try_send(frame)

    def _on_frame(self, frame: dict, pushed: list[int]):
        kind = frame.get("type")
        if kind == "message":
            m = frame["message"]
            pushed.append(int(m["id"]))
            with self.lock:
                self.seen.setdefault(m["chat_id"], set()).add(int(m["id"]))
        elif kind == "ack":
            m = frame["message"]
            with self.lock:
                self.pending.pop(frame["client_msg_id"], None)
                self.acked[frame["client_msg_id"]] = int(m["id"])
                self.seen.setdefault(m["chat_id"], set()).add(int(m["id"]))
                self.ack_times.append(time.monotonic())
        elif kind == "error" and frame.get("ref") in self.pending and frame.get("code") != "unavailable":
            raise AssertionError(f"a send was refused: {frame}")

    def _catch_up(self):
        """GET every chat's messages after the last id seen (REST through the proxy)."""
        for chat_id in self.chat_ids:
            with self.lock:
                after = max(self.seen[chat_id], default=0)
            while True:
                params = {"limit": 200, **({"after": str(after)} if after else {})}
                r = requests.get(f"{self.base}/api/chats/{chat_id}/messages", params=params,
                                 headers={"Authorization": f"Bearer {self.token}"}, timeout=15)
                if r.status_code != 200:
                    raise ConnectionError(f"catch-up answered {r.status_code}")
                page = r.json()
                ids = [int(m["id"]) for m in page["messages"]]
                with self.lock:
                    self.seen[chat_id].update(ids)
                if not page["has_more"] or not ids:
                    break
                after = max(ids)
