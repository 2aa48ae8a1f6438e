"""Relevance as a number: a labelled set of queries over a small multilingual corpus sent
through the real send path (chat/ in process, a real engine), scored by MRR@10.

Each query has the messages it should find first and near misses: messages a sloppy
analyzer would match (北…京 apart for 北京, gitlab for github, "app py" for app.py, v2.3.10
for v2.3.1, 10.0.0.10 for 10.0.0.1). The suite fails under MRR 0.9, and prints the figure
and every near miss that came back (above the first relevant hit or not)."""
import pytest

from chatsvc.chat import chats, search, send
from chatsvc.store import messages as message_store
from tests.helpers import local_team

MIN_MRR = 0.9
K = 10

CORPUS = {
    "zh_bj": "我们明天在北京开会", "zh_bj2": "北京烤鸭很好吃", "zh_apart": "北方的京城很冷",
    "zh_db": "数据库迁移失败了", "zh_move": "迁到新的移动平台", "zh_ai": "人工智能很有前途",
    "zh_ai_apart": "智力和能力都重要", "zh_phone": "我的iPhone手机坏了", "zh_hand": "手上的机器很旧",
    "ko_seoul": "서울에서 만나요", "ko_apart": "서쪽 울타리를 고쳐요", "ko_busan": "회의는 부산에서 합니다",
    "ja_tokyo": "東京タワーに行きました", "ja_apart": "東の京都へ", "ja_test": "カタカナのテストです",
    "fr_accent": "on se retrouve au café ce soir", "en_cafe": "the cafe on main street is closed",
    "fr_naive": "a naïve approach to caching", "de_compound": "Die Donaudampfschifffahrt fällt heute aus",
    "de_parts": "Dampf auf der Donau", "de_street": "Die Straße ist gesperrt",
    "emoji": "release shipped 🎉 party tonight", "no_emoji": "release shipped, no party",
    "url_gh": "PR is at https://github.com/acme/chatsvc/pull/42",
    "url_gl": "mirror on https://gitlab.com/acme/chatsvc",
    "url_docs": "docs live at https://docs.example.org/guide/install",
    "file_app": "the bug is in app.py line 40", "file_app_words": "the app py wrapper is old",
    "file_path": "see src/chatsvc/store/search.py for the query",
    "id_snake": "rename user_id to member_id", "id_words": "the user id field is wrong",
    "id_camel": "call getUserName before render", "id_camel_words": "get the user name first",
    "id_snake2": "use snake_case names here", "id_snake_words": "a snake in the case",
    "ver_1": "upgrade to v2.3.1 now", "ver_10": "v2.3.10 is out today",
    "ver_py": "requires python 3.12", "ver_py_other": "python 3.1.2 was old",
    "ip_1": "ping 10.0.0.1 fails", "ip_10": "host 10.0.0.10 is up",
    "tag": "#incident-417 is resolved", "tag_words": "the incident 417 report",
    "mention": "@carol can you review", "mention_word": "carol said no",
    "en_deployed": "we deployed the build", "en_deployment": "deployment paused for now",
}

