"""JSON on the hot paths (frames, bulk bodies, engine answers), through orjson.

orjson is several times faster than the standard library at both ends, and on the send
path JSON is a large part of what each message costs. It writes compact UTF-8 (no
``ensure_ascii`` escapes), which is what every caller here wants.
"""
import orjson

JSONDecodeError = orjson.JSONDecodeError   # a ValueError


def dumps(value) -> str:
    return orjson.dumps(value).decode()


def dumpb(value) -> bytes:
    return orjson.dumps(value)


def loads(text):
    """Parse str or bytes; raises ValueError (JSONDecodeError) on bad JSON."""
    return orjson.loads(text)
