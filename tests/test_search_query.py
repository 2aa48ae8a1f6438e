"""Pure-logic tests of the search query language (chat/search_query.py), its resolution for
one viewer (chat/search.py ``resolve``) and the OpenSearch query the store builds from that
(store/search.py ``message_query``)."""
from dataclasses import FrozenInstanceError
from datetime import date

import pytest

from chatsvc.chat.search import resolve
from chatsvc.chat.search_query import MAX_QUERY_CHARS, MAX_TERMS, SearchQuery, date_bounds, parse_query
from chatsvc.chat.state import TeamState
from chatsvc.errors import BadRequest
from chatsvc.store.search import highlight_clause, message_query

TEXT_FIELDS = ["body", "body.exact", "body.code", "body.parts^0.3",
               "file_names", "file_names.exact", "file_names.code", "file_text^0.5", "file_text.exact^0.5"]


def bad(text: str) -> BadRequest:
    with pytest.raises(BadRequest) as info:
        parse_query(text)
    err = info.value
    assert err.code == "bad_request" and err.status == 400
    assert set(err.fields) == {"q"} and err.fields["q"] in err.message
    return err


# ---------------------------------------------------------------------------- words, phrases

def test_words_keep_order_and_case():
    q = parse_query("Deploy  the\tbuild")
    assert q.words == ("Deploy", "the", "build")
    assert q == SearchQuery(words=("Deploy", "the", "build"))
    assert q.has_text


def test_duplicate_words_are_dropped():
    assert parse_query("a b a").words == ("a", "b")


def test_phrase_is_separate_from_words():
    q = parse_query('release "exact phrase here" notes')
    assert q.words == ("release", "notes")
    assert q.phrases == ("exact phrase here",)


def test_phrase_keeps_inner_spacing_and_operators_as_text():
    q = parse_query('"from:ann  in:12"')
    assert q.phrases == ("from:ann  in:12",)
    assert q.from_users == () and q.in_chats == ()


def test_typographic_quotes_open_and_close_phrases():
    assert parse_query("\u201cship it\u201d").phrases == ("ship it",)


def test_phrase_may_touch_the_next_token():
    q = parse_query('"a b"c')
    assert q.phrases == ("a b",) and q.words == ("c",)


def test_quote_inside_a_word_is_an_ordinary_character():
    assert parse_query('say"hi" it\'s').words == ('say"hi"', "it's")


def test_quoted_phrase_starting_with_dash_is_not_excluded():
    q = parse_query('"-v flag"')
    assert q.phrases == ("-v flag",) and q.excluded_phrases == ()


def test_phrase_only_query_has_text():
    assert parse_query('"x y"').has_text


# ---------------------------------------------------------------------------- exclusions

def test_excluded_word_and_phrase():
    q = parse_query('deploy -staging -"dry run"')
    assert q.words == ("deploy",)
    assert q.excluded_words == ("staging",)
    assert q.excluded_phrases == ("dry run",)


def test_exclusions_alone_have_no_text():
    q = parse_query("-staging")
    assert q.excluded_words == ("staging",) and not q.has_text


def test_double_dash_is_a_plain_word():
    q = parse_query("git push --force")
    assert q.words == ("git", "push", "--force") and q.excluded_words == ()


def test_lone_dash_is_bad():
    assert "-" in bad("deploy -").message


