"""A member's own settings of a chat: mute, and which messages notify her."""
from chatsvc.chat.context import ChatContext
from chatsvc.chat.chats import viewed_chat
from chatsvc.chat.views import settings_view
from chatsvc.ids import now_iso
from chatsvc.store import chats as chat_store


def update_settings(ctx: ChatContext, me: dict, chat_id: str, muted: bool | None = None,
                    notify: str | None = None) -> dict:
    """The Chat with the caller's new settings (what is not given stays). Stored in the
    engine (one write), so they follow her to every device; her other devices get ``chat``.
    ``notify`` is one of views.NOTIFY (the API's schema checks it)."""
    state = ctx.teams.get(me["team_id"])
    chat = state.chat_for_member(chat_id, me["id"])
    current = settings_view(state, chat, me["id"])
    wanted = {"muted": current["muted"] if muted is None else bool(muted),
              "notify": current["notify"] if notify is None else notify}
    if wanted != current or chat_id not in state.settings or me["id"] not in state.settings[chat_id]:
        op = chat_store.settings_op(ctx.engine, state.id, chat_id, me["id"], wanted["muted"],
                                    wanted["notify"], now_iso())
        ctx.bulk.write([op])[0].raise_for_failure()
        state.settings.setdefault(chat_id, {})[me["id"]] = wanted
    view = viewed_chat(ctx, state, chat, me["id"])
    ctx.publisher.publish([me["id"]], {"type": "chat", "chat": view})
    return view
