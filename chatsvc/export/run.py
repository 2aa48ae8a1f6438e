"""One export, start to finish (or interrupted, then resumed).

1. Check the filters (no engine needed) and the output folder.
2. Refresh the indices once, read the team (users, chats, read markers) and open a
   point-in-time snapshot of the messages; record the snapshot's greatest matching id.
3. Stream the snapshot in (chat_id, id) order, page by page; after each page the output is
   flushed and a checkpoint (``.export-state.json``) records the last (chat_id, id) written
   and the size of every file. The team data is saved once (``.export-context.json``).
4. Finish: per-chat and per-user files, then ``manifest.json`` (filters, snapshot, counts
   and first/last id per chat, SHA-256 of every file); the two hidden files are removed.

``--resume`` cuts every file back to the checkpoint's sizes (dropping whatever a killed
process wrote after it), reuses the snapshot if it is still open, else opens a new one
narrowed to ids <= the recorded bound, and continues after the recorded (chat_id, id):
the result is the same files an uninterrupted run writes.
"""
import hashlib
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from chatsvc.errors import Unavailable
from chatsvc.export.attachments import AttachmentCopier
from chatsvc.export import filters as filter_mod
from chatsvc.export.errors import bad_filter, engine_down, interrupted, output_error
from chatsvc.export.records import Enricher, TeamContext
from chatsvc.export import signing, verify
from chatsvc.export.formats import WRITERS
from chatsvc.ids import now_iso
from chatsvc.store import export as snapshot
from chatsvc.store.engine import TransportError

STATE = ".export-state.json"
CONTEXT = ".export-context.json"
MANIFEST = "manifest.json"
STATE_VERSION = 1


@dataclass
class ExportOptions:
    filters: filter_mod.Filters
    out: str | None = None
    format: str = "jsonl"
    resume: bool = False
    page_size: int = snapshot.PAGE
    stop_after: int | None = None      # test hook: stop (as if killed) after this many messages
    progress: bool | None = None       # None: a bar only when stderr is a terminal
    keep_alive: str = snapshot.KEEP_ALIVE
    log: object = field(default=None)  # callable(str) for notes on stderr
    format_options: dict = field(default_factory=dict)  # a format's own (formats.py)
    key_file: str | None = None        # the signing key (default: signing.key_path())
    files: bool = True                 # copy attachments into files/ (False: --no-files)
    blobs: object = None               # the blob store (default: the configured one)

    def note(self, text: str):
        (self.log or (lambda t: print(t, file=sys.stderr, flush=True)))(text)


