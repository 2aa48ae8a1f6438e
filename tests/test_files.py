"""Files end to end over REST and WebSocket against a real server, engine and blob store:
upload, attach, preview, download, search inside, and every refusal (PROTOCOL.md, "Files
and avatars")."""
import io
import os
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image

from tests import file_samples as samples
from tests.conftest import ServerProcess
from tests.helpers import (WS, Api, assert_error, bad_request, create_chat, forbidden, make_team,
                           not_found, ok, post_message, send, wait_until)
from tests.xss_payloads import XSS_PAYLOADS as PAYLOADS

LIMIT = 2 << 20   # this server's upload limit (the default, 25 MiB, is in test_config_defaults)


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("files-server")
    return {"blobs": str(root / "blobs"), "uploads": str(root / "uploads")}


@pytest.fixture(scope="module")
def files_server(engine_url, index_prefix, dirs):
    srv = ServerProcess(engine_url, index_prefix, max_file_bytes=LIMIT, blob_dir=dirs["blobs"],
                        upload_dir=dirs["uploads"], extract_seconds=5, file_url_ttl=60).start()
    yield srv
    srv.stop()


@pytest.fixture
def team(files_server):
    """ann, bob and cat of one team; ann and bob share a group chat (cat is not in it)."""
    api = Api(files_server.url)
    _, people = make_team(api, "ann", "bob", "cat")
    people["chat_id"] = create_chat(people["ann"], people["bob"], title="design")["id"]
    people["base"] = files_server.url
    return people


def upload(person, data: bytes, name="f.bin", content_type="application/octet-stream"):
    return person["api"].post("/api/files", files={"file": (name, data, content_type)})


def uploaded(person, data: bytes, name="f.bin", content_type="application/octet-stream") -> dict:
    return ok(upload(person, data, name, content_type), 201)["file"]


def fetch(team, url: str, **kw):
    """A plain GET of a signed URL (no Authorization header, like an <img src>)."""
    return Api(team["base"]).get(url, **kw)


def send_files(person, chat_id, file_ids, body="", **kw):
    return post_message(person, chat_id, body, file_ids=file_ids, **kw)


# ---------------------------------------------------------------- upload and attach

def test_upload_attach_and_download(team):
    data = os.urandom(300_000)
    f = uploaded(team["ann"], data, "report.bin")
    assert f["size"] == len(data) and f["name"] == "report.bin"
    import hashlib
    assert f["sha256"] == hashlib.sha256(data).hexdigest()
    msg = ok(send_files(team["ann"], team["chat_id"], [f["id"]], "see attached"), 201)
    assert [x["id"] for x in msg["files"]] == [f["id"]]
    got = fetch(team, msg["files"][0]["url"])
    assert got.status_code == 200 and got.content == data
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert got.headers["Content-Disposition"].startswith("attachment;")
    # bob sees it in history with URLs signed for him
    bobs = ok(team["bob"]["api"].get(f"/api/chats/{team['chat_id']}/messages"))["messages"][-1]
    assert parse_qs(urlsplit(bobs["files"][0]["url"]).query)["u"] == [team["bob"]["user"]["id"]]
    assert fetch(team, bobs["files"][0]["url"]).content == data


def test_message_may_have_only_files_and_at_most_ten(team):
    ids = [uploaded(team["ann"], f"file {i}".encode(), f"n{i}.txt", "text/plain")["id"] for i in range(11)]
    bad_request(send_files(team["ann"], team["chat_id"], ids), "file_ids")
    msg = ok(send_files(team["ann"], team["chat_id"], ids[:10]), 201)
    assert msg["body"] == "" and len(msg["files"]) == 10
    bad_request(post_message(team["ann"], team["chat_id"], ""), "body")   # no files: body needed


def test_send_with_files_is_idempotent(team):
    f = uploaded(team["ann"], b"hello", "a.txt", "text/plain")
    key = uuid.uuid4().hex
    first = ok(send_files(team["ann"], team["chat_id"], [f["id"]], client_msg_id=key), 201)
    again = ok(send_files(team["ann"], team["chat_id"], [f["id"]], client_msg_id=key), 200)
    assert again["id"] == first["id"]


