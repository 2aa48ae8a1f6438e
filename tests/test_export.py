"""The compliance export (issue 6), end to end: a team's history is seeded through the real
server's REST API, then `scripts/export` runs as an operator runs it, against the real engine.
"""
import csv
import hashlib
import json
import os
import subprocess
import threading
import uuid

import pytest
import requests

from tests.conftest import ROOT, free_port
from tests.helpers import Api, create_chat, make_team, send, team_with_chat

EXPORT = os.path.join(ROOT, "scripts", "export")

TRICKY = [
    "hello, world",                              # comma
    'she said "hi" and left',                    # quotes
    "line one\nline two\r\nline three",           # newlines
    "party \U0001F389 time \u00e9\u00e8 \u4f60\u597d",  # emoji, accents, CJK
    "=HYPERLINK(\"http://evil.example\",\"click\")",  # formula prefixes
    "+1 for this",
    "-2 is negative",
    "@SUM(A1:A2)",
    "<script>alert('x')</script> & <b>bold</b>",  # HTML
]


# ------------------------------------------------------------------------------ helpers

def refresh(engine_url, prefix):
    r = requests.post(f"{engine_url}/{prefix}-messages-*,{prefix}-chats,{prefix}-reads/_refresh",
                      params={"ignore_unavailable": "true", "allow_no_indices": "true"}, timeout=30)
    assert r.status_code == 200, r.text


def export(engine_url, prefix, *args, env=None, cwd=None):
    full_env = dict(os.environ, CHATSVC_SEARCH_URL=engine_url, CHATSVC_INDEX_PREFIX=prefix)
    full_env.update(env or {})
    return subprocess.run([EXPORT, *args], env=full_env, cwd=cwd or ROOT, capture_output=True,
                          text=True, timeout=300)


def ok(result):
    assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# ------------------------------------------------------------------------------ the seeded team

class Seed:
    """ann, bob and cat; a group chat (cat leaves it), a direct chat ann-bob, a direct chat
    ann-cat; likes, read markers, a deletion for everyone (ann) and for me (bob)."""

    def __init__(self, api: Api):
        self.team, self.people = make_team(api, "ann", "bob", "cat")
        ann, bob, cat = (self.people[n] for n in ("ann", "bob", "cat"))
        self.ids = {n: p["user"]["id"] for n, p in self.people.items()}
        self.group = create_chat(ann, bob, cat, title="Ops, \"war\" room")["id"]
        self.direct = create_chat(ann, bob)["id"]
        self.ann_cat = create_chat(ann, cat)["id"]
        self.sent = []   # (chat_id, message) in send order
        speakers = [ann, bob, cat]
        for i, body in enumerate(TRICKY):
            self.sent.append((self.group, send(speakers[i % 3], self.group, body)))
        for i in range(5):
            self.sent.append((self.direct, send([ann, bob][i % 2], self.direct, f"direct {i}")))
        self.sent.append((self.ann_cat, send(cat, self.ann_cat, "only ann and cat")))
        g = [m for c, m in self.sent if c == self.group]
        d = [m for c, m in self.sent if c == self.direct]
        # likes
        assert bob["api"].put(f"/api/messages/{g[0]['id']}/like").status_code == 200
        assert cat["api"].put(f"/api/messages/{g[0]['id']}/like").status_code == 200
        assert ann["api"].put(f"/api/messages/{d[1]['id']}/like").status_code == 200
        # read markers
        for who, mid in ((bob, g[5]["id"]), (cat, g[2]["id"]), (ann, g[-1]["id"])):
            r = who["api"].post(f"/api/chats/{self.group}/read", json={"message_id": mid})
            assert r.status_code == 204, r.text
        # ann deletes her own direct message for everyone; bob hides one of ann's for himself
        self.deleted = d[0]
        r = ann["api"].delete(f"/api/messages/{d[0]['id']}", params={"for": "everyone"})
        assert r.status_code == 204, r.text
        self.hidden = d[2]
        r = bob["api"].delete(f"/api/messages/{d[2]['id']}", params={"for": "me"})
        assert r.status_code == 204, r.text
        # cat leaves the group
        assert cat["api"].post(f"/api/chats/{self.group}/leave").status_code == 204
        self.g, self.d = g, d

    def ordered(self):
        """What the export must contain, in its order: chat id, then message id."""
        return sorted(self.sent, key=lambda cm: (cm[0], int(cm[1]["id"])))