@pytest.mark.parametrize("text, expected", [
    ("-from:bob", SearchQuery(excluded_from_users=("bob",))),
    ("-from:me", SearchQuery(excluded_from_me=True)),
    ("-in:385113100204851200", SearchQuery(excluded_in_chats=("385113100204851200",))),
    ("-in:ops", SearchQuery(excluded_in_titles=("ops",))),
    ('-in:"release  v2"', SearchQuery(excluded_in_titles=("release v2",))),
    ("-in:@bob", SearchQuery(excluded_in_direct=("bob",))),
    ("-with:carol", SearchQuery(excluded_with_users=("carol",))),
    ("-has:like", SearchQuery(excluded_flags=("has_like",))),
    ("-has:link", SearchQuery(excluded_flags=("has_link",))),
    ("-is:mine", SearchQuery(excluded_flags=("is_mine",))),
    ("-is:thread -is:thread", SearchQuery(excluded_flags=("is_thread",))),
    ("-on:2026-05-01", SearchQuery(excluded_ranges=((date(2026, 5, 1), date(2026, 5, 2)),))),
    ("-before:2026-05-01", SearchQuery(excluded_ranges=((None, date(2026, 5, 1)),))),
    ("-after:2026-05-01", SearchQuery(excluded_ranges=((date(2026, 5, 2), None),))),
    ("-during:2026-12", SearchQuery(excluded_ranges=((date(2026, 12, 1), date(2027, 1, 1)),))),
    ("-during:2026", SearchQuery(excluded_ranges=((date(2026, 1, 1), date(2027, 1, 1)),))),
])
def test_any_operator_can_be_negated(text, expected):
    q = parse_query(text)
    assert q == expected and not q.has_text and q.negates_operators


def test_negation_and_the_operator_together():
    q = parse_query("has:like -has:like from:ann -from:bob")
    assert q.has_like and q.excluded_flags == ("has_like",)
    assert q.from_users == ("ann",) and q.excluded_from_users == ("bob",)


# ---------------------------------------------------------------------------- new operators

def test_prefix():
    q = parse_query("depl* -stag* Ré*")
    assert q.prefixes == ("depl", "Ré") and q.excluded_prefixes == ("stag",) and q.has_text
    assert q.words == ()
    assert parse_query("de**").prefixes == ("de",)
    assert parse_query("*x").words == ("*x",) and parse_query("a*b").words == ("a*b",)


@pytest.mark.parametrize("text", ["*", "**", "-*", "deploy *"])
def test_lone_star_is_bad(text):
    assert "'*'" in bad(text).message


@pytest.mark.parametrize("text", ["a*", "-é*"])
def test_one_character_prefix_is_bad(text):
    assert "2 characters" in bad(text).message


@pytest.mark.parametrize("text", ["from:me", "from:ME", "from:@me"])
def test_from_me(text):
    assert parse_query(text) == SearchQuery(from_me=True)


def test_from_me_and_others():
    assert parse_query("from:me from:ann") == SearchQuery(from_me=True, from_users=("ann",))


@pytest.mark.parametrize("text, expected", [
    ("in:Ops", SearchQuery(in_titles=("Ops",))),
    ("in:abc in:-5 in:1.5 in:+5", SearchQuery(in_titles=("abc", "-5", "1.5", "+5"))),
    ('in:"release v2"', SearchQuery(in_titles=("release v2",))),
    ('in:“release v2” deploy', SearchQuery(in_titles=("release v2",), words=("deploy",))),
    ('in:"2024"', SearchQuery(in_titles=("2024",))),
    ("in:@bob", SearchQuery(in_direct=("bob",))),
    ("in:007", SearchQuery(in_chats=("7",))),
    ("in:7 in:Ops in:@bob", SearchQuery(in_chats=("7",), in_titles=("Ops",), in_direct=("bob",))),
])
def test_in_takes_ids_titles_and_direct_chats(text, expected):
    assert parse_query(text) == expected


@pytest.mark.parametrize("text, lower, upper", [
    ("during:2026-05", date(2026, 5, 1), date(2026, 6, 1)),
    ("during:2026-12", date(2026, 12, 1), date(2027, 1, 1)),
    ("during:2026", date(2026, 1, 1), date(2027, 1, 1)),
    ("during:2026 during:2026-02", date(2026, 2, 1), date(2026, 3, 1)),
    ("during:2026-05 after:2026-05-10", date(2026, 5, 11), date(2026, 6, 1)),
    ("during:2026-05 on:2026-05-31", date(2026, 5, 31), date(2026, 6, 1)),
])
def test_during(text, lower, upper):
    assert date_bounds(parse_query(text)) == (lower, upper)


@pytest.mark.parametrize("text", ["during:2026-05 during:2026-06", "during:2026 before:2026-01-01",
                                  "during:2026-05 on:2026-06-01"])
def test_during_leaving_nothing_is_bad(text):
    assert "during:" in bad(text).message


