"""Test session: a real OpenSearch, a unique index prefix, and a real gunicorn server.

The engine at CHATSVC_SEARCH_URL (default http://127.0.0.1:9200) is used when it answers;
otherwise ``scripts/search-engine start`` starts one, once per session. If it cannot be
started the whole session fails loudly: nothing here is skipped or faked.
"""
import os
import shutil
import socket
import subprocess
import sys
import uuid

import pytest
import requests

from chatsvc.chat.context import ChatContext
from chatsvc.config import Config
from chatsvc.store import Engine
from chatsvc.store.indices import bootstrap
from tests.helpers import Api, RecordingPublisher, engine_answers, wait_until
from tests.helpers import team_with_chat as make_team_with_chat

# Scripts and servers the tests start run with the development secret (issue 16).
os.environ.setdefault("CHATSVC_ENV", "development")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENGINE_URL = os.environ.get("CHATSVC_SEARCH_URL", "http://127.0.0.1:9200").rstrip("/")


@pytest.fixture(scope="session")
def engine_url():
    if not engine_answers(ENGINE_URL):
        port = ENGINE_URL.rsplit(":", 1)[-1]
        result = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "search-engine"),
                                 "start", "--port", port])
        if result.returncode != 0 or not engine_answers(ENGINE_URL):
            pytest.fail(f"the search engine at {ENGINE_URL} could not be started "
                        "(scripts/search-engine start failed); tests need a real engine", pytrace=False)
    return ENGINE_URL


@pytest.fixture(scope="session")
def index_prefix(engine_url):
    """A prefix of this run's own: its indices and templates are removed at the end."""
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    yield prefix
    drop_prefix(engine_url, prefix)


def drop_prefix(engine_url: str, prefix: str):
    """Remove every index and template of a prefix a test made for itself."""
    requests.delete(f"{engine_url}/{prefix}-*", params={"expand_wildcards": "all"}, timeout=60)
    requests.delete(f"{engine_url}/_index_template/{prefix}-*", timeout=60)


# ---------------------------------------------------------------------------- in process

@pytest.fixture(scope="module")
def rules_prefix(engine_url):
    """A prefix of this module's own for in-process tests of chat/ (no server, no socket)."""
    prefix = f"test-rules-{uuid.uuid4().hex[:8]}"
    bootstrap(Engine(engine_url, prefix))
    yield prefix
    drop_prefix(engine_url, prefix)


@pytest.fixture(scope="module")
def make_context(engine_url, rules_prefix):
    """``make_context(**settings)``: a ChatContext wired as create_app wires it, on the
    module's prefix, with a RecordingPublisher as its publisher. Every call is a new
    process life: it shares the engine's data and nothing that was in memory."""
    def make(**settings) -> ChatContext:
        settings = {"send_rate": 1e6, "send_burst": 1_000_000, **settings}
        config = Config(search_url=engine_url, index_prefix=rules_prefix,
                        secret="test-secret-for-this-session", **settings)
        engine = Engine(config.search_url, config.index_prefix, config.engine_pool_size,
                        config.engine_timeout, config.index_shards, config.index_replicas)
        return ChatContext(config, engine, RecordingPublisher())
    return make


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """A gunicorn (gevent worker) serving the app, as production runs it."""

    def __init__(self, engine_url: str, prefix: str, **settings):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ, CHATSVC_SEARCH_URL=engine_url, CHATSVC_INDEX_PREFIX=prefix,
                        CHATSVC_BIND=f"127.0.0.1:{self.port}", CHATSVC_PRESENCE_GRACE="1",
                        CHATSVC_SECRET="test-secret-for-this-session", CHATSVC_ENV="development",
                        # Generous throttles: the suite makes hundreds of teams from one
                        # address; a test of a throttle sets its own small limits.
                        CHATSVC_THROTTLE_SCALE="1000")
        self.env.update({f"CHATSVC_{k.upper()}": str(v) for k, v in settings.items()})
        self.proc = None
        self.log_path = os.path.join(ROOT, "var", "test-logs", f"server-{self.port}.log")

    def start(self, timeout: float = 60, wait_ready: bool = True):
        """Start and wait for /readyz 200 (or, with ``wait_ready=False``, only /healthz 200:
        for a server whose engine is meant to be unreachable)."""
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable)) or "gunicorn"
        with open(self.log_path, "ab") as log:   # the child keeps its own copy of the fd
            self.proc = subprocess.Popen([gunicorn, "-c", "gunicorn.conf.py", "wsgi:app"], cwd=ROOT,
                                         env=self.env, stdout=log, stderr=subprocess.STDOUT)
        probe = self.url + ("/readyz" if wait_ready else "/healthz")

        def up():
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early; see {self.log_path}")
            try:
                return requests.get(probe, timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_until(up, timeout, f"{probe} to answer 200; see {self.log_path}", poll=0.2)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def restart(self):
        self.stop()
        return self.start()


@pytest.fixture(scope="session")
def server(engine_url, index_prefix):
    """One real server for the session (state is isolated per test by unique teams)."""
    srv = ServerProcess(engine_url, index_prefix).start()
    yield srv
    srv.stop()


@pytest.fixture
def api(server):
    return Api(server.url)


@pytest.fixture
def team_with_chat(api):
    """ann and bob of a fresh team and their direct chat: {"team", "chat_id", "ann", "bob"}
    (each person a session: {"user", "token", "api"})."""
    return make_team_with_chat(api, "ann", "bob")
