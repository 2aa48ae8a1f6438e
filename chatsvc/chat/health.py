"""Whether this process can serve: the engine answers and the indices exist."""
from chatsvc.chat.context import ChatContext
from chatsvc.store.indices import is_ready


def readiness(ctx: ChatContext) -> tuple[bool, str]:
    """(ready, reason) for /readyz."""
    return is_ready(ctx.engine)
