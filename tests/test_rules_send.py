"""The send path of chat/ in process: a real engine, a recording publisher, no server and no
socket. What a send stores, what it publishes and in which order, and the two branches of
the bulk write that only a failure or a restart reaches: a conflicting idempotency claim
(an earlier process life stored that message) and a claim whose message write failed."""
import time

import gevent
import pytest

from chatsvc.chat import chats, history, reactions, send
from chatsvc.chat import state as chat_state
from chatsvc.errors import BadRequest, Unavailable
from chatsvc.ids import SnowflakeGenerator
from chatsvc.store import messages as message_store
from chatsvc.store.indices import current_month
from tests.helpers import local_team


@pytest.fixture
def room(make_context):
    """ann and bob of a fresh team, their direct chat, in one in-process context."""
    ctx = make_context()
    team, people = local_team(ctx, "ann", "bob")
    chat, _ = chats.create_chat(ctx, people["ann"], [people["bob"]["id"]], None)
    ctx.publisher.clear()
    return {"ctx": ctx, "team": team, "ann": people["ann"], "bob": people["bob"], "chat_id": chat["id"],
            "members": chat["member_ids"]}


def restarted(make_context, ctx, **settings):
    """A new process life on the same engine data. The engine is refreshed first, as the
    seconds a real restart takes would have done, so the new process's team load (a search
    of the team's users and chats) sees the team."""
    ctx.engine.call("indices.refresh", index=f"{ctx.engine.prefix}-*")
    return make_context(**settings)


def stored_copies(ctx, sender_id, client_msg_id) -> int:
    """Message documents in the engine with this sender and client_msg_id (after a refresh)."""
    message_store.refresh(ctx.engine)
    query = {"bool": {"filter": [{"term": {"sender_id": sender_id}},
                                 {"term": {"client_msg_id": client_msg_id}}]}}
    return ctx.engine.call("count", index=ctx.engine.messages_pattern, body={"query": query})["count"]


def whole_history(ctx, me, chat_id) -> list[dict]:
    page, has_more = history.history(ctx, me, chat_id, None, None, 200)
    assert not has_more
    return page


class RecordedIds:
    """The context's id generator, remembering every id it hands out."""

    def __init__(self, ids):
        self._ids, self.given = ids, []

    def next_id(self):
        self.given.append(self._ids.next_id())
        return self.given[-1]


def test_a_send_stores_publishes_once_to_the_members_and_is_created(room):
    ctx, ann, chat_id = room["ctx"], room["ann"], room["chat_id"]
    message, created = send.send_message(ctx, ann, chat_id, "hello bob", "c-1")
    assert created is True
    assert message["body"] == "hello bob" and message["client_msg_id"] == "c-1"
    assert message["sender_id"] == ann["id"] and message["chat_id"] == chat_id
    assert ctx.publisher.calls == [(room["members"], {"type": "message", "message": message})]
    # Stored: a realtime read of the engine has it, and so has history (no refresh needed).
    stored = message_store.get_many(ctx.engine, [(int(message["id"]), chat_id)])
    assert stored[int(message["id"])]["body"] == "hello bob"
    assert whole_history(ctx, room["bob"], chat_id) == [message]


def test_a_retry_in_the_same_process_answers_the_original_and_publishes_nothing(room):
    ctx, ann, chat_id = room["ctx"], room["ann"], room["chat_id"]
    first, created = send.send_message(ctx, ann, chat_id, "once", "c-retry")
    assert created is True
    ctx.publisher.clear()
    again, created_again = send.send_message(ctx, ann, chat_id, "once", "c-retry")
    changed, created_changed = send.send_message(ctx, ann, chat_id, "twice?", "c-retry")
    assert (again, created_again) == (first, False)
    assert (changed, created_changed) == (first, False)
    assert ctx.publisher.calls == []
    assert whole_history(ctx, ann, chat_id) == [first]
    assert stored_copies(ctx, ann["id"], "c-retry") == 1
    # The same client_msg_id in another chat is the client's mistake, not a retry.
    other, _ = chats.create_chat(ctx, ann, [room["bob"]["id"]], "elsewhere")
    with pytest.raises(BadRequest) as refused:
        send.send_message(ctx, ann, other["id"], "once", "c-retry")
    assert "client_msg_id" in refused.value.fields
    assert whole_history(ctx, ann, other["id"]) == []


