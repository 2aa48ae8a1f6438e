"""The engine's ``_bulk`` behind group commit: the process's one batching mechanism.

:class:`BulkWriter` takes lists of :class:`Op` from many greenlets and sends them in as
few ``_bulk`` requests as possible (see chatsvc.batching), one request at a time, in
submission order. Nothing is refreshed: durability comes from the engine's translog,
read-your-writes from the caches in chat/.

A submission may carry an ``on_stored`` hook. The writer calls every hook of a request
right after the engine answered, in submission order, before any submitter wakes up: the
send path uses it to publish messages in id order (docs/architecture.md, "The send path").
"""
import logging
from dataclasses import dataclass
from typing import Callable

from chatsvc import jsonfast
from chatsvc.batching import GroupCommit
from chatsvc.errors import Unavailable
from chatsvc.store.engine import Engine

log = logging.getLogger(__name__)


@dataclass
class Op:
    """One bulk action: ``action`` is index, create, update or delete."""
    action: str
    index: str
    id: str
    source: dict | None = None
    routing: str | None = None
    # Optimistic concurrency: the write applies only to the document at this version
    # (otherwise its result is a 409 conflict).
    if_seq_no: int | None = None
    if_primary_term: int | None = None

    def lines(self) -> list:
        meta = {"_index": self.index, "_id": self.id}
        if self.routing is not None:
            meta["routing"] = self.routing
        if self.if_seq_no is not None:
            meta["if_seq_no"] = self.if_seq_no
            meta["if_primary_term"] = self.if_primary_term
        if self.action == "update":
            meta["retry_on_conflict"] = 5
        return [{self.action: meta}] if self.action == "delete" else [{self.action: meta}, self.source]


@dataclass
class OpResult:
    status: int
    error: dict | None = None
    result: str | None = None
    seq_no: int | None = None        # the document's version after this write
    primary_term: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def conflict(self) -> bool:
        return self.status == 409

    def raise_for_failure(self):
        """Unavailable for the engine's transient refusals, RuntimeError for the rest."""
        if self.ok:
            return
        if self.status in (429, 503) or self.status >= 500:
            raise Unavailable("the search engine could not store this; retry later")
        raise RuntimeError(f"engine refused a write: {self.status} {self.error}")


_ITEM_FIELDS = "items.*.status,items.*.error,items.*.result,items.*._seq_no,items.*._primary_term"


@dataclass
class _Submission:
    ops: list[Op]
    on_stored: Callable[[list[OpResult]], None] | None


class BulkWriter:
    def __init__(self, engine: Engine, delay_ms: float = 2.0, max_items: int = 1000):
        self._engine = engine
        self._commit = GroupCommit(self._send, delay_ms, max_items, weight=lambda sub: len(sub.ops))

    def queue_depth(self) -> int:
        """Submissions waiting for the next ``_bulk`` (a gauge of /metrics)."""
        return self._commit.queue_depth()

    @property
    def batches(self) -> int:
        return self._commit.batches

    def write(self, ops: list[Op], on_stored: Callable[[list[OpResult]], None] | None = None) -> list[OpResult]:
        """Store ``ops`` in the next ``_bulk`` and return their results, in order.

        ``on_stored(results)`` runs in the writer's greenlet as soon as the engine answered,
        in submission order, before this call returns; it must not block. Raises
        Unavailable when the engine could not be reached: then none of them is known to be
        stored (and ``on_stored`` is not called).
        """
        return self._commit.submit(_Submission(list(ops), on_stored)) if ops else []

    def _send(self, submissions: list[_Submission]) -> list[list[OpResult]]:
        # Serialised here in one pass, and the answer trimmed to what we read: on a hot path
        # both halves of the JSON work are most of the Python cost of a bulk request.
        body = b"".join(jsonfast.dumpb(line) + b"\n" for sub in submissions for op in sub.ops for line in op.lines())
        response = self._engine.call("bulk", body=body,
                                     params={"filter_path": _ITEM_FIELDS})
        items = iter(response["items"])
        results = []
        for sub in submissions:
            mine = []
            for _ in sub.ops:
                (item,) = next(items).values()
                mine.append(OpResult(item.get("status", 500), item.get("error"), item.get("result"),
                                     item.get("_seq_no"), item.get("_primary_term")))
            results.append(mine)
        for sub, mine in zip(submissions, results):
            if sub.on_stored is not None:
                try:
                    sub.on_stored(mine)
                except Exception:  # one hook's bug must not fail the others' writes
                    log.exception("bulk on_stored hook failed")
        return results
