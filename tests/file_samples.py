"""Small files of every kind the file tests need, generated in the tests (no binary
fixtures in the repository): images with EXIF, animated GIFs, PDF, office documents, and
bombs for the image decoder and the text extractor."""
import io
import zipfile
import zlib

from PIL import Image


def png(width=64, height=40, color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


def jpeg_rotated(width=60, height=30) -> bytes:
    """A JPEG stored ``width`` x ``height`` whose EXIF says 'rotate 90° clockwise' (so it
    shows as height x width), with a GPS position and a comment that must not survive."""
    img = Image.new("RGB", (width, height), (10, 120, 200))
    exif = img.getexif()
    exif[0x0112] = 6                     # orientation: rotate 90 CW to display
    exif[0x010E] = "secret description"  # ImageDescription
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 0.0)}   # GPS IFD: latitude
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif.tobytes(), comment=b"secret comment")
    return out.getvalue()


def animated_gif(frames=3, side=20) -> bytes:
    images = [Image.new("RGB", (side, side), (i * 80, 255 - i * 80, 0)) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)
    return out.getvalue()


def png_bomb(side=20_000) -> bytes:
    """A small PNG whose header claims side x side pixels (400 MP), all one colour."""
    out = io.BytesIO()
    Image.new("1", (side, side)).save(out, "PNG")
    return out.getvalue()


def pdf(text: str) -> bytes:
    """A one-page PDF showing ``text`` (ASCII), written by hand: objects, xref, trailer."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    return _pdf_with_stream(stream, b"")


def pdf_bomb(inflated_mib=1024) -> bytes:
    """A PDF whose page content is a Flate stream of ``inflated_mib`` MiB of spaces."""
    z = zlib.compressobj(9)
    chunk = b" " * (1 << 20)
    packed = b"".join(z.compress(chunk) for _ in range(inflated_mib)) + z.flush()
    return _pdf_with_stream(packed, b" /Filter /FlateDecode")


def _pdf_with_stream(stream: bytes, filters: bytes) -> bytes:
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + filters + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def docx(text: str) -> bytes:
    import docx as python_docx
    document = python_docx.Document()
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def xlsx(text: str) -> bytes:
    import openpyxl
    book = openpyxl.Workbook()
    book.active["A1"] = text
    book.active["B2"] = 42
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def pptx(text: str) -> bytes:
    import pptx as python_pptx
    deck = python_pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = text
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def docx_bomb(inflated_mib=300) -> bytes:
    """A .docx (a zip with word/document.xml) one of whose parts inflates to
    ``inflated_mib`` MiB of zeros."""
    out = io.BytesIO()
    good = docx("harmless")
    with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item.filename))
        with dst.open("word/media/zeros.bin", "w", force_zip64=True) as f:
            block = b"\0" * (1 << 20)
            for _ in range(inflated_mib):
                f.write(block)
    return out.getvalue()
