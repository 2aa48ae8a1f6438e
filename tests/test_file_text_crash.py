"""Text extraction survives a crash: a server killed with kill -9 between a send and the
extraction of its file leaves the message pending in the engine, and the next server to
serve the team extracts it, so the words in the file become searchable (chat/file_text.py).
Real gunicorn processes, a real engine and blob folder."""
import os
import signal
import time

from chatsvc.extract_text import formats
from tests import file_samples as samples
from tests.conftest import ServerProcess
from tests.helpers import Api, create_chat, make_team, ok, post_message, wait_until

RECOVERY = {"extract_recover_after": 1, "extract_recover_poll": 0.5}


def kill_9(srv: ServerProcess):
    """SIGKILL the gunicorn master and its worker: no shutdown code runs in either."""
    master = srv.proc.pid
    with open(f"/proc/{master}/task/{master}/children") as f:
        workers = [int(p) for p in f.read().split()]
    os.kill(master, signal.SIGKILL)
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    srv.proc.wait()
    wait_until(lambda: not any(os.path.exists(f"/proc/{p}") and _alive(p) for p in workers), 10, "the worker to die")


def _alive(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


def hits(base: str, token: str, q: str) -> list[str]:
    found = ok(Api(base).as_user(token).get("/api/search", params={"q": q}))["hits"]
    return [h["message"]["id"] for h in found]


def test_extraction_pending_at_a_crash_is_done_by_the_next_server(engine_url, index_prefix, tmp_path):
    dirs = {"blob_dir": str(tmp_path / "blobs"), "upload_dir": str(tmp_path / "uploads")}
    # The first server waits 10 minutes before extracting: it is killed long before.
    first = ServerProcess(engine_url, index_prefix, extract_delay=600, **dirs, **RECOVERY).start()
    try:
        _, people = make_team(Api(first.url), "ann", "bob")
        chat_id = create_chat(people["ann"], people["bob"])["id"]
        upload = people["ann"]["api"].post("/api/files", files={
            "file": ("plan.docx", samples.docx("the quokka migration plan"), formats.DOCX)})
        file_id = ok(upload, 201)["file"]["id"]
        sent = ok(post_message(people["ann"], chat_id, "the plan", file_ids=[file_id]), 201)
        time.sleep(2)   # past recover_after: this server's own sweep leaves its running job alone
        assert hits(first.url, people["bob"]["token"], "quokka") == []
        assert hits(first.url, people["bob"]["token"], "plan") == [sent["id"]]
    finally:
        kill_9(first)
    second = ServerProcess(engine_url, index_prefix, **dirs, **RECOVERY).start()
    try:
        found = wait_until(lambda: hits(second.url, people["bob"]["token"], "quokka"), 30,
                           "the file's words to become searchable after the restart")
        assert found == [sent["id"]]
    finally:
        second.stop()
