"""The commands README shows a newcomer or an operator, run as they are typed: the run
command with the demo (a newcomer's first command), and the scheduled-export runner.
(scripts/test is CI itself; scripts/import, scripts/export, verify and key have their own
tests in test_slack_import.py, test_admin_api.py, test_export.py, test_export_formats.py.)"""
import json
import os
import re
import signal
import subprocess
import threading
import uuid

import requests

from chatsvc.chat import export_schedule
from chatsvc.chat.context import ChatContext
from chatsvc.config import Config
from chatsvc.store import Engine
from chatsvc.store.indices import bootstrap
from tests.conftest import ROOT, drop_prefix, free_port
from tests.helpers import Api, RecordingPublisher, local_team, ok, wait_until


def test_scripts_run_demo_prints_the_address_and_serves_the_demo_team(engine_url):
    """`scripts/run --demo`: fills the demo team, prints where to open, and serves the
    workspace there, where the demo's people can log in and find their chats."""
    prefix = f"test-run-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = dict(os.environ, CHATSVC_SEARCH_URL=engine_url, CHATSVC_INDEX_PREFIX=prefix,
               CHATSVC_BIND=f"127.0.0.1:{port}", CHATSVC_RETENTION_EVERY="0",
               CHATSVC_EXPORT_SCHEDULER_SECONDS="0")
    proc = subprocess.Popen([os.path.join(ROOT, "scripts", "run"), "--demo"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: any(f"open {url}" in line for line in lines) or proc.poll() is not None,
                   300, lambda: f"the address printed; output so far: {lines[-20:]}")
        assert proc.poll() is None, "".join(lines)
        output = "".join(lines)
        assert "Traceback" not in output, output
        assert re.search(r"demo: team 'demo' created with \d+ messages in \d+ chats", output), output

        def ready():
            try:
                return requests.get(url + "/readyz", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_until(ready, 60, "the server to answer /readyz")
        page = requests.get(url + "/", timeout=10)
        assert page.status_code == 200 and "<h1" in page.text and "/static/app.js" in page.text
        assert requests.get(url + "/static/app.js", timeout=10).status_code == 200
        login = ok(Api(url).post("/api/auth/login", json={"team": "demo", "username": "alice",
                                                          "password": "demo-password"}))
        chats = ok(Api(url, login["token"]).get("/api/chats"))["chats"]
        assert len(chats) >= 6 and all(c["last_message"] for c in chats)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        drop_prefix(engine_url, prefix)


def test_scripts_export_scheduled_lists_and_runs_what_is_due(engine_url, tmp_path):
    """`scripts/export scheduled [--run-due]`: the admins' schedules, and the run of the due
    ones, which writes a signed export into the schedule's folder once. On a prefix of its
    own, so no server's scheduler takes the due export first."""
    prefix = f"test-sched-cli-{uuid.uuid4().hex[:8]}"
    engine = Engine(engine_url, prefix)
    bootstrap(engine)
    try:
        ctx = ChatContext(Config(search_url=engine_url, index_prefix=prefix,
                                 secret="test-secret-for-this-session"), engine, RecordingPublisher())
        team, people = local_team(ctx, "ann")
        dest = tmp_path / "scheduled"
        export_schedule.set_schedule(ctx, people["ann"], 24, "jsonl", str(dest), True)
        env = dict(os.environ, CHATSVC_SEARCH_URL=engine_url, CHATSVC_INDEX_PREFIX=prefix,
                   CHATSVC_EXPORT_KEY=str(tmp_path / "key.pem"))
        script = os.path.join(ROOT, "scripts", "export")

        def run(*args):
            done = subprocess.run([script, "scheduled", *args], env=env, capture_output=True,
                                  text=True, timeout=300)
            assert done.returncode == 0, done.stderr
            return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]

        assert [s["team_id"] for s in run()] == [team["id"]]
        assert [r["status"] for r in run("--run-due")] == ["ok"]
        (folder,) = os.listdir(dest)
        assert (dest / folder / "manifest.json").exists() and (dest / folder / "manifest.sig").exists()
        assert run("--run-due") == []                       # not due again for a day
        assert len(os.listdir(dest)) == 1
    finally:
        drop_prefix(engine_url, prefix)