def test_a_retry_after_a_restart_gets_the_original_and_the_new_copy_is_deleted(room, make_context):
    ctx, chat_id = room["ctx"], room["chat_id"]
    original, _ = send.send_message(ctx, room["ann"], chat_id, "before the restart", "c-life")

    later = restarted(make_context, ctx)   # remembers no key: only the engine's claim knows
    later.ids = RecordedIds(later.ids)
    ann = later.teams.get(room["team"]["id"]).users[room["ann"]["id"]]
    message, created = send.send_message(later, ann, chat_id, "after the restart", "c-life")

    assert (message, created) == (original, False)
    assert later.publisher.calls == [], "nobody is told again of a message they already had"
    # The bulk wrote a second copy under a new id next to the conflicting claim: it is gone.
    (duplicate_id,) = later.ids.given
    assert duplicate_id != int(original["id"])
    assert message_store.get_many(later.engine, [(duplicate_id, chat_id)]) == {}
    assert stored_copies(later, ann["id"], "c-life") == 1
    assert whole_history(later, room["bob"], chat_id) == [original]
    # From now on this process remembers the key itself: no engine claim is tried again.
    assert send.send_message(later, ann, chat_id, "again", "c-life") == (original, False)
    assert later.ids.given == [duplicate_id]


def test_a_failed_message_write_releases_its_claim_so_the_retry_stores_it(room):
    ctx, ann, chat_id = room["ctx"], room["ann"], room["chat_id"]
    index = ctx.engine.messages_index(current_month())
    before, _ = send.send_message(ctx, ann, chat_id, "before the block", "c-before")
    ctx.publisher.clear()
    key = message_store.idempotency_key(ann["id"], "c-undo")
    # The month's message index refuses writes; the idempotency index still takes them, so
    # the claim succeeds and the message write fails in the same bulk.
    ctx.engine.call("indices.put_settings", index=index, body={"index.blocks.write": True})
    try:
        with pytest.raises(Unavailable):
            send.send_message(ctx, ann, chat_id, "blocked", "c-undo")
        assert message_store.lookup_idempotency(ctx.engine, [key]) == {}, "the claim was released"
    finally:
        ctx.engine.call("indices.put_settings", index=index, body={"index.blocks.write": None})
    assert ctx.publisher.calls == []
    assert whole_history(ctx, ann, chat_id) == [before]
    assert stored_copies(ctx, ann["id"], "c-undo") == 0

    message, created = send.send_message(ctx, ann, chat_id, "blocked", "c-undo")
    assert created is True and message["body"] == "blocked"
    assert ctx.publisher.calls == [(room["members"], {"type": "message", "message": message})]
    assert message_store.lookup_idempotency(ctx.engine, [key])[key]["message_id"] == int(message["id"])
    assert whole_history(ctx, ann, chat_id) == [before, message]
    assert stored_copies(ctx, ann["id"], "c-undo") == 1


def test_concurrent_sends_are_published_in_id_order_and_readable_at_once(room):
    ctx, chat_id = room["ctx"], room["chat_id"]
    senders = [room["ann"], room["bob"]]
    batches = ctx.bulk.batches
    jobs = [gevent.spawn(send.send_message, ctx, senders[i % 2], chat_id, f"message {i}", f"c-{i}")
            for i in range(50)]
    gevent.joinall(jobs, raise_error=True)
    sent = [job.value[0] for job in jobs]
    assert all(job.value[1] for job in jobs)
    assert ctx.bulk.batches - batches < 50, "group commit: fewer bulk requests than sends"

    events = ctx.publisher.events("message")
    published = [int(event["message"]["id"]) for _, event in events]
    assert published == sorted(published) and len(set(published)) == 50, "strictly increasing"
    assert sorted(published) == sorted(int(m["id"]) for m in sent)
    assert all(users == room["members"] for users, _ in events)
    assert {event["message"]["id"]: event["message"] for _, event in events} == {m["id"]: m for m in sent}
    # Read-your-writes: every acknowledged message is in history without a refresh.
    page = whole_history(ctx, room["bob"], chat_id)
    assert [int(m["id"]) for m in page] == published


