"""Both blob stores behind the same tests: the local folder and S3-compatible storage
(a real SeaweedFS the session starts; never a mock). And a server storing its files in S3."""
import hashlib
import os
import threading
import uuid

import pytest

from chatsvc.blobs import BlobNotFound, check_name
from chatsvc.blobs.local import LocalBlobStore
from chatsvc.blobs.s3 import S3BlobStore
from tests import file_samples as samples
from tests.conftest import ServerProcess
from tests.helpers import Api, create_chat, make_team, ok, post_message, wait_until
from tests.s3_server import SeaweedS3


@pytest.fixture(scope="session")
def s3(tmp_path_factory):
    server = SeaweedS3(str(tmp_path_factory.mktemp("seaweed")))
    try:
        server.start()
    except RuntimeError as exc:
        pytest.fail(f"the S3-compatible test server could not start: {exc}", pytrace=False)
    yield server
    server.cleanup()


BUCKET = "chatsvc-tests"   # one bucket: each new one costs the server a set of volumes


def _s3_store(s3) -> S3BlobStore:
    store = S3BlobStore(s3.endpoint, BUCKET, "test", "test")
    wait_until(lambda: _try(store.ensure_bucket), 60, "the S3 server to create a bucket")
    return store


def _try(fn) -> bool:
    try:
        fn()
        return True
    except Exception:
        return False


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalBlobStore(str(tmp_path / "blobs"))
    return _s3_store(request.getfixturevalue("s3"))


def _blob(tmp_path, data: bytes) -> tuple[str, str]:
    path = tmp_path / uuid.uuid4().hex
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest(), str(path)


def test_put_open_size_exists_delete(store, tmp_path):
    data = os.urandom(3 << 20)
    sha, path = _blob(tmp_path, data)
    assert not store.exists(sha)
    store.put(sha, path)
    store.put(sha, path)                       # again: a no-op
    assert store.exists(sha) and store.size(sha) == len(data)
    with store.open(sha) as f:
        assert f.read() == data
    store.delete(sha)
    assert not store.exists(sha)
    with pytest.raises(BlobNotFound):
        store.open(sha)
    store.delete(sha)                          # absent: no error


def test_names_are_hashes_only(store):
    for bad in ("../../etc/passwd", "A" * 64, "", "ab/cd"):
        with pytest.raises(ValueError):
            store.exists(bad)
    assert check_name("a" * 64) == "a" * 64


