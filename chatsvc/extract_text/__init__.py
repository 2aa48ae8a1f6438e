"""Text inside files, for search: one well-kept library per format, run in a child process
under a time, memory and size budget (chatsvc.extract_text.runner), never on a request path.

Formats: PDF (pypdf), DOCX (python-docx), XLSX (openpyxl, read-only), PPTX (python-pptx),
and plain text and source files (decoded as UTF-8). ``extractable(content_type)`` says
whether a file is worth a child process.
"""
from chatsvc.extract_text.formats import extractable  # noqa: F401
