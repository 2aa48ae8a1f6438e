"""The send path: validate, check membership, id, group commit, ack, fan-out.

Each send is an item of a :class:`~chatsvc.batching.GroupCommit`. One batch costs two
engine round trips whatever its size: an ``_mget`` of the idempotency keys that this
process has not seen (a retry may come after a restart) and one ``_bulk`` that writes the
idempotency claims and the messages together. The batch then appends the stored messages
to their chats' tails and publishes them, in id order, before the senders are woken: so
every connection sees one chat's messages in id order, and a message is in history before
anybody is told about it.
"""
from collections import OrderedDict
from dataclasses import dataclass

from gevent.event import AsyncResult

from chatsvc.batching import GroupCommit
from chatsvc.chat.lookup import find_message
from chatsvc.chat.views import message_view
from chatsvc.errors import Unavailable
from chatsvc.ids import id_datetime, format_time
from chatsvc.store import messages as message_store

SEEN_KEYS = 500_000  # idempotency keys remembered in process (~100 MB at most)


@dataclass
class Outgoing:
    state: object      # TeamState
    chat: dict
    doc: dict
    key: str


class MessageSender:
    def __init__(self, ctx):
        self._ctx = ctx
        self._commit = GroupCommit(self._store_batch, ctx.config.bulk_delay_ms,
                                   max(1, ctx.config.bulk_max_items // 2))
        self._seen: OrderedDict[str, tuple[int, str]] = OrderedDict()  # key -> (id, chat)
        self._inflight: dict[str, AsyncResult] = {}

    @property
    def batches(self) -> int:
        return self._commit.batches

    def send(self, state, chat: dict, sender: dict, body: str, client_msg_id: str) -> tuple[dict, bool]:
        """(stored message doc, created). Blocks until the engine has it."""
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
                "created_at": format_time(id_datetime(msg_id)),
                "client_msg_id": client_msg_id, "liked_by": [], "like_count": 0,
                "hidden_for": [], "deleted": False,
            }
            result = self._commit.submit(Outgoing(state, chat, doc, key))
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
        self._seen[key] = (msg_id, chat_id)
        if len(self._seen) > SEEN_KEYS:
            self._seen.popitem(last=False)

    # -- the batch, run by the group-commit greenlet -------------------------------------
    def _store_batch(self, items: list[Outgoing]) -> list:
        ctx = self._ctx
        engine = ctx.engine
        known = message_store.lookup_idempotency(engine, [it.key for it in items])
        results: list = [None] * len(items)
        fresh = []
        for i, it in enumerate(items):
            if it.key in known:
                results[i] = ("retry", known[it.key])
            else:
                fresh.append(i)
        ops = []
        for i in fresh:
            doc = items[i].doc
            ops.append(message_store.idempotency_op(engine, items[i].key, doc["id"], doc["chat_id"], doc["created_at"]))
            ops.append(message_store.write_op(engine, doc))
        outcomes = ctx.bulk.write(ops)
        stored, undo = [], []
        for n, i in enumerate(fresh):
            claim, write = outcomes[2 * n], outcomes[2 * n + 1]
            if claim.ok and write.ok:
                stored.append(items[i])
                results[i] = (items[i].doc, True)
            elif claim.conflict:
                # Another process claimed the key between our _mget and _bulk.
                results[i] = ("retry", None)
            else:
                if claim.ok:  # free the key, so the client's retry can store the message
                    undo.append(message_store.release_idempotency_op(engine, items[i].key))
                results[i] = Unavailable("the message could not be stored; retry later")
        if undo:
            ctx.bulk.write(undo)
        for it in stored:  # ids were taken in submission order: publish in that order
            self._publish(it)
        for i, result in enumerate(results):
            if isinstance(result, tuple) and result[0] == "retry":
                results[i] = self._resolve_retry(items[i], result[1])
        return results

    def _publish(self, it: Outgoing):
        ctx = self._ctx
        self._remember(it.key, it.doc["id"], it.doc["chat_id"])
        ctx.teams.remember_message(it.doc["id"], it.doc["chat_id"])
        tail = it.state.tails.get(it.doc["chat_id"])
        if tail is not None:
            tail.append(it.doc)
        members = it.state.chats[it.doc["chat_id"]]["member_ids"]
        ctx.publisher.publish(members, {"type": "message", "message": message_view(it.doc, "")})

    def _resolve_retry(self, it: Outgoing, claim: dict | None):
        """The key was used before (another process life): answer with that message."""
        if claim is None:
            claim = message_store.lookup_idempotency(self._ctx.engine, [it.key]).get(it.key)
        if claim is None:
            return Unavailable("the message could not be stored; retry later")
        doc = find_message(self._ctx, it.state, claim["message_id"], claim["chat_id"])
        if doc is None:
            return Unavailable("the earlier attempt of this message is not readable yet; retry")
        self._remember(it.key, doc["id"], doc["chat_id"])
        return doc, False