def test_has_link():
    assert parse_query("has:link") == SearchQuery(has_link=True)
    assert parse_query("HAS:Link") == SearchQuery(has_link=True)


def test_file_operators():
    assert parse_query("has:file") == SearchQuery(has_file=True)
    assert parse_query("HAS:Image") == SearchQuery(has_image=True)
    assert parse_query("-has:file").excluded_flags == ("has_file",)
    assert "has:image" in bad("has:images").message


@pytest.mark.parametrize("text", ["x" * MAX_QUERY_CHARS, "the a of", "- -", "​", "🎉", "*" * 3 + "ab"])
def test_odd_input_parses_or_is_bad_never_crashes(text):
    try:
        parse_query(text)
    except BadRequest as exc:
        assert exc.fields["q"]


# ---------------------------------------------------------------------------- code-like words

@pytest.mark.parametrize("word", [
    "https://x.org/a", "http://example.com/path?q=1&b=2#frag", "HTTP/2", "12:30", "foo_bar",
    "v2.3.1", "Re:", "mailto:ann@example.org", "note:todo", "std::vector", "@ann", "#general",
    "a:b:c", "C:\\Users", "10:30:00", "localhost:8080", "key=value", "x-y",
])
def test_code_like_tokens_survive_as_words(word):
    q = parse_query(word)
    assert q.words == (word,)
    assert q == SearchQuery(words=(word,))


def test_unknown_operator_like_prefixes_are_words():
    q = parse_query("fromage:brie into:x within:y has_like ison:z")
    assert q.words == ("fromage:brie", "into:x", "within:y", "has_like", "ison:z")


# ---------------------------------------------------------------------------- operators alone

def test_from_alone_is_a_valid_filter_only_query():
    q = parse_query("from:ann")
    assert q == SearchQuery(from_users=("ann",)) and not q.has_text


def test_from_strips_one_at_sign():
    assert parse_query("from:@ann.b-c_d").from_users == ("ann.b-c_d",)


def test_from_accepts_32_characters():
    assert parse_query("from:" + "a" * 32).from_users == ("a" * 32,)


def test_in_normalizes_the_chat_id():
    assert parse_query("in:0012").in_chats == ("12",)
    assert parse_query("in:9223372036854775807").in_chats == ("9223372036854775807",)


def test_with_alone():
    assert parse_query("with:@bob").with_users == ("bob",)


@pytest.mark.parametrize("op", ["before", "after", "on"])
def test_each_date_operator_alone(op):
    q = parse_query(f"{op}:2026-05-01")
    assert getattr(q, op) == date(2026, 5, 1)
    assert q == SearchQuery(**{op: date(2026, 5, 1)})


def test_has_like_and_is_mine_alone():
    assert parse_query("has:like") == SearchQuery(has_like=True)
    assert parse_query("is:mine") == SearchQuery(is_mine=True)


@pytest.mark.parametrize("text", ["FROM:ann", "From:ann", "HAS:LIKE", "Has:Like", "IS:Mine",
                                  "IN:5", "With:ann", "BEFORE:2026-01-01", "After:2026-01-01",
                                  "ON:2026-01-01"])
def test_operator_names_and_flag_values_are_case_insensitive(text):
    q = parse_query(text)
    assert not q.words and q != SearchQuery()


def test_usernames_keep_their_case():
    assert parse_query("FROM:Ann").from_users == ("Ann",)


# ---------------------------------------------------------------------------- repeats, combos

def test_repeated_from_in_with_are_collected_once_each():
    q = parse_query("from:ann from:@bob from:ann in:1 in:2 in:01 with:x with:y with:x")
    assert q.from_users == ("ann", "bob")
    assert q.in_chats == ("1", "2")
    assert q.with_users == ("x", "y")


def test_repeated_before_after_keep_the_tightest_day():
    q = parse_query("before:2026-05-10 before:2026-05-05 after:2026-04-01 after:2026-04-20")
    assert q.before == date(2026, 5, 5) and q.after == date(2026, 4, 20)


def test_repeated_same_on_is_fine():
    assert parse_query("on:2026-05-01 on:2026-05-01").on == date(2026, 5, 1)


