"""Slack's workspace export format: reading and checking the zip (no chatsvc rules here;
those are in chatsvc.chat.slack_import)."""
from chatsvc.slackexport.archive import ArchiveError, Conversation, SlackArchive, parse_ts

__all__ = ["ArchiveError", "Conversation", "SlackArchive", "parse_ts"]
