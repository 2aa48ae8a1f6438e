"""Moving a team in from Slack: a workspace export becomes a chatsvc team's history.

Two passes over the archive. The first (:func:`check`) reads every file, maps every message
and collects what the second needs (users, chats with members and former members, thread
roots); any problem with the archive stops the import there, before anything is written.
The second (:func:`import_slack`) writes the team, its users, its chats and then every
message through the store's import bulk path with the send path's idempotency claims, so a
second run of the same export adds nothing.

What maps where (:func:`map_message` is the one place a Slack message becomes a chatsvc
message):
- users.json: a user whose username already exists in the team is that account; the others
  are made without a usable password (``unclaimed``) and claim their account once by signing
  up with the team's invite code and their username.
- channels.json / groups.json: group chats titled with the channel's name; dms.json: direct
  chats (a pair's existing direct chat is reused); mpims.json: untitled group chats.
  ``members`` are the members; former members are those with a ``channel_leave`` message, or
  who posted without being in ``members``.
- every message keeps its time: its id is made from its ``ts`` (chatsvc.ids.id_at), so order,
  months and date search are right.
- threads: a reply (``thread_ts`` other than its ``ts``, naming a root of the same
  conversation) is a chatsvc reply: ``thread_id`` is its root's id (made from the root's ts),
  ``also_in_chat`` for ``thread_broadcast``/``reply_broadcast``. The check pass sums each
  root's replies (reply_count, last_reply_at, the latest 5 distinct repliers), written with
  the root document itself. A reply whose root is not in the export stays top-level, marked.
- reactions: Slack names become Unicode emoji (:func:`unicode_emoji`, skin tones included);
  👍 (``+1``/``thumbsup`` without a tone) is the like (``liked_by``), the others are
  ``reactions`` in Slack's order; reactors are the import's known users only. Custom
  workspace emoji stay a ``[reactions: ...]`` line in the body.
- edits: ``edited.ts`` becomes ``edited_at`` (the export holds only the final text, so there
  are no earlier versions).
- files (as links), bot messages and channel events become readable text in the body; joins
  and leaves become membership. Each is counted in the summary, and so is everything
  skipped, with its reason.
Messages bypass the senders' rate limits (nobody is typing them) but not the store's rules.

The package: ``mapping`` (one message), ``plan`` (pass 1), ``write`` (pass 2).
"""
from chatsvc.chat.slack_import.mapping import map_message, plain_text, unicode_emoji
from chatsvc.chat.slack_import.plan import Plan, check
from chatsvc.chat.slack_import.write import (EXIT_ARCHIVE, EXIT_ENGINE, EXIT_INCOMPLETE, EXIT_OK,
                                             EXIT_TEAM, ImportFailed, Summary, import_slack,
                                             summary_lines)

__all__ = ["map_message", "plain_text", "unicode_emoji", "Plan", "check", "ImportFailed", "Summary",
           "import_slack", "summary_lines", "EXIT_OK", "EXIT_ARCHIVE", "EXIT_TEAM", "EXIT_ENGINE",
           "EXIT_INCOMPLETE"]