def test_repeated_flags_are_fine():
    assert parse_query("has:like has:like is:mine is:mine") == SearchQuery(has_like=True, is_mine=True)


def test_everything_combined():
    q = parse_query('deploy "exact one" -foo -"bar baz" from:@ann FROM:bob in:0012 with:c.d '
                    "after:2026-05-01 before:2026-05-10 on:2026-05-05 has:LIKE is:mine "
                    "https://x.org/a 12:30")
    assert q == SearchQuery(
        words=("deploy", "https://x.org/a", "12:30"), phrases=("exact one",),
        excluded_words=("foo",), excluded_phrases=("bar baz",), from_users=("ann", "bob"),
        in_chats=("12",), with_users=("c.d",), before=date(2026, 5, 10),
        after=date(2026, 5, 1), on=date(2026, 5, 5), has_like=True, is_mine=True)


def test_on_with_before_and_after_is_an_and():
    q = parse_query("on:2026-05-05 after:2026-05-04 before:2026-05-06")
    assert date_bounds(q) == (date(2026, 5, 5), date(2026, 5, 6))


def test_one_day_range_is_fine():
    q = parse_query("after:2026-05-01 before:2026-05-03")
    assert date_bounds(q) == (date(2026, 5, 2), date(2026, 5, 3))


def test_query_is_frozen():
    q = parse_query("x")
    with pytest.raises(FrozenInstanceError):
        q.words = ("y",)


# ---------------------------------------------------------------------------- malformed

@pytest.mark.parametrize("text, op", [
    ("from:", "from:"), ("from:@", "from:"), ("from:ann!", "from:"), ("from:" + "a" * 33, "from:"),
    ('from:"ann smith"', "from:"), ("from:@@ann", "from:"), ("from:ann:x", "from:"),
    ("with:", "with:"), ("with:bad/name", "with:"), ("with:é", "with:"),
    ("in:", "in:"), ("in:0", "in:"), ("in: 5", "in:"), ("in:99999999999999999999", "in:"),
    ("in:9223372036854775808", "in:"), ("in:@", "in:"), ("in:@bad/name", "in:"),
    ('in:""', "in:"), ('in:"  "', "in:"), ('in:"open', "in:"), ('-in:"open', "in:"),
    ("in:" + "t" * 201, "in:"), ("-in:", "in:"),
    ("during:", "during:"), ("during:2026-13", "during:"), ("during:2026-00", "during:"),
    ("during:26", "during:"), ("during:2026-1", "during:"), ("during:2026-05-01", "during:"),
    ("during:0000", "during:"), ("during:9999", "during:"), ("-during:x", "during:"),
    ("-from:", "from:"), ("-from:a!", "from:"), ('from:"ann"', "from:"), ("-with:", "with:"),
    ("-on:2026-02-30", "on:"), ("-has:pizza", "has:"), ("-is:yours", "is:"),
    ("before:", "before:"), ("before:2026-13-45", "before:"), ("before:2026-02-30", "before:"),
    ("before:26-05-01", "before:"), ("before:20260501", "before:"), ("before:2026-5-1", "before:"),
    ("before:2026-05-01T00:00", "before:"), ("after:yesterday", "after:"),
    ("after:9999-12-31", "after:"), ("on:", "on:"), ("on:2026/05/01", "on:"),
    ("has:", "has:"), ("has:pizza", "has:"), ("has:likes", "has:"),
    ("is:", "is:"), ("is:yours", "is:"), ("is:mine:", "is:"),
])
def test_malformed_operator_is_bad_and_names_it(text, op):
    err = bad(f"deploy {text}")
    assert op in err.message and op in err.fields["q"]


@pytest.mark.parametrize("text", [
    "after:2026-05-02 before:2026-05-01",
    "after:2026-05-01 before:2026-05-02",   # strictly after the 1st, before the 2nd: nothing
    "before:2026-05-01 after:2026-05-01",
    "on:2026-05-01 before:2026-05-01",
    "on:2026-05-01 after:2026-05-01",
    "on:2026-05-01 after:2026-05-03",
])
def test_empty_date_range_is_bad(text):
    err = bad(text)
    assert "before:" in err.message or "after:" in err.message


