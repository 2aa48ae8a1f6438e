"""Index templates and the indices made from them.

Each file in ``index_templates/`` describes one document kind. A template named
``<prefix>-<kind>`` is put for each (idempotent: PUT replaces it with the same content),
and the fixed indices are created when missing. A ``"partitioned": true`` template matches
``<prefix>-<kind>-*``: its monthly indices are created on first write (and the current
month's at bootstrap, so searches and readiness have something to point at).
"""
import json
import os
from datetime import datetime, timezone

from chatsvc.store.engine import Engine, TransportError

TEMPLATE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "index_templates")


def load_templates(directory: str = TEMPLATE_DIR) -> dict:
    """{kind: template file content} for every JSON file in the folder."""
    templates = {}
    for name in sorted(os.listdir(directory)):
        if name.endswith(".json"):
            with open(os.path.join(directory, name)) as f:
                templates[name[:-5]] = json.load(f)
    return templates


def template_body(engine: Engine, kind: str, spec: dict) -> dict:
    base = engine.index(kind)
    pattern = f"{base}-*" if spec.get("partitioned") else base
    template = json.loads(json.dumps(spec["template"]))
    index_settings = template.setdefault("settings", {}).setdefault("index", {})
    index_settings.setdefault("number_of_shards", engine.shards)
    index_settings.setdefault("number_of_replicas", engine.replicas)
    # Durability, explicit (issue 18): every write request is fsynced to the translog of
    # each in-sync copy before the engine answers, and a write starts once this many copies
    # are active (docs/protocol.md, "What an acknowledged send means").
    index_settings.setdefault("translog", {}).setdefault("durability", "request")
    index_settings.setdefault("write", {}).setdefault("wait_for_active_shards", engine.wait_for_active_shards)
    return {
        "index_patterns": [pattern],
        # Longer prefixes win over shorter ones that happen to match the same names.
        "priority": 100 + len(engine.prefix),
        "template": template,
        "_meta": {"managed_by": "chatsvc", "kind": kind},
    }


def current_month() -> str:
    return datetime.now(timezone.utc).strftime("%Y.%m")


def fixed_indices(engine: Engine, templates: dict) -> list[str]:
    names = []
    for kind, spec in templates.items():
        if spec.get("partitioned"):
            names.append(f"{engine.index(kind)}-{current_month()}")
        else:
            names.append(engine.index(kind))
    return names


def bootstrap(engine: Engine, templates: dict | None = None) -> list[str]:
    """Put every template and create every missing index. Safe to run any number of times.

    Returns the names of the indices it created (empty when all existed).
    """
    templates = templates if templates is not None else load_templates()
    for kind, spec in templates.items():
        engine.call("indices.put_index_template", name=engine.index(kind),
                    body=template_body(engine, kind, spec))
    for kind, spec in templates.items():
        _update_existing_mappings(engine, kind, spec)
        restore_refresh(engine, kind, spec)
    created = []
    for name in fixed_indices(engine, templates):
        try:
            engine.call("indices.create", index=name)
            created.append(name)
        except TransportError as exc:
            if exc.error != "resource_already_exists_exception":
                raise
    if created:
        engine.call("cluster.health", index=",".join(created), wait_for_status="yellow",
                    params={"request_timeout": 60})
    return created


def _update_existing_mappings(engine: Engine, kind: str, spec: dict):
    """Give indices made from an older template the fields the current one adds (new
    fields only: the engine refuses to change an existing field, and says so here). An
    index made before an analyzer existed cannot take the fields analyzed by it while open:
    it gets the other new fields now, and those with `flask chatsvc reindex`
    (store/reindex.py), which adds the analyzers and indexes its documents again."""
    mappings = spec["template"].get("mappings")
    if not mappings:
        return
    pattern = f"{engine.index(kind)}-*" if spec.get("partitioned") else engine.index(kind)
    analysis = _analysis_of(engine, pattern, spec)
    if not any(analysis.values()):
        engine.call("indices.put_mapping", index=pattern, body=mappings,
                    params={"allow_no_indices": "true", "ignore_unavailable": "true",
                            "expand_wildcards": "open"})
        return
    for name, missing in sorted(analysis.items()):
        engine.call("indices.put_mapping", index=name,
                    body=strip_fields_analyzed_by(mappings, missing) if missing else mappings,
                    params={"ignore_unavailable": "true"})


def _template_analysis(spec: dict) -> dict:
    return spec["template"].get("settings", {}).get("analysis", {})


