"""Thread roots older than the chat's tail (chatsvc/chat/state.py, Tail.keep_root): an
active thread whose root scrolled out of the latest messages costs one engine read, not one
per reply, and every change of that root (replies, reactions, edits, deletion, retention)
goes to the one kept copy. Real engine, a tail of 10 messages."""
import pytest

from chatsvc.chat import chats, deletion, edits, reactions, send, threads
from chatsvc.store import messages as message_store
from tests.helpers import local_team

TAIL = 10


@pytest.fixture
def ctx(make_context):
    return make_context(tail_size=TAIL)


@pytest.fixture
def room(ctx):
    _, people = local_team(ctx, "ann", "bob")
    ann, bob = people["ann"], people["bob"]
    chat, _ = chats.create_chat(ctx, ann, [bob["id"]], "kept roots")
    root, _ = send.send_message(ctx, ann, chat["id"], "the root", "root")
    for i in range(2 * TAIL):   # the root leaves the tail
        send.send_message(ctx, bob, chat["id"], f"filler {i}", f"filler-{i}")
    return ann, bob, chat["id"], int(root["id"])


class EngineReads:
    """Counts the realtime reads (mget) the context makes of the real engine."""

    def __init__(self, engine):
        self.count, self._call = 0, engine.call
        engine.call = self

    def __call__(self, method, *args, **kwargs):
        if method == "mget":
            self.count += 1
        return self._call(method, *args, **kwargs)


def stored(ctx, chat_id, message_id) -> dict:
    return message_store.get_many(ctx.engine, [(message_id, chat_id)])[message_id]


def test_replies_to_an_old_root_read_it_once_and_count_every_reply(ctx, room):
    ann, bob, chat_id, root_id = room
    tail = ctx.teams.tail(ctx.teams.get(ann["team_id"]), chat_id)
    assert root_id not in tail.by_id
    reads = EngineReads(ctx.engine)
    for i in range(5):
        send.send_message(ctx, (ann, bob)[i % 2], chat_id, f"reply {i}", f"reply-{i}", thread_id=root_id)
    assert reads.count == 1, "the root is read once, then kept beside the tail"
    assert stored(ctx, chat_id, root_id)["reply_count"] == 5
    root_view, replies = threads.thread(ctx, bob, root_id, None, 50)[:2]
    assert root_view["reply_count"] == 5 and len(replies) == 5


def test_changes_of_a_kept_root_go_to_the_same_copy(ctx, room):
    ann, bob, chat_id, root_id = room
    send.send_message(ctx, bob, chat_id, "a reply", "r1", thread_id=root_id)
    reactions.react(ctx, bob, root_id, "\U0001F389", True)
    edits.edit_message(ctx, ann, root_id, "the root, edited")
    send.send_message(ctx, bob, chat_id, "another reply", "r2", thread_id=root_id)
    doc = stored(ctx, chat_id, root_id)
    assert doc["reply_count"] == 2 and doc["body"] == "the root, edited"
    assert [r["emoji"] for r in doc["reactions"]] == ["\U0001F389"]
    deletion.delete_message(ctx, ann, root_id, "everyone")
    with pytest.raises(Exception) as refused:
        send.send_message(ctx, bob, chat_id, "too late", "r3", thread_id=root_id)
    assert refused.value.__class__.__name__ == "NotFound"


def test_retention_drops_a_kept_root(ctx, room):
    ann, bob, chat_id, root_id = room
    send.send_message(ctx, bob, chat_id, "a reply", "r1", thread_id=root_id)
    tail = ctx.teams.tail(ctx.teams.get(ann["team_id"]), chat_id)
    assert root_id in tail.roots
    assert ctx.teams.discard_messages(ann["team_id"], chat_id, {root_id}) == 1
    assert root_id not in tail.roots and tail.get(root_id) is None
