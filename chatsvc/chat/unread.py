"""Unread and mention counts that reach below a chat's in-memory tail.

A tail holds only the latest CHATSVC_TAIL_SIZE messages, so when a viewer's read marker is
older than the tail, chat.views counts the tail and this module asks the engine for the
rest: one _msearch for every such chat of a chat list. Read markers are usually in the
tail, so most lists cost nothing here.
"""
from chatsvc.chat.state import TeamState, Tail
from chatsvc.store import messages as message_store


def older_counts(ctx, state: TeamState, viewer_id: str, tails: dict[str, Tail]) -> dict[str, tuple[int, int]]:
    """chat id -> (unread, mentions) among the chat's messages older than its tail and
    newer than the viewer's read marker, for the chats where the tail does not reach the
    marker; chats it does reach are left out (they count as (0, 0))."""
    asks, unrefreshed = [], False
    for chat_id, tail in tails.items():
        read_id = state.reads.get(chat_id, {}).get(viewer_id, 0)
        if not tail.complete and tail.oldest_id is not None and read_id < tail.oldest_id:
            asks.append((chat_id, viewer_id, read_id, tail.oldest_id))
            unrefreshed = unrefreshed or tail.evicted_unrefreshed()
    if unrefreshed:   # a message left a tail before searches see it (as chat.history does)
        message_store.refresh(ctx.engine)
    counts = message_store.counts_below(ctx.engine, asks)
    return {ask[0]: count for ask, count in zip(asks, counts)}
