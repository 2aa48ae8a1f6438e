"""One extractor per format. Each returns text and stops once it has ``max_chars``.

Office documents are zip files: their declared uncompressed sizes are checked first
(``check_zip``), so a zip bomb is refused before anything is inflated; a PDF whose streams
inflate without end is stopped by the child's memory and time limits (runner.py).
"""
import zipfile

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
PDF = "application/pdf"
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript",
              "application/x-yaml")
ZIP_MAX_INFLATED = 200 << 20   # an office file's parts may inflate to this much in all
ZIP_MAX_RATIO = 200            # ...and to at most this many times their compressed size


class BudgetExceeded(Exception):
    """The file would need more than its budget to read (a bomb, or simply too big)."""


def extractable(content_type: str) -> bool:
    return content_type in (DOCX, XLSX, PPTX, PDF) or content_type.startswith(TEXT_TYPES)


def check_zip(path: str):
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
    inflated = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos) or 1
    if inflated > ZIP_MAX_INFLATED or inflated / packed > ZIP_MAX_RATIO:
        raise BudgetExceeded(f"the archive inflates to {inflated:,} bytes "
                             f"({inflated / packed:.0f}x its size)")


class _Text:
    """Collects pieces until ``max_chars``; ``full`` says to stop reading."""

    def __init__(self, max_chars: int):
        self.parts, self.size, self.max_chars = [], 0, max_chars

    def add(self, piece: str | None):
        if piece and not self.full:
            piece = piece[: self.max_chars - self.size]
            self.parts.append(piece)
            self.size += len(piece)

    @property
    def full(self) -> bool:
        return self.size >= self.max_chars

    def text(self) -> str:
        return "\n".join(self.parts)


def pdf_text(path: str, out: _Text):
    from pypdf import PdfReader  # noqa: PLC0415 - each format loads only its library
    from pypdf.errors import LimitReachedError  # noqa: PLC0415
    try:
        for page in PdfReader(path).pages:
            out.add(page.extract_text())
            if out.full:
                return
    except LimitReachedError as exc:   # pypdf's own decompression limits: a PDF bomb
        raise BudgetExceeded(str(exc)) from None


def docx_text(path: str, out: _Text):
    import docx  # noqa: PLC0415
    check_zip(path)
    document = docx.Document(path)
    for para in document.paragraphs:
        out.add(para.text)
    for table in document.tables:
        for row in table.rows:
            out.add(" ".join(cell.text for cell in row.cells))
            if out.full:
                return


def xlsx_text(path: str, out: _Text):
    import openpyxl  # noqa: PLC0415
    check_zip(path)
    handle = open(path, "rb")   # a file object: openpyxl would refuse a path without .xlsx
    book = openpyxl.load_workbook(handle, read_only=True, data_only=True)
    try:
        for sheet in book.worksheets:
            out.add(sheet.title)
            for row in sheet.iter_rows(values_only=True):
                out.add(" ".join(str(v) for v in row if v is not None))
                if out.full:
                    return
    finally:
        book.close()
        handle.close()


def pptx_text(path: str, out: _Text):
    import pptx  # noqa: PLC0415
    check_zip(path)
    for slide in pptx.Presentation(path).slides:
        for shape in slide.shapes:
            if shape.has_text_frame:
                out.add(shape.text_frame.text)
        if out.full:
            return


def plain_text(path: str, out: _Text):
    with open(path, "rb") as f:
        raw = f.read(out.max_chars * 4)
    out.add(raw.decode("utf-8", errors="replace"))


def extract(path: str, content_type: str, max_chars: int) -> str:
    out = _Text(max_chars)
    reader = {PDF: pdf_text, DOCX: docx_text, XLSX: xlsx_text, PPTX: pptx_text}.get(content_type)
    (reader or plain_text)(path, out)
    return out.text()