def _analysis_of(engine: Engine, pattern: str, spec: dict) -> dict[str, set]:
    """{open index: the names of the template's analysis components (analyzers, tokenizers,
    filters) it lacks}."""
    wanted = {(part, name) for part, entries in _template_analysis(spec).items() for name in entries}
    if not wanted:
        return {}
    settings = engine.call("indices.get_settings", index=pattern, name="index.analysis*",
                           params={"allow_no_indices": "true", "ignore_unavailable": "true",
                                   "expand_wildcards": "open"})
    out = {}
    for name, entry in settings.items():
        have = entry.get("settings", {}).get("index", {}).get("analysis", {})
        out[name] = {n for part, n in wanted if n not in have.get(part, {})}
    return out


def indices_lacking_analysis(engine: Engine, pattern: str, spec: dict) -> list[str]:
    """The open indices of ``pattern`` made before some analyzer of ``spec`` existed."""
    return sorted(name for name, missing in _analysis_of(engine, pattern, spec).items() if missing)


def strip_fields_analyzed_by(mappings: dict, missing: set) -> dict:
    """A copy of ``mappings`` without the fields (and sub-fields) whose analyzer or
    search_analyzer is one of ``missing``."""
    def keep(field: dict) -> bool:
        return not ({field.get("analyzer"), field.get("search_analyzer")} & missing)

    def strip(props: dict) -> dict:
        out = {}
        for name, field in props.items():
            if not keep(field):
                continue
            field = dict(field)
            for nested in ("properties", "fields"):
                if nested in field:
                    field[nested] = strip(field[nested])
            out[name] = field
        return out

    copy = json.loads(json.dumps(mappings))
    copy["properties"] = strip(copy.get("properties", {}))
    return copy


def refresh_interval(spec: dict) -> str | None:
    """The periodic refresh interval a kind's template sets, if any."""
    return spec["template"].get("settings", {}).get("index", {}).get("refresh_interval")


def restore_refresh(engine: Engine, kind: str, spec: dict) -> list[str]:
    """Give a partitioned kind's indices whose periodic refresh is off (``-1``: what an
    import that died while loading leaves, store/imports.pause_refresh) the template's
    interval back. Returns their names. Run at every bootstrap, so the next server start
    or import repairs it; an import running meanwhile in another process only loads a
    little slower."""
    interval = refresh_interval(spec)
    if not spec.get("partitioned") or interval is None:
        return []
    settings = engine.call("indices.get_settings", index=f"{engine.index(kind)}-*", name="index.refresh_interval",
                           params={"allow_no_indices": "true", "ignore_unavailable": "true",
                                   "expand_wildcards": "open"})
    paused = sorted(name for name, entry in settings.items()
                    if entry.get("settings", {}).get("index", {}).get("refresh_interval") == "-1")
    if paused:
        engine.call("indices.put_settings", index=",".join(paused), body={"index": {"refresh_interval": interval}})
    return paused


def is_ready(engine: Engine, templates: dict | None = None) -> tuple[bool, str]:
    """(ready, reason): the engine answers and every fixed index exists."""
    templates = templates if templates is not None else load_templates()
    try:
        names = [engine.index(kind) for kind, spec in templates.items() if not spec.get("partitioned")]
        missing = [n for n in names if not engine.client.indices.exists(index=n)]
    except Exception as exc:  # any failure to talk to the engine means "not ready"
        return False, f"search engine unreachable: {type(exc).__name__}"
    if missing:
        return False, "missing indices: " + ", ".join(missing)
    return True, "ok"


# The small per-team kinds a team's state is loaded from by search (scans).
TEAM_KINDS = ("users", "contacts", "chats", "reads", "settings")


def refresh_for_team_load(engine: Engine):
    """Make every acknowledged write searchable before a team's state is loaded by scans:
    the messages (written without refresh) and the per-team kinds, which another process
    may have written a moment ago (a signup, a new chat). One call, once per team load."""
    names = ",".join([engine.messages_pattern] + [engine.index(k) for k in TEAM_KINDS])
    engine.call("indices.refresh", index=names,
                params={"ignore_unavailable": "true", "allow_no_indices": "true"})


def drop_deployment(engine: Engine):
    """Remove every index and template of this engine's prefix (a benchmark's or a test's
    scratch deployment; never called by the service)."""
    engine.call("indices.delete", index=f"{engine.prefix}-*",
                params={"expand_wildcards": "all", "ignore_unavailable": "true",
                        "allow_no_indices": "true", "request_timeout": 120})
    engine.call("indices.delete_index_template", name=f"{engine.prefix}-*", ignore=[404])
