"""Typing indicators: ephemeral, never stored, at most one event per user and chat every
TYPING_EVERY seconds. Who is typing right now is not worth keeping: a lost indicator costs
nothing, so the throttle's memory is this process's only and bounded."""
import time

from chatsvc.chat.context import ChatContext

TYPING_EVERY = 3.0
MAX_REMEMBERED = 20_000


def typing(ctx: ChatContext, me: dict, chat_id: str) -> None:
    """Tell the chat's other members that the caller is typing (NotFound if she is not a
    member). Throttled: a repeat within TYPING_EVERY seconds does nothing."""
    state = ctx.teams.get(me["team_id"])
    chat = state.chat_for_member(chat_id, me["id"])
    now = time.monotonic()
    key = (me["id"], chat_id)
    seen = ctx.typing_seen
    if now - seen.get(key, float("-inf")) < TYPING_EVERY:
        return
    if len(seen) >= MAX_REMEMBERED:   # forget the ones too old to matter
        for stale in [k for k, t in seen.items() if now - t >= TYPING_EVERY]:
            del seen[stale]
    seen[key] = now
    others = [uid for uid in chat["member_ids"] if uid != me["id"]]
    ctx.publisher.publish(others, {"type": "typing", "chat_id": chat_id, "user_id": me["id"]})
