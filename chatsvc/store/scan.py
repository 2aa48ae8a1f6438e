"""Reading every document that matches a filter, in pages (search_after on _id order)."""
from chatsvc.store.engine import Engine

PAGE = 2000


def scan(engine: Engine, index: str, query: dict, sort_field: str = "_id", page: int = PAGE):
    """Yield the ``_source`` (plus ``_id``) of every match. Not a snapshot: fine for the
    small per-team kinds (users, chats, contacts, reads) loaded at a team's first use."""
    after = None
    while True:
        body = {"query": query, "size": page, "sort": [{sort_field: "asc"}]}
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
