"""`flask chatsvc reindex` (store/reindex.py): messages written under an older mapping (no
body.cjk, body.parts, has_link; indices without their analyzers) become findable by CJK
words, URL parts and has:link, online and resumably."""
import copy
import uuid

import pytest

from chatsvc.store import Engine
from chatsvc.store.indices import bootstrap, indices_lacking_analysis, load_templates
from chatsvc.store.reindex import _progress, reindex
from chatsvc.store.search import MessageQuery, TextMatch, search_messages
from tests.conftest import drop_prefix

UPPER = (1 << 63) - 1


def old_templates() -> dict:
    """The current templates with messages as it was before issue 15: no CJK or parts
    analyzers and sub-fields, no has_link."""
    templates = load_templates()
    spec = copy.deepcopy(templates["messages"])
    analysis = spec["template"]["settings"]["analysis"]
    for name in ("chat_cjk", "chat_parts", "chat_parts_search"):
        del analysis["analyzer"][name]
    del analysis["filter"]["code_parts"]
    props = spec["template"]["mappings"]["properties"]
    del props["body"]["fields"]["cjk"], props["body"]["fields"]["parts"], props["has_link"]
    templates["messages"] = spec
    return templates


@pytest.fixture
def old_engine(engine_url):
    prefix = f"test-reindex-{uuid.uuid4().hex[:8]}"
    engine = Engine(engine_url, prefix)
    bootstrap(engine, old_templates())
    engine.call("indices.create", index=f"{prefix}-messages-2025.01")
    yield engine
    drop_prefix(engine_url, prefix)


BODIES = {1: "我们明天在北京开会", 2: "北方的京城很冷", 3: "see https://github.com/acme/app/pull/7",
          4: "deployed to gitlab.com today", 5: "서울에서 만나요"}


def write_old(engine: Engine):
    """Documents as the code before has_link wrote them, in two monthly indices."""
    for i, body in BODIES.items():
        index = f"{engine.prefix}-messages-2025.01" if i % 2 else engine.messages_pattern[:-1] + _month(engine)
        created = "2025-01-1%dT10:00:00Z" % i if i % 2 else None
        doc = {"id": i, "chat_id": "c1", "team_id": "t1", "sender_id": "u1", "body": body,
               "created_at": created or _now(), "client_msg_id": f"m{i}", "liked_by": [],
               "like_count": 0, "hidden_for": [], "deleted": False}
        engine.call("index", index=index, id=str(i), body=doc, routing="c1")
    engine.call("indices.refresh", index=engine.messages_pattern)


def _month(engine):
    from chatsvc.store.indices import current_month
    return current_month()


def _now():
    from chatsvc.ids import now_iso
    return now_iso()


def found(engine, *words, has_link=False) -> set:
    q = MessageQuery(team_id="t1", viewer_id="u9", chat_ids=("c1",), text=TextMatch(words=words),
                     has_link=has_link)
    return {h.doc["id"] for h in search_messages(engine, q, size=20, upper_id=UPPER).hits}


def test_reindex_makes_old_messages_findable_and_resumes(old_engine):
    engine = old_engine
    write_old(engine)
    assert found(engine, "서울") == set()          # no body.cjk yet
    assert found(engine, "github") == set()        # no body.parts yet
    assert found(engine, "北京") == {1}            # adjacent single characters (body.exact)
    # the current templates' bootstrap copes with indices lacking the new analyzers
    bootstrap(engine)
    pattern = engine.messages_pattern
    assert len(indices_lacking_analysis(engine, pattern, load_templates()["messages"])) == 2
    assert found(engine, has_link=True) == {3}     # the fallback for messages without has_link

    lines = []
    done = reindex(engine, report=lines.append)
    assert sum(done.values()) == len(BODIES) and len(done) == 2, (done, lines)
    engine.call("indices.refresh", index=pattern)
    assert indices_lacking_analysis(engine, pattern, load_templates()["messages"]) == []
    assert found(engine, "北京") == {1}            # not the scattered 北...京 of 2
    assert found(engine, "서울") == {5}
    assert found(engine, "github") == {3}
    assert found(engine, "gitlab") == {4}
    assert found(engine, has_link=True) == {3}
    docs = engine.call("search", index=pattern, body={"query": {"term": {"has_link": True}}})
    assert [h["_source"]["id"] for h in docs["hits"]["hits"]] == [3]
    for name in done:
        assert _progress(engine, name)["finished"] is True
    # a rerun resumes: nothing left to do
    assert reindex(engine) == {}
    # a restart goes over everything again, harmlessly
    assert sum(reindex(engine, restart=True).values()) == len(BODIES)
    assert found(engine, "北京") == {1}


def test_reindex_continues_after_the_recorded_day(old_engine):
    engine = old_engine
    write_old(engine)
    bootstrap(engine)
    name = f"{engine.prefix}-messages-2025.01"
    from chatsvc.store.reindex import _ensure_progress_index, _save
    _ensure_progress_index(engine)
    # an earlier run stopped after 2025-01-11: the message of the 11th stays as it was
    _save(engine, name, {"done_until": "2025-01-11", "updated": 1, "finished": False})
    done = reindex(engine, only=name)
    assert done == {name: 1 + 2}    # the 13th and 15th, plus the one recorded earlier
    engine.call("indices.refresh", index=engine.messages_pattern)
    assert found(engine, "서울") == {5} and found(engine, "github") == {3}
    assert found(engine, "gitlab") == set()        # another index, not reindexed
