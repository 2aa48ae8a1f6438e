"""GET /api/search end to end: a real server, a real engine, data made by REST sends.

Messages become searchable at the engine's next refresh (~1 s): tests poll the search
until what they wait for shows up (up to a few seconds), never sleep blindly.
"""
import re
import time
import uuid
from datetime import date, timedelta

import pytest

from tests.helpers import Api, bad_request, create_chat, make_team, ok, send, wait_until

WAIT = 4.0   # seconds a just-acked message may take to become searchable (refresh is 1 s)


def tag() -> str:
    """A word no other test uses (letters only, so no analyzer splits it)."""
    return "w" + "".join(chr(97 + int(c, 16) % 26) for c in uuid.uuid4().hex[:10])


def search(api, q, **params):
    return ok(api.get("/api/search", params={"q": q, **params}))


def wait_search(api, q, until, timeout=WAIT, **params):
    """Search until ``until(result)`` holds and return that result; fail with the last."""
    last = {}

    def found():
        last["result"] = search(api, q, **params)
        return last["result"] if until(last["result"]) else None

    return wait_until(found, timeout, lambda: f"{q!r}: {last['result']}")


def wait_total(api, q, total, **params):
    return wait_search(api, q, lambda r: r["total"] == total, **params)


def bodies(result):
    return [h["message"]["body"] for h in result["hits"]]


def chat(person, *others, title=None):
    return create_chat(person, *others, title=title)["id"]


@pytest.fixture(scope="module")
def world(server):
    """ann, bob, cat, dan in one team; eve and fred in another. Chats: ann+bob (direct),
    "Release crew" (ann, bob, cat), "Ops" (bob, cat, dan: not ann), eve+fred."""
    api = Api(server.url)
    _, people = make_team(api, "ann", "bob", "cat", "dan")
    _, strangers = make_team(api, "eve", "fred")
    ann, bob, cat, dan = (people[n] for n in ("ann", "bob", "cat", "dan"))
    return {**people, **strangers,
            "direct": chat(ann, bob), "crew": chat(ann, bob, cat, title="Release crew"),
            "ops": chat(bob, cat, dan, title="Ops"),
            "strange": chat(strangers["eve"], strangers["fred"])}


# ---------------------------------------------------------------------------- words, phrases

def test_words_phrases_and_stemming(world):
    ann, bob = world["ann"], world["bob"]
    t = tag()
    send(ann, world["crew"], f"{t} we deployed the build to staging")
    send(bob, world["crew"], f"{t} deployments are paused until monday")
    send(bob, world["direct"], f"{t} can you deploy tonight? the build failed")
    send(ann, world["direct"], f"{t} failed to build again")
    wait_total(ann["api"], t, 4)
    # stemming: deploy ~ deployed, deployments
    r = search(ann["api"], f"{t} deploy")
    assert sorted(bodies(r)) == sorted([f"{t} we deployed the build to staging",
                                        f"{t} deployments are paused until monday",
                                        f"{t} can you deploy tonight? the build failed"])
    assert r["total"] == 3
    # the exact form ranks above stemmed-only matches
    assert bodies(search(ann["api"], f"{t} deploy"))[0] == f"{t} can you deploy tonight? the build failed"
    # words anywhere vs an exact phrase
    assert search(ann["api"], f"{t} build failed")["total"] == 2
    r = search(ann["api"], f'{t} "build failed"')
    assert bodies(r) == [f"{t} can you deploy tonight? the build failed"]
    assert search(ann["api"], f'"{t} failed to build"')["total"] == 1
    # phrases are not stemmed: "deploy tonight" is exact, "deployed tonight" is not there
    assert search(ann["api"], f'{t} "deploy tonight"')["total"] == 1
    assert search(ann["api"], f'{t} "deployed tonight"')["total"] == 0
    # case-insensitive, stemmed both ways; the exact form first
    r = search(ann["api"], f"{t.upper()} DEPLOYMENTS")
    assert r["total"] == 3 and bodies(r)[0] == f"{t} deployments are paused until monday"