@pytest.fixture(scope="module")
def seed(server, engine_url, index_prefix):
    api = Api(server.url)
    s = Seed(api)
    # Another team whose data must never appear in this team's export.
    other_team, other_people = make_team(api, "olga", "oscar")
    o = other_people["olga"]
    chat = create_chat(o, other_people["oscar"])
    s.other_secret = "other-team-secret-" + uuid.uuid4().hex
    s.other_message = send(o, chat["id"], s.other_secret)
    s.other_team = other_team
    s.other_chat = chat["id"]
    refresh(engine_url, index_prefix)
    return s


@pytest.fixture(scope="module")
def full_jsonl(seed, engine_url, index_prefix, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "full"
    ok(export(engine_url, index_prefix, "--team", seed.team["name"], "--out", str(out)))
    return out


# ------------------------------------------------------------------------------ content

def test_jsonl_matches_what_was_sent(seed, full_jsonl):
    lines = read_jsonl(full_jsonl / "messages.jsonl")
    expected = seed.ordered()
    assert [(m["chat_id"], m["id"]) for m in lines] == [(c, m["id"]) for c, m in expected]
    by_id = {m["id"]: m for m in lines}
    users = {u["id"]: u for u in (p["user"] for p in seed.people.values())}
    for chat_id, sent in expected:
        got = by_id[sent["id"]]
        assert got["body"] == sent["body"]            # original text, deleted ones included
        assert got["sender_id"] == sent["sender_id"]
        assert got["sender_username"] == users[sent["sender_id"]]["username"]
        assert got["sender_display_name"] == users[sent["sender_id"]]["display_name"]
        assert got["created_at"] == sent["created_at"]
        assert got["client_msg_id"] == sent["client_msg_id"]
    group = [m for m in lines if m["chat_id"] == seed.group]
    assert {m["chat_title"] for m in group} == {'Ops, "war" room'}
    assert {m["chat_kind"] for m in group} == {"group"}

    # deleted for everyone: flagged, who and when, original body kept
    deleted = by_id[seed.deleted["id"]]
    assert deleted["deleted"] is True
    assert deleted["body"] == "direct 0"
    assert deleted["deleted_by"] == {"user_id": seed.ids["ann"], "username": "ann"}
    assert deleted["deleted_at"] >= seed.deleted["created_at"]
    assert sum(m["deleted"] for m in lines) == 1
    # hidden for one user: flagged, who and when
    hidden = by_id[seed.hidden["id"]]
    assert hidden["deleted"] is False and hidden["body"] == "direct 2"
    assert [(h["user_id"], h["username"]) for h in hidden["hidden_by"]] == [(seed.ids["bob"], "bob")]
    assert hidden["hidden_by"][0]["at"] >= seed.hidden["created_at"]
    assert sum(bool(m["hidden_by"]) for m in lines) == 1
    # likes
    assert [p["username"] for p in by_id[seed.g[0]["id"]]["liked_by"]] == ["bob", "cat"]
    assert [p["username"] for p in by_id[seed.d[1]["id"]]["liked_by"]] == ["ann"]
    assert sum(len(m["liked_by"]) for m in lines) == 3
    # read markers: bob read up to g[5], cat up to g[2], ann all of it
    readers = {m["id"]: sorted(p["username"] for p in m["read_by"]) for m in group}
    assert readers[seed.g[0]["id"]] == ["ann", "bob", "cat"]
    assert readers[seed.g[4]["id"]] == ["ann", "bob"]
    assert readers[seed.g[8]["id"]] == ["ann"]


def test_chats_membership_history_and_read_markers(seed, full_jsonl):
    chats = {c["id"]: c for c in read_jsonl(full_jsonl / "chats.jsonl")}
    assert set(chats) == {seed.group, seed.direct, seed.ann_cat}
    group = chats[seed.group]
    assert group["title"] == 'Ops, "war" room' and group["kind"] == "group"
    members = {m["username"]: m for m in group["membership"]}
    assert set(members) == {"ann", "bob", "cat"}
    assert members["cat"]["left_at"] is not None and members["cat"]["left_at"] >= members["cat"]["joined_at"]
    assert members["ann"]["left_at"] is None and members["bob"]["left_at"] is None
    assert group["former_member_ids"] == [seed.ids["cat"]]
    marks = {r["username"]: r["message_id"] for r in group["read_markers"]}
    assert marks == {"bob": seed.g[5]["id"], "cat": seed.g[2]["id"], "ann": seed.g[-1]["id"]}
    assert group["messages"] == len(TRICKY)
    assert (group["first_id"], group["last_id"]) == (seed.g[0]["id"], seed.g[-1]["id"])
    users = read_jsonl(full_jsonl / "users.jsonl")
    assert sorted(u["username"] for u in users) == ["ann", "bob", "cat"]
    assert all("password_hash" not in u for u in users)


def test_manifest_counts_and_hashes_verify(seed, full_jsonl):
    manifest = json.loads((full_jsonl / "manifest.json").read_text())
    assert manifest["team"] == {"id": seed.team["id"], "name": seed.team["name"]}
    assert manifest["filters"]["team"] == seed.team["name"]
    assert manifest["format"] == "jsonl"
    assert manifest["snapshot"]["time"] and manifest["snapshot"]["max_id"] == max(
        (m["id"] for _, m in seed.sent), key=int)
    assert manifest["totals"] == {"messages": len(seed.sent), "chats": 3}
    per_chat = {c["chat_id"]: c for c in manifest["chats"]}
    for chat_id in (seed.group, seed.direct, seed.ann_cat):
        sent = [m["id"] for c, m in seed.ordered() if c == chat_id]
        assert per_chat[chat_id]["messages"] == len(sent)
        assert (per_chat[chat_id]["first_id"], per_chat[chat_id]["last_id"]) == (sent[0], sent[-1])
    names = {f["name"] for f in manifest["files"]}
    assert names == {"messages.jsonl", "chats.jsonl", "users.jsonl"}
    assert set(os.listdir(full_jsonl)) == names | {"manifest.json", "manifest.sig"}   # no leftovers
    for f in manifest["files"]:
        path = full_jsonl / f["name"]
        assert sha256(path) == f["sha256"]
        assert path.stat().st_size == f["bytes"]
    # the line count agrees with the manifest
    assert len(read_jsonl(full_jsonl / "messages.jsonl")) == manifest["totals"]["messages"]


def test_another_teams_data_never_appears(seed, full_jsonl):
    for name in os.listdir(full_jsonl):
        text = (full_jsonl / name).read_text(encoding="utf-8")
        assert seed.other_secret not in text
        assert seed.other_message["id"] not in text
        assert seed.other_chat not in text
        assert "olga" not in text and seed.other_team["id"] not in text


# ------------------------------------------------------------------------------ formats

def _unneutralise(cell: str) -> str:
    return cell[1:] if cell[:1] == "'" and cell[1:2] in ("=", "+", "-", "@", "\t", "\r") else cell


def test_csv_parses_back_and_is_formula_safe(seed, engine_url, index_prefix, tmp_path):
    out = tmp_path / "csv"
    ok(export(engine_url, index_prefix, "--team", seed.team["name"], "--format", "csv", "--out", str(out)))
    raw = (out / "messages.csv").read_bytes()
    raw.decode("utf-8")                       # UTF-8
    assert b"\r\n" in raw                     # RFC 4180 record separator
    with open(out / "messages.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    expected = seed.ordered()
    assert [r["id"] for r in rows] == [m["id"] for _, m in expected]
    for row, (_, sent) in zip(rows, expected):
        assert _unneutralise(row["body"]) == sent["body"]
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row
    bodies = {r["id"]: r["body"] for r in rows}
    assert bodies[seed.g[4]["id"]].startswith("'=HYPERLINK")
    assert bodies[seed.g[5]["id"]] == "'+1 for this"
    assert bodies[seed.g[6]["id"]] == "'-2 is negative"
    assert bodies[seed.g[7]["id"]] == "'@SUM(A1:A2)"
    assert bodies[seed.g[2]["id"]] == "line one\nline two\r\nline three"
    assert bodies[seed.g[3]["id"]] == TRICKY[3]
    assert rows[0]["chat_title"] if rows[0]["chat_id"] == seed.group else True
    deleted = next(r for r in rows if r["id"] == seed.deleted["id"])
    assert (deleted["deleted"], deleted["deleted_by"], deleted["body"]) == ("true", "ann", "direct 0")
    hidden = next(r for r in rows if r["id"] == seed.hidden["id"])
    assert hidden["hidden_by"].startswith("bob at ")
    assert next(r for r in rows if r["id"] == seed.g[0]["id"])["liked_by"] == "bob cat"
    with open(out / "chats.csv", encoding="utf-8", newline="") as f:
        chats = list(csv.DictReader(f))
    cat_row = next(r for r in chats if r["chat_id"] == seed.group and r["username"] == "cat")
    assert cat_row["left_at"] and cat_row["read_up_to"] == seed.g[2]["id"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert {f["name"]: f["sha256"] for f in manifest["files"]} == {
        n: sha256(out / n) for n in ("messages.csv", "chats.csv", "users.csv")}


def test_html_transcripts_escape_everything(seed, engine_url, index_prefix, tmp_path):
    out = tmp_path / "html"
    ok(export(engine_url, index_prefix, "--team", seed.team["name"], "--format", "html", "--out", str(out)))
    names = set(os.listdir(out))
    assert names == {"index.html", "manifest.json", "manifest.sig"} | {
        f"chat-{c}.html" for c in (seed.group, seed.direct, seed.ann_cat)}
    group = (out / f"chat-{seed.group}.html").read_text(encoding="utf-8")
    assert "<script>alert" not in group
    # bodies are rendered as markdown (chatsvc/markdown.py), where raw HTML is only text
    assert "&lt;script&gt;alert('x')&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in group
    assert "Ops, &quot;war&quot; room" in group
    assert TRICKY[3] in group
    assert group.count('class="msg') == len(TRICKY)
    assert f"{len(TRICKY)} message(s) exported, ids {seed.g[0]['id']} to {seed.g[-1]['id']}" in group
    assert group.rstrip().endswith("</html>")
    direct = (out / f"chat-{seed.direct}.html").read_text(encoding="utf-8")
    assert "Deleted for everyone by ann" in direct and "direct 0" in direct
    assert "Hidden by bob" in direct
    index = (out / "index.html").read_text(encoding="utf-8")
    assert f'href="chat-{seed.group}.html"' in index


# ------------------------------------------------------------------------------ filters

def _ids(out):
    return [m["id"] for m in read_jsonl(out / "messages.jsonl")]


def test_filters_chat_user_dates_query(seed, engine_url, index_prefix, tmp_path):
    team = seed.team["name"]
    ok(export(engine_url, index_prefix, "--team", team.upper(), "--chat", seed.direct, "--out", str(tmp_path / "c")))
    assert _ids(tmp_path / "c") == [m["id"] for m in seed.d]
    # cat was in the group (left since) and in ann-cat: both, whole; never the ann-bob chat
    ok(export(engine_url, index_prefix, "--team", seed.team["id"], "--user", "cat", "--out", str(tmp_path / "u")))
    assert _ids(tmp_path / "u") == [m["id"] for c, m in seed.ordered() if c in (seed.group, seed.ann_cat)]
    manifest = json.loads((tmp_path / "u" / "manifest.json").read_text())
    assert {c["chat_id"] for c in manifest["chats"]} == {seed.group, seed.ann_cat}
    # a window in time: from the 3rd group message to the 5th, inclusive
    ok(export(engine_url, index_prefix, "--team", team, "--since", seed.g[2]["created_at"],
              "--until", seed.g[4]["created_at"], "--chat", seed.group, "--out", str(tmp_path / "t")))
    assert _ids(tmp_path / "t") == [m["id"] for m in seed.g[2:5]]
    # whole days
    day = seed.g[0]["created_at"][:10]
    ok(export(engine_url, index_prefix, "--team", team, "--since", day, "--until", day, "--out", str(tmp_path / "d")))
    assert len(_ids(tmp_path / "d")) == sum(m["created_at"][:10] == day for _, m in seed.sent)
    # the search language, without visibility rules: the hidden message matches too, and the
    # one deleted for everyone by what was written ("direct 0")
    ok(export(engine_url, index_prefix, "--team", team, "--query", "direct from:ann", "--out", str(tmp_path / "q")))
    assert _ids(tmp_path / "q") == [m["id"] for m in seed.d if m["sender_id"] == seed.ids["ann"]]
    assert seed.deleted["id"] in _ids(tmp_path / "q")
    ok(export(engine_url, index_prefix, "--team", team, "--query", '"direct 0"', "--out", str(tmp_path / "p")))
    assert _ids(tmp_path / "p") == [seed.deleted["id"]]
    ok(export(engine_url, index_prefix, "--team", team, "--query", "direct -0 from:ann", "--out", str(tmp_path / "x")))
    assert seed.deleted["id"] not in _ids(tmp_path / "x")
    ok(export(engine_url, index_prefix, "--team", team, "--query", "has:like", "--out", str(tmp_path / "l")))
    assert sorted(_ids(tmp_path / "l"), key=int) == sorted([seed.g[0]["id"], seed.d[1]["id"]], key=int)


# ------------------------------------------------------------------------------ resume and consistency

def test_resume_inside_a_run_of_small_chats(seed, engine_url, index_prefix, tmp_path):
    """With a page just big enough for the direct chat and ann-cat together, the group (more
    messages) is paged alone and those two are fetched as one run; stop inside the run,
    then resume."""
    team = seed.team["name"]
    assert seed.group < seed.direct < seed.ann_cat          # the export's (string) order
    page = len(seed.d) + 1
    assert len(seed.g) > page
    reference = tmp_path / "reference"
    ok(export(engine_url, index_prefix, "--team", team, "--out", str(reference)))
    out = tmp_path / "run"
    r = export(engine_url, index_prefix, "--team", team, "--out", str(out), "--page-size", str(page),
               "--stop-after", str(len(seed.g) + 2))
    assert r.returncode == 6, r.stderr
    state = json.loads((out / ".export-state.json").read_text())
    assert state["after"] == [seed.direct, int(seed.d[1]["id"])]
    ok(export(engine_url, index_prefix, "--team", team, "--out", str(out), "--resume",
              "--page-size", str(page)))
    assert (out / "messages.jsonl").read_bytes() == (reference / "messages.jsonl").read_bytes()


@pytest.mark.parametrize("fmt", ["csv", "html"])
def test_resume_csv_and_html(seed, engine_url, index_prefix, tmp_path, fmt):
    team = seed.team["name"]
    reference, out = tmp_path / "reference", tmp_path / "resumed"
    ok(export(engine_url, index_prefix, "--team", team, "--format", fmt, "--out", str(reference)))
    r = export(engine_url, index_prefix, "--team", team, "--format", fmt, "--out", str(out),
               "--page-size", "2", "--stop-after", str(len(seed.g) + 1))
    assert r.returncode == 6, r.stderr
    with open(out / ("messages.csv" if fmt == "csv" else f"chat-{seed.direct}.html"), "ab") as f:
        f.write(b"half-written junk")
    ok(export(engine_url, index_prefix, "--team", team, "--format", fmt, "--out", str(out), "--resume"))
    ref_manifest = json.loads((reference / "manifest.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(os.listdir(out)) == sorted(os.listdir(reference))
    for name in os.listdir(reference):
        if name in ("manifest.json", "manifest.sig"):
            continue
        a, b = (reference / name).read_text(encoding="utf-8"), (out / name).read_text(encoding="utf-8")
        # only the snapshot time (in the HTML headers) may differ between two exports
        a = a.replace(ref_manifest["snapshot"]["time"], "T")
        b = b.replace(manifest["snapshot"]["time"], "T")
        assert a == b, name
    for f in manifest["files"]:
        assert sha256(out / f["name"]) == f["sha256"]


def test_interrupted_then_resumed_equals_uninterrupted(seed, engine_url, index_prefix, full_jsonl, tmp_path):
    out = tmp_path / "resumed"
    team = seed.team["name"]
    r = export(engine_url, index_prefix, "--team", team, "--out", str(out), "--page-size", "2", "--stop-after", "5")
    assert r.returncode == 6, r.stderr
    assert "--resume" in r.stderr
    assert len(read_jsonl(out / "messages.jsonl")) == 5
    assert "manifest.json" not in os.listdir(out)
    # a killed process may have written part of a page after its last checkpoint
    with open(out / "messages.jsonl", "ab") as f:
        f.write(b'{"id":"999","half a line')
    # the history changes meanwhile: the snapshot (still open) does not see it
    ann, bob = seed.people["ann"], seed.people["bob"]
    late = send(ann, seed.direct, "sent after the snapshot")
    assert bob["api"].put(f"/api/messages/{seed.d[3]['id']}/like").status_code == 200
    refresh(engine_url, index_prefix)
    # resuming needs the same filters
    r = export(engine_url, index_prefix, "--team", team, "--out", str(out), "--resume", "--chat", seed.group)
    assert r.returncode == 2 and "other filters" in r.stderr
    # again in steps, then to the end
    r = export(engine_url, index_prefix, "--team", team, "--out", str(out), "--resume",
               "--page-size", "3", "--stop-after", "9")
    assert r.returncode == 6, r.stderr
    ok(export(engine_url, index_prefix, "--team", team, "--out", str(out), "--resume"))
    assert (out / "messages.jsonl").read_bytes() == (full_jsonl / "messages.jsonl").read_bytes()
    assert (out / "chats.jsonl").read_bytes() == (full_jsonl / "chats.jsonl").read_bytes()
    assert late["body"] not in (out / "messages.jsonl").read_text()
    manifest = json.loads((out / "manifest.json").read_text())
    full = json.loads((full_jsonl / "manifest.json").read_text())
    assert manifest["chats"] == full["chats"] and manifest["totals"] == full["totals"]
    assert len(manifest["resumed_at"]) == 2 and manifest["snapshot"]["reopened_at"] == []
    for f in manifest["files"]:
        assert sha256(out / f["name"]) == f["sha256"]
    # resuming a complete export does nothing
    ok(export(engine_url, index_prefix, "--team", team, "--out", str(out), "--resume"))
    # (undo the like so other tests see the seed as it was)
    assert bob["api"].delete(f"/api/messages/{seed.d[3]['id']}/like").status_code == 200
    seed.sent.append((seed.direct, late))
    seed.d.append(late)


def test_resume_after_the_snapshot_expired(seed, engine_url, index_prefix, tmp_path):
    team = seed.team["name"]
    chat = seed.direct
    reference = tmp_path / "reference"
    ok(export(engine_url, index_prefix, "--team", team, "--chat", chat, "--out", str(reference)))
    out = tmp_path / "expired"
    r = export(engine_url, index_prefix, "--team", team, "--chat", chat, "--out", str(out),
               "--page-size", "1", "--stop-after", "2")
    assert r.returncode == 6, r.stderr
    state = json.loads((out / ".export-state.json").read_text())
    r = requests.delete(f"{engine_url}/_search/point_in_time", json={"pit_id": [state["pit_id"]]}, timeout=30)
    assert r.status_code == 200, r.text
    late = send(seed.people["bob"], chat, "after the snapshot expired")
    refresh(engine_url, index_prefix)
    r = ok(export(engine_url, index_prefix, "--team", team, "--chat", chat, "--out", str(out), "--resume"))
    assert "expired" in r.stderr
    assert (out / "messages.jsonl").read_bytes() == (reference / "messages.jsonl").read_bytes()
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["snapshot"]["reopened_at"]) == 1
    assert late["id"] not in (out / "messages.jsonl").read_text()
    seed.sent.append((chat, late))
    seed.d.append(late)


def test_messages_sent_during_an_export_are_wholly_in_or_out(server, engine_url, index_prefix, tmp_path):
    api = Api(server.url)
    p = team_with_chat(api, "pam", "quinn")
    team, pam, quinn, chat = p["team"], p["pam"], p["quinn"], p["chat_id"]
    before = [send(pam, chat, f"before {i}")["id"] for i in range(30)]
    during, stop = [], threading.Event()

    def sender():
        i = 0
        while not stop.is_set():
            during.append(send(quinn, chat, f"during {i}")["id"])
            i += 1

    thread = threading.Thread(target=sender)
    thread.start()
    try:
        out = tmp_path / "during"
        ok(export(engine_url, index_prefix, "--team", team["name"], "--out", str(out), "--page-size", "1"))
    finally:
        stop.set()
        thread.join()
    assert during, "the sender sent nothing while the export ran"
    lines = read_jsonl(out / "messages.jsonl")
    got = [m["id"] for m in lines]
    sent = sorted(before + during, key=int)
    # everything acknowledged before the export started is in; what arrived during it is a
    # prefix (the snapshot is one instant): no gaps, no duplicates, each line whole
    assert got == sent[:len(got)]
    assert set(before) <= set(got)
    assert all(m["body"].startswith(("before ", "during ")) for m in lines)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["totals"]["messages"] == len(got)
    assert manifest["snapshot"]["max_id"] == got[-1]


# ------------------------------------------------------------------------------ failures

def test_bad_filters_and_failures_are_clear(seed, engine_url, index_prefix, tmp_path):
    team = seed.team["name"]
    cases = [
        (["--team", team, "--since", "2026-13-45"], 2, "--since"),
        (["--team", team, "--until", "yesterday"], 2, "--until"),
        (["--team", team, "--since", "2026-02-01", "--until", "2026-01-01"], 2, "after --until"),
        (["--team", team, "--query", 'from:ann "unclosed'], 2, "unclosed quote"),
        (["--team", team, "--query", "before:2026-99-01"], 2, "before:"),
        (["--team", team, "--query", "is:mine"], 2, "is:mine"),
        (["--team", team, "--user", "nobody"], 2, "no such user"),
        (["--team", team, "--chat", "abc"], 2, "--chat"),
        (["--team", team, "--chat", seed.other_chat], 2, "no such chat"),
        (["--team", "no-such-team-" + uuid.uuid4().hex], 3, "no team named"),
        (["--team", team, "--format", "pdf"], 2, "pdf"),
    ]
    for args, code, text in cases:
        out = tmp_path / uuid.uuid4().hex
        r = export(engine_url, index_prefix, *args, "--out", str(out))
        assert r.returncode == code, (args, r.returncode, r.stderr)
        assert text in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr, r.stderr
        assert not out.exists(), args
    # unwritable output: a folder under a regular file (holds even for root)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    r = export(engine_url, index_prefix, "--team", team, "--out", str(blocker / "sub"))
    assert r.returncode == 5 and "cannot write the export" in r.stderr, r.stderr
    # a non-empty folder is never mixed into
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x.txt").write_text("x")
    r = export(engine_url, index_prefix, "--team", team, "--out", str(busy))
    assert r.returncode == 5 and "not empty" in r.stderr, r.stderr
    r = export(engine_url, index_prefix, "--team", team, "--out", str(busy), "--resume")
    assert r.returncode == 5 and "nothing to resume" in r.stderr, r.stderr
    # unreachable engine
    r = export(f"http://127.0.0.1:{free_port()}", index_prefix, "--team", team, "--out", str(tmp_path / "down"))
    assert r.returncode == 4, r.stderr
    assert "cannot reach the search engine" in r.stderr and "Traceback" not in r.stderr


def test_default_out_folder_is_in_the_callers_folder(seed, engine_url, index_prefix, tmp_path):
    r = ok(export(engine_url, index_prefix, "--team", seed.team["name"], "--chat", seed.ann_cat, cwd=str(tmp_path)))
    made = [p for p in tmp_path.iterdir() if p.name.startswith("export-")]
    assert len(made) == 1, (list(tmp_path.iterdir()), r.stderr)
    assert _ids(made[0]) == [m["id"] for c, m in seed.sent if c == seed.ann_cat]
    assert "export: 1 messages in 1 chats" in r.stderr


# ------------------------------------------------------------------------------ units (no engine)

def test_fast_json_lines_equal_the_encoded_record():
    from chatsvc.export.records import Enricher, TeamContext

    team = TeamContext(
        {"id": "1", "name": "t"},
        [{"id": "10", "username": "ann", "display_name": 'Ann "the" Admin \u00e9'},
         {"id": "11", "username": "bob", "display_name": None}],
        [{"id": "100", "kind": "group", "title": "a\nb \U0001F389", "member_ids": ["10", "11"],
          "former_member_ids": [], "membership": []},
         {"id": "101", "kind": "direct", "title": None}],
        [{"chat_id": "100", "user_id": "10", "message_id": 5},
         {"chat_id": "100", "user_id": "11", "message_id": 3}])
    docs = [
        {"id": 2, "chat_id": "100", "sender_id": "10", "body": 'x "y" \\ \u2028 \x00 </script>',
         "created_at": "2026-01-01T00:00:00.000Z", "client_msg_id": "c1", "liked_by": ["11", "99"],
         "hidden_for": [], "deleted": False},
        {"id": 4, "chat_id": "100", "sender_id": "11", "body": "", "deleted_body": "gone \U0001F600",
         "created_at": "2026-01-01T00:00:01.000Z", "client_msg_id": "c2", "liked_by": [],
         "hidden_for": ["10", "11"], "hidden_log": [{"user_id": "11", "at": "2026-01-02T00:00:00.000Z"}],
         "deleted": True, "deleted_at": "2026-01-03T00:00:00.000Z", "deleted_by": "11"},
        {"id": 6, "chat_id": "100", "sender_id": "77", "body": "=1+1"},
        {"id": 7, "chat_id": "101", "sender_id": "10", "body": "hi", "deleted": True},
    ]
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    slow, fast = Enricher(team), Enricher(team)
    for doc in docs:
        assert fast.jsonl(doc) == encode(slow.record(doc)) + "\n"
    records = [Enricher(team).record(d) for d in docs]
    assert [[p["username"] for p in r["read_by"]] for r in records] == [["ann", "bob"], ["ann"], [], []]
    assert [p["username"] for p in records[0]["liked_by"]] == ["bob", None]
    assert records[1]["body"] == "gone \U0001F600" and records[1]["deleted_by"]["username"] == "bob"
    assert records[1]["hidden_by"] == [{"user_id": "10", "username": "ann", "at": None},
                                       {"user_id": "11", "username": "bob", "at": "2026-01-02T00:00:00.000Z"}]


def test_csv_cells_are_neutralised():
    from chatsvc.export.writers import safe_cell

    for text in ("=1+1", "+1", "-1", "@x", "\tx", "\rx"):
        assert safe_cell(text) == "'" + text
    for text in ("plain", "", "a=b", " =x", "'quoted"):
        assert safe_cell(text) == text
    assert (safe_cell(None), safe_cell(True), safe_cell(False), safe_cell(12)) == ("", "true", "false", "12")


# ------------------------------------------------------------------------------ conversations

def test_the_export_keeps_every_version_the_threads_and_the_reactions(server, engine_url, index_prefix, tmp_path):
    """Users see only an edit's current text; the audit sees every version with its time,
    which thread a reply belongs to, and who reacted with what, in every format."""
    api = Api(server.url)
    t = team_with_chat(api, "ann", "bob", title="conversations")
    ann, bob, chat_id = t["ann"], t["bob"], t["chat_id"]
    root = send(ann, chat_id, "first draft of the plan")
    for body in ("second draft of the plan", "final plan"):
        r = ann["api"].patch(f"/api/messages/{root['id']}", json={"body": body})
        assert r.status_code == 200, r.text
    reply = send(bob, chat_id, "looks good", thread_id=root["id"])
    party = "\U0001F389"
    r = bob["api"].put(f"/api/messages/{root['id']}/reactions/%F0%9F%8E%89")
    assert r.status_code == 200, r.text
    assert bob["api"].put(f"/api/messages/{root['id']}/like").status_code == 200
    refresh(engine_url, index_prefix)
    team_name = t["team"]["name"]

    out = tmp_path / "jsonl"
    ok(export(engine_url, index_prefix, "--team", team_name, "--out", str(out)))
    records = {r["id"]: r for r in read_jsonl(out / "messages.jsonl")}
    first = records[root["id"]]
    assert first["body"] == "final plan" and first["edited_at"]
    assert [v["body"] for v in first["versions"]] == ["first draft of the plan", "second draft of the plan"]
    assert first["versions"][0]["at"] == root["created_at"]
    assert first["versions"][0]["until"] == first["versions"][1]["at"]
    assert first["reply_count"] == 1 and first["thread_id"] is None
    assert first["reactions"] == [{"emoji": party, "users": [{"user_id": bob["user"]["id"], "username": "bob"}]}]
    assert [p["username"] for p in first["liked_by"]] == ["bob"]
    assert records[reply["id"]]["thread_id"] == root["id"] and records[reply["id"]]["versions"] == []

    out = tmp_path / "csv"
    ok(export(engine_url, index_prefix, "--team", team_name, "--format", "csv", "--out", str(out)))
    with open(out / "messages.csv", newline="", encoding="utf-8") as f:
        rows = {r["id"]: r for r in csv.DictReader(f)}
    assert json.loads(rows[root["id"]]["earlier_versions"])[1]["body"] == "second draft of the plan"
    assert rows[reply["id"]]["thread_id"] == root["id"] and rows[root["id"]]["reactions"] == f"{party} bob"

    out = tmp_path / "html"
    ok(export(engine_url, index_prefix, "--team", team_name, "--format", "html", "--out", str(out)))
    page = (out / f"chat-{chat_id}.html").read_text(encoding="utf-8")
    assert "first draft of the plan" in page and "second draft of the plan" in page
    assert f'Reply in the thread of <a href="#m{root["id"]}">' in page and "1 reply in its thread" in page
    assert f"{party} by" in page