def test_two_different_on_days_are_bad():
    assert "on:" in bad("on:2026-05-01 on:2026-05-02").message


@pytest.mark.parametrize("text", ['"unclosed', 'deploy "open phrase', '-"open', 'a "b" "c'])
def test_unclosed_quote_is_bad(text):
    assert "quote" in bad(text).message


@pytest.mark.parametrize("text", ['""', 'deploy ""', '-"  "'])
def test_empty_phrase_is_bad(text):
    assert "phrase" in bad(text).message


@pytest.mark.parametrize("text", ["", "   ", "\t\n"])
def test_empty_query_is_bad(text):
    assert "empty" in bad(text).message


def test_character_limit():
    assert len(parse_query("a" * MAX_QUERY_CHARS).words[0]) == MAX_QUERY_CHARS
    assert "1000" in bad("a" * (MAX_QUERY_CHARS + 1)).message


def test_term_limit():
    words = [f"w{i}" for i in range(MAX_TERMS)]
    assert len(parse_query(" ".join(words)).words) == MAX_TERMS
    assert "50" in bad(" ".join(words + ["one-more"])).message


def test_term_limit_counts_operators_and_repeats():
    assert "50" in bad(" ".join(["has:like"] * (MAX_TERMS + 1))).message


def test_a_phrase_counts_as_one_term():
    phrase = '"' + " ".join(["w"] * 100) + '"'
    assert len(parse_query(phrase).phrases) == 1


# ---------------------------------------------------------------------------- build_query

def team(chats=(("101", ("u1", "s1")), ("102", ("u1", "s1", "s2")))) -> TeamState:
    """Team t1: the viewer u1 ('me'), ann (s1) and bob (s2), and chats 101 (u1, ann) and
    102 (u1, ann, bob)."""
    state = TeamState({"id": "t1"})
    for uid, name in (("u1", "me"), ("s1", "ann"), ("s2", "bob")):
        state.add_user({"id": uid, "username_key": name})
    for cid, members in chats:
        state.put_chat({"id": cid, "member_ids": list(members)})
    return state


def build(text, *, sort="relevance", state=None):
    """The engine query of ``text`` searched by u1, or None when nothing can match."""
    q = resolve(parse_query(text), state or team(), "u1", by_score=sort == "relevance")
    return None if q is None else message_query(q)


def inner_bool(query: dict) -> dict:
    """The bool clause, unwrapped from the recency function_score when present."""
    if "function_score" in query:
        query = query["function_score"]["query"]
    assert set(query) == {"bool"}
    return query["bool"]


PERMISSION_FILTERS = [{"term": {"team_id": "t1"}}, {"terms": {"chat_id": ["101", "102"]}}]
PERMISSION_MUST_NOT = [{"term": {"deleted": True}}, {"term": {"hidden_for": "u1"}}]
QUERIES = ["deploy", '"exact phrase"', "-x", "from:ann", "with:bob", "is:mine", "has:like",
           "on:2026-05-01", 'a "b c" -d -"e f" from:ann in:102 with:bob after:2026-01-01 '
           "before:2026-06-01 has:like is:mine", "team_id:t2", "deleted:true"]


@pytest.mark.parametrize("sort", ["relevance", "recent"])
@pytest.mark.parametrize("text", QUERIES)
def test_permission_filters_always_present_and_unscored(text, sort):
    boolean = inner_bool(build(text, sort=sort))
    team_filter, chat_filter = boolean["filter"][:2]
    assert team_filter == PERMISSION_FILTERS[0]
    # in: and with: narrow the visible chats, never widen them
    assert set(chat_filter["terms"]["chat_id"]) <= {"101", "102"}
    assert boolean["must_not"][:2] == PERMISSION_MUST_NOT
    assert set(boolean) <= {"filter", "must_not", "must"}
    assert scored_fields(boolean) <= set(TEXT_FIELDS)