def test_exclusion(world):
    ann = world["ann"]
    t = tag()
    send(ann, world["crew"], f"{t} deploy to staging")
    send(ann, world["crew"], f"{t} deploy to production")
    send(ann, world["crew"], f"{t} staging dry run done")
    wait_total(ann["api"], t, 3)
    assert bodies(search(ann["api"], f"{t} deploy -staging")) == [f"{t} deploy to production"]
    assert search(ann["api"], f'{t} -"dry run"')["total"] == 2
    assert search(ann["api"], f"{t} -deploy")["total"] == 1
    # excluding a stem excludes its forms
    assert search(ann["api"], f"{t} -deployed")["total"] == 1


def test_code_tokens_urls_mentions_numbers(world):
    ann, bob = world["ann"], world["bob"]
    t = tag()
    messages = {
        "ident": f"{t} rename foo_bar to fooBaz please",
        "version": f"{t} upgraded to v2.3.1 yesterday",
        "proto": f"{t} the proxy speaks HTTP/2 now",
        "url": f"{t} see https://ci.example.com/job/4242/console?x=1 for the log",
        "mention": f"{t} @bob can you review?",
        "number": f"{t} latency went from 120ms to 87654 at 10:30",
        "path": f"{t} the bug is in src/search_index.py line 12",
        "cpp": f"{t} rewrite it in C++ maybe",
    }
    for body in messages.values():
        send(ann, world["crew"], body)
    wait_total(bob["api"], t, len(messages))
    expect = {
        "foo_bar": "ident", "v2.3.1": "version", "HTTP/2": "proto", "http/2": "proto",
        "https://ci.example.com/job/4242/console?x=1": "url", "ci.example.com": "url",
        "https://ci.example.com/job/4242": "url", "@bob": "mention", "87654": "number",
        "10:30": "number", "src/search_index.py": "path", "search_index.py": "path", "C++": "cpp",
    }
    for q, key in expect.items():
        r = search(bob["api"], f"{t} {q}")
        assert bodies(r) == [messages[key]], (q, r)
    # a different version or identifier does not match
    assert search(bob["api"], f"{t} v2.3.2")["total"] == 0
    assert search(bob["api"], f"{t} foo_baz")["total"] == 0


# ---------------------------------------------------------------------------- operators

def test_operators_alone_and_combined(world):
    ann, bob, cat = world["ann"], world["bob"], world["cat"]
    t = tag()
    m1 = send(ann, world["direct"], f"{t} alpha from ann in direct")
    m2 = send(bob, world["direct"], f"{t} beta from bob in direct")
    m3 = send(bob, world["crew"], f"{t} gamma from bob in crew")
    m4 = send(cat, world["crew"], f"{t} delta from cat in crew")
    r = ann["api"].put(f"/api/messages/{m3['id']}/like")
    assert r.status_code == 200, r.text
    wait_total(ann["api"], t, 4)
    # A like is written without a refresh: searchable after the next one, which with replicas
    # need not be the refresh that showed the four messages (issue 18's replicated run).
    wait_total(ann["api"], f"{t} has:like", 1)
    api = ann["api"]

    def ids(q, **params):
        return [h["message"]["id"] for h in search(api, f"{t} {q}".strip(), **params)["hits"]]

    assert set(ids("from:bob")) == {m2["id"], m3["id"]}
    assert set(ids("from:@BOB")) == {m2["id"], m3["id"]}            # @ and any case
    assert set(ids("from:bob from:cat")) == {m2["id"], m3["id"], m4["id"]}   # OR within from:
    assert set(ids(f"in:{world['crew']}")) == {m3["id"], m4["id"]}
    assert set(ids("with:cat")) == {m3["id"], m4["id"]}              # chats cat is in
    assert set(ids("with:bob")) == {m1["id"], m2["id"], m3["id"], m4["id"]}
    assert set(ids("is:mine")) == {m1["id"]}
    assert set(ids("has:like")) == {m3["id"]}
    today = date.fromisoformat(m1["created_at"][:10])
    yesterday, tomorrow = today - timedelta(days=1), today + timedelta(days=1)
    assert len(ids(f"on:{today}")) == 4
    assert ids(f"on:{yesterday}") == []
    assert len(ids(f"after:{yesterday}")) == 4 and ids(f"after:{today}") == []
    assert len(ids(f"before:{tomorrow}")) == 4 and ids(f"before:{today}") == []
    # combined
    assert ids(f"from:bob in:{world['crew']} has:like") == [m3["id"]]
    assert ids(f"from:bob with:cat gamma") == [m3["id"]]
    assert ids(f"from:bob -gamma after:{yesterday}") == [m2["id"]]
    assert ids(f"is:mine in:{world['crew']}") == []
    assert ids(f"from:cat in:{world['direct']}") == []
    # nobody of that name sent nothing (not an error)
    assert ids("from:nobody") == []
    assert ids("with:nobody") == []


