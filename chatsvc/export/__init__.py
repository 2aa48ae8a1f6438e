"""The compliance export: a team's whole history, deletions included, for audit.

``run_export(engine, options)`` is the whole job; ``flask chatsvc export`` (chatsvc/cli.py)
and ``scripts/export`` call it. Parts:
  filters.py   the command's filters, checked and turned into an engine query
  records.py   the export's view of a message: usernames, chat titles, flags, read markers
  writers.py   JSON Lines, CSV and HTML transcript writers (resumable, append-only)
  run.py       snapshot, paging, checkpoints, --resume, manifest, progress
The snapshot itself (point-in-time search) is in chatsvc/store/export.py.

Exit codes (ExportError.exit_code): 0 done; 2 bad filter or option; 3 unknown team;
4 search engine unreachable; 5 output not writable (or not empty without --resume);
6 interrupted (resume with --resume).
"""
from chatsvc.export.errors import ExportError
from chatsvc.export.run import ExportOptions, run_export

__all__ = ["ExportError", "ExportOptions", "run_export"]
