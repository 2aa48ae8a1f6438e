"""Finding one message by id, for the caller's team and chats."""
from chatsvc.chat.state import TeamState
from chatsvc.errors import NotFound
from chatsvc.store import messages as message_store


def find_message(ctx, state: TeamState, message_id: int, chat_id: str | None = None) -> dict | None:
    """The stored document of a message of this team, or None.

    Recent messages come from the chat tails (always current); older ones from the
    engine by a realtime GET. The chat (the document's routing) comes from the caller,
    what the process has in memory (TeamStates.chat_of), or as a last resort a search by
    id, which is fine for messages older than a refresh interval.
    """
    chat_id = chat_id or ctx.teams.chat_of(state, message_id)
    if chat_id is not None:
        tail = state.tails.get(chat_id)
        held = tail.get(message_id) if tail is not None else None
        if held is not None:
            return held
        doc = message_store.get_many(ctx.engine, [(message_id, chat_id)]).get(message_id)
    else:
        doc = message_store.find_by_id(ctx.engine, message_id)
    if doc is None or doc.get("team_id") != state.id:
        return None
    return doc


def message_for_member(ctx, state: TeamState, message_id: int, user_id: str) -> tuple[dict, dict]:
    """(message doc, chat) when the user is a current member of the message's chat and has
    not hidden it; NotFound otherwise, whatever the reason."""
    doc = find_message(ctx, state, message_id)
    if doc is None or user_id in doc.get("hidden_for", ()):
        raise NotFound("no such message")
    chat = state.chat_for_member(doc["chat_id"], user_id)
    # Prefer the tail's copy, which later changes are applied to. Loaded here if need be: a
    # change made to a copy outside the tail (a like is not refreshed) would be lost when
    # the tail loads later from a search that predates it.
    tail = ctx.teams.tail(state, chat["id"])
    return tail.get(message_id) or doc, chat