def scored_fields(boolean: dict) -> set:
    """The fields the scored (must) clauses look at."""
    fields = set()
    for clause in boolean.get("must", []):
        kind, spec = next(iter(clause.items()))
        if kind == "bool":
            fields |= scored_fields({"must": spec["should"]})
        else:
            fields |= set(spec["fields"]) if kind == "multi_match" else set(spec)
    return fields


def test_no_visible_chats_matches_nothing():
    assert build("deploy", state=team(chats=())) is None
    assert build("deploy in:999") is None          # not one of the viewer's chats


def test_an_empty_chat_list_matches_nothing_in_the_engine_query_too():
    from chatsvc.store.search import MessageQuery
    boolean = message_query(MessageQuery(team_id="t1", viewer_id="u1", chat_ids=()))["bool"]
    assert {"terms": {"chat_id": []}} in boolean["filter"]


def test_user_text_never_reaches_filters():
    boolean = inner_bool(build("team_id:t2 chat_id:c9"))
    assert boolean["filter"] == PERMISSION_FILTERS
    assert [m["multi_match"]["query"] for m in boolean["must"]] == ["team_id:t2", "chat_id:c9"]


def test_words_each_must_match_over_all_text_fields():
    boolean = inner_bool(build("deploy foo_bar https://x.org/a"))
    assert boolean["must"] == [
        {"multi_match": {"query": w, "fields": TEXT_FIELDS, "type": "most_fields",
                         "operator": "and"}}
        for w in ("deploy", "foo_bar", "https://x.org/a")]


def test_phrases_match_unstemmed_body():
    boolean = inner_bool(build('"exact phrase" word'))
    assert {"match_phrase": {"body.exact": {"query": "exact phrase"}}} in boolean["must"]
    assert len(boolean["must"]) == 2


def test_exclusions_go_to_must_not_with_the_same_clauses():
    boolean = inner_bool(build('deploy -staging -"dry run"'))
    assert boolean["must_not"][2:] == [
        {"multi_match": {"query": "staging", "fields": TEXT_FIELDS, "type": "most_fields",
                         "operator": "and"}},
        {"match_phrase": {"body.exact": {"query": "dry run"}}}]
    assert len(boolean["must"]) == 1


@pytest.mark.parametrize("sort", ["relevance", "recent"])
@pytest.mark.parametrize("text", ["from:ann", "-staging", "has:like is:mine", "on:2026-01-01"])
def test_no_text_is_filters_only(text, sort):
    query = build(text, sort=sort)
    assert "function_score" not in query and "must" not in query["bool"]


def test_relevance_blends_text_score_with_recency():
    fs = build("deploy", sort="relevance")["function_score"]
    assert fs["boost_mode"] == "multiply"
    decays = [f for f in fs["functions"] if "exp" in f or "gauss" in f]
    assert len(decays) == 1
    decay = next(iter(decays[0].values()))["created_at"]
    assert decay["origin"] == "now" and decay["scale"] == "30d"
    pinned = message_query(resolve(parse_query("deploy"), team(), "u1", by_score=True,
                                   recency_origin="2026-05-01T00:00:00.000Z"))
    exp = pinned["function_score"]["functions"][0]["exp"]["created_at"]
    assert exp["origin"] == "2026-05-01T00:00:00.000Z"   # the same on every page of a search
    assert fs["query"]["bool"]["must"] == inner_bool(build("deploy", sort="recent"))["must"]


def test_recent_sort_is_a_plain_bool():
    assert set(build("deploy", sort="recent")) == {"bool"}


def test_is_mine_filters_on_the_caller():
    assert {"term": {"sender_id": "u1"}} in inner_bool(build("is:mine"))["filter"]
    assert not any("sender_id" in str(f) for f in inner_bool(build("deploy"))["filter"])


def test_has_like_needs_a_like():
    assert {"exists": {"field": "liked_by"}} in inner_bool(build("has:like"))["filter"]
    assert "liked_by" not in str(inner_bool(build("deploy")))


def test_from_filters_on_resolved_sender_ids():
    boolean = inner_bool(build("from:ann from:BOB"))
    assert {"terms": {"sender_id": ["s1", "s2"]}} in boolean["filter"]


def test_from_or_with_an_unknown_user_matches_nothing():
    assert build("from:ghost") is None
    assert build("with:ghost deploy") is None