def test_new_operators_prefix_negation_titles_direct_link_during(world):
    ann, bob, cat = world["ann"], world["bob"], world["cat"]
    t = tag()
    m1 = send(ann, world["direct"], f"{t} deployment notes https://example.org/notes")
    m2 = send(bob, world["direct"], f"{t} deploying now, see www.example.com")
    m3 = send(bob, world["crew"], f"{t} redeploy later")
    m4 = send(cat, world["crew"], f"{t} nothing to see")
    ok(ann["api"].put(f"/api/messages/{m3['id']}/like"))
    wait_total(ann["api"], t, 4)
    api = ann["api"]

    def ids(q):
        return {h["message"]["id"] for h in search(api, f"{t} {q}".strip())["hits"]}

    every = {m1["id"], m2["id"], m3["id"], m4["id"]}
    assert ids("depl*") == {m1["id"], m2["id"]}           # a prefix of a word, not inside one
    assert ids("DEPL*") == {m1["id"], m2["id"]}
    assert ids("-depl*") == {m3["id"], m4["id"]}
    assert ids("from:me") == {m1["id"]}
    assert ids("-from:me") == every - {m1["id"]}
    assert ids("-from:bob") == {m1["id"], m4["id"]}
    assert ids("-from:bob -from:cat") == {m1["id"]}
    assert ids("-is:mine") == every - {m1["id"]}
    assert ids("-has:like") == every - {m3["id"]}
    assert ids("in:release") == set()                      # a title is matched whole
    assert ids('in:"release CREW"') == {m3["id"], m4["id"]}
    assert ids('-in:"Release crew"') == {m1["id"], m2["id"]}
    assert ids(f"-in:{world['crew']}") == {m1["id"], m2["id"]}
    assert ids("in:@bob") == {m1["id"], m2["id"]}          # ann's direct chat with bob
    assert ids("-in:@bob") == {m3["id"], m4["id"]}
    assert ids("in:@cat") == set()                         # no direct chat with cat
    assert ids("in:Ops") == set()                          # "Ops" exists, without ann
    assert ids("-with:cat") == {m1["id"], m2["id"]}
    assert ids("has:link") == {m1["id"], m2["id"]}
    assert ids("-has:link") == {m3["id"], m4["id"]}
    today = date.fromisoformat(m1["created_at"][:10])
    assert ids(f"during:{today:%Y-%m}") == every
    assert ids(f"during:{today:%Y}") == every
    assert ids(f"during:{today.year - 1}") == set()
    assert ids(f"-during:{today:%Y-%m}") == set()
    assert ids(f"-on:{today}") == set()
    assert ids(f"-on:{today - timedelta(days=1)}") == every
    assert ids(f"-before:{today}") == every and ids(f"-after:{today}") == every
    assert ids(f"-after:{today - timedelta(days=1)}") == set()
    # an edit that adds a link makes it has:link
    ok(bob["api"].patch(f"/api/messages/{m3['id']}", json={"body": f"{t} redeploy: http://x.org"}))
    wait_search(api, f"{t} has:link", lambda r: r["total"] == 3)


