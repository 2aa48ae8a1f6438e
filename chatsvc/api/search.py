"""Full-text search over the messages the caller may see (PROTOCOL.md "Search")."""
from flask import Blueprint

from chatsvc.api import schemas as s
from chatsvc.api.base import ctx, endpoint, load_args, me
from chatsvc.chat import search, search_suggest

bp = Blueprint("search", __name__)


@bp.get("/api/search")
@endpoint("Search the caller's visible messages (query language in PROTOCOL.md)",
          query=s.SearchQuery, response=s.SearchOut, per_user="search_user",
          concurrency="searches")
def search_messages():
    args = load_args(s.SearchQuery())
    return search.search(ctx(), me(), args["q"], sort=args["sort"], limit=args["limit"],
                         cursor=args["cursor"])


@bp.get("/api/search/suggest")
@endpoint("Completions of the last token of a partial search query (search as you type)",
          query=s.SuggestQuery, response=s.SuggestOut)
def suggest():
    args = load_args(s.SuggestQuery())
    return search_suggest.suggest(ctx(), me(), args["q"])
