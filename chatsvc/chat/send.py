"""The send path: validate, check membership, id, group commit, ack, fan-out.

``send_message`` is the use case; :class:`MessageSender` (one per process, built with the
context) stores messages. Each send is one submission to the process's bulk writer
(chatsvc.store.bulk), so a batch of sends costs one engine round trip whatever its size:
a ``_bulk`` that writes each message together with a create-if-absent claim of its
idempotency key (so a retry after a restart, which this process cannot remember, still
finds the original). The writer then runs each send's ``on_stored`` hook in submission
(= id) order before any sender wakes up: the hook appends the message to its chat's tail
and publishes it. So every connection sees one chat's messages in id order, and a message
is in history before anybody is told about it (docs/architecture.md, "The send path").
"""
from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import gevent
from gevent.event import AsyncResult

from chatsvc.chat import files as chat_files
from chatsvc.chat import message_writes
from chatsvc.chat.links import has_link
from chatsvc.chat.lookup import find_message, message_for_member
from chatsvc.chat.mentions import mentioned_ids
from chatsvc.chat.message_writes import copy_for_write
from chatsvc.chat.views import message_view
from chatsvc.errors import BadRequest, NotFound, RateLimited, Unavailable
from chatsvc.ids import forget_older, id_millis, id_time
from chatsvc.ratelimit import TokenBucket
from chatsvc.store import messages as message_store

if TYPE_CHECKING:
    from chatsvc.chat.context import ChatContext

SEEN_KEYS = 500_000  # idempotency keys remembered in process (~100 MB at most)
SEEN_KEY_BYTES = 200
# ...and only for this long after their message: a client's retry after a lost ack comes
# within seconds (its reconnect); a later one is answered through the engine's claim, so
# the window costs a rare retry two round trips, never exactly-once (issue 16: memory
# holds flat under a steady send rate instead of growing with the run's length).
SEEN_SECONDS = 30.0
UNDO_ATTEMPTS, UNDO_PAUSE = 4, 0.5   # a failed send's cleanup: ~3 s of retries at most


def send_message(ctx: ChatContext, me: dict, chat_id: str, body: str, client_msg_id: str,
                 thread_id: int | None = None, also_in_chat: bool = False,
                 file_ids: list[str] = ()) -> tuple[dict, bool]:
    """(Message, created): created is False for a retry of an earlier client_msg_id.
    ``body`` arrives trimmed and non-empty (chatsvc.wire.Body); its length limit is the
    deployment's (CHATSVC_MAX_BODY_CHARS). With ``thread_id`` the message is a reply in
    that message's thread (a reply to a reply joins its root's thread); ``also_in_chat``
    shows it in the chat's flow as well. ``file_ids``: the sender's own unattached uploads
    (chat/files.py); with files the body may be empty."""
    check_body(ctx, body, bool(file_ids))
    _check_send_rate(ctx, me)
    state = ctx.teams.get(me["team_id"])
    chat = state.chat_for_member(chat_id, me["id"])
    ctx.teams.tail(state, chat_id)  # loaded first, so the new message joins it
    root = None if thread_id is None else thread_root(ctx, state, chat, me, thread_id)
    try:
        files = chat_files.attachments(ctx, me, list(file_ids))
    except chat_files.AlreadyAttached as exc:   # maybe this very send, retried
        return _retried_with_files(ctx, state, me, client_msg_id, exc)
    mentions = mentioned_ids(body, chat, state.by_username, me["id"])
    doc, created = ctx.sender.send(state, chat, me, body, client_msg_id, root, also_in_chat, mentions,
                                   files)
    if doc["chat_id"] != chat_id:
        raise BadRequest("this client_msg_id was already used in another chat",
                         {"client_msg_id": ["already used in another chat"]})
    return _sender_view(doc, me), created


def _sender_view(doc: dict, me: dict) -> dict:
    """The Message for its sender (file URLs signed for her)."""
    view = message_view(doc, "")
    if doc.get("files"):
        view["files"] = chat_files.files_view(doc, me["id"])
    return view


