"""The one narrow interface between business logic and the connection layer.

chat/ decides *who* gets an event and *what* it says; the gateway only delivers. The
gateway implements :class:`Publisher`; tests may use any object with these methods.
"""
from typing import Iterable, Protocol


class Publisher(Protocol):
    def publish(self, user_ids: Iterable[str], event: dict) -> None:
        """Deliver ``event`` to every open connection of each user (non-blocking)."""

    def disconnect_token(self, token_hash: str) -> None:
        """Close every connection authenticated with this token (it was revoked)."""

    def presence_of(self, user_id: str) -> tuple[str, str | None]:
        """("online"|"offline", last_seen or None) as the connection layer knows it."""


class NullPublisher:
    """For scripts that use chat/ without a gateway (export, demo data)."""

    def publish(self, user_ids, event):
        pass

    def disconnect_token(self, token_hash):
        pass

    def presence_of(self, user_id):
        return "offline", None
