"""The extraction child: ``python -m chatsvc.extract_text <path> <content type> <max chars>
<max MiB>``. Prints the text (UTF-8) on stdout and exits 0; exits 3 when the file is over
its budget (a bomb), 4 when it cannot be read. Its address space is capped, so a file that
inflates without end fails here, not in the server."""
import resource
import sys

from chatsvc.extract_text.formats import BudgetExceeded, extract


def main(argv: list[str]) -> int:
    path, content_type, max_chars, max_mib = argv[1], argv[2], int(argv[3]), int(argv[4])
    limit = max_mib << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        text = extract(path, content_type, max_chars)
    except (BudgetExceeded, MemoryError, RecursionError):
        return 3
    except Exception:  # a broken file of any kind: no text, not a crash of the caller
        return 4
    sys.stdout.buffer.write(text.encode("utf-8", errors="replace"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