@pytest.mark.parametrize("q", [
    '"unbalanced', 'a "b', "*", "-", "- -", "x" * 1000, "the of a and", "the", "**", "-*",
    "\u200b", "🎉", "from:", "in:\"", '-"', "a* b*", "%", "\\", "{}", "[]", "()", "\"",
    "ab*" * 100, "-" * 50, ":", "in:::", "北", "😀*",
])
def test_odd_input_is_an_answer_or_a_400_never_a_500(world, q):
    r = world["ann"]["api"].get("/api/search", params={"q": q})
    assert r.status_code in (200, 400), (q, r.status_code, r.text)
    if r.status_code == 400:
        assert r.json()["error"]["code"] == "bad_request" and r.json()["error"]["message"]


def test_filters_alone_sort_recent_and_hit_shape(world):
    ann, bob = world["ann"], world["bob"]
    t = tag()
    sent = [send(ann, world["crew"], f"{t} number {i}") for i in range(3)]
    wait_total(ann["api"], t, 3)
    r = search(ann["api"], f"in:{world['crew']} is:mine", sort="recent", limit=3)
    assert [h["message"]["id"] for h in r["hits"]] == [m["id"] for m in reversed(sent)]
    hit = r["hits"][0]
    assert hit["message"] == sent[-1]
    assert hit["chat"] == {"id": world["crew"], "title": "Release crew", "kind": "group"}
    assert hit["highlights"] == [f"{t} number 2"]
    r = search(ann["api"], t, sort="recent")
    assert [int(h["message"]["id"]) for h in r["hits"]] == sorted(
        (int(m["id"]) for m in sent), reverse=True)
    direct = search(bob["api"], f"in:{world['direct']}", limit=1)
    assert direct["hits"] == [] or direct["hits"][0]["chat"]["kind"] == "direct"


def test_relevance_blends_text_and_recency(world):
    ann = world["ann"]
    t = tag()
    older = send(ann, world["crew"], f"{t} release notes")
    newer = send(ann, world["crew"], f"{t} release notes")
    strong = send(ann, world["crew"], f"{t} release release release")
    wait_total(ann["api"], t, 3)
    order = [h["message"]["id"] for h in search(ann["api"], f"{t} release")["hits"]]
    # the same text: newer first; more matches count too
    assert order.index(newer["id"]) < order.index(older["id"])
    assert order[0] == strong["id"]


# ---------------------------------------------------------------------------- highlights

def test_highlights_mark_matches_and_escape_html(world):
    ann, bob = world["ann"], world["bob"]
    t = tag()
    body = f'{t} <script>alert("pwned")</script> & <b>deploying</b> it\'s fine'
    sent = send(ann, world["crew"], body)
    wait_total(bob["api"], t, 1)
    r = search(bob["api"], f"{t} deploy")
    (hit,) = r["hits"]
    assert hit["message"]["body"] == body          # the message itself is data, untouched
    (fragment,) = hit["highlights"]
    assert f"<mark>{t}</mark>" in fragment and "<mark>deploying</mark>" in fragment
    assert "&lt;script&gt;" in fragment and "<script" not in fragment
    assert "&amp;" in fragment and "&lt;b&gt;" in fragment
    stripped = fragment.replace("<mark>", "").replace("</mark>", "")
    assert "<" not in stripped and ">" not in stripped
    # the unescaped text of the fragment is the body
    import html
    assert html.unescape(stripped) == body
    # a phrase is marked too; a filter-only search shows escaped text with no marks
    (phrase_hit,) = search(bob["api"], f'{t} "alert pwned"')["hits"]
    # each word of a phrase is marked, the punctuation between them escaped
    assert "<mark>alert</mark>(&quot;<mark>pwned</mark>" in phrase_hit["highlights"][0]
    plain = search(bob["api"], f"in:{world['crew']} from:ann", sort="recent")
    frag = next(h for h in plain["hits"] if h["message"]["id"] == sent["id"])["highlights"][0]
    assert "<mark>" not in frag and "&lt;script&gt;" in frag and "<script" not in frag


