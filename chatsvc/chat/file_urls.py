"""Signed, short-lived, caller-specific URLs of files and avatars.

A file URL names the file, the variant (content or thumbnail), the viewer it was made
for and when it expires, with an HMAC of all four under a key derived from the server
secret: ``/api/files/<id>/<variant>?u=<viewer>&e=<unix expiry>&s=<signature>``. So an
``<img src>`` works with a plain GET, a URL shared outside stops working when it expires,
and altering any part breaks the signature (403). The URL grants nothing by itself: the
download still checks that this viewer may see the file now (chat/files.py).

Expiries are rounded up to a quarter of the lifetime, so one viewer's URLs stay the same
for a while and browsers can cache the images they point at.

The key is process configuration (``configure``, called when the context is built), not
state: every process of a deployment derives the same key from the same secret.
"""
import hashlib
import hmac
import math
import time
from urllib.parse import quote

VARIANTS = ("content", "thumbnail")
_settings = {"key": hashlib.sha256(b"unconfigured").digest(), "ttl": 3600.0, "avatar_bucket": 86400.0}


def configure(secret: str, ttl: float, avatar_bucket: float = 86400.0):
    _settings["key"] = hmac.new(secret.encode(), b"chatsvc file urls v1", hashlib.sha256).digest()
    _settings["ttl"] = float(ttl)
    _settings["avatar_bucket"] = float(avatar_bucket)


def _same(want: str, given: str | None) -> bool:
    # Bytes, not str: compare_digest refuses non-ASCII strings (TypeError, a 500).
    return hmac.compare_digest(want.encode(), (given or "").encode("utf-8", "surrogatepass"))


def _sign(*parts: str) -> str:
    message = "\n".join(parts).encode()
    return hmac.new(_settings["key"], message, hashlib.sha256).hexdigest()[:40]


def expiry(now: float | None = None) -> int:
    ttl = _settings["ttl"]
    step = max(ttl / 4, 1)
    return int(math.ceil(((now or time.time()) + ttl) / step) * step)


def file_url(file_id: str, variant: str, viewer_id: str, now: float | None = None) -> str:
    expires = expiry(now)
    sig = _sign("file", file_id, variant, viewer_id, str(expires))
    return f"/api/files/{file_id}/{variant}?u={quote(viewer_id)}&e={expires}&s={sig}"


def check_file_url(file_id: str, variant: str, viewer_id: str, expires: str, sig: str,
                   now: float | None = None) -> str | None:
    """None when the URL is genuine and current; else why not: 'altered' or 'expired'."""
    want = _sign("file", file_id, variant, viewer_id, expires)
    if not _same(want, sig):
        return "altered"
    if not expires.isdigit() or int(expires) < (now or time.time()):
        return "expired"
    return None


def avatar_expiry(now: float | None = None) -> int:
    """The end of the bucket after the current one: every link made during one bucket is
    the same URL (browsers cache it), and it stays valid for at least one more bucket."""
    bucket = _settings["avatar_bucket"]
    return int((math.floor((now or time.time()) / bucket) + 2) * bucket)


def avatar_url(team_id: str, user_id: str, sha256: str, now: float | None = None) -> str:
    """An avatar is seen by the whole team: its URL is signed for the team, with an expiry
    that rotates per bucket (avatar_expiry); it also changes whenever the picture does."""
    expires = avatar_expiry(now)
    sig = _sign("avatar", team_id, user_id, sha256, str(expires))
    return f"/api/avatars/{team_id}/{user_id}/{sha256}?e={expires}&s={sig}"


def check_avatar_url(team_id: str, user_id: str, sha256: str, expires: str, sig: str,
                     now: float | None = None) -> str | None:
    """None when genuine and current; else 'altered' or 'expired' (as check_file_url)."""
    if not _same(_sign("avatar", team_id, user_id, sha256, expires), sig):
        return "altered"
    if not expires.isdigit() or int(expires) < (now or time.time()):
        return "expired"
    return None
