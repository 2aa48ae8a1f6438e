"""Reading every document that matches a filter, in pages (search_after on a unique key)."""
from chatsvc.store.engine import Engine

PAGE = 2000


def scan(engine: Engine, index: str, query: dict, key: tuple[str, ...], page: int = PAGE):
    """Yield the ``_source`` (plus ``_id``) of every match, in the order of ``key``: keyword
    fields that together identify a document (sorting on ``_id`` would load the whole
    index's ids into the engine's heap as fielddata, which is deprecated). Not a snapshot:
    fine for the small per-team kinds (users, chats, contacts, reads) loaded at a team's
    first use."""
    after = None
    while True:
        body = {"query": query, "size": page, "sort": [{field: "asc"} for field in key]}
        if after is not None:
            body["search_after"] = after
        hits = engine.call("search", index=index, body=body,
                           params={"ignore_unavailable": "true"})["hits"]["hits"]
        for hit in hits:
            doc = dict(hit["_source"])
            doc["_id"] = hit["_id"]
            yield doc
        if len(hits) < page:
            return
        after = hits[-1]["sort"]