# ---------------------------------------------------------------------------- paging

def _page_through(api, q, limit, sort, during=None):
    seen, totals, cursor, pages = [], [], None, 0
    while True:
        params = {"limit": limit, "sort": sort}
        if cursor:
            params["cursor"] = cursor
        r = search(api, q, **params)
        seen += [h["message"]["id"] for h in r["hits"]]
        totals.append(r["total"])
        pages += 1
        cursor = r["next_cursor"]
        if during:
            during(pages)
        if not cursor:
            return seen, totals
        assert pages < 50


@pytest.mark.parametrize("sort", ["recent", "relevance"])
def test_paging_is_complete_and_stable_while_messages_arrive(world, sort):
    ann, bob = world["ann"], world["bob"]
    t = tag()
    fillers = ["", "deploy", "a much longer message about the deploy of things", f"{t} {t}",
               "ok", "with several more words to change the length norm here"]
    originals = [send(ann if i % 2 else bob, world["crew"] if i % 3 else world["direct"],
                      f"{t} item {i} {fillers[i % len(fillers)]}")["id"] for i in range(23)]
    wait_total(ann["api"], t, 23)
    arrived = []

    def more(page):   # new matching messages land between pages, and become searchable
        for k in range(3):
            arrived.append(send(bob, world["crew"], f"{t} late{page} {k} deploy {t}")["id"])
        wait_search(ann["api"], f"{t} late{page}", lambda r: r["total"] == 3)

    seen, totals = _page_through(ann["api"], t, 5, sort, during=more)
    assert len(seen) == len(set(seen)), "duplicates across pages"
    assert set(seen) == set(originals), "gaps, or messages newer than the first page"
    assert totals == [23] * len(totals)
    if sort == "recent":
        assert [int(i) for i in seen] == sorted((int(i) for i in originals), reverse=True)
    # a fresh search sees everything
    assert search(ann["api"], t)["total"] == 23 + len(arrived)


def test_paging_drops_what_is_deleted_between_pages(world):
    ann, bob = world["ann"], world["bob"]
    t = tag()
    sent = [send(bob, world["crew"], f"{t} n{i}")["id"] for i in range(6)]
    wait_total(ann["api"], t, 6)
    first = search(ann["api"], t, sort="recent", limit=3)
    assert [h["message"]["id"] for h in first["hits"]] == sent[::-1][:3]
    r = bob["api"].delete(f"/api/messages/{sent[1]}", params={"for": "everyone"})
    assert r.status_code == 204
    rest = search(ann["api"], t, sort="recent", limit=3, cursor=first["next_cursor"])
    assert [h["message"]["id"] for h in rest["hits"]] == [sent[2], sent[0]]
    assert rest["total"] == 5 and rest["next_cursor"] is None


# ---------------------------------------------------------------------------- permissions