def test_attach_refusals(team):
    mine = uploaded(team["ann"], b"one", "a.txt", "text/plain")
    bobs = uploaded(team["bob"], b"two", "b.txt", "text/plain")
    bad_request(send_files(team["ann"], team["chat_id"], [bobs["id"]]), "file_ids")      # another user's
    bad_request(send_files(team["ann"], team["chat_id"], ["123456789"]), "file_ids")     # unknown
    bad_request(send_files(team["ann"], team["chat_id"], ["not-an-id"]), "file_ids")     # malformed
    bad_request(send_files(team["ann"], team["chat_id"], [mine["id"], mine["id"]]), "file_ids")
    ok(send_files(team["ann"], team["chat_id"], [mine["id"]]), 201)
    bad_request(send_files(team["ann"], team["chat_id"], [mine["id"]]), "file_ids")      # already attached
    zed = make_team(Api(team["base"]), "zed", "yan")[1]
    their_chat = create_chat(zed["zed"], zed["yan"])["id"]
    bad_request(send_files(zed["zed"], their_chat, [bobs["id"]]), "file_ids")            # another team's


def test_racing_sends_attach_a_file_once(team):
    """Two sends naming the same file at the same moment: one gets it, the other a 400, and
    no message is left half-made."""
    from concurrent.futures import ThreadPoolExecutor
    for _ in range(3):
        f = uploaded(team["ann"], os.urandom(64), "race.bin")
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda i: send_files(team["ann"], team["chat_id"], [f["id"]], f"race {i}"),
                                    range(2)))
        assert sorted(r.status_code for r in answers) == [201, 400], [r.text for r in answers]
        loser = next(r for r in answers if r.status_code == 400).json()
        assert "file_ids" in loser["error"]["fields"]
        winner = next(r for r in answers if r.status_code == 201).json()
        history = ok(team["bob"]["api"].get(f"/api/chats/{team['chat_id']}/messages"))["messages"]
        with_file = [m for m in history if any(x["id"] == f["id"] for x in m["files"])]
        assert [m["id"] for m in with_file] == [winner["id"]]


def test_over_the_limit_is_413_and_leaves_nothing(team, dirs):
    before = set(os.listdir(dirs["uploads"])) if os.path.isdir(dirs["uploads"]) else set()
    r = upload(team["ann"], b"x" * (LIMIT + 1), "big.bin")
    assert_error(r, 413, "too_large")
    assert set(os.listdir(dirs["uploads"])) - before == set()


def test_bad_uploads(team):
    bad_request(upload(team["ann"], b"", "empty.txt", "text/plain"), "file")
    bad_request(upload(team["ann"], b"<html><script>alert(1)</script>", "cat.png", "image/png"), "file")
    bad_request(upload(team["ann"], samples.png(), "doc.pdf", "application/pdf"), "file")
    bad_request(team["ann"]["api"].post("/api/files", files={"other": ("a.txt", b"hi")}), "file")
    bad_request(team["ann"]["api"].post("/api/files", data=b"not multipart",
                                        headers={"Content-Type": "text/plain"}), "file")
    assert_error(Api(team["base"]).post("/api/files", files={"file": ("a.txt", b"hi")}), 401, "unauthorized")


def test_path_traversal_and_xss_in_names_are_inert(team):
    f = uploaded(team["ann"], b"hi", "../../etc/passwd", "text/plain")
    assert f["name"] == "passwd"
    f = uploaded(team["ann"], b"hi", "..\\..\\boot.ini", "text/plain")
    assert f["name"] == "boot.ini"
    for payload in PAYLOADS[:5]:
        f = uploaded(team["ann"], b"hi", payload + ".txt", "text/plain")
        assert "/" not in f["name"] and '"' not in f["name"] and "\n" not in f["name"]
        msg = ok(send_files(team["ann"], team["chat_id"], [f["id"]]), 201)
        got = fetch(team, msg["files"][0]["url"])
        disposition = got.headers["Content-Disposition"]
        assert disposition.startswith("attachment;") and "\n" not in disposition
        assert disposition.count('"') == 2


