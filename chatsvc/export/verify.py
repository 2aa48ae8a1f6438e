"""Checking an export folder against its signed manifest (``scripts/export verify DIR``).

What is checked, each difference named:
  - manifest.json is an export's manifest, and manifest.sig is a valid Ed25519 signature of
    its exact bytes by the given public key (``--public-key FILE``), else by the local
    signing key's public half (CHATSVC_EXPORT_KEY) when there is one, else by the key the
    manifest names (which proves the files are as signed, not who signed them: said so);
  - every file the manifest lists is there, with its size, SHA-256, line count and record
    count (messages in a messages file, Conversation messages in Actiance XML, e-mails and
    their messages in a Global Relay zip), and no other file is;
  - the per-chat message counts add up to the total, and the messages files hold that many.

Exit codes: 0 everything agrees; 1 something differs (each difference on its own line);
2 the folder is not an export (no manifest.json, or not an export's) or the key file is
unreadable.
"""
import csv
import hashlib
import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser

from chatsvc.export import signing

EXIT_OK, EXIT_DIFFERS, EXIT_NOT_AN_EXPORT = 0, 1, 2
MESSAGES_FILES = ("messages.jsonl", "messages.csv", "actiance.xml", "globalrelay.zip")
# What each kind of file counts as a record: a byte string that opens each record.
# Actiance XML: one Message element per message, plus one per earlier version of an edited
# one (marked EditedOriginalMsg); HTML: one <div class="msg"> per message.
_MARKERS = {".xml": (b"<Message>", b"<UpdatedType>EditedOriginalMsg</UpdatedType>"),
            ".html": (b'<div class="msg',)}
MESSAGE_COUNT_HEADER = "X-Chatsvc-Message-Count"


def _scan(path: str, markers: tuple[bytes, ...] = ()) -> tuple[str, int, int, list[int]]:
    """(sha256, bytes, lines, occurrences of each marker) in one pass over the file."""
    h = hashlib.sha256()
    size = lines = 0
    hits = [0] * len(markers)
    keep = max((len(m) for m in markers), default=1) - 1
    tail = b""
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
            lines += chunk.count(b"\n")
            if markers:
                # the tail is shorter than any marker: an occurrence across the chunk
                # boundary is counted once, none twice
                joined = tail + chunk
                for i, m in enumerate(markers):
                    hits[i] += joined.count(m)
                tail = joined[-keep:] if keep else b""
                for i, m in enumerate(markers):
                    hits[i] -= tail.count(m)   # (always 0 when every marker is longer than the tail)
    return h.hexdigest(), size, lines, hits


def _csv_records(path: str) -> int:
    with open(path, encoding="utf-8", newline="") as f:
        return max(0, sum(1 for _ in csv.reader(f)) - 1)   # less the header row


def zip_counts(path: str) -> tuple[int, int]:
    """(e-mails in a Global Relay zip, messages they carry, by their count header)."""
    emails = messages = 0
    parser = BytesHeaderParser()
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            if not info.filename.endswith(".eml"):
                continue
            emails += 1
            with z.open(info) as f:
                head = f.read(64 * 1024).split(b"\r\n\r\n", 1)[0]
            messages += int(parser.parsebytes(head).get(MESSAGE_COUNT_HEADER, "0"))
    return emails, messages


def describe(path: str) -> dict:
    """A manifest's entry for one file: name, bytes, sha256, lines, and records (plus
    e-mails for a zip) where the file has records."""
    name = os.path.basename(path)
    ext = os.path.splitext(name)[1]
    markers = _MARKERS.get(ext, ()) if name != "index.html" else ()
    sha, size, lines, hits = _scan(path, markers)
    entry = {"name": name, "bytes": size, "sha256": sha, "lines": lines}
    if ext == ".jsonl":
        entry["records"] = lines
    elif ext == ".csv":
        entry["records"] = _csv_records(path)
    elif hits:
        entry["records"] = hits[0] - sum(hits[1:])
    elif ext == ".zip":
        entry["emails"], entry["records"] = zip_counts(path)
    return entry


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    exit_code: int = EXIT_OK