def _retried_with_files(ctx: ChatContext, state, me: dict, client_msg_id: str,
                        exc: chat_files.AlreadyAttached) -> tuple[dict, bool]:
    """A send whose files are already attached: the same message if this sender sent it
    with this client_msg_id (an idempotent retry), else the 400 it is."""
    doc = find_message(ctx, state, exc.message_id, exc.chat_id)
    if doc is not None and doc["sender_id"] == me["id"] and doc["client_msg_id"] == client_msg_id:
        return _sender_view(doc, me), False
    raise exc.error


def check_body(ctx: ChatContext, body: str, has_files: bool = False):
    """BadRequest naming ``body`` when it is longer than the deployment allows, or empty
    on a message without files."""
    if not body and not has_files:
        raise BadRequest("invalid request", {"body": ["must not be empty or only whitespace"]})
    limit = ctx.config.max_body_chars
    if len(body) > limit:
        raise BadRequest("invalid request", {"body": [f"must be at most {limit} characters"]})


def _check_send_rate(ctx: ChatContext, me: dict):
    """Per sender, whatever the transport or the number of connections she opens."""
    bucket = ctx.send_limits.get(me["id"])
    if bucket is None:
        bucket = ctx.send_limits[me["id"]] = TokenBucket(ctx.config.send_rate, ctx.config.send_burst)
    if not bucket.take():
        error = RateLimited("you are sending messages too fast; slow down")
        error.retry_after = max(1, math.ceil(bucket.retry_after()))
        raise error


def thread_root(ctx: ChatContext, state, chat: dict, me: dict, thread_id: int) -> dict:
    """The root message of the thread a reply to ``thread_id`` joins. NotFound when the
    caller cannot see that message or it was deleted for everyone; BadRequest naming
    ``thread_id`` when it is a message of another of her chats."""
    doc, its_chat = message_for_member(ctx, state, thread_id, me["id"])
    if its_chat["id"] != chat["id"]:
        raise BadRequest("thread_id must be a message of this chat",
                         {"thread_id": ["not a message of this chat"]})
    if doc.get("thread_id") is not None:   # a reply to a reply belongs to its root
        doc, _ = message_for_member(ctx, state, doc["thread_id"], me["id"])
    if doc.get("deleted"):
        raise NotFound("that message was deleted")
    # A root older than the tail stays beside it while its thread is active, so the next
    # reply finds it in memory, its version known (chat/state.py, ROOTS_KEPT).
    return ctx.teams.tail(state, chat["id"]).keep_root(doc)


@dataclass
class Outgoing:
    state: object      # TeamState
    chat: dict
    doc: dict
    key: str
    root: dict | None = None   # the thread root a reply updates
    files: list = ()           # the attached files' entries (chat/files.py)


def seen_keys_within(cache_mb: float) -> int:
    """How many idempotency keys a tenth of the cache budget holds (~200 bytes each)."""
    return max(10_000, min(SEEN_KEYS, int(cache_mb * 2**20 / 10 / SEEN_KEY_BYTES)))


