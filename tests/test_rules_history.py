"""History of chat/ in process: the window that merges a chat's in-memory tail with the
engine's older pages (chatsvc/chat/history.py), against the real engine with a tail of
10 messages, and the Tail itself (chatsvc/chat/state.py)."""
import pytest

from chatsvc.chat import chats, deletion, history, reactions, send
from chatsvc.chat.state import Tail
from chatsvc.store import messages as message_store
from chatsvc.store.indices import current_month
from tests.helpers import local_team

TAIL = 10
TOTAL = 25   # more than the tail: older pages come from the engine


@pytest.fixture(scope="module")
def ctx(make_context):
    return make_context(tail_size=TAIL)


@pytest.fixture(scope="module")
def people(ctx):
    return local_team(ctx, "ann", "bob")[1]


def new_chat(ctx, people, count: int, title: str) -> tuple[str, list[dict]]:
    """A group chat of ann and bob holding ``count`` messages (alternate senders)."""
    ann, bob = people["ann"], people["bob"]
    chat, _ = chats.create_chat(ctx, ann, [bob["id"]], title)
    sent = [send.send_message(ctx, (ann, bob)[i % 2], chat["id"], f"message {i}", f"{title}-{i}")[0]
            for i in range(count)]
    return chat["id"], sent


def restarted(make_context, ctx):
    """A new process life: it loads the tails from the engine (after the refresh that the
    seconds of a real restart would have given the team's users and chats)."""
    ctx.engine.call("indices.refresh", index=f"{ctx.engine.prefix}-*")
    return make_context(tail_size=TAIL)


def ids(messages) -> list[int]:
    return [int(m["id"]) for m in messages]


def walk_back(ctx, me, chat_id, limit) -> list[dict]:
    seen, before = [], None
    while True:
        page, has_more = history.history(ctx, me, chat_id, before, None, limit)
        assert ids(page) == sorted(set(ids(page)))
        assert len(page) == limit or not has_more, (limit, len(page), has_more)
        seen[:0] = page
        if not has_more:
            return seen
        before = int(page[0]["id"])


def walk_forward(ctx, me, chat_id, limit) -> list[dict]:
    seen, after = [], int(chat_id)   # a chat id is older than all its messages
    while True:
        page, has_more = history.history(ctx, me, chat_id, None, after, limit)
        assert ids(page) == sorted(set(ids(page)))
        assert len(page) == limit or not has_more, (limit, len(page), has_more)
        seen += page
        if not has_more:
            return seen
        after = int(page[-1]["id"])


@pytest.fixture(scope="module")
def long_chat(ctx, people):
    return new_chat(ctx, people, TOTAL, "long")


@pytest.mark.parametrize("life", ["live", "restarted"])
def test_pages_back_and_forth_across_the_tail_give_every_message_once(ctx, people, long_chat, make_context, life):
    chat_id, sent = long_chat
    reader = ctx if life == "live" else restarted(make_context, ctx)
    bob = people["bob"]
    tail = reader.teams.tail(reader.teams.get(bob["team_id"]), chat_id)
    assert ids(tail.messages) == ids(sent[-TAIL:]) and tail.complete is False
    for limit in (1, 3, 4, 7, TAIL, TAIL + 1, 30):
        assert walk_back(reader, bob, chat_id, limit) == sent, f"backward, limit {limit}"
        assert walk_forward(reader, bob, chat_id, limit) == sent, f"forward, limit {limit}"
    # Windows that straddle the boundary, from both cursors.
    boundary = TOTAL - TAIL   # sent[boundary] is the tail's oldest message
    page, has_more = history.history(reader, bob, chat_id, int(sent[boundary + 2]["id"]), None, 5)
    assert page == sent[boundary - 3:boundary + 2] and has_more
    page, has_more = history.history(reader, bob, chat_id, None, int(sent[boundary - 4]["id"]), 6)
    assert page == sent[boundary - 3:boundary + 3] and has_more
    page, has_more = history.history(reader, bob, chat_id, int(sent[boundary + 1]["id"]),
                                     int(sent[boundary - 3]["id"]), 50)
    assert page == sent[boundary - 2:boundary + 1] and not has_more
    assert history.history(reader, bob, chat_id, None, None, 50) == (sent, False)


def test_messages_hidden_for_me_are_skipped_for_me_only(ctx, people):
    chat_id, sent = new_chat(ctx, people, TOTAL, "hidden")
    ann, bob = people["ann"], people["bob"]
    below, inside = sent[3], sent[TOTAL - 3]   # one only the engine has, one in the tail
    for message in (below, inside):
        deletion.delete_message(ctx, bob, int(message["id"]), "me")
    visible = [m for m in sent if m["id"] not in (below["id"], inside["id"])]
    for limit in (1, 4, 9, 30):
        assert walk_back(ctx, bob, chat_id, limit) == visible, limit
        assert walk_forward(ctx, bob, chat_id, limit) == visible, limit
        assert walk_back(ctx, ann, chat_id, limit) == sent, limit
        assert walk_forward(ctx, ann, chat_id, limit) == sent, limit


class NoRefresh:
    """The month's message index stops refreshing: its searches keep showing the copies of
    before, as they do for up to a second after any write."""

    def __init__(self, ctx):
        self.engine, self.index = ctx.engine, ctx.engine.messages_index(current_month())

    def __enter__(self):
        self.engine.call("indices.put_settings", index=self.index, body={"index.refresh_interval": "-1"})

    def __exit__(self, *exc):
        self.engine.call("indices.put_settings", index=self.index, body={"index.refresh_interval": "1s"})