def test_with_narrows_the_visible_chats_to_those_holding_the_user():
    boolean = inner_bool(build("with:bob"))
    assert boolean["filter"][:2] == [PERMISSION_FILTERS[0], {"terms": {"chat_id": ["102"]}}]


def test_a_left_chat_is_not_searched():
    state = team()
    state.put_chat({"id": "102", "member_ids": ["s1", "s2"]})   # u1 left
    assert inner_bool(build("deploy", state=state))["filter"][:2] == [
        PERMISSION_FILTERS[0], {"terms": {"chat_id": ["101"]}}]


def date_range(text):
    ranges = [f["range"]["created_at"] for f in inner_bool(build(text))["filter"] if "range" in f]
    assert len(ranges) <= 1
    return ranges[0] if ranges else None


def test_before_is_strictly_before_the_day_starts():
    assert date_range("before:2026-05-01") == {"lt": "2026-05-01T00:00:00Z"}


def test_after_starts_the_next_day():
    assert date_range("after:2026-05-01") == {"gte": "2026-05-02T00:00:00Z"}


def test_after_crosses_month_and_year():
    assert date_range("after:2026-02-28") == {"gte": "2026-03-01T00:00:00Z"}
    assert date_range("after:2026-12-31") == {"gte": "2027-01-01T00:00:00Z"}


def test_on_is_the_whole_utc_day():
    assert date_range("on:2026-05-01") == {"gte": "2026-05-01T00:00:00Z",
                                           "lt": "2026-05-02T00:00:00Z"}


def test_after_and_before_together():
    assert date_range("after:2026-05-01 before:2026-05-10") == {
        "gte": "2026-05-02T00:00:00Z", "lt": "2026-05-10T00:00:00Z"}


def test_on_narrowed_by_looser_before_after():
    assert date_range("on:2026-05-05 after:2026-01-01 before:2026-12-01") == {
        "gte": "2026-05-05T00:00:00Z", "lt": "2026-05-06T00:00:00Z"}


def test_no_dates_no_range():
    assert date_range("deploy") is None


def test_in_narrows_the_visible_chats():
    """in: is intersected into the visible chats; the query adds no filter of its own."""
    assert inner_bool(build("in:101 deploy"))["filter"] == [
        {"term": {"team_id": "t1"}}, {"terms": {"chat_id": ["101"]}}]


# ---------------------------------------------------------------------------- highlight

def test_highlight_clause():
    h = highlight_clause()
    assert h["pre_tags"] == ["<mark>"] and h["post_tags"] == ["</mark>"]
    assert h["encoder"] == "html"
    body = h["fields"]["body"]
    assert set(body["matched_fields"]) == {"body", "body.exact"}
    assert body["fragment_size"] == 150 and body["number_of_fragments"] == 3
    assert body["no_match_size"] == 150


def test_highlight_clause_is_a_fresh_dict_each_time():
    h = highlight_clause()
    h["fields"].clear()
    assert highlight_clause()["fields"]


# ---------------------------------------------------------------------------- new operators resolved

def titled_team() -> TeamState:
    """u1 (me), ann (s1), bob (s2), cat (s3); 101: direct u1+ann; 102: "Release v2" (u1, ann,
    bob); 103: "release  V2" (u1, bob); 104: "Ops" (u1, cat); 105: "Ops" without u1;
    106: direct ann+bob (not u1's)."""
    state = TeamState({"id": "t1"})
    for uid, name in (("u1", "me"), ("s1", "ann"), ("s2", "bob"), ("s3", "cat")):
        state.add_user({"id": uid, "username_key": name})
    for cid, kind, title, members in (
            ("101", "direct", None, ("u1", "s1")), ("102", "group", "Release v2", ("u1", "s1", "s2")),
            ("103", "group", "release  V2", ("u1", "s2")), ("104", "group", "Ops", ("u1", "s3")),
            ("105", "group", "Ops", ("s1", "s3")), ("106", "direct", None, ("s1", "s2"))):
        state.put_chat({"id": cid, "kind": kind, "title": title, "member_ids": list(members)})
    return state