def test_permission_matrix_never_leaks(world):
    ann, bob, cat, dan, eve = (world[n] for n in ("ann", "bob", "cat", "dan", "eve"))
    t = tag()
    send(eve, world["strange"], f"{t} other team secret")
    send(bob, world["ops"], f"{t} ops secret")                 # ann is not a member
    send(bob, world["crew"], f"{t} crew visible")
    hidden = send(bob, world["crew"], f"{t} hidden by ann")
    gone = send(bob, world["crew"], f"{t} deleted for everyone")
    wait_total(bob["api"], t, 4)
    wait_total(eve["api"], t, 1)
    wait_total(cat["api"], t, 4)
    assert search(ann["api"], t)["total"] == 4 - 1             # not ops
    assert search(dan["api"], t)["total"] == 1                 # ops only

    r = ann["api"].delete(f"/api/messages/{hidden['id']}", params={"for": "me"})
    assert r.status_code == 204
    r = bob["api"].delete(f"/api/messages/{gone['id']}", params={"for": "everyone"})
    assert r.status_code == 204
    r = cat["api"].post(f"/api/chats/{world['crew']}/leave")
    assert r.status_code == 204

    def check(person, q, expect_bodies):
        for sort in ("relevance", "recent"):
            res = search(person["api"], q, sort=sort)
            assert sorted(bodies(res)) == sorted(expect_bodies), (q, res)
            assert res["total"] == len(expect_bodies)
            text = " ".join(" ".join(h["highlights"]) for h in res["hits"])
            for word in ("secret", "hidden", "deleted"):
                if not any(word in b for b in expect_bodies):
                    assert word not in text

    # at once: removals wait for the engine's refresh before answering
    check(ann, t, [f"{t} crew visible"])
    check(ann, f"{t} secret", [])
    check(ann, f"{t} hidden", [])
    check(ann, f"{t} deleted", [])
    check(ann, f"in:{world['ops']}", [])
    check(ann, f"in:{world['ops']} {t}", [])
    check(ann, f"in:{world['strange']}", [])
    check(ann, f"with:dan {t}", [])
    check(bob, t, [f"{t} ops secret", f"{t} crew visible", f"{t} hidden by ann"])
    check(bob, f"{t} deleted", [])
    check(cat, t, [f"{t} ops secret"])                          # left the crew
    check(cat, f"in:{world['crew']}", [])
    check(eve, t, [f"{t} other team secret"])
    check(eve, f"{t} ops", [])
    # new messages in a chat cat left stay out of her reach
    send(bob, world["crew"], f"{t} after cat left")
    wait_total(bob["api"], f"{t} after", 1)
    check(cat, f"{t} after", [])


def test_search_needs_auth(world):
    r = world["ann"]["api"].as_user("not-a-token").get("/api/search", params={"q": "x"})
    assert r.status_code == 401


# ---------------------------------------------------------------------------- malformed

@pytest.mark.parametrize("params,field,naming", [
    ({}, "q", None),
    ({"q": ""}, "q", "empty"),
    ({"q": "   "}, "q", "empty"),
    ({"q": "x" * 1001}, "q", "1000"),
    ({"q": "from:"}, "q", "from:"),
    ({"q": "from:a/b"}, "q", "from:"),
    ({"q": "with:"}, "q", "with:"),
    ({"q": "in:0"}, "q", "in:"),
    ({"q": "in:@"}, "q", "in:"),
    ({"q": 'in:"release'}, "q", "in:"),
    ({"q": "during:2026-13"}, "q", "during:"),
    ({"q": "has:files"}, "q", "has:"),
    ({"q": "*"}, "q", "'*'"),
    ({"q": "d*"}, "q", "'*'"),
    ({"q": "-from:"}, "q", "from:"),
    ({"q": "before:2026-13-01"}, "q", "before:"),
    ({"q": "after:yesterday"}, "q", "after:"),
    ({"q": "on:2026-02-30"}, "q", "on:"),
    ({"q": "has:likes"}, "q", "has:"),
    ({"q": "is:yours"}, "q", "is:"),
    ({"q": 'deploy "unclosed'}, "q", "quote"),
    ({"q": 'deploy ""'}, "q", "phrase"),
    ({"q": "deploy -"}, "q", "'-'"),
    ({"q": "after:2026-05-02 before:2026-05-01"}, "q", "range"),
    ({"q": "x", "sort": "newest"}, "sort", None),
    ({"q": "x", "limit": "0"}, "limit", None),
    ({"q": "x", "limit": "101"}, "limit", None),
    ({"q": "x", "limit": "ten"}, "limit", None),
    ({"q": "x", "cursor": "not-a-cursor!"}, "cursor", None),
    ({"q": "x", "cursor": "eyJ2IjoxfQ"}, "cursor", None),
])
def test_malformed_requests_are_400_naming_the_problem(world, params, field, naming):
    err = bad_request(world["ann"]["api"].get("/api/search", params=params), field)
    if naming:
        assert naming in err["message"] and naming in str(err["fields"][field]), err