def verify(folder: str, public_key_file: str | None = None) -> Report:
    report = Report()
    manifest_path = os.path.join(folder, signing.MANIFEST)
    if not os.path.isdir(folder):
        report.problems.append(f"{folder} is not a folder")
        report.exit_code = EXIT_NOT_AN_EXPORT
        return report
    try:
        with open(manifest_path, "rb") as f:
            data = f.read()
        manifest = json.loads(data)
        if not isinstance(manifest, dict) or manifest.get("kind") != "chatsvc compliance export":
            raise ValueError("not an export's manifest")
    except (OSError, ValueError) as exc:
        why = "no manifest.json" if isinstance(exc, OSError) else f"manifest.json: {exc}"
        report.problems.append(f"{folder} is not a chatsvc export ({why})")
        report.exit_code = EXIT_NOT_AN_EXPORT
        return report

    # -- the signature ------------------------------------------------------------------
    try:
        if public_key_file:
            key = signing.load_public_key(public_key_file)
            whose = f"the key in {public_key_file}"
        elif os.path.exists(signing.key_path()):
            key = signing.load_or_create_key().public_key()
            whose = f"this machine's export key ({signing.key_path()})"
        else:
            key = signing.public_from_manifest(manifest)
            whose = "the key the manifest names (integrity only: give --public-key to check who signed)"
    except (OSError, ValueError, KeyError) as exc:
        report.problems.append(f"cannot read the public key: {exc}")
        report.exit_code = EXIT_NOT_AN_EXPORT
        return report
    sig_path = os.path.join(folder, signing.SIGNATURE)
    if not os.path.exists(sig_path):
        report.problems.append(f"signature invalid: {signing.SIGNATURE} is missing")
    else:
        with open(sig_path, encoding="ascii", errors="replace") as f:
            sig = f.read()
        if signing.verify_signature(key, data, sig):
            report.notes.append(f"signature valid: {signing.key_id(key)}, {whose}")
        else:
            report.problems.append(f"signature invalid: manifest.json is not signed by {whose} "
                                   f"({signing.key_id(key)})")

    # -- every file ---------------------------------------------------------------------
    listed = {f["name"]: f for f in manifest.get("files", [])}
    for name, want in sorted(listed.items()):
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            report.problems.append(f"{name}: missing")
            continue
        got = describe(path)
        if got["sha256"] != want.get("sha256"):
            report.problems.append(f"{name}: content differs (sha256 {got['sha256'][:16]}..., "
                                   f"manifest says {str(want.get('sha256'))[:16]}...)")
        if got["bytes"] != want.get("bytes"):
            report.problems.append(f"{name}: {got['bytes']} bytes, manifest says {want.get('bytes')}")
        for what in ("lines", "records", "emails"):
            if what in want and got.get(what) != want[what]:
                report.problems.append(f"{name}: {got.get(what)} {what}, manifest says {want[what]}")
    attachments = {f["name"]: f for f in manifest.get("attachments", [])}
    _check_attachments(folder, attachments, report)
    for name in sorted(os.listdir(folder)):
        if name == "files" and os.path.isdir(os.path.join(folder, name)):
            continue   # checked by _check_attachments
        if name not in listed and name not in (signing.MANIFEST, signing.SIGNATURE):
            report.problems.append(f"{name}: not in the manifest")

    # -- the counts add up --------------------------------------------------------------
    total = (manifest.get("totals") or {}).get("messages")
    per_chat = sum(c.get("messages", 0) for c in manifest.get("chats", []))
    if total is not None and per_chat != total:
        report.problems.append(f"manifest.json: the chats' messages add up to {per_chat}, "
                               f"its total says {total}")
    for name in MESSAGES_FILES:
        if name in listed and "records" in listed[name] and listed[name]["records"] != total:
            report.problems.append(f"{name}: the manifest lists {listed[name]['records']} records, "
                                   f"its total says {total} messages")
    if report.problems:
        report.exit_code = EXIT_DIFFERS
    else:
        report.notes.append(f"{len(listed)} files, {total} messages: as the manifest says")
    return report


def _check_attachments(folder: str, attachments: dict, report: Report):
    """Every attachment the manifest lists is in files/ with its hash and size, and
    files/ holds nothing else."""
    for name, want in sorted(attachments.items()):
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            report.problems.append(f"{name}: missing")
            continue
        sha, size, _, _ = _scan(path, ())
        if sha != want.get("sha256") or size != want.get("bytes"):
            report.problems.append(f"{name}: content differs from the manifest")
    extra = os.path.join(folder, "files")
    for name in sorted(os.listdir(extra)) if os.path.isdir(extra) else ():
        if f"files/{name}" not in attachments:
            report.problems.append(f"files/{name}: not in the manifest")


def format_report(report: Report) -> str:
    out = io.StringIO()
    for line in report.problems:
        out.write(f"verify: {line}\n")
    for line in report.notes:
        out.write(f"verify: {line}\n")
    out.write("verify: OK\n" if report.exit_code == EXIT_OK else "verify: FAILED\n")
    return out.getvalue()