# (query, relevant: any of them first is perfect, near misses)
LABELLED = [
    ("北京", {"zh_bj", "zh_bj2"}, {"zh_apart"}),
    ("迁移", {"zh_db"}, {"zh_move"}),
    ("数据库", {"zh_db"}, set()),
    ("智能", {"zh_ai"}, {"zh_ai_apart"}),
    ("手机", {"zh_phone"}, {"zh_hand"}),
    ("서울", {"ko_seoul"}, {"ko_apart"}),
    ("부산", {"ko_busan"}, set()),
    ("만나요", {"ko_seoul"}, set()),
    ("東京", {"ja_tokyo"}, {"ja_apart"}),
    ("タワー", {"ja_tokyo"}, set()),
    ("テスト", {"ja_test"}, set()),
    ("café", {"fr_accent"}, {"en_cafe"}),
    ("cafe", {"en_cafe", "fr_accent"}, set()),
    ("naive", {"fr_naive"}, set()),
    ("Donaudampfschifffahrt", {"de_compound"}, {"de_parts"}),
    ("fällt", {"de_compound"}, set()),
    ("Straße", {"de_street"}, set()),
    ("🎉", {"emoji"}, {"no_emoji"}),
    ("github", {"url_gh"}, {"url_gl"}),
    ("github.com", {"url_gh"}, {"url_gl"}),
    ("gitlab", {"url_gl"}, {"url_gh"}),
    ("install", {"url_docs"}, set()),
    ("docs.example.org", {"url_docs"}, set()),
    ("acme", {"url_gh", "url_gl"}, set()),
    ("app.py", {"file_app"}, {"file_app_words"}),
    ("search.py", {"file_path"}, set()),
    ("src/chatsvc/store/search.py", {"file_path"}, set()),
    ("user_id", {"id_snake"}, {"id_words"}),
    ("member_id", {"id_snake"}, set()),
    ("getUserName", {"id_camel"}, {"id_camel_words"}),
    ("getusername", {"id_camel"}, {"id_camel_words"}),
    ("snake_case", {"id_snake2"}, {"id_snake_words"}),
    ("v2.3.1", {"ver_1"}, {"ver_10"}),
    ("v2.3.10", {"ver_10"}, {"ver_1"}),
    ("3.12", {"ver_py"}, {"ver_py_other"}),
    ("10.0.0.1", {"ip_1"}, {"ip_10"}),
    ("10.0.0.10", {"ip_10"}, {"ip_1"}),
    ("#incident-417", {"tag"}, {"tag_words"}),
    ("@carol", {"mention"}, {"mention_word"}),
    ("deploy", {"en_deployed", "en_deployment"}, set()),
    ("deplo*", {"en_deployed", "en_deployment"}, set()),
    ('"the build"', {"en_deployed"}, set()),
    ("has:link github", {"url_gh"}, {"url_gl"}),
]
# Queries whose relevant messages must ALL be among the hits (accent folding both ways...).
EVERY_RELEVANT = {"cafe", "deploy", "deplo*", "acme", "北京"}


@pytest.fixture(scope="module")
def corpus(make_context):
    ctx = make_context()
    team, people = local_team(ctx, "ann", "bob", "carol")
    ann = people["ann"]
    chat, _ = chats.create_chat(ctx, ann, [people["bob"]["id"], people["carol"]["id"]], "Relevance")
    key_of = {}
    for i, (key, body) in enumerate(CORPUS.items()):
        message = send.send_message(ctx, ann, chat["id"], body, f"rel-{i}")[0]
        key_of[message["id"]] = key
    message_store.refresh(ctx.engine)
    return ctx, ann, key_of


def ranked(corpus, q) -> list[str]:
    ctx, ann, key_of = corpus
    hits = search.search(ctx, ann, q, limit=K)["hits"]
    return [key_of.get(h["message"]["id"], "?") for h in hits]


def test_mrr_at_10(corpus):
    assert len(LABELLED) >= 40
    reciprocal, near_returned, misses = [], [], []
    for q, relevant, near in LABELLED:
        keys = ranked(corpus, q)
        rank = next((i + 1 for i, k in enumerate(keys) if k in relevant), None)
        reciprocal.append(1 / rank if rank else 0.0)
        if rank is None:
            misses.append(q)
        for i, k in enumerate(keys):
            if k in near:
                above = rank is None or i + 1 < rank
                near_returned.append(f"{q!r}: {k} at {i + 1}{' (ABOVE the first relevant)' if above else ''}")
        if q in EVERY_RELEVANT:
            assert relevant <= set(keys), (q, keys)
    mrr = sum(reciprocal) / len(reciprocal)
    report = [f"MRR@{K} = {mrr:.3f} over {len(LABELLED)} queries", f"not found: {misses or 'none'}",
              "near misses returned:"] + ["  " + line for line in near_returned or ["none"]]
    print("\n" + "\n".join(report))
    assert mrr >= MIN_MRR, "\n".join(report)


@pytest.mark.parametrize("q, relevant, near", [x for x in LABELLED if x[2]],
                         ids=[x[0] for x in LABELLED if x[2]])
def test_near_misses_never_rank_above_the_relevant(corpus, q, relevant, near):
    keys = ranked(corpus, q)
    firsts = [k for k in keys if k in relevant or k in near][:1]
    assert firsts and firsts[0] in relevant, (q, keys)
