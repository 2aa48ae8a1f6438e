"""Message markdown, rendered the one way every renderer of chatsvc does it.

The workspace (chatsvc/web/static/markdown.js: markdown-it + DOMPurify) and the HTML
export (this module: markdown-it-py, the Python port of markdown-it, + nh3) are configured
alike, so one input renders the same in both (tests/e2e compares them):

- markdown-it's ``zero`` preset with only these rules enabled (RULES): bold, italic,
  strike, inline code, fenced code blocks, block quotes, lists, links, auto-linking
  (linkify), hard line breaks (``breaks``), escapes and entities. No raw HTML (``html``
  off: tags show as text), no images, no headings, no tables.
- Links only to ``http:`` and ``https:`` (``validate_link``): a ``javascript:``, ``data:``
  or any other link stays plain text.
- The result is then sanitised against a fixed allow-list (TAGS, ATTRIBUTES), as a second
  wall should a markdown rule ever emit something unexpected; links get
  ``rel="noopener noreferrer nofollow"``.
"""
import re

import nh3
from markdown_it import MarkdownIt

RULES = ["emphasis", "strikethrough", "backticks", "fence", "blockquote", "list", "link",
         "linkify", "newline", "autolink", "escape", "entity"]
OPTIONS = {"html": False, "linkify": True, "breaks": True, "typographer": False}
TAGS = {"p", "br", "strong", "em", "s", "code", "pre", "blockquote", "ul", "ol", "li", "a"}
ATTRIBUTES = {"a": {"href"}, "ol": {"start"}, "code": {"class"}}
LINK_REL = "noopener noreferrer nofollow"
_SAFE_LINK = re.compile(r"^https?:", re.IGNORECASE)
_LANGUAGE_CLASS = re.compile(r"^language-[A-Za-z0-9_+#-]{1,32}$")


def _validate_link(url: str) -> bool:
    return bool(_SAFE_LINK.match(url.strip()))


def _parser() -> MarkdownIt:
    md = MarkdownIt("zero", OPTIONS)
    md.enable(RULES)
    md.validateLink = _validate_link
    return md


_MD = _parser()


def markdown_html(text: str) -> str:
    """markdown-it's HTML for ``text``, before sanitising (what the parity test compares)."""
    return _MD.render(text)


def _attribute(tag: str, name: str, value: str) -> str | None:
    if name not in ATTRIBUTES.get(tag, ()) and not (tag == "a" and name == "rel"):
        return None   # nh3 allows title and lang on every tag by default; the workspace does not
    if tag == "code" and name == "class":   # only a fence's language-xxx class
        return value if _LANGUAGE_CLASS.match(value) else None
    return value


def to_html(text: str) -> str:
    """``text`` as safe HTML: inert whatever it holds."""
    return nh3.clean(markdown_html(text), tags=TAGS, attributes=ATTRIBUTES,
                     url_schemes={"http", "https"}, link_rel=LINK_REL,
                     attribute_filter=_attribute, strip_comments=True)