def test_cursor_is_bound_to_its_query(world):
    ann = world["ann"]
    t = tag()
    for i in range(3):
        send(ann, world["crew"], f"{t} c{i}")
    wait_total(ann["api"], t, 3)
    cursor = search(ann["api"], t, limit=1)["next_cursor"]
    assert cursor and re.fullmatch(r"[A-Za-z0-9_-]+", cursor)
    for params in ({"q": f"{t} c1", "cursor": cursor}, {"q": t, "sort": "recent", "cursor": cursor}):
        bad_request(ann["api"].get("/api/search", params=params), "cursor")
    r = world["bob"]["api"].get("/api/search", params={"q": t, "cursor": cursor})
    assert r.status_code == 400
    assert search(ann["api"], t, limit=1, cursor=cursor)["total"] == 3


def test_defaults_and_limits(world):
    bob = world["bob"]
    t = tag()
    for i in range(22):
        send(bob, world["direct"], f"{t} m{i}")
    r = wait_total(bob["api"], t, 22)
    assert len(r["hits"]) == 20 and r["next_cursor"]
    assert len(search(bob["api"], t, limit=100)["hits"]) == 22
    assert search(bob["api"], t, limit=100)["next_cursor"] is None
    one = search(bob["api"], t, limit=1)
    assert len(one["hits"]) == 1 and one["total"] == 22


def test_searchable_about_a_second_after_ack(world):
    ann = world["ann"]
    t = tag()
    send(ann, world["crew"], f"{t} fresh")
    started = time.monotonic()
    wait_total(ann["api"], t, 1)
    assert time.monotonic() - started < 3.0


# ---------------------------------------------------------------------------- suggest

def suggest(api, q):
    return ok(api.get("/api/search/suggest", params={"q": q}))["suggestions"]


def inserts(api, q):
    return [s["insert"] for s in suggest(api, q)]


def test_suggest_completes_operators_users_and_the_callers_chats(world):
    ann = world["ann"]["api"]
    assert "from:" in inserts(ann, "deploy fr") and "from:me" in inserts(ann, "fr")
    assert inserts(ann, "has:l") == ["has:like", "has:link"]
    assert inserts(ann, "-is:m") == ["-is:mine", "-is:mentioned"]
    assert all(s["kind"] == "operator" for s in suggest(ann, "is:"))
    assert inserts(ann, "from:b") == ["from:bob"]
    assert inserts(ann, "x with:@C") == ["with:cat"]
    assert "from:me" in inserts(ann, "from:")
    assert "from:eve" not in inserts(ann, "from:e")             # another team's directory
    # in: the caller's chats only: "Ops" is bob's, cat's and dan's, not ann's
    assert inserts(ann, "in:re") == ['in:"Release crew"']
    assert inserts(ann, 'in:"release c') == ['in:"Release crew"']
    assert inserts(ann, "in:op") == []
    assert inserts(world["bob"]["api"], "in:op") == ["in:Ops"]
    assert inserts(ann, "in:@b") == ["in:@bob"]
    assert inserts(ann, "deploy ") == [] and inserts(ann, "") == []
    assert all(s["kind"] == "chat" and s["label"] for s in suggest(ann, "in:"))


def test_suggest_forgets_a_chat_the_caller_left(world, server):
    dan, cat = world["dan"], world["cat"]
    title = "Leavers " + tag()
    chat_id = chat(dan, cat, title=title)
    assert inserts(dan["api"], "in:leav") == [f'in:"{title}"']
    ok(dan["api"].post(f"/api/chats/{chat_id}/leave"), 204)
    assert inserts(dan["api"], "in:leav") == []
    assert inserts(cat["api"], "in:leav") == [f'in:"{title}"']


def test_suggest_needs_auth_and_bounds_q(world):
    api = world["ann"]["api"]
    assert api.as_user("nope").get("/api/search/suggest", params={"q": "fr"}).status_code == 401
    bad_request(api.get("/api/search/suggest", params={"q": "x" * 1001}), "q")
