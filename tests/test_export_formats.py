"""Compliance export, issue 17: Actiance XML (validated against chatsvc/export/actiance.xsd),
Global Relay EML (parsed back with the email package; batching; SMTP delivery to a real SMTP
server run by the test), signed and chained manifests, and `scripts/export verify`.
Everything runs the real CLI against the real server and engine, as test_export.py does."""
import email
import hashlib
import html
import json
import os
import shutil
import subprocess
import zipfile
from email import policy

import pytest
from aiosmtpd.controller import Controller
from lxml import etree

from chatsvc.export.actiance import XSD
from tests.conftest import ROOT, free_port
from tests.helpers import Api, create_chat, send, team_with_chat
from tests.test_export import EXPORT, Seed, ok, read_jsonl, refresh

PARTY = "\U0001F389"


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """This module's signing key (CHATSVC_EXPORT_KEY) and its public half as a file."""
    folder = tmp_path_factory.mktemp("keys")
    key = str(folder / "export.pem")
    r = subprocess.run([EXPORT, "key"], env=dict(os.environ, CHATSVC_EXPORT_KEY=key),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    assert os.stat(key).st_mode & 0o777 == 0o600
    (folder / "public.pem").write_text(r.stdout)
    return {"key": key, "public": str(folder / "public.pem"), "pem": r.stdout}


@pytest.fixture(scope="module")
def run(engine_url, index_prefix, keys):
    def call(*args, env=None):
        full = dict(os.environ, CHATSVC_SEARCH_URL=engine_url, CHATSVC_INDEX_PREFIX=index_prefix,
                    CHATSVC_EXPORT_KEY=keys["key"], **(env or {}))
        return subprocess.run([EXPORT, *args], env=full, cwd=ROOT, capture_output=True, text=True,
                              timeout=300)
    return call


@pytest.fixture(scope="module")
def seed(server, engine_url, index_prefix):
    """test_export's team (sent, deleted for everyone, hidden, liked, read, cat left the
    group), plus a chat with an edited message, a thread reply and a reaction."""
    api = Api(server.url)
    s = Seed(api)
    ann, bob = s.people["ann"], s.people["bob"]
    s.rich = create_chat(ann, bob, s.people["cat"], title="plans & <drafts>")["id"]
    s.root = send(ann, s.rich, "first draft of the plan")
    for body in ("second draft of the plan", "final plan"):
        r = ann["api"].patch(f"/api/messages/{s.root['id']}", json={"body": body})
        assert r.status_code == 200, r.text
    s.reply = send(bob, s.rich, "looks good", thread_id=s.root["id"])
    assert bob["api"].put(f"/api/messages/{s.root['id']}/reactions/%F0%9F%8E%89").status_code == 200
    s.sent.append((s.rich, dict(s.root, body="final plan")))
    s.sent.append((s.rich, s.reply))
    refresh(engine_url, index_prefix)
    return s


def _manifest(out):
    return json.loads((out / "manifest.json").read_text())


def _normal(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


# ------------------------------------------------------------------------------ Actiance

def test_actiance_xml_is_valid_and_carries_everything(seed, run, tmp_path):
    out = tmp_path / "actiance"
    ok(run("--team", seed.team["name"], "--format", "actiance", "--out", str(out)))
    schema = etree.XMLSchema(etree.parse(XSD))
    doc = etree.parse(str(out / "actiance.xml"))
    schema.assertValid(doc)
    root = doc.getroot()
    assert root.tag == "FileDump"
    convs = {c.findtext("RoomID"): c for c in root.findall("Conversation")}
    assert set(convs) == {seed.group, seed.direct, seed.ann_cat, seed.rich}
    assert convs[seed.group].get("Perspective") == 'Ops, "war" room'
    assert convs[seed.rich].get("Perspective") == "plans & <drafts>"

    sent = {}
    for chat_id, m in seed.sent:
        sent.setdefault(chat_id, []).append(m)
    for chat_id, conv in convs.items():
        current = [m for m in conv.findall("Message") if m.findtext("UpdatedType") != "EditedOriginalMsg"]
        expected = sorted(sent[chat_id], key=lambda m: int(m["id"]))
        assert [m.findtext("MessageId") for m in current] == [m["id"] for m in expected]
        for got, want in zip(current, expected):
            assert got.findtext("Content") == want["body"]          # byte for byte, CR included
            assert int(got.findtext("DateTimeUTC")) // 1000 > 0

    # deleted for everyone: kept, marked, who
    deleted = next(m for m in convs[seed.direct].findall("Message") if m.findtext("MessageId") == seed.deleted["id"])
    assert deleted.findtext("UpdatedType") == "Deleted" and deleted.findtext("Content") == "direct 0"
    assert deleted.findtext("DeletedBy") == "ann" and int(deleted.findtext("UpdatedDateTimeUTC")) > 0
    hidden = next(m for m in convs[seed.direct].findall("Message") if m.findtext("MessageId") == seed.hidden["id"])
    assert hidden.findtext("HiddenBy/LoginName") == "bob" and hidden.findtext("UpdatedType") is None
    liked = next(m for m in convs[seed.group].findall("Message") if m.findtext("MessageId") == seed.g[0]["id"])
    assert [e.text for e in liked.findall("Likes/LoginName")] == ["bob", "cat"]

    # participants entered and left: cat left the group, the others are there to the end
    group = convs[seed.group]
    entered = {p.findtext("LoginName"): int(p.findtext("DateTimeUTC")) for p in group.findall("ParticipantEntered")}
    left = {p.findtext("LoginName"): int(p.findtext("DateTimeUTC")) for p in group.findall("ParticipantLeft")}
    assert set(entered) == set(left) == {"ann", "bob", "cat"}
    end = int(group.findtext("EndTimeUTC"))
    assert left["ann"] == left["bob"] == end and entered["cat"] <= left["cat"] <= end
    chats = {c["id"]: c for c in read_jsonl_chats(seed, run, tmp_path)}
    cat = next(m for m in chats[seed.group]["membership"] if m["username"] == "cat")
    assert left["cat"] == int(__import__("datetime").datetime.fromisoformat(
        cat["left_at"].replace("Z", "+00:00")).timestamp())

    # edits: each earlier version, then the message as it is now
    rich = [m for m in convs[seed.rich].findall("Message")]
    versions = [m for m in rich if m.findtext("UpdatedType") == "EditedOriginalMsg"]
    assert [v.findtext("Content") for v in versions] == ["first draft of the plan", "second draft of the plan"]
    assert {v.findtext("EditedNewMsgId") for v in versions} == {seed.root["id"]}
    assert [v.findtext("MessageId") for v in versions] == [f"{seed.root['id']}.v1", f"{seed.root['id']}.v2"]
    now = next(m for m in rich if m.findtext("MessageId") == seed.root["id"])
    assert now.findtext("UpdatedType") == "EditedNewMsg" and now.findtext("Content") == "final plan"
    assert now.findtext("ReplyCount") == "1"
    assert now.findtext("Reactions/Reaction/Emoji") == PARTY
    assert now.findtext("Reactions/Reaction/LoginName") == "bob"
    reply = next(m for m in rich if m.findtext("MessageId") == seed.reply["id"])
    assert reply.findtext("ThreadId") == seed.root["id"]

    manifest = _manifest(out)
    entry = next(f for f in manifest["files"] if f["name"] == "actiance.xml")
    assert entry["records"] == manifest["totals"]["messages"] == len(seed.sent)
    ok(run("verify", str(out)))


def read_jsonl_chats(seed, run, tmp_path):
    out = tmp_path / "jsonl-for-chats"
    ok(run("--team", seed.team["name"], "--out", str(out)))
    return read_jsonl(out / "chats.jsonl")


def test_actiance_resumed_equals_uninterrupted(seed, run, tmp_path):
    team = seed.team["name"]
    reference, out = tmp_path / "reference", tmp_path / "resumed"
    ok(run("--team", team, "--format", "actiance", "--out", str(reference)))
    r = run("--team", team, "--format", "actiance", "--out", str(out), "--page-size", "2",
            "--stop-after", str(len(seed.g) + 1))
    assert r.returncode == 6, r.stderr
    with open(out / "actiance.xml", "ab") as f:
        f.write(b"<half-written junk")
    ok(run("--team", team, "--format", "actiance", "--out", str(out), "--resume"))
    a = (reference / "actiance.xml").read_text(encoding="utf-8")
    b = (out / "actiance.xml").read_text(encoding="utf-8")
    import re
    end = re.compile(r"<(EndTimeUTC|DateTimeUTC)>\d+</\1>")   # the end of the period: the snapshot
    assert end.sub("", a) == end.sub("", b)
    etree.XMLSchema(etree.parse(XSD)).assertValid(etree.parse(str(out / "actiance.xml")))


# ------------------------------------------------------------------------------ Global Relay

def _emails(zip_path) -> list[tuple[str, email.message.EmailMessage]]:
    with zipfile.ZipFile(zip_path) as z:
        return [(n, email.message_from_bytes(z.read(n), policy=policy.default)) for n in sorted(z.namelist())]


def _parts(msg):
    text = msg.get_body(preferencelist=("plain",))
    page = msg.get_body(preferencelist=("html",))
    assert text is not None and page is not None
    return text.get_content(), page.get_content()


def test_globalrelay_eml_parses_back_with_everything(seed, run, tmp_path):
    out = tmp_path / "gr"
    ok(run("--team", seed.team["name"], "--format", "globalrelay", "--out", str(out),
           "--email-domain", "corp.example"))
    assert sorted(os.listdir(out)) == ["globalrelay.zip", "manifest.json", "manifest.sig"]
    mails = _emails(out / "globalrelay.zip")
    by_chat = {m["X-Chatsvc-Chat-ID"]: (name, m) for name, m in mails}
    assert set(by_chat) == {seed.group, seed.direct, seed.ann_cat, seed.rich}
    for chat_id, (name, msg) in by_chat.items():
        assert name.endswith(f"({chat_id}) - 1.eml")
        assert msg["X-GlobalRelay-MsgType"] == "chatsvc"
        assert msg["Subject"].startswith("chatsvc compliance export: ")
        assert msg["Date"] is not None and msg["Message-ID"]
        assert msg.get_content_type() == "multipart/mixed"
        text, page = _parts(msg)
        bodies = sorted((m for c, m in seed.sent if c == chat_id), key=lambda m: int(m["id"]))
        assert int(msg["X-Chatsvc-Message-Count"]) == len(bodies)
        assert (msg["X-Chatsvc-First-ID"], msg["X-Chatsvc-Last-ID"]) == (bodies[0]["id"], bodies[-1]["id"])
        for m in bodies:
            assert m["body"] in text, m["body"]                 # exactly, line ends included
            assert html.escape(m["body"]) in page, m["body"]
            assert f"#{m['id']}" in text
        positions = [text.index(f"#{m['id']}:") for m in bodies]
        assert positions == sorted(positions)                      # in order
    group = by_chat[seed.group][1]
    assert group["Subject"] == 'chatsvc compliance export: Ops, "war" room'
    addresses = {a.addr_spec for a in group["To"].addresses}
    assert addresses == {"ann@corp.example", "bob@corp.example", "cat@corp.example"}
    text, page = _parts(group)
    assert "<script>alert" not in page
    assert "cat (Cat) joined" in text and ", left " in text
    direct_text, _ = _parts(by_chat[seed.direct][1])
    assert "direct 0" in direct_text and "DELETED for everyone by ann" in direct_text   # kept, marked
    assert "hidden for themselves by bob" in direct_text
    rich_text, rich_page = _parts(by_chat[seed.rich][1])
    for version in ("first draft of the plan", "second draft of the plan", "final plan"):
        assert version in rich_text and version in rich_page
    assert f"reply in the thread of #{seed.root['id']}" in rich_text
    assert f"reaction {PARTY} by bob" in rich_text and "1 reply in its thread" in rich_text
    assert by_chat[seed.rich][1]["Subject"] == "chatsvc compliance export: plans & <drafts>"

    manifest = _manifest(out)
    entry = manifest["files"][0]
    assert entry["name"] == "globalrelay.zip" and entry["emails"] == 4
    assert entry["records"] == manifest["totals"]["messages"] == len(seed.sent)
    assert manifest["delivery"] == {"method": "zip", "file": "globalrelay.zip", "emails": 4}
    ok(run("verify", str(out)))


def test_globalrelay_batches_a_chat_under_the_size_limit(seed, run, tmp_path):
    out = tmp_path / "gr-small"
    ok(run("--team", seed.team["name"], "--format", "globalrelay", "--out", str(out),
           "--eml-max-bytes", "1600"))
    mails = _emails(out / "globalrelay.zip")
    group = [m for _, m in mails if m["X-Chatsvc-Chat-ID"] == seed.group]
    assert len(group) >= 3
    assert [int(m["X-Chatsvc-Batch"]) for m in group] == sorted(int(m["X-Chatsvc-Batch"]) for m in group)
    seen = []
    for m in group:
        text, page = _parts(m)
        raw = sum(len(p.get_payload().encode()) for p in m.walk() if p.get_content_maintype() == "text")
        assert raw <= 1600 or int(m["X-Chatsvc-Message-Count"]) == 1
        seen += [g["id"] for g in seed.g if f"#{g['id']}:" in text]
    assert seen == [g["id"] for g in seed.g]          # every message once, in order, over the batches
    assert len({m["Message-ID"] for _, m in mails}) == len(mails)
    ok(run("verify", str(out)))


class _Inbox:
    def __init__(self):
        self.received = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_server():
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    inbox.address = f"127.0.0.1:{controller.port}"
    yield inbox
    controller.stop()


def test_globalrelay_delivered_by_smtp(seed, run, tmp_path, smtp_server):
    out = tmp_path / "gr-smtp"
    r = ok(run("--team", seed.team["name"], "--format", "globalrelay", "--out", str(out),
               "--smtp", smtp_server.address, "--smtp-to", "archive@globalrelay.test",
               "--smtp-from", "compliance@corp.example"))
    with zipfile.ZipFile(out / "globalrelay.zip") as z:
        archived = sorted(z.read(n) for n in z.namelist())
    assert len(smtp_server.received) == len(archived) == 4
    for mail_from, rcpt, _ in smtp_server.received:
        assert mail_from == "compliance@corp.example" and rcpt == ["archive@globalrelay.test"]
    got = sorted(content for _, _, content in smtp_server.received)
    assert [g.replace(b"\r\n", b"\n") for g in got] == [a.replace(b"\r\n", b"\n") for a in archived]
    received = [email.message_from_bytes(c, policy=policy.default) for _, _, c in smtp_server.received]
    texts = "".join(_parts(m)[0] for m in received)
    for _, m in seed.sent:
        assert m["body"] in texts
    delivery = _manifest(out)["delivery"]
    assert delivery["method"] == "smtp" and delivery["emails"] == 4 and delivery["to"] == "archive@globalrelay.test"
    assert "manifest signed" in r.stderr


def test_globalrelay_smtp_failure_and_option_errors(seed, run, tmp_path):
    r = run("--team", seed.team["name"], "--format", "globalrelay", "--out", str(tmp_path / "a"),
            "--smtp", f"127.0.0.1:{free_port()}", "--smtp-to", "archive@globalrelay.test")
    assert r.returncode == 7, r.stderr
    assert "SMTP delivery to archive@globalrelay.test" in r.stderr and "--resume" in r.stderr
    r = run("--team", seed.team["name"], "--format", "globalrelay", "--out", str(tmp_path / "b"),
            "--smtp", "127.0.0.1:25")
    assert r.returncode == 2 and "--smtp-to" in r.stderr
    r = run("--team", seed.team["name"], "--format", "jsonl", "--out", str(tmp_path / "c"),
            "--eml-max-bytes", "5000")
    assert r.returncode == 2 and "--format globalrelay" in r.stderr


# ------------------------------------------------------------------------------ signing and verify

@pytest.fixture(scope="module")
def signed(seed, run, tmp_path_factory):
    out = tmp_path_factory.mktemp("signed") / "export"
    ok(run("--team", seed.team["name"], "--out", str(out)))
    return out


def _copy(signed, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(signed, target)
    return target


def test_verify_accepts_an_untouched_export(signed, run, keys):
    r = ok(run("verify", str(signed), "--public-key", keys["public"]))
    assert "signature valid" in r.stdout and "verify: OK" in r.stdout
    manifest = _manifest(signed)
    assert manifest["signature"]["algorithm"] == "Ed25519"
    pem = subprocess.run([EXPORT, "key"], env=dict(os.environ, CHATSVC_EXPORT_KEY=keys["key"]),
                         capture_output=True, text=True, timeout=120).stdout
    assert pem == keys["pem"]
    lines = {f["name"]: f["lines"] for f in manifest["files"]}
    assert lines["messages.jsonl"] == manifest["totals"]["messages"]


def test_verify_names_a_changed_byte(signed, run, keys, tmp_path):
    target = _copy(signed, tmp_path)
    data = bytearray((target / "users.jsonl").read_bytes())
    data[5] ^= 0x01
    (target / "users.jsonl").write_bytes(bytes(data))
    r = run("verify", str(target), "--public-key", keys["public"])
    assert r.returncode == 1
    assert "users.jsonl: content differs" in r.stderr and "FAILED" in r.stderr
    assert "messages.jsonl" not in r.stderr and "signature valid" in r.stderr


def test_verify_names_a_removed_file_and_an_extra_one(signed, run, keys, tmp_path):
    target = _copy(signed, tmp_path)
    os.remove(target / "chats.jsonl")
    (target / "notes.txt").write_text("added later")
    r = run("verify", str(target), "--public-key", keys["public"])
    assert r.returncode == 1
    assert "chats.jsonl: missing" in r.stderr and "notes.txt: not in the manifest" in r.stderr


def test_verify_names_a_changed_count(signed, run, keys, tmp_path):
    target = _copy(signed, tmp_path)
    lines = (target / "messages.jsonl").read_bytes().splitlines(keepends=True)
    (target / "messages.jsonl").write_bytes(b"".join(lines[:-1]))
    manifest = _manifest(target)
    total = manifest["totals"]["messages"]
    r = run("verify", str(target), "--public-key", keys["public"])
    assert r.returncode == 1
    assert f"messages.jsonl: {total - 1} lines, manifest says {total}" in r.stderr
    assert f"messages.jsonl: {total - 1} records, manifest says {total}" in r.stderr


def test_verify_catches_a_bad_signature_and_a_wrong_key(signed, run, keys, tmp_path):
    # an edited manifest (a count changed) no longer matches its signature
    target = _copy(signed, tmp_path)
    manifest = _manifest(target)
    manifest["totals"]["messages"] += 1
    manifest["chats"][0]["messages"] += 1
    (target / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    r = run("verify", str(target), "--public-key", keys["public"])
    assert r.returncode == 1 and "signature invalid" in r.stderr
    # the right export checked against another key
    other = tmp_path / "other.pem"
    pem = subprocess.run([EXPORT, "key"], env=dict(os.environ, CHATSVC_EXPORT_KEY=str(tmp_path / "other-key.pem")),
                         capture_output=True, text=True, timeout=120).stdout
    other.write_text(pem)
    r = run("verify", str(signed), "--public-key", str(other))
    assert r.returncode == 1 and "signature invalid" in r.stderr
    # a removed signature
    target2 = tmp_path / "nosig"
    shutil.copytree(signed, target2)
    os.remove(target2 / "manifest.sig")
    r = run("verify", str(target2), "--public-key", keys["public"])
    assert r.returncode == 1 and "signature invalid: manifest.sig is missing" in r.stderr


def test_verify_refuses_a_folder_that_is_not_an_export(run, tmp_path):
    (tmp_path / "empty").mkdir()
    r = run("verify", str(tmp_path / "empty"))
    assert r.returncode == 2 and "not a chatsvc export (no manifest.json)" in r.stderr
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "manifest.json").write_text('{"name": "some other tool"}')
    r = run("verify", str(tmp_path / "other"))
    assert r.returncode == 2 and "not a chatsvc export" in r.stderr
    r = run("verify", str(tmp_path / "absent"))
    assert r.returncode == 2


def test_the_second_export_names_the_first_manifest(server, run, engine_url, index_prefix, tmp_path):
    api = Api(server.url)
    t = team_with_chat(api, "ann", "bob")
    send(t["ann"], t["chat_id"], "before the first export")
    refresh(engine_url, index_prefix)
    first, second = tmp_path / "first", tmp_path / "second"
    r = ok(run("--team", t["team"]["name"], "--out", str(first)))
    assert "previous manifest (none: the first)" in r.stderr and "BEGIN PUBLIC KEY" in r.stderr
    send(t["bob"], t["chat_id"], "after the first export")
    refresh(engine_url, index_prefix)
    ok(run("--team", t["team"]["name"], "--format", "csv", "--out", str(second)))
    m1, m2 = _manifest(first), _manifest(second)
    assert m1["chain"] == {"previous_manifest_sha256": None, "previous_snapshot_time": None, "sequence": 1}
    digest = hashlib.sha256((first / "manifest.json").read_bytes()).hexdigest()
    assert m2["chain"]["previous_manifest_sha256"] == digest
    assert m2["chain"]["previous_snapshot_time"] == m1["snapshot"]["time"]
    assert m2["chain"]["sequence"] == 2
    ok(run("verify", str(second)))


def test_quoted_printable_chunks_decode_to_exactly_what_was_written():
    """The Global Relay parts are concatenated quoted-printable chunks: any text (spaces and
    tabs at chunk ends, lone CR and LF, '=', emoji) decodes back byte for byte."""
    import random
    from chatsvc.export.globalrelay import _qp
    rng = random.Random(17)
    alphabet = " \t\r\nab=\u00e9\U0001F389.-x"
    for _ in range(2000):
        chunks = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 200))) for _ in range(3)]
        raw = (b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
               + b"".join(_qp(c) for c in chunks))
        assert max(len(line) for line in raw.split(b"\r\n")) <= 77   # 76, or 77 where binascii makes it
        assert email.message_from_bytes(raw, policy=policy.default).get_content() == "".join(chunks)
