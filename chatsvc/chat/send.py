"""The send path: validate, check membership, id, group commit, ack, fan-out.

Each send is an item of a :class:`~chatsvc.batching.GroupCommit`. One batch costs one
engine round trip whatever its size: a ``_bulk`` that writes each message together with a
create-if-absent claim of its idempotency key (so a retry after a restart, which this
process cannot remember, still finds the original). The batch then appends the stored messages
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
from chatsvc.ids import id_time
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
        # Keys whose _bulk failed in transit: the engine may have stored them even so.
        self._uncertain: set[str] = set()

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
                "created_at": id_time(msg_id),
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
        """One ``_bulk`` for the whole batch: per message, a create-if-absent claim of its
        idempotency key and the message itself. A claim that conflicts means an earlier
        life of this process already stored that message: the new copy is deleted again
        (it was never acked nor published) and the sender gets the original."""
        ctx, engine = self._ctx, self._ctx.engine
        ops = []
        for it in items:
            doc = it.doc
            ops.append(message_store.idempotency_op(engine, it.key, doc["id"], doc["chat_id"], doc["created_at"]))
            ops.append(message_store.write_op(engine, doc))
        try:
            outcomes = ctx.bulk.write_now(ops)
        except Unavailable:
            if len(self._uncertain) > SEEN_KEYS:
                self._uncertain.clear()
            self._uncertain.update(it.key for it in items)
            raise
        results: list = [None] * len(items)
        stored, retries, undo = [], [], []
        for i, it in enumerate(items):
            claim, write = outcomes[2 * i], outcomes[2 * i + 1]
            if claim.ok and write.ok:
                stored.append(it)
                results[i] = (it.doc, True)
                continue
            if write.ok:
                undo.append(message_store.delete_op(engine, it.doc))
            if claim.conflict:
                retries.append(i)
            else:
                if claim.ok:  # free the key, so the client's retry can store the message
                    undo.append(message_store.release_idempotency_op(engine, it.key))
                results[i] = Unavailable("the message could not be stored; retry later")
        for it in stored:  # ids were taken in submission order: publish in that order
            self._publish(it)
        if undo:
            ctx.bulk.write_now(undo)
        if retries:
            claims = message_store.lookup_idempotency(engine, [items[i].key for i in retries])
            for i in retries:
                results[i] = self._resolve_retry(items[i], claims.get(items[i].key))
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
            return Unavailable("the message could not be stored; retry later")
        doc = find_message(self._ctx, it.state, claim["message_id"], claim["chat_id"])
        if doc is None:
            # A claim whose message never got stored: release it so the next retry works.
            self._ctx.bulk.write_now([message_store.release_idempotency_op(self._ctx.engine, it.key)])
            return Unavailable("the earlier attempt of this message was lost; retry")
        if it.key in self._uncertain:
            # Stored although its sender was told "unavailable": nobody was told of it yet.
            self._uncertain.discard(it.key)
            self._publish(Outgoing(it.state, it.chat, doc, it.key))
        self._remember(it.key, doc["id"], doc["chat_id"])
        return doc, False