def default_out(team_ref: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", team_ref.strip()).strip("._") or "team"
    return f"export-{slug}-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}"


# ------------------------------------------------------------------------------ files

def _write_json(path: str, data, indent: int | None = None) -> None:
    """Atomic: a reader (or a resume after a kill) sees the old file or the new one."""
    tmp = path + ".tmp"
    text = json.dumps(data, ensure_ascii=False, indent=indent,   # C encoder, unlike json.dump
                      separators=None if indent else (",", ":"))
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def _read_json(path: str):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _check_fresh_out(out: str) -> None:
    """A new export needs a folder that is absent or empty (never mix two exports)."""
    if os.path.lexists(out) and not os.path.isdir(out):
        raise output_error(f"cannot write the export to {out}: it exists and is not a folder")
    if os.path.isdir(out) and os.listdir(out):
        hint = (" (an interrupted export is there: add --resume to continue it)"
                if os.path.exists(os.path.join(out, STATE)) else "")
        raise output_error(f"the output folder {out} is not empty{hint}; choose another --out")


def _make_out(out: str) -> None:
    try:
        os.makedirs(out, exist_ok=True)
        probe = os.path.join(out, ".write-test")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as exc:
        raise output_error(f"cannot write the export to {out}: {exc.strerror or exc}") from None


def _cut_back(out: str, sizes: dict[str, int]) -> None:
    """Truncate each file to its checkpointed size; remove output files the checkpoint
    does not know (written after it by the interrupted run)."""
    keep = set(sizes) | {STATE, CONTEXT}
    for name in os.listdir(out):
        if name not in keep and not name.startswith(".") and os.path.isfile(os.path.join(out, name)):
            os.remove(os.path.join(out, name))
    for name, size in sizes.items():
        path = os.path.join(out, name)
        if not os.path.exists(path) or os.path.getsize(path) < size:
            raise output_error(f"cannot resume: {path} is shorter than its checkpoint "
                               "(the folder was altered); start a new export")
        with open(path, "r+b") as f:
            f.truncate(size)


# ------------------------------------------------------------------------------ run

def _count(counts: dict, docs: list[dict]) -> None:
    """Add a page (sorted by chat, then id) to the per-chat count and first/last id."""
    chat_id, c, last = None, None, None
    for d in docs:
        if d["chat_id"] != chat_id:
            if c is not None:
                c["last_id"] = str(last)
            chat_id = d["chat_id"]
            c = counts.setdefault(chat_id, {"count": 0, "first_id": str(d["id"]), "last_id": None})
        c["count"] += 1
        last = d["id"]
    if c is not None:
        c["last_id"] = str(last)


class _Run:
    def __init__(self, engine, opts: ExportOptions):
        self.engine = engine
        self.opts = opts
        self.out = opts.out
        self.state: dict = {}
        self.started = time.monotonic()

    # -- state ---------------------------------------------------------------------
    def save_state(self):
        _write_json(os.path.join(self.out, STATE), self.state)

    def prepare_fresh(self, checked):
        f = self.opts.filters
        _check_fresh_out(self.out)
        snapshot.refresh(self.engine)
        team = TeamContext.load(self.engine, f.team)
        scope = filter_mod.resolve(f, checked, team, self.engine)
        query = snapshot.export_query(scope.match)
        pit_id = snapshot.open_snapshot(self.engine, self.opts.keep_alive)
        snapshot_time = now_iso()
        bound, total = snapshot.upper_bound(self.engine, pit_id, query, self.opts.keep_alive)
        _make_out(self.out)
        try:
            _write_json(os.path.join(self.out, CONTEXT), team.to_dict())
        except OSError as exc:
            raise output_error(f"cannot write the export to {self.out}: {exc.strerror or exc}") from None
        self.state = {
            "version": STATE_VERSION, "format": self.opts.format, "filters": f.as_dict(),
            "team": team.team, "query": query, "chat_ids": scope.chat_ids,
            "snapshot": {"time": snapshot_time, "max_id": None if bound is None else str(bound),
                         "messages": total, "reopened_at": []},
            "pit_id": pit_id, "started_at": snapshot_time, "resumed_at": [],
            "after": None, "written": 0, "files": {}, "counts": {},
            "format_options": self.opts.format_options,
        }
        self.save_state()
        return team, None

    def prepare_resume(self):
        out = self.out
        state_path = os.path.join(out, STATE)
        if not os.path.exists(state_path):
            if os.path.exists(os.path.join(out, MANIFEST)):
                return None, None   # already complete
            raise output_error(f"nothing to resume in {out}: no interrupted export there "
                               f"({STATE} is missing)")
        try:
            self.state = _read_json(state_path)
            team = TeamContext.from_dict(_read_json(os.path.join(out, CONTEXT)))
        except (OSError, ValueError, KeyError) as exc:
            raise output_error(f"cannot resume from {out}: {exc}") from None
        if self.state.get("version") != STATE_VERSION:
            raise output_error(f"cannot resume from {out}: made by another version of the export")
        if self.state["filters"] != self.opts.filters.as_dict() or self.state["format"] != self.opts.format:
            raise bad_filter(
                f"--resume: the export in {out} was started with other filters or format: "
                f"{json.dumps(self.state['filters'], ensure_ascii=False)} --format "
                f"{self.state['format']}; give the same ones")
        if not os.access(out, os.W_OK):
            raise output_error(f"cannot write the export to {out}: permission denied")
        _cut_back(out, self.state["files"])
        if not snapshot.snapshot_alive(self.engine, self.state.get("pit_id"), self.opts.keep_alive):
            self.reopen(note=True)
        self.state["resumed_at"].append(now_iso())
        self.save_state()
        resume = {"files": self.state["files"],
                  "chat_id": self.state["after"][0] if self.state["after"] else None}
        return team, resume

    def reopen(self, note=False):
        """A new PIT for the same messages: ids <= the recorded bound."""
        if note:
            self.opts.note("export: the original snapshot has expired; continuing on a new one "
                           "limited to the same messages (id <= "
                           f"{self.state['snapshot']['max_id']})")
        self.state["pit_id"] = snapshot.open_snapshot(self.engine, self.opts.keep_alive)
        self.state["snapshot"]["reopened_at"].append(now_iso())
        return self.state["pit_id"], self.query()

    def query(self) -> dict:
        bound = self.state["snapshot"]["max_id"]
        return snapshot.with_bound(self.state["query"], None if bound is None else int(bound))

    # -- streaming -------------------------------------------------------------------
    def stream(self, team, resume):
        st = self.state
        writer_cls = WRITERS[self.opts.format]
        meta = {"team": st["team"], "filters": st["filters"], "snapshot_time": st["snapshot"]["time"],
                "options": st.get("format_options") or {}, "snapshot_max_id": st["snapshot"]["max_id"]}
        counts = st["counts"]
        writer = writer_cls(self.out, team, counts, meta)
        enricher = Enricher(team)
        enricher.with_files = self.opts.files
        copier = self._copier()
        total = st["snapshot"]["messages"]
        limit = None
        if self.opts.stop_after is not None:
            limit = max(0, self.opts.stop_after - st["written"])
        bar = self._progress(total, st["written"])
        pages = snapshot.Pages(self.engine, st["pit_id"], self.query(), after=st["after"],
                               size=self.opts.page_size, keep_alive=self.opts.keep_alive,
                               reopen=self.reopen)
        try:
            writer.begin(resume)
            fast = hasattr(writer, "write_lines")
            for docs in pages.pages(limit):
                copier.copy_page(docs)   # before the records that point at them
                _count(counts, docs)   # first: a transcript's footer, written on the next chat, shows it
                if fast:
                    writer.write_lines("".join([enricher.jsonl(d) for d in docs]))
                else:
                    writer.write([enricher.record(d) for d in docs])
                last = docs[-1]
                st["after"] = [last["chat_id"], int(last["id"])]
                st["written"] += len(docs)
                st["files"] = writer.checkpoint()
                st["pit_id"] = pages.pit_id
                self.save_state()
                if bar is not None:
                    bar.update(len(docs))
            if limit is not None and st["written"] < total:
                writer.close()
                raise interrupted(f"export: stopped after {st['written']} of {total} messages "
                                  f"(--stop-after); continue with --resume --out {self.out}")
            chats = sorted(set(st["chat_ids"]) | set(counts))
            writer.finish(chats)
            st["files"] = writer.checkpoint()
            self.delivery = getattr(writer, "delivery", None)
            return chats
        finally:
            writer.close()
            if bar is not None:
                bar.close()

    def _copier(self) -> AttachmentCopier:
        blobs = self.opts.blobs
        if blobs is None and self.opts.files:
            from chatsvc.blobs import make_blob_store  # noqa: PLC0415
            from chatsvc.config import Config  # noqa: PLC0415
            blobs = self.opts.blobs = make_blob_store(Config.from_env(os.environ))
        return AttachmentCopier(self.out, blobs, self.opts.files)

    def _progress(self, total, initial):
        show = self.opts.progress if self.opts.progress is not None else sys.stderr.isatty()
        if not show:
            return None
        from tqdm import tqdm  # noqa: PLC0415 - only when drawn
        tqdm.monitor_interval = 0
        return tqdm(total=total, initial=initial, unit="msg", unit_scale=True, file=sys.stderr,
                    desc="export", dynamic_ncols=True)

    # -- manifest --------------------------------------------------------------------
    def manifest(self, team, chats) -> dict:
        st = self.state
        files = [verify.describe(os.path.join(self.out, name)) for name in sorted(st["files"])]
        per_chat = []
        for cid in chats:
            chat = team.chats.get(cid) or {}
            c = st["counts"].get(cid) or {}
            per_chat.append({"chat_id": cid, "title": chat.get("title"), "kind": chat.get("kind"),
                             "messages": c.get("count", 0), "first_id": c.get("first_id"),
                             "last_id": c.get("last_id")})
        return {
            "kind": "chatsvc compliance export", "version": 1,
            "format": st["format"],
            "team": st["team"],
            "filters": st["filters"],
            "engine_query": st["query"],
            "snapshot": st["snapshot"],
            "started_at": st["started_at"], "resumed_at": st["resumed_at"],
            "completed_at": now_iso(),
            "totals": {"messages": st["written"], "chats": len(per_chat)},
            "chats": per_chat,
            "files": files,
            "attachments": self._copier().manifest_entries(),
            **({"delivery": self.delivery} if getattr(self, "delivery", None) else {}),
        }


def _audit(engine, manifest: dict) -> None:
    """Issue 17: every completed export goes to the team's audit log, with its filters."""
    from chatsvc.chat.audit import record_export  # noqa: PLC0415
    record_export(engine, manifest)


def run_export(engine, opts: ExportOptions) -> dict:
    """Run (or resume) one export; returns the manifest. Raises ExportError with the exit
    code and message for the operator."""
    if opts.format not in WRITERS:
        raise bad_filter(f"--format {opts.format!r}: expected one of {', '.join(WRITERS)}")
    checked = filter_mod.check(opts.filters)
    if opts.out is None:
        if opts.resume:
            raise bad_filter("--resume needs --out: the folder of the interrupted export")
        opts.out = default_out(opts.filters.team)
    run = _Run(engine, opts)
    pit_id = None
    try:
        if opts.resume:
            team, resume = run.prepare_resume()
            if team is None:
                opts.note(f"export: {opts.out} is already complete (see {MANIFEST}); nothing to do")
                return _read_json(os.path.join(opts.out, MANIFEST))
        else:
            team, resume = run.prepare_fresh(checked)
        chats = run.stream(team, resume)
        pit_id = run.state["pit_id"]
        manifest = signing.seal(engine, opts.out, run.manifest(team, chats), opts.key_file)
        for name in (STATE, CONTEXT):
            os.remove(os.path.join(opts.out, name))
    except Unavailable as exc:
        where = (f"; the export so far is kept: continue with --resume --out {opts.out}"
                 if run.state.get("written") else "")
        raise engine_down(f"cannot reach the search engine at {engine.safe_url}: {exc.message}{where}") from None
    except TransportError as exc:
        raise engine_down(f"the search engine at {engine.safe_url} refused a request: "
                          f"{exc.status_code} {exc.error}") from None
    except OSError as exc:
        raise output_error(f"cannot write the export to {opts.out}: "
                           f"{exc.strerror or exc} ({getattr(exc, 'filename', '') or ''})") from None
    snapshot.close_snapshot(engine, pit_id)
    _audit(engine, manifest)
    elapsed = time.monotonic() - run.started
    manifest["_elapsed_s"] = elapsed  # not written: for the caller's summary line
    return manifest
