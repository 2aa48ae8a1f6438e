"""Whether a message body holds a link (has:link in search).

Computed when a message is written (send, edit, Slack import) and kept in the message's
``has_link``. The same rule, written in Painless, fills it in for messages stored before the
field existed (store/reindex.py ``LINK_SCRIPT``): keep the two alike.
"""
import re

LINK_RE = re.compile(r"https?://|www\.", re.IGNORECASE)


def has_link(body: str) -> bool:
    """True when ``body`` holds ``http://``, ``https://`` or ``www.`` (any case)."""
    return bool(body) and LINK_RE.search(body) is not None