def resolved(text):
    return resolve(parse_query(text), titled_team(), "u1", by_score=True)


@pytest.mark.parametrize("text, chats", [
    ("in:ops", ("104",)), ('in:"RELEASE V2"', ("102", "103")), ("in:@ann", ("101",)),
    ("in:@bob", ()), ("in:nosuch", ()), ("in:@nobody", ()),
    ("in:ops in:@ann", ("101", "104")), ("-in:ops", ("101", "102", "103")),
    ('-in:"release v2" -in:@ann', ("104",)), ("-in:101", ("102", "103", "104")),
    ("-in:nosuch", ("101", "102", "103", "104")), ("-with:bob", ("101", "104")),
    ("-with:nobody", ("101", "102", "103", "104")), ("with:ann -in:@ann", ("102",)),
])
def test_in_titles_direct_and_negations_resolve_to_the_callers_chats(text, chats):
    q = resolved(text)
    assert (q.chat_ids if q else ()) == chats


def test_from_me_is_the_viewer_and_negated_senders_are_excluded():
    assert resolved("from:me").sender_ids == ("u1",)
    assert set(resolved("from:me from:ann").sender_ids) == {"u1", "s1"}
    q = resolved("-from:ann -from:nobody -is:mine")
    assert q.sender_ids is None and q.excluded_sender_ids == ("s1", "u1")
    assert resolved("-from:me").excluded_sender_ids == ("u1",)
    boolean = inner_bool(message_query(resolved("-from:bob x")))
    assert {"terms": {"sender_id": ["s2"]}} in boolean["must_not"]


def test_negated_flags_and_dates_go_to_must_not():
    boolean = inner_bool(message_query(resolved(
        "-has:like -is:mentioned -is:edited -has:link -on:2026-05-01 -before:2026-01-01")))
    must_not = boolean["must_not"]
    assert must_not[:2] == PERMISSION_MUST_NOT
    assert {"exists": {"field": "liked_by"}} in must_not
    assert {"term": {"mentions": "u1"}} in must_not
    assert {"exists": {"field": "edited_at"}} in must_not
    assert {"range": {"created_at": {"gte": "2026-05-01T00:00:00Z", "lt": "2026-05-02T00:00:00Z"}}} in must_not
    assert {"range": {"created_at": {"lt": "2026-01-01T00:00:00Z"}}} in must_not
    assert any("has_link" in str(c) for c in must_not)
    assert all("has_link" not in str(c) and "liked_by" not in str(c) for c in boolean["filter"])


def test_has_link_filters_on_the_flag_with_a_fallback_for_old_messages():
    boolean = inner_bool(message_query(resolved("has:link")))
    link = boolean["filter"][-1]["bool"]
    assert {"term": {"has_link": True}} in link["should"] and link["minimum_should_match"] == 1
    legacy = link["should"][1]["bool"]
    assert legacy["must_not"] == [{"exists": {"field": "has_link"}}]
    assert "body.code" in str(legacy["filter"]) and "http" in str(legacy["filter"])


def test_during_is_a_created_at_range():
    boolean = inner_bool(message_query(resolved("during:2026-02")))
    assert {"range": {"created_at": {"gte": "2026-02-01T00:00:00Z", "lt": "2026-03-01T00:00:00Z"}}} \
        in boolean["filter"]


def test_prefix_goes_to_body_exact_unexpanded():
    boolean = inner_bool(message_query(resolved("depl* -stag*")))
    assert boolean["must"] == [{"match_bool_prefix": {"body.exact": {"query": "depl", "operator": "and"}}}]
    assert {"match_bool_prefix": {"body.exact": {"query": "stag", "operator": "and"}}} in boolean["must_not"]


@pytest.mark.parametrize("word", ["北京", "東京", "서울", "カタカナ", "北京2024"])
def test_cjk_words_are_phrases_of_adjacent_characters(word):
    boolean = inner_bool(message_query(resolved(word)))
    assert boolean["must"] == [{"bool": {"should": [
        {"match_phrase": {"body.cjk": {"query": word}}},
        {"match_phrase": {"body.exact": {"query": word}}}], "minimum_should_match": 1}}]
