"""Unread and mention counts when the read marker is older than the chat's in-memory tail
(chatsvc/chat/unread.py): the chat list counts the older messages in the engine, so a
small tail (CHATSVC_TAIL_SIZE) costs no exactness. Real engine, a tail of 10 messages."""
import pytest

from chatsvc.chat import chats, deletion, reads, send
from tests.helpers import local_team

TAIL = 10


@pytest.fixture(scope="module")
def ctx(make_context):
    return make_context(tail_size=TAIL)


@pytest.fixture(scope="module")
def people(ctx):
    return local_team(ctx, "ann", "bob", "cat")[1]


def listed(ctx, me, chat_id) -> dict:
    return next(c for c in chats.list_chats(ctx, me) if c["id"] == chat_id)


def restarted(make_context, ctx):
    """A new process life, whose tails load from the engine (after a refresh)."""
    ctx.engine.call("indices.refresh", index=f"{ctx.engine.prefix}-*")
    return make_context(tail_size=TAIL)


@pytest.fixture(scope="module")
def busy_chat(ctx, people):
    """bob writes 30 messages to ann and cat; 4 of the oldest 20 mention ann, one of those
    is deleted for everyone, one other is a thread-only reply (a mention, not unread), and
    ann read up to message 5. So below the tail ann has 14 unread and 3 mentions."""
    ann, bob, cat = people["ann"], people["bob"], people["cat"]
    chat, _ = chats.create_chat(ctx, ann, [bob["id"], cat["id"]], "busy")
    sent = []
    for i in range(30):
        body = f"@ann look at {i}" if i in (8, 9, 12, 15) else f"plain {i}"
        thread = sent[0]["id"] if i == 12 else None
        sent.append(send.send_message(ctx, bob, chat["id"], body, f"busy-{i}", thread_id=thread and int(thread))[0])
    reads.mark_read(ctx, ann, chat["id"], int(sent[5]["id"]))
    deletion.delete_message(ctx, bob, int(sent[9]["id"]), "everyone")
    return chat["id"], sent


def expected_for_ann():
    # after marker 5: messages 6..29 = 24, minus the deleted 9 and the thread-only 12
    unread = 24 - 2
    mentions = 2 + 1   # 8 and 15, and the thread-only reply 12 (a mention calls her anywhere)
    return unread, mentions


@pytest.mark.parametrize("life", ["live", "restarted"])
def test_counts_reach_below_the_tail(ctx, people, busy_chat, make_context, life):
    chat_id, _ = busy_chat
    reader = ctx if life == "live" else restarted(make_context, ctx)
    ann = people["ann"]
    view = listed(reader, ann, chat_id)
    assert (view["unread_count"], view["mention_count"]) == expected_for_ann()
    single = chats.get_chat(reader, ann, chat_id)   # the one-chat view counts alike
    assert (single["unread_count"], single["mention_count"]) == expected_for_ann()


def test_the_sender_has_nothing_unread_and_a_reader_in_the_tail_costs_no_query(ctx, people, busy_chat):
    chat_id, sent = busy_chat
    bob, cat = people["bob"], people["cat"]
    assert listed(ctx, bob, chat_id)["unread_count"] == 0
    reads.mark_read(ctx, cat, chat_id, int(sent[25]["id"]))
    view = listed(ctx, cat, chat_id)
    assert (view["unread_count"], view["mention_count"]) == (4, 0)


def test_a_viewer_who_never_read_counts_the_whole_chat(ctx, people):
    ann, bob = people["ann"], people["bob"]
    chat, _ = chats.create_chat(ctx, bob, [ann["id"]], "never read")
    for i in range(3 * TAIL):
        send.send_message(ctx, bob, chat["id"], f"m {i}", f"never-{i}")
    view = listed(ctx, ann, chat["id"])
    assert view["unread_count"] == 3 * TAIL and view["mention_count"] == 0