def test_the_body_limit_is_the_deployments(make_context):
    ctx = make_context(max_body_chars=20)
    _, people = local_team(ctx, "ann", "bob")
    ann = people["ann"]
    chat, _ = chats.create_chat(ctx, ann, [people["bob"]["id"]], None)
    ctx.publisher.clear()
    fits, created = send.send_message(ctx, ann, chat["id"], "x" * 20, "c-20")
    assert created and fits["body"] == "x" * 20
    with pytest.raises(BadRequest) as refused:
        send.send_message(ctx, ann, chat["id"], "y" * 21, "c-21")
    assert refused.value.fields == {"body": ["must be at most 20 characters"]}
    # Characters, not bytes: twenty two-byte characters fit.
    wide, _ = send.send_message(ctx, ann, chat["id"], "é" * 20, "c-wide")
    assert [m["body"] for m in whole_history(ctx, ann, chat["id"])] == ["x" * 20, "é" * 20]
    assert [e["message"]["id"] for _, e in ctx.publisher.events("message")] == [fits["id"], wide["id"]]
    assert stored_copies(ctx, ann["id"], "c-21") == 0


def test_keys_older_than_the_window_leave_memory_and_their_retries_stay_exact(room):
    """Issue 16: the process remembers idempotency keys for send.SEEN_SECONDS only (memory
    flat under a steady rate); a later retry is answered through the engine's claim."""
    ctx, ann, chat_id = room["ctx"], room["ann"], room["chat_id"]
    real_ids = ctx.ids
    ctx.ids = SnowflakeGenerator(ctx.config.worker_id, clock=lambda: time.time() - 2 * send.SEEN_SECONDS)
    old, _ = send.send_message(ctx, ann, chat_id, "a while ago", "c-old")
    ctx.ids = RecordedIds(real_ids)
    send.send_message(ctx, ann, chat_id, "just now", "c-new")
    remembered = ctx.sender._seen
    assert message_store.idempotency_key(ann["id"], "c-old") not in remembered
    assert message_store.idempotency_key(ann["id"], "c-new") in remembered
    ctx.publisher.clear()
    again, created = send.send_message(ctx, ann, chat_id, "a while ago", "c-old")
    assert (again, created) == (old, False)
    assert ctx.publisher.calls == []
    assert stored_copies(ctx, ann["id"], "c-old") == 1


def test_a_message_older_than_the_recent_map_is_found_by_id_in_its_tail(room):
    """Issue 16: message id -> chat is remembered for state.RECENT_SECONDS only; after that a
    change by id (a reaction frame names no chat) finds the message in its chat's tail,
    even before a search could see it."""
    ctx, ann, bob, chat_id = room["ctx"], room["ann"], room["bob"], room["chat_id"]
    real_ids = ctx.ids
    ctx.ids = SnowflakeGenerator(ctx.config.worker_id, clock=lambda: time.time() - 3 * chat_state.RECENT_SECONDS)
    old, _ = send.send_message(ctx, ann, chat_id, "react to me later", "c-tail")
    ctx.ids = real_ids
    send.send_message(ctx, ann, chat_id, "newer", "c-newer")
    assert int(old["id"]) not in ctx.teams.recent_chat_of
    reactions.react(ctx, bob, int(old["id"]), "\U0001F389", True)
    (seen,) = [m for m in whole_history(ctx, ann, chat_id) if m["id"] == old["id"]]
    assert seen["reactions"][0]["user_ids"] == [bob["id"]]
