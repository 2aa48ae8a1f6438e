"""Changes to stored messages: the cheap whole-document write when it is safe, a script otherwise.

A change (a reaction, a like, a thread root's reply summary) can reach the engine two ways:

- as a *script* (store.messages.reaction_op, ...): relative to whatever is stored, so it is
  right in any order, but the engine reads, parses and re-indexes the old document, which
  costs it several times an index (docs/benchmarks.md);
- as the *whole document* (store.messages.replace_op): the in-memory copy with the change
  applied, conditioned on the engine version that copy is known to match, so it can never
  overwrite a change the copy lacks (that answers a 409 conflict instead).

A copy is known to match the engine when it was read with its version, or when every
write this process made to it has ended and been applied to it. So every writer of a
message here registers with :class:`MessageWrites` (``begin``/``end``), and the whole
document is used only when no other write of it is under way: under contention (twenty
people reacting at once) changes go as scripts and stay exact.
"""
from __future__ import annotations

from typing import Callable

from chatsvc.metrics import MESSAGE_CHANGES
from chatsvc.store import messages as message_store
from chatsvc.store.bulk import OpResult

# Bound once: a change costs one counter increment (docs/benchmarks.md reads them).
WHOLE, SCRIPT, CONFLICT = (MESSAGE_CHANGES.labels(how) for how in ("whole", "script", "conflict"))


class MessageWrites:
    """The process's writes in flight per message id (bounded: an id leaves when its last
    write ends), and the rule of which kind of write a new change may use."""

    def __init__(self):
        self._in_flight: dict[int, int] = {}

    def begin(self, doc: dict) -> tuple[int, int] | None:
        """Register a write of ``doc``. Returns the version a whole-document write may be
        conditioned on, or None when the change must go as a script (another write of it
        is under way, or the copy's version is unknown)."""
        others = self._in_flight.get(doc["id"], 0)
        self._in_flight[doc["id"]] = others + 1
        return message_store.version_of(doc) if others == 0 else None

    def end(self, doc: dict, applied: OpResult | None):
        """Deregister a write of ``doc``. ``applied``: its engine result when it was stored
        *and* applied to the copy; None when it failed, its outcome is unknown, or the copy
        was not changed alike. The copy keeps a version only when this was its last write
        under way and it was applied; otherwise the version is forgotten (the next change
        goes as a script, which is always right)."""
        left = self._in_flight.pop(doc["id"], 1) - 1
        if left > 0:
            self._in_flight[doc["id"]] = left
            message_store.forget_version(doc)
        elif applied is not None and applied.ok:
            message_store.remember_version(doc, applied.seq_no, applied.primary_term)
        else:
            message_store.forget_version(doc)

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)


def copy_for_write(doc: dict) -> dict:
    """A copy of ``doc`` that a change may edit without touching the in-memory one (the
    lists a change edits are copied, the rest is shared)."""
    out = dict(doc)
    for key in ("liked_by", "reply_user_ids", "hidden_for"):
        if key in out:
            out[key] = list(out[key])
    if out.get("reactions"):
        out["reactions"] = [{"emoji": r["emoji"], "user_ids": list(r["user_ids"])} for r in out["reactions"]]
    return out


def store_change(ctx, doc: dict, change: Callable[[dict], None], script) -> OpResult:
    """Store one change of a message and apply it to the in-memory copy ``doc``: the whole
    document when that is safe, else (or after a conflict) ``script`` (a bulk Op making the
    same change relative to what is stored). Raises like OpResult.raise_for_failure."""
    writes = ctx.message_writes
    version = writes.begin(doc)
    applied = None
    try:
        result = None
        if version is not None:
            after = copy_for_write(doc)
            change(after)
            WHOLE.inc()
            result = ctx.bulk.write([message_store.replace_op(ctx.engine, after, version)])[0]
        if result is None or result.conflict:   # changed outside this copy: the relative way
            (SCRIPT if result is None else CONFLICT).inc()
            result = ctx.bulk.write([script])[0]
        result.raise_for_failure()
        change(doc)
        applied = result
        return result
    finally:
        writes.end(doc, applied)
