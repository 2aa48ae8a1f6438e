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
