"""Small helpers shared by the Actiance and Global Relay writers: times and escaping."""
import re
from datetime import datetime

# Characters XML 1.0 cannot carry at all (not even as references): C0 controls other
# than tab, LF and CR, lone surrogates, U+FFFE and U+FFFF. Replaced by U+FFFD.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def iso_ms(stamp: str | None) -> int | None:
    """Unix milliseconds of an RFC 3339 stamp (None stays None)."""
    if not stamp:
        return None
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000 + 0.5)


def iso_s(stamp: str | None) -> int | None:
    ms = iso_ms(stamp)
    return None if ms is None else ms // 1000


def xml_text(value) -> str:
    """Element content: & < > escaped, CR kept as &#13; (a parser would turn a raw CR into
    LF), characters XML cannot hold replaced by U+FFFD."""
    text = "" if value is None else str(value)
    if _NOT_XML.search(text):
        text = _NOT_XML.sub("\ufffd", text)
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r", "&#13;"))


def xml_attr(value) -> str:
    return (xml_text(value).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;"))