def test_html_and_svg_never_render_inline(team):
    for name, data in (("page.html", b"<html><script>alert(1)</script></html>"),
                       ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>')):
        f = uploaded(team["ann"], data, name, "text/html")
        msg = ok(send_files(team["ann"], team["chat_id"], [f["id"]]), 201)
        got = fetch(team, msg["files"][0]["url"])
        assert got.headers["Content-Disposition"].startswith("attachment;")
        assert got.headers["Content-Type"] == "application/octet-stream"
        assert "sandbox" in got.headers["Content-Security-Policy"]
        assert "thumbnail_url" not in msg["files"][0]


# ---------------------------------------------------------------- images

def test_image_gets_size_and_a_stripped_rotated_thumbnail(team):
    f = uploaded(team["ann"], samples.jpeg_rotated(60, 30), "photo.jpg", "image/jpeg")
    assert (f["width"], f["height"]) == (30, 60)          # EXIF orientation applied
    msg = ok(send_files(team["ann"], team["chat_id"], [f["id"]]), 201)
    view = msg["files"][0]
    full = fetch(team, view["url"])
    assert full.headers["Content-Disposition"].startswith("inline;")
    assert full.headers["Content-Type"] == "image/jpeg"
    thumb = fetch(team, view["thumbnail_url"])
    assert thumb.status_code == 200
    img = Image.open(io.BytesIO(thumb.content))
    assert img.size == (30, 60) == (view["thumbnail_width"], view["thumbnail_height"])
    assert not img.getexif() and b"secret" not in thumb.content


def test_animated_gif_is_its_own_preview(team):
    f = uploaded(team["ann"], samples.animated_gif(), "party.gif", "image/gif")
    assert f["animated"] is True and f["thumbnail_url"] == f["url"]
    got = fetch(team, f["url"])
    assert Image.open(io.BytesIO(got.content)).n_frames == 3


def test_decompression_bomb_is_refused(team):
    r = upload(team["ann"], samples.png_bomb(), "bomb.png", "image/png")
    err = bad_request(r, "file")
    assert "pixels" in err["message"]


# ---------------------------------------------------------------- access

def test_permission_matrix(team):
    f = uploaded(team["ann"], samples.png(), "secret.png", "image/png")
    # unattached: only the uploader; a URL signed for her, used by nobody else
    assert fetch(team, f["url"]).status_code == 200
    msg = ok(send_files(team["ann"], team["chat_id"], [f["id"]], "for bob"), 201)
    anns = msg["files"][0]["url"]
    # cat (same team, not a member) gets 404 with a URL signed for her; tampering is 403
    url_for = lambda user_id: anns.replace(f"u={team['ann']['user']['id']}", f"u={user_id}")  # noqa: E731
    forbidden(fetch(team, url_for(team["cat"]["user"]["id"])))       # altered signature
    forbidden(fetch(team, anns[:-1] + ("0" if anns[-1] != "0" else "1")))
    forbidden(fetch(team, anns.split("s=")[0] + "s=%C3%A9t%C3%A9"))   # non-ASCII: still 403, never 500
    expired = anns.replace("e=", "e=1")   # a different expiry: the signature no longer matches
    forbidden(fetch(team, expired))
    # bob, a member, can; after leaving he gets 404 with the URL he had
    bobs = ok(team["bob"]["api"].get(f"/api/chats/{team['chat_id']}/messages"))["messages"][-1]["files"][0]
    assert fetch(team, bobs["url"]).status_code == 200
    ok(team["bob"]["api"].post(f"/api/chats/{team['chat_id']}/leave"), 204)
    not_found(fetch(team, bobs["url"]))
    not_found(fetch(team, bobs["thumbnail_url"]))
    # deleted for everyone: gone for users (kept for compliance: the blob stays)
    ok(team["ann"]["api"].delete(f"/api/messages/{msg['id']}", params={"for": "everyone"}), 204)
    not_found(fetch(team, anns))
    history = ok(team["ann"]["api"].get(f"/api/chats/{team['chat_id']}/messages"))["messages"]
    assert [m["files"] for m in history if m["id"] == msg["id"]] == [[]]


def test_non_member_and_other_team_get_404(team, files_server):
    f = uploaded(team["ann"], b"private", "p.txt", "text/plain")
    ok(send_files(team["ann"], team["chat_id"], [f["id"]]), 201)
    # cat is in the team but not the chat: her own URL would be signed for her; the server
    # only signs for viewers it renders for, so craft one through the signing rule itself
    from chatsvc.chat import file_urls
    file_urls.configure("test-secret-for-this-session", 60)
    not_found(fetch(team, file_urls.file_url(f["id"], "content", team["cat"]["user"]["id"])))
    other = make_team(Api(files_server.url), "zed")[1]["zed"]
    not_found(fetch(team, file_urls.file_url(f["id"], "content", other["user"]["id"])))
    not_found(fetch(team, file_urls.file_url("999", "content", team["ann"]["user"]["id"])))
    not_found(fetch(team, file_urls.file_url(f["id"], "secret", team["ann"]["user"]["id"])))


def test_expired_url_is_403(team):
    from chatsvc.chat import file_urls
    file_urls.configure("test-secret-for-this-session", 60)
    f = uploaded(team["ann"], b"soon gone", "s.txt", "text/plain")
    old = file_urls.file_url(f["id"], "content", team["ann"]["user"]["id"], now=time.time() - 3600)
    err = forbidden(fetch(team, old))
    assert "expired" in err["message"]


# ---------------------------------------------------------------- WebSocket

def test_ws_send_with_files_and_event_urls_per_member(team):
    f = uploaded(team["ann"], samples.png(), "ws.png", "image/png")
    ann, bob = WS(team["base"], team["ann"]["token"]), WS(team["base"], team["bob"]["token"])
    try:
        ack = ann.request({"type": "send", "chat_id": team["chat_id"], "body": "", "file_ids": [f["id"]],
                           "client_msg_id": uuid.uuid4().hex})
        assert ack["type"] == "ack" and ack["message"]["files"][0]["id"] == f["id"]
        event = bob.wait("message")
        url = event["message"]["files"][0]["url"]
        assert parse_qs(urlsplit(url).query)["u"] == [team["bob"]["user"]["id"]]
        assert fetch(team, url).status_code == 200
        ok(team["ann"]["api"].patch(f"/api/messages/{ack['message']['id']}", json={"body": "now with words"}))
        edited = bob.wait("edited")      # bob's copy of the edit: URLs signed for bob again
        assert parse_qs(urlsplit(edited["message"]["files"][0]["url"]).query)["u"] == [team["bob"]["user"]["id"]]
        refused = ann.request({"type": "send", "chat_id": team["chat_id"], "body": "x",
                               "file_ids": [f["id"]], "client_msg_id": uuid.uuid4().hex})
        assert refused["type"] == "error" and refused["code"] == "bad_request"
        assert ann.request({"type": "ping"})["type"] == "pong"     # the connection survives
    finally:
        ann.close()
        bob.close()


# ---------------------------------------------------------------- search

def _search(person, q):
    return ok(person["api"].get("/api/search", params={"q": q}))["hits"]


def test_search_by_words_inside_files_and_by_name(team):
    word = "zq" + uuid.uuid4().hex[:8]
    pdf = uploaded(team["ann"], samples.pdf(f"budget {word} approved"), "plan.pdf", "application/pdf")
    doc = uploaded(team["ann"], samples.docx(f"minutes {word}x"), "minutes.docx")
    img = uploaded(team["ann"], samples.png(), f"{word}-diagram.png", "image/png")
    m1 = ok(send_files(team["ann"], team["chat_id"], [pdf["id"], doc["id"]], "the plan"), 201)
    m2 = ok(send_files(team["ann"], team["chat_id"], [img["id"]]), 201)
    found = lambda q: [h["message"]["id"] for h in _search(team["bob"], q)]  # noqa: E731
    wait_until(lambda: found(f"budget {word} approved") == [m1["id"]], 60,
               lambda: f"the PDF's words to be searchable: {found(word)}")
    assert found(f"minutes {word}x") == [m1["id"]]
    assert m2["id"] in [h["message"]["id"] for h in _search(team["bob"], f"{word}-diagram.png")]
    hits = _search(team["bob"], f"has:image {word}-diagram.png")
    assert [h["message"]["id"] for h in hits] == [m2["id"]] and hits[0]["message"]["files"]
    assert m1["id"] in [h["message"]["id"] for h in _search(team["bob"], "has:file the plan")]
    assert m1["id"] not in [h["message"]["id"] for h in _search(team["bob"], "has:image the plan")]
    assert m1["id"] not in [h["message"]["id"] for h in _search(team["bob"], "-has:file the plan")]
    assert _search(team["cat"], word) == []      # not a member: nothing


def test_bomb_in_a_file_still_sends_the_message(team):
    word = "zb" + uuid.uuid4().hex[:8]
    bomb = uploaded(team["ann"], samples.docx_bomb(300), f"{word}.docx")
    msg = ok(send_files(team["ann"], team["chat_id"], [bomb["id"]], "bomb inside"), 201)
    wait_until(lambda: _search(team["bob"], word), 30, "the message to be found by its file name")
    assert [h["message"]["id"] for h in _search(team["bob"], word)] == [msg["id"]]
    assert _search(team["bob"], "harmless") == []     # no text was extracted


# ---------------------------------------------------------------- compliance export

def test_export_copies_attachments_by_hash(team, dirs, engine_url, index_prefix, tmp_path):
    import hashlib
    import json
    from tests.test_export import export, ok as exported, read_jsonl, refresh
    pdf_bytes, png_bytes = samples.pdf("exported words"), samples.png(30, 30)
    pdf = uploaded(team["ann"], pdf_bytes, "contract.pdf", "application/pdf")
    img = uploaded(team["ann"], png_bytes, "chart.png", "image/png")
    with_files = ok(send_files(team["ann"], team["chat_id"], [pdf["id"], img["id"]], "signed copy"), 201)
    ok(team["ann"]["api"].delete(f"/api/messages/{with_files['id']}", params={"for": "everyone"}), 204)
    send(team["bob"], team["chat_id"], "no files here")
    refresh(engine_url, index_prefix)
    env = {"CHATSVC_BLOB_DIR": dirs["blobs"], "CHATSVC_EXPORT_KEY": str(tmp_path / "key.pem")}
    team_id = team["ann"]["user"]["team_id"]
    out = tmp_path / "with"
    exported(export(engine_url, index_prefix, "--team", team_id, "--out", str(out), env=env))
    records = {r["id"]: r for r in read_jsonl(out / "messages.jsonl")}
    files = records[with_files["id"]]["files"]      # kept for compliance though deleted for users
    assert [f["name"] for f in files] == ["contract.pdf", "chart.png"]
    for f, data in zip(files, (pdf_bytes, png_bytes)):
        assert f["path"] == f"files/{f['sha256']}" and (out / f["path"]).read_bytes() == data
    manifest = json.loads((out / "manifest.json").read_text())
    listed = {a["name"]: a["sha256"] for a in manifest["attachments"]}
    assert listed == {f["path"]: hashlib.sha256(d).hexdigest() for f, d in zip(files, (pdf_bytes, png_bytes))}
    assert "files" not in [r for r in records.values() if r["body"] == "no files here"][0]
    exported(export(engine_url, index_prefix, "verify", str(out), env=env))
    (out / files[0]["path"]).write_bytes(b"tampered")
    tampered = export(engine_url, index_prefix, "verify", str(out), env=env)
    assert tampered.returncode == 1 and files[0]["path"] in tampered.stdout + tampered.stderr
    # --no-files: listed, not copied
    bare = tmp_path / "bare"
    exported(export(engine_url, index_prefix, "--team", team_id, "--out", str(bare), "--no-files", env=env))
    record = {r["id"]: r for r in read_jsonl(bare / "messages.jsonl")}[with_files["id"]]
    assert [f["path"] for f in record["files"]] == [None, None]
    assert not (bare / "files").exists()
    assert json.loads((bare / "manifest.json").read_text())["attachments"] == []
    exported(export(engine_url, index_prefix, "verify", str(bare), env=env))


# ---------------------------------------------------------------- profile pictures

def test_avatar_set_shown_replaced_and_removed(team):
    def put(person, data, name="me.png", kind="image/png"):
        return person["api"].put("/api/me/avatar", files={"file": (name, data, kind)})

    user = ok(put(team["ann"], samples.jpeg_rotated(120, 60), "me.jpg", "image/jpeg"))
    first = user["avatar_url"]
    got = fetch(team, first)
    assert got.status_code == 200 and got.headers["Content-Type"] == "image/png"
    img = Image.open(io.BytesIO(got.content))
    assert img.size == (256, 256) and b"secret" not in got.content
    # everyone in the team sees it where her initials were
    listed = ok(team["bob"]["api"].get("/api/users", params={"q": "ann"}))["users"]
    assert [u["avatar_url"] for u in listed] == [first]
    # refused: not an image, a bomb, an empty file, a missing part
    bad_request(put(team["ann"], b"%PDF-1.4 no", "x.pdf", "application/pdf"), "file")
    bad_request(put(team["ann"], samples.png_bomb(), "bomb.png"), "file")
    bad_request(put(team["ann"], b""), "file")
    bad_request(team["ann"]["api"].put("/api/me/avatar", files={"other": ("a.png", samples.png())}), "file")
    # an altered link is 403; a replaced picture's old link 404; removed: null and 404
    forbidden(fetch(team, first.replace("s=", "s=0")))
    forbidden(fetch(team, first.split("s=")[0] + "s=%C3%A9t%C3%A9"))   # non-ASCII: still 403, never 500
    forbidden(fetch(team, first.replace(team["ann"]["user"]["id"], team["bob"]["user"]["id"])))
    second = ok(put(team["ann"], samples.png(50, 80)))["avatar_url"]
    assert second != first
    not_found(fetch(team, first))
    assert fetch(team, second).status_code == 200
    assert ok(team["ann"]["api"].delete("/api/me/avatar"))["avatar_url"] is None
    not_found(fetch(team, second))
    assert ok(team["ann"]["api"].get("/api/me"))["avatar_url"] is None
    assert_error(Api(team["base"]).put("/api/me/avatar", files={"file": ("a.png", samples.png())}),
                 401, "unauthorized")


def test_avatar_links_expire_by_bucket_and_stay_in_their_team(team):
    """Avatar links rotate per day-long bucket (the server's default): the same URL all
    day (so browsers cache it), valid one more bucket, then 403; another team's path 404."""
    from chatsvc.chat import file_urls
    file_urls.configure("test-secret-for-this-session", 60)   # the server's secret and buckets
    url = ok(team["ann"]["api"].put("/api/me/avatar", files={"file": ("me.png", samples.png(), "image/png")}))["avatar_url"]
    assert ok(team["bob"]["api"].get("/api/users", params={"q": "ann"}))["users"][0]["avatar_url"] == url
    got = fetch(team, url)
    assert got.status_code == 200
    max_age = int(got.headers["Cache-Control"].split("max-age=")[1])
    assert 86400 - 120 <= max_age <= 2 * 86400   # cached, but not for ever
    ann, sha = team["ann"]["user"], url.split("?")[0].rsplit("/", 1)[1]
    yesterday = file_urls.avatar_url(ann["team_id"], ann["id"], sha, now=time.time() - 86400)
    assert fetch(team, yesterday).status_code == 200          # the previous bucket's link still works
    stale = file_urls.avatar_url(ann["team_id"], ann["id"], sha, now=time.time() - 3 * 86400)
    assert "expired" in forbidden(fetch(team, stale))["message"]
    forbidden(fetch(team, url.split("?")[0] + "?s=" + url.split("s=")[1]))   # expiry removed
    forbidden(fetch(team, url.replace("e=", "e=9")))                          # expiry pushed out
    other = make_team(Api(team["base"]), "zed")[1]["zed"]["user"]["team_id"]
    not_found(fetch(team, url.replace(f"/api/avatars/{ann['team_id']}/", f"/api/avatars/{other}/")))
