"""What an uploaded file really is, and a name that is safe to show and to send back.

The type is read from the content (``filetype``: magic numbers), never trusted from the
client: a name or declared type that promises a format with a signature (an image, a PDF,
an office document, an archive) which the bytes do not carry is refused, so ``cat.png``
holding HTML can never be served as an image. Text is recognised as UTF-8 without NULs and
typed by its extension (so source files keep a useful type); everything else is
``application/octet-stream``.
"""
import mimetypes
import os
import re
import unicodedata

import filetype

SNIFF_BYTES = 8192
# Formats the server shows inline (Pillow reads them; browsers render them as images).
RASTER_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
# Types whose content is recognisable by a signature: a claim of one must match the bytes.
_SIGNED_PREFIXES = ("image/", "application/pdf", "application/zip", "application/vnd.openxmlformats",
                    "application/vnd.oasis", "application/msword", "application/vnd.ms-",
                    "audio/", "video/", "application/gzip", "application/x-7z", "application/x-rar")
_TEXTUAL_IMAGES = {"image/svg+xml"}   # SVG is text: no signature to check
_MAX_NAME = 200
_UNSAFE = re.compile(r'[\x00-\x1f\x7f"\\/:*?<>|]')

mimetypes.add_type("text/markdown", ".md")
mimetypes.add_type("text/x-python", ".py")
mimetypes.add_type("text/x-go", ".go")
mimetypes.add_type("text/x-rust", ".rs")
mimetypes.add_type("text/x-typescript", ".ts")
mimetypes.add_type("application/x-yaml", ".yaml")
mimetypes.add_type("application/x-yaml", ".yml")
mimetypes.add_type("text/x-toml", ".toml")


class ContentMismatch(ValueError):
    """The bytes contradict the name or the declared type."""


def safe_name(raw: str | None) -> str:
    """The last path component of ``raw``, without control characters, quotes, slashes or
    leading dots (no ``../``, no hidden files), NFC-normalised, at most 200 characters,
    keeping the extension; ``file`` when nothing is left."""
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[\\/]", name)[-1]
    name = _UNSAFE.sub("_", name).strip().lstrip(".").strip()
    if len(name) > _MAX_NAME:
        stem, ext = os.path.splitext(name)
        ext = ext[:20]
        name = stem[:_MAX_NAME - len(ext)] + ext
    return name or "file"


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        return exc.start > len(head) - 4   # a multi-byte character cut by the sniff window


def _signed(content_type: str | None) -> bool:
    return bool(content_type) and content_type not in _TEXTUAL_IMAGES \
        and content_type.startswith(_SIGNED_PREFIXES)


def detect(head: bytes, name: str, declared: str | None) -> str:
    """The content type of a file whose first bytes are ``head``. Raises ContentMismatch
    when ``name``'s extension or the ``declared`` type promises a signed format that the
    bytes are not (or another signed format than the bytes are)."""
    by_name = mimetypes.guess_type(name)[0]
    declared = (declared or "").split(";")[0].strip().lower() or None
    if declared == "application/octet-stream":
        declared = None
    kind = filetype.guess(head)
    actual = kind.mime if kind is not None else None
    for claim, what in ((by_name, "its name"), (declared, "its declared type")):
        if _signed(claim) and actual != claim and not _compatible(claim, actual):
            raise ContentMismatch(f"the content is not {claim}, as {what} says")
    if by_name and _compatible(by_name, actual):
        return by_name
    if actual is not None:
        return actual
    if _is_text(head):
        if by_name and (by_name.startswith("text/") or by_name in _TEXTUAL_IMAGES
                        or by_name.endswith(("json", "xml", "javascript", "yaml"))):
            return by_name
        return "text/plain"
    return "application/octet-stream"


def _compatible(claim: str, actual: str | None) -> bool:
    """Office documents are zip files: a .docx whose zip signature is all we can see."""
    return actual == "application/zip" and claim.startswith("application/vnd.openxmlformats")


def is_raster(content_type: str) -> bool:
    return content_type in RASTER_TYPES