class MessageSender:
    """Stores messages exactly once per (sender, client_msg_id) and publishes them."""

    def __init__(self, ctx: ChatContext):
        self._ctx = ctx
        self._seen: OrderedDict[str, tuple[int, str]] = OrderedDict()  # key -> (id, chat)
        # Issue 16: within CHATSVC_CACHE_MB (a tenth of it); an older retry is answered
        # through the engine's claim instead, so a smaller cache costs speed, not correctness.
        self._seen_limit = seen_keys_within(ctx.config.cache_mb)
        self._inflight: dict[str, AsyncResult] = {}
        # Keys whose _bulk failed in transit: the engine may have stored them even so.
        self._uncertain: set[str] = set()

    def send(self, state, chat: dict, sender: dict, body: str, client_msg_id: str,
             root: dict | None = None, also_in_chat: bool = False,
             mentions: list[str] = (), files: list[dict] = ()) -> tuple[dict, bool]:
        """(stored message doc, created). Blocks until the engine has it. ``root``: the
        thread root this message replies to (its summary is updated in the same bulk)."""
        key = message_store.idempotency_key(sender["id"], client_msg_id)
        earlier = self._earlier(state, key)
        if earlier is not None:
            return earlier, False
        waiting = self._inflight.get(key)
        if waiting is not None:  # the same retry racing itself: share one outcome
            return waiting.get()[0], False
        done = self._inflight[key] = AsyncResult()
        try:
            msg_id = self._ctx.ids.next_id()
            doc = {
                "id": msg_id, "chat_id": chat["id"], "team_id": state.id,
                "sender_id": sender["id"], "body": body,
                "created_at": id_time(msg_id),
                "client_msg_id": client_msg_id, "liked_by": [], "like_count": 0,
                "hidden_for": [], "deleted": False, "has_link": has_link(body),
            }
            if root is not None:
                doc.update(thread_id=root["id"], also_in_chat=bool(also_in_chat))
            if mentions:
                doc["mentions"] = list(mentions)
            doc.update(chat_files.message_fields(list(files)))
            result = self._store(Outgoing(state, chat, doc, key, root, list(files)))
            done.set(result)
            return result
        except BaseException as exc:
            done.set_exception(exc)
            raise
        finally:
            self._inflight.pop(key, None)

    def _earlier(self, state, key: str) -> dict | None:
        seen = self._seen.get(key)
        if seen is None:
            return None
        msg_id, chat_id = seen
        return find_message(self._ctx, state, msg_id, chat_id)

    def _remember(self, key: str, msg_id: int, chat_id: str):
        seen = self._seen
        seen[key] = (msg_id, chat_id)
        if len(seen) > self._seen_limit:
            seen.popitem(last=False)
        forget_older(seen, id_millis(msg_id) - SEEN_SECONDS * 1000, lambda _key, seen_as: seen_as[0])

    def _store(self, it: Outgoing) -> tuple[dict, bool]:
        """One submission to the bulk writer: the idempotency claim and the message (and a
        reply's root summary). A claim that conflicts means an earlier life of this process
        already stored that message: the new copy is deleted again (it was never acked nor
        published) and the sender gets the original."""
        ctx = self._ctx
        if it.root is None:
            return self._store_message(it)
        root_version = ctx.message_writes.begin(it.root)
        applied = []
        try:
            return self._store_message(it, self._root_op(it, root_version), applied)
        finally:
            ctx.message_writes.end(it.root, applied[0] if applied else None)

    def _root_op(self, it: Outgoing, version):
        """The root summary's change: the whole root when its copy is known to match the
        engine and nothing else is writing it (chat/message_writes.py), else a script."""
        engine, doc = self._ctx.engine, it.doc
        if version is None:
            message_writes.SCRIPT.inc()
            return message_store.replied_op(engine, it.root, doc["sender_id"], doc["created_at"])
        message_writes.WHOLE.inc()
        after = copy_for_write(it.root)
        _count_reply(after, doc["sender_id"], doc["created_at"])
        return message_store.replace_op(engine, after, version)

    def _store_message(self, it: Outgoing, root_op=None, root_applied: list | None = None) -> tuple[dict, bool]:
        ctx, engine, doc = self._ctx, self._ctx.engine, it.doc
        ops = [message_store.idempotency_op(engine, it.key, doc["id"], doc["chat_id"], doc["created_at"]),
               message_store.write_op(engine, doc)]
        if root_op is not None:
            ops.append(root_op)
        n_head = len(ops)   # then one attachment claim per file (chat/files.py)
        ops += [chat_files.attach_op(engine, f["id"], doc) for f in it.files]

        def on_stored(results):   # in the writer's greenlet, in id order
            if results[0].ok and results[1].ok and all(r.ok for r in results[n_head:]):
                message_store.remember_version(doc, results[1].seq_no, results[1].primary_term)
                self._publish(it, root_updated=n_head > 2 and results[2].ok)

        try:
            results = ctx.bulk.write(ops, on_stored)
        except Unavailable:
            if len(self._uncertain) > SEEN_KEYS:
                self._uncertain.clear()
            self._uncertain.add(it.key)
            raise
        (claim, write, *root_update), attached = results[:n_head], results[n_head:]
        if claim.ok and write.ok and all(a.ok for a in attached):
            if root_update and root_update[0].conflict:   # the root changed outside its copy
                root_update = [self._count_reply_again(it)]
            if root_update and root_update[0].ok:
                root_applied.append(root_update[0])
            return doc, True
        undo = [message_store.delete_op(engine, doc)] if write.ok else []
        if root_update and root_update[0].ok:   # that reply is not there: nor is its count
            undo.append(message_store.unreplied_op(engine, it.root))
        if not claim.conflict and claim.ok:   # free the key, so the client's retry can store it
            undo.append(message_store.release_idempotency_op(engine, it.key))
        undo += [chat_files.release_op(engine, f["id"]) for f, a in zip(it.files, attached) if a.ok]
        if undo:
            self._undo(undo)
        if claim.ok and any(a.conflict for a in attached):   # another send attached one first
            raise BadRequest("file_ids: a file is already attached to a message",
                             {"file_ids": ["already attached to a message"]})
        if not claim.conflict:
            raise Unavailable("the message could not be stored; retry later")
        claims = message_store.lookup_idempotency(engine, [it.key])
        return self._resolve_retry(it, claims.get(it.key))

    def _undo(self, ops: list):
        """Take back a send's writes that did land when others did not. Retried for a few
        seconds: this runs when the engine is failing (a node died, its shards moving), and
        a copy left behind would be stored a second time by the client's retry."""
        for attempt in range(UNDO_ATTEMPTS):
            try:
                results = self._ctx.bulk.write(ops)
            except Unavailable:
                results = None
            if results is not None:
                ops = [op for op, r in zip(ops, results) if not r.ok]
            if not ops or attempt == UNDO_ATTEMPTS - 1:
                return
            gevent.sleep(UNDO_PAUSE * (attempt + 1))

    def _count_reply_again(self, it: Outgoing):
        """The reply is stored but its root's whole-document summary met a conflict: count
        it with the script instead, then tell the members as _publish would have."""
        doc = it.doc
        message_writes.CONFLICT.inc()
        result = self._ctx.bulk.write([message_store.replied_op(self._ctx.engine, it.root, doc["sender_id"],
                                                                doc["created_at"])])[0]
        if result.ok:
            self._publish_root(it)
        return result

    def _publish(self, it: Outgoing, root_updated: bool = False):
        ctx, doc = self._ctx, it.doc
        self._remember(it.key, doc["id"], doc["chat_id"])
        ctx.teams.remember_message(doc["id"], doc["chat_id"])
        tail = it.state.tails.get(doc["chat_id"])
        if tail is not None:
            tail.append(doc)
        members = it.state.chats[doc["chat_id"]]["member_ids"]
        chat_files.publish_with_message(ctx, members, doc, lambda view: {"type": "message", "message": view})
        if doc.get("files"):
            ctx.file_text.submit(doc)
        if root_updated:
            self._publish_root(it)

    def _publish_root(self, it: Outgoing):
        """Count the reply on the in-memory root and send the root's new summary."""
        doc = it.doc
        tail = it.state.tails.get(doc["chat_id"])
        root = (tail.get(it.root["id"]) if tail is not None else None) or it.root
        _count_reply(root, doc["sender_id"], doc["created_at"])
        chat_files.publish_with_message(self._ctx, it.state.chats[doc["chat_id"]]["member_ids"], root,
                                        lambda view: {"type": "thread", "chat_id": doc["chat_id"], "root": view})

    def _resolve_retry(self, it: Outgoing, claim: dict | None) -> tuple[dict, bool]:
        """The key was used before (another process life): answer with that message."""
        if claim is None:
            raise Unavailable("the message could not be stored; retry later")
        doc = find_message(self._ctx, it.state, claim["message_id"], claim["chat_id"])
        if doc is None:
            # A claim whose message never got stored: release it so the next retry works.
            self._ctx.bulk.write([message_store.release_idempotency_op(self._ctx.engine, it.key)])
            raise Unavailable("the earlier attempt of this message was lost; retry")
        if it.key in self._uncertain:
            # Stored although its sender was told "unavailable": nobody was told of it yet.
            self._uncertain.discard(it.key)
            self._publish(Outgoing(it.state, it.chat, doc, it.key))
        self._remember(it.key, doc["id"], doc["chat_id"])
        return doc, False


def _count_reply(root: dict, user_id: str, at: str):
    """The root summary change of store.messages.replied_op, on the in-memory copy."""
    root["reply_count"] = root.get("reply_count", 0) + 1
    root["last_reply_at"] = at
    users = [u for u in root.get("reply_user_ids", ()) if u != user_id] + [user_id]
    root["reply_user_ids"] = users[-message_store.REPLY_USERS:]