def engine_copy(ctx, chat_id, message) -> dict:
    """The message as the engine's searches see it."""
    (found,) = message_store.page(ctx.engine, chat_id, before=int(message["id"]) + 1, limit=1)
    assert found["id"] == int(message["id"])
    return found


def test_a_change_to_the_tail_copy_shows_in_a_page_merged_with_the_engine(ctx, people, make_context):
    chat_id, sent = new_chat(ctx, people, 15, "liked")
    reader = restarted(make_context, ctx)
    ann, bob = people["ann"], people["bob"]
    assert history.history(reader, ann, chat_id, None, None, 3)[0] == sent[-3:]  # tail: sent[5:]
    liked = sent[7]
    with NoRefresh(ctx):
        reactions.like(reader, bob, int(liked["id"]))
        assert engine_copy(reader, chat_id, liked)["liked_by"] == []
        # sent[5..7] are below the cursor in the tail: too few, so the engine's page is
        # merged in, and the tail's copy of sent[7] (liked) must win over the engine's.
        page, has_more = history.history(reader, ann, chat_id, int(sent[8]["id"]), None, 5)
        assert ids(page) == ids(sent[3:8]) and has_more
        assert page[-1]["liked_by"] == [bob["id"]]
        assert [m["liked_by"] for m in page[:-1]] == [[]] * 4


def test_a_like_before_the_chats_tail_is_loaded_is_not_lost_by_the_load(ctx, people, make_context):
    chat_id, sent = new_chat(ctx, people, 5, "early-like")
    reader = restarted(make_context, ctx)   # no tail loaded yet (a like from a search hit)
    ann, bob = people["ann"], people["bob"]
    liked = sent[2]
    with NoRefresh(ctx):
        assert reactions.like(reader, bob, int(liked["id"]))["liked_by"] == [bob["id"]]
        assert engine_copy(reader, chat_id, liked)["liked_by"] == []
        page, _ = history.history(reader, ann, chat_id, None, None, 50)
        assert ids(page) == ids(sent)
        assert page[2]["liked_by"] == [bob["id"]], "the like is in the process's copy"
        # ... and liking again is the no-op it should be, not a second like.
        assert reactions.like(reader, bob, int(liked["id"]))["liked_by"] == [bob["id"]]


# ---------------------------------------------------------------------------- the Tail

def doc(message_id: int, body: str = "") -> dict:
    return {"id": message_id, "chat_id": "1", "body": body or f"m{message_id}"}


def tail_ids(tail: Tail) -> list[int]:
    assert sorted(tail.by_id) == [d["id"] for d in tail.messages]
    return [d["id"] for d in tail.messages]


def test_fill_merges_what_arrived_during_the_load():
    tail = Tail(5)
    arrived = doc(11, "the live copy")
    tail.append(doc(10))
    tail.append(arrived)
    assert not tail.loaded.is_set()
    tail.fill([doc(11, "the engine's copy"), doc(9), doc(8)])   # newest first, as loaded
    assert tail_ids(tail) == [8, 9, 10, 11]
    assert tail.by_id[11] is arrived, "the copy in memory carries the latest changes"
    assert tail.complete is True and tail.loaded.is_set()
    assert tail.oldest_id == 8 and not tail.evicted_unrefreshed()


def test_a_full_load_may_have_older_messages():
    tail = Tail(3)
    tail.fill([doc(3), doc(2), doc(1)])
    assert tail_ids(tail) == [1, 2, 3] and tail.complete is False
    short = Tail(3)
    short.fill([doc(2), doc(1)])
    assert short.complete is True
    empty = Tail(3)
    empty.fill([])
    assert tail_ids(empty) == [] and empty.complete is True and empty.oldest_id is None


def test_fill_with_arrivals_beyond_capacity_trims_the_oldest():
    tail = Tail(3)
    tail.append(doc(5))
    tail.fill([doc(4), doc(3), doc(2)])
    assert tail_ids(tail) == [3, 4, 5] and tail.complete is False
    assert 2 not in tail.by_id and tail.evicted_unrefreshed()


def test_trimming_to_capacity_makes_the_tail_incomplete():
    tail = Tail(3)
    tail.fill([doc(2), doc(1)])
    tail.append(doc(3))
    assert tail_ids(tail) == [1, 2, 3] and tail.complete is True and not tail.evicted_unrefreshed()
    tail.append(doc(4))
    assert tail_ids(tail) == [2, 3, 4] and tail.complete is False
    assert 1 not in tail.by_id and tail.oldest_id == 2
    assert tail.evicted_unrefreshed() and not tail.evicted_unrefreshed(refresh_interval=0)


def test_a_late_message_keeps_its_place_by_id():
    tail = Tail(5)
    tail.fill([])
    for message_id in (1, 2, 4, 5):
        tail.append(doc(message_id))
    tail.append(doc(3))
    assert tail_ids(tail) == [1, 2, 3, 4, 5] and tail.complete is True
    tail.append(doc(0))   # older than all of a full tail: in and out again at once
    assert tail_ids(tail) == [1, 2, 3, 4, 5] and tail.complete is False
