"""Changes to a message in process (chat/message_writes.py): the whole document is written
when the copy is known to match the engine, a script otherwise, and no change made
elsewhere (another process life, an edit, a delete for everyone) is ever overwritten.
A real engine, a recording publisher, no server."""
import gevent
import pytest

from chatsvc.chat import chats, deletion, edits, reactions, send
from chatsvc.store import messages as message_store
from tests.helpers import local_team


@pytest.fixture
def room(make_context):
    ctx = make_context()
    team, people = local_team(ctx, "ann", "bob")
    chat, _ = chats.create_chat(ctx, people["ann"], [people["bob"]["id"]], None)
    return {"ctx": ctx, "ann": people["ann"], "bob": people["bob"], "chat_id": chat["id"]}


def stored(ctx, message: dict) -> tuple[dict, int]:
    """(the engine's document, its seq_no): a realtime get, no refresh needed."""
    r = ctx.engine.call("get", index=message_store.index_for(ctx.engine, int(message["id"])),
                        id=message["id"], routing=message["chat_id"])
    return r["_source"], r["_seq_no"]


def another_life(make_context, ctx):
    """A second process on the same engine data (refreshed, as a restart's seconds would)."""
    ctx.engine.call("indices.refresh", index=f"{ctx.engine.prefix}-*")
    return make_context()


def tail_copy(ctx, me: dict, message: dict) -> dict:
    """This process's in-memory copy of a recent message (its chat's tail)."""
    return ctx.teams.get(me["team_id"]).tails[message["chat_id"]].by_id[int(message["id"])]


def test_reactions_keep_the_copy_at_the_engines_version_and_never_store_it(room):
    ctx, ann, bob = room["ctx"], room["ann"], room["bob"]
    msg, _ = send.send_message(ctx, ann, room["chat_id"], "hello", "w-1")
    reactions.react(ctx, bob, int(msg["id"]), "🎉", True)
    reactions.like(ctx, ann, int(msg["id"]))
    doc, seq_no = stored(ctx, msg)
    assert doc["reactions"] == [{"emoji": "🎉", "user_ids": [bob["id"]]}]
    assert doc["liked_by"] == [ann["id"]] and doc["like_count"] == 1
    assert not any(k.startswith("_") for k in doc)   # the copy's version is not stored
    copy = tail_copy(ctx, ann, msg)
    assert message_store.version_of(copy)[0] == seq_no   # so the next change can be the cheap one
    reactions.react(ctx, bob, int(msg["id"]), "🎉", False)
    doc, _ = stored(ctx, msg)
    assert doc.get("reactions") == []


def test_a_delete_for_everyone_made_elsewhere_is_not_undone_by_a_reaction(room, make_context):
    ctx, ann, bob = room["ctx"], room["ann"], room["bob"]
    msg, _ = send.send_message(ctx, ann, room["chat_id"], "secret plans", "w-2")
    other = another_life(make_context, ctx)
    deletion.delete_message(other, ann, int(msg["id"]), "everyone")
    # This process's copy still shows the message: the reaction is taken, but its
    # whole-document write is refused (the version moved) and the script keeps the delete.
    reactions.react(ctx, bob, int(msg["id"]), "👀", True)
    doc, _ = stored(ctx, msg)
    assert doc["deleted"] is True and doc["body"] == "" and doc["deleted_body"] == "secret plans"


def test_an_edit_made_elsewhere_survives_a_reply_and_the_reply_is_counted(room, make_context):
    ctx, ann, bob = room["ctx"], room["ann"], room["bob"]
    root, _ = send.send_message(ctx, ann, room["chat_id"], "first words", "w-3")
    other = another_life(make_context, ctx)
    edits.edit_message(other, ann, int(root["id"]), "better words")
    ctx.publisher.clear()
    send.send_message(ctx, bob, room["chat_id"], "a reply", "w-4", thread_id=int(root["id"]))
    doc, _ = stored(ctx, root)
    assert doc["body"] == "better words" and doc["reply_count"] == 1
    assert doc["reply_user_ids"] == [bob["id"]]
    thread_events = [e for _, e in ctx.publisher.events("thread")]
    assert [e["root"]["reply_count"] for e in thread_events] == [1]


def test_concurrent_reactions_and_replies_on_one_message_all_count(make_context):
    ctx = make_context()
    names = [f"u{i}" for i in range(20)]
    _, people = local_team(ctx, *names)
    chat, _ = chats.create_chat(ctx, people["u0"], [people[n]["id"] for n in names[1:]], "all")
    root, _ = send.send_message(ctx, people["u0"], chat["id"], "vote here", "w-root")
    jobs = [gevent.spawn(reactions.react, ctx, people[n], int(root["id"]), "👍🏽", True) for n in names]
    jobs += [gevent.spawn(send.send_message, ctx, people[n], chat["id"], f"+1 from {n}", f"r-{n}",
                          int(root["id"])) for n in names[:10]]
    gevent.joinall(jobs, raise_error=True)
    doc, seq_no = stored(ctx, root)
    assert sorted(doc["reactions"][0]["user_ids"]) == sorted(people[n]["id"] for n in names)
    assert doc["reply_count"] == 10
    copy = tail_copy(ctx, people["u0"], root)
    assert sorted(copy["reactions"][0]["user_ids"]) == sorted(doc["reactions"][0]["user_ids"])
    assert copy["reply_count"] == 10
    assert ctx.message_writes.in_flight == 0   # nothing is left registered
    # Once the burst is over, the copy's version is the engine's again (or forgotten, then
    # the next change goes as a script): either way one more change lands exactly.
    assert message_store.version_of(copy) in (None, (seq_no, message_store.version_of(copy)[1]))
    reactions.react(ctx, people["u0"], int(root["id"]), "🎉", True)
    doc, _ = stored(ctx, root)
    assert [r["emoji"] for r in doc["reactions"]] == ["👍🏽", "🎉"]


def test_a_reply_deleted_for_everyone_leaves_its_roots_count_once(room, make_context):
    ctx, ann, bob = room["ctx"], room["ann"], room["bob"]
    root, _ = send.send_message(ctx, ann, room["chat_id"], "question", "w-5")
    first, _ = send.send_message(ctx, bob, room["chat_id"], "answer one", "w-6", thread_id=int(root["id"]))
    send.send_message(ctx, ann, room["chat_id"], "answer two", "w-7", thread_id=int(root["id"]))
    ctx.publisher.clear()
    deletion.delete_message(ctx, bob, int(first["id"]), "everyone")
    assert [e["root"]["reply_count"] for _, e in ctx.publisher.events("thread")] == [1]
    deletion.delete_message(ctx, bob, int(first["id"]), "everyone")   # again: nothing changes
    other = another_life(make_context, ctx)
    deletion.delete_message(other, bob, int(first["id"]), "everyone")   # nor from elsewhere
    doc, _ = stored(ctx, root)
    assert doc["reply_count"] == 1
    assert tail_copy(ctx, ann, root)["reply_count"] == 1