def test_concurrent_puts_of_one_blob_leave_it_whole(store, tmp_path):
    data = os.urandom(1 << 20)
    sha, path = _blob(tmp_path, data)
    threads = [threading.Thread(target=store.put, args=(sha, path)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with store.open(sha) as f:
        assert hashlib.sha256(f.read()).hexdigest() == sha


def test_local_store_leaves_no_partial_files(tmp_path):
    store = LocalBlobStore(str(tmp_path / "blobs"))
    sha, path = _blob(tmp_path, b"x" * 1000)
    store.put(sha, path)
    assert os.listdir(store.incoming) == []
    assert store.path(sha).endswith(f"/{sha[:2]}/{sha[2:4]}/{sha}")


def test_server_with_s3_blobs_end_to_end(s3, engine_url, index_prefix, tmp_path):
    bucket = BUCKET
    _s3_store_bucket = _s3_store(s3)
    srv = ServerProcess(engine_url, index_prefix, blob_s3_endpoint=s3.endpoint, blob_s3_bucket=bucket,
                        blob_s3_key="test", blob_s3_secret="test", upload_dir=str(tmp_path / "up")).start()
    try:
        _, people = make_team(Api(srv.url), "ann", "bob")
        chat = create_chat(people["ann"], people["bob"])["id"]
        image = samples.png(300, 200)
        f = ok(people["ann"]["api"].post("/api/files", files={"file": ("p.png", image, "image/png")}), 201)["file"]
        assert _s3_store_bucket.exists(f["sha256"])
        msg = ok(post_message(people["ann"], chat, "", file_ids=[f["id"]]), 201)
        got = Api(srv.url).get(msg["files"][0]["url"])
        assert got.status_code == 200 and got.content == image
        assert Api(srv.url).get(msg["files"][0]["thumbnail_url"]).status_code == 200
    finally:
        srv.stop()


# ---------------------------------------------------------------- retention deletes blobs

def _noise_png(width: int, height: int) -> bytes:
    """A PNG no other test (or run) has: its blob and thumbnail are this test's alone."""
    import io  # noqa: PLC0415
    from PIL import Image  # noqa: PLC0415
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(out, "PNG")
    return out.getvalue()


def _upload(ctx, me, data: bytes, name: str, kind: str) -> dict:
    from chatsvc.chat import files as chat_files  # noqa: PLC0415
    spool = chat_files.new_spool(ctx)
    spool.write(data)
    file_id = chat_files.upload(ctx, me, spool, name, kind)["file"]["id"]
    return chat_files.attachments(ctx, me, [file_id])[0]   # what a message stores of it


def _old_message_with(ctx, chat: dict, sender: dict, entry: dict, days_ago: float) -> int:
    """A message sent ``days_ago`` days ago with the file ``entry``, written with its
    attachment claim as a send writes them."""
    import time  # noqa: PLC0415
    from chatsvc.chat import files as chat_files  # noqa: PLC0415
    from chatsvc.ids import id_at, id_time  # noqa: PLC0415
    from chatsvc.store import messages as message_store  # noqa: PLC0415
    from chatsvc.store.imports import write_ops  # noqa: PLC0415
    mid = id_at(int((time.time() - days_ago * 86400) * 1000), 1000, int.from_bytes(os.urandom(1), "big"))
    doc = {"id": mid, "chat_id": chat["id"], "team_id": chat["team_id"], "sender_id": sender["id"],
           "body": "", "created_at": id_time(mid), "client_msg_id": f"old{mid}", "liked_by": [],
           "like_count": 0, "hidden_for": [], "deleted": False, **chat_files.message_fields([entry])}
    ops = [message_store.write_op(ctx.engine, doc), chat_files.attach_op(ctx.engine, entry["id"], doc)]
    assert all(status == 201 for status, _ in write_ops(ctx.engine, ops))
    message_store.refresh(ctx.engine)
    return mid


def test_retention_deletes_the_blobs_nothing_remaining_uses(store, make_context, tmp_path):
    """Blobs are shared by content: one is deleted with the last message, upload or
    picture that uses it, never while a legal hold keeps a message with the same bytes."""
    from chatsvc.chat import chats, files as chat_files, holds, retention  # noqa: PLC0415
    from chatsvc.chat.blob_reaper import BlobReaper  # noqa: PLC0415
    from tests.helpers import local_team  # noqa: PLC0415
    ctx = make_context(upload_dir=str(tmp_path / "uploads"))
    ctx.blobs = store
    team, p = local_team(ctx, "ann", "bob", "cat")
    ann, bob, cat = p["ann"], p["bob"], p["cat"]
    group, _ = chats.create_chat(ctx, ann, [bob["id"], cat["id"]], "group")
    held, _ = chats.create_chat(ctx, ann, [bob["id"]], None)
    group, held = ctx.teams.get(team["id"]).chats[group["id"]], ctx.teams.get(team["id"]).chats[held["id"]]
    shared, alone, raw, recent = _noise_png(60, 40), _noise_png(70, 30), os.urandom(5000), os.urandom(4000)
    s1 = _upload(ctx, ann, shared, "a.png", "image/png")
    s2 = _upload(ctx, bob, shared, "b.png", "image/png")          # the same bytes: the same blobs
    only = _upload(ctx, ann, alone, "c.png", "image/png")
    r1 = _upload(ctx, ann, raw, "r.bin", "application/octet-stream")
    r2 = _upload(ctx, cat, raw, "r2.bin", "application/octet-stream")   # uploaded, not sent yet
    new = _upload(ctx, ann, recent, "n.bin", "application/octet-stream")
    assert s1["sha256"] == s2["sha256"] and s1["thumb_sha256"] == s2["thumb_sha256"]
    for chat, sender, entry, days in [(group, ann, s1, 40), (held, bob, s2, 40), (group, ann, only, 40),
                                      (group, ann, r1, 40), (group, ann, new, 1)]:
        _old_message_with(ctx, chat, sender, entry, days)
    retention.set_policy(ctx, ann, 30)
    hold = holds.create_hold(ctx, ann, "case", "audit", [], [held["id"]])
    reaper = BlobReaper(ctx.engine, ctx.blobs)

    retention.run(ctx.engine, ctx.ids, team_ids=[team["id"]], files=reaper)
    assert not store.exists(only["sha256"]) and not store.exists(only["thumb_sha256"])
    assert store.exists(s1["sha256"]) and store.exists(s1["thumb_sha256"])   # the held copy uses them
    assert store.exists(r1["sha256"]) and store.exists(new["sha256"])
    # cat's unsent upload of the same bytes still downloads whole
    url = chat_files.file_view(r2, cat["id"])["url"]
    query = dict(part.split("=") for part in url.split("?")[1].split("&"))
    got = chat_files.download(ctx, r2["id"], "content", cat["id"], query["e"], query["s"])
    with got.stream as f:
        assert f.read() == raw
    assert reaper.blobs_deleted == 2

    holds.release_hold(ctx, ann, hold["id"])
    retention.run(ctx.engine, ctx.ids, team_ids=[team["id"]], files=reaper)
    assert not store.exists(s1["sha256"]) and not store.exists(s1["thumb_sha256"])
    assert store.exists(r1["sha256"]) and store.exists(new["sha256"])
