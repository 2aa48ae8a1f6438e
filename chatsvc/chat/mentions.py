"""@mentions: which members of a chat a message body calls by name (parsed once, on send
and on edit; clients only render what the server found).

- ``@username`` of a current member of the chat, in any case. A name ends where username
  characters end; trailing ``.`` and ``-`` (sentence punctuation) are dropped when the
  longer form is nobody's name (``@bob.`` mentions bob).
- ``@all`` in a group chat mentions every member but the sender (in a direct chat it is
  plain text).
- Not a mention: an e-mail address or anything else glued to a word before the ``@``
  (``ann@example.com``), text in code (``inline`` or fenced blocks), a former member, a
  user of another team, the sender herself (as in Slack, naming oneself notifies nobody).
"""
import re

MENTION_RE = re.compile(r"(?<![A-Za-z0-9_.+@-])@([A-Za-z0-9_.-]{1,32})")
FENCED_RE = re.compile(r"```.*?(?:```|$)", re.DOTALL)
INLINE_CODE_RE = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.DOTALL)
ALL = "all"


def _without_code(body: str) -> str:
    return INLINE_CODE_RE.sub(" ", FENCED_RE.sub(" ", body))


def mentioned_ids(body: str, chat: dict, users_by_name: dict[str, str], sender_id: str) -> list[str]:
    """The user ids ``body`` mentions, in the order first named, each once.
    ``users_by_name`` maps casefolded usernames of the team to user ids."""
    if "@" not in body:   # most messages: no scan at all on the send path
        return []
    members = set(chat["member_ids"])
    found: list[str] = []

    def add(uid):
        if uid in members and uid != sender_id and uid not in found:
            found.append(uid)

    for match in MENTION_RE.finditer(_without_code(body)):
        name = match.group(1).casefold()
        while name and name not in users_by_name and name[-1] in ".-":
            name = name[:-1]
        if name == ALL and chat.get("kind") == "group" and ALL not in users_by_name:
            for uid in chat["member_ids"]:
                add(uid)
        elif name in users_by_name:
            add(users_by_name[name])
    return found
