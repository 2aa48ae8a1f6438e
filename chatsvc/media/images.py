"""Images with Pillow: inspection with decompression-bomb limits, thumbnails, avatars.

Every decode runs under a pixel limit: Pillow's own bomb check (``Image.MAX_IMAGE_PIXELS``)
is set per call and its warning turned into an error, so a small file that claims a huge
canvas is refused before any pixel is decoded. Thumbnails and avatars are re-encoded from
pixels only (EXIF orientation applied first), so no metadata of the original (GPS
position, camera, comments) survives into them.
"""
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import Image, ImageOps

THUMB_BOX = 480          # longest side of a thumbnail, px
AVATAR_SIDE = 256        # avatars are square


class ImageRefused(ValueError):
    """Not an image Pillow can read safely (too many pixels, or broken)."""


@dataclass(frozen=True)
class ImageInfo:
    width: int       # as displayed (after EXIF orientation)
    height: int
    animated: bool
    format: str      # Pillow's name: PNG, JPEG, GIF, WEBP


@contextmanager
def _limited(max_pixels: int):
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRefused(f"the image has too many pixels (the limit is {max_pixels:,})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, ImageRefused):
            raise
        raise ImageRefused(f"the image cannot be read: {exc}") from None
    finally:
        Image.MAX_IMAGE_PIXELS = old


def _oriented_size(img) -> tuple[int, int]:
    orientation = img.getexif().get(0x0112, 1)
    width, height = img.size
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def inspect(path: str, max_pixels: int) -> ImageInfo:
    """Size as shown, animation and format; ImageRefused for bombs and broken files."""
    with _limited(max_pixels), Image.open(path) as img:
        width, height = _oriented_size(img)
        if width * height > max_pixels:
            raise Image.DecompressionBombError("too many pixels")
        animated = bool(getattr(img, "is_animated", False)) and getattr(img, "n_frames", 1) > 1
        return ImageInfo(width, height, animated, img.format or "")


def _flatten(img):
    """RGB (or RGBA when it has transparency), first frame, EXIF orientation applied."""
    img = ImageOps.exif_transpose(img)
    has_alpha = img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info)
    flat = img.convert("RGBA" if has_alpha else "RGB")
    flat.info = {}   # comments, EXIF, ICC, XMP: none of it is carried into what we write
    return flat


def _save(img, out_path: str) -> str:
    """Save without metadata; PNG when it has transparency, else JPEG. The content type."""
    if img.mode == "RGBA":
        img.save(out_path, "PNG", optimize=True)
        return "image/png"
    img.save(out_path, "JPEG", quality=82, optimize=True)
    return "image/jpeg"


def thumbnail(path: str, out_path: str, max_pixels: int, box: int = THUMB_BOX) -> tuple[str, int, int]:
    """Write a thumbnail at most ``box`` px on its longest side (never enlarged):
    (content type, width, height)."""
    with _limited(max_pixels), Image.open(path) as img:
        img.draft("RGB", (box, box))   # JPEG: decode at a reduced scale, much faster
        flat = _flatten(img)
        flat.thumbnail((box, box), Image.Resampling.LANCZOS)
        return (_save(flat, out_path), *flat.size)


def avatar(path: str, out_path: str, max_pixels: int, side: int = AVATAR_SIDE):
    """A square PNG avatar: the centre square of the image, ``side`` px, no metadata."""
    with _limited(max_pixels), Image.open(path) as img:
        flat = _flatten(img)
        square = ImageOps.fit(flat, (side, side), Image.Resampling.LANCZOS)
        square.save(out_path, "PNG", optimize=True)
