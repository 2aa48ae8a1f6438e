"""Text extraction per format, in its child process, and its budgets (zip and PDF bombs,
time). Pure logic with the real libraries: no engine needed."""
import pytest

from chatsvc.extract_text import extractable, formats, runner
from tests import file_samples as samples

BUDGETS = {"seconds": 20, "max_chars": 10_000, "memory_mb": 512}


def _run(tmp_path, data: bytes, content_type: str, **budgets) -> runner.Extracted:
    path = tmp_path / "input"
    path.write_bytes(data)
    return runner.run(str(path), content_type, **{**BUDGETS, **budgets})


@pytest.mark.parametrize("make, content_type", [
    (samples.pdf, formats.PDF), (samples.docx, formats.DOCX), (samples.xlsx, formats.XLSX),
    (samples.pptx, formats.PPTX), (lambda t: t.encode(), "text/plain"),
    (lambda t: f"def main():\n    return '{t}'\n".encode(), "text/x-python"),
])
def test_each_format_gives_its_words(tmp_path, make, content_type):
    got = _run(tmp_path, make("quarterly zanzibar forecast"), content_type)
    assert got.status == runner.OK
    assert "zanzibar" in got.text


def test_size_budget_cuts_the_text(tmp_path):
    got = _run(tmp_path, ("word " * 10_000).encode(), "text/plain", max_chars=1000)
    assert got.status == runner.OK and len(got.text) == 1000


def test_zip_bomb_is_refused_without_inflating(tmp_path):
    got = _run(tmp_path, samples.docx_bomb(300), formats.DOCX)
    assert got == runner.Extracted("", runner.BUDGET)


def test_pdf_bomb_hits_the_budget(tmp_path):
    got = _run(tmp_path, samples.pdf_bomb(1024), formats.PDF, seconds=10, memory_mb=256)
    assert got.text == "" and got.status == runner.BUDGET


def test_time_budget_kills_a_slow_extraction(tmp_path):
    got = _run(tmp_path, samples.pdf("slow"), formats.PDF, seconds=0.01)
    assert got == runner.Extracted("", runner.BUDGET)


def test_broken_file_gives_no_text_not_a_crash(tmp_path):
    got = _run(tmp_path, b"%PDF-1.4 this is not really a pdf", formats.PDF)
    assert got.text == "" and got.status in (runner.FAILED, runner.OK)


def test_what_is_extractable():
    assert extractable(formats.PDF) and extractable("text/markdown") and extractable(formats.XLSX)
    assert not extractable("image/png") and not extractable("application/zip")
