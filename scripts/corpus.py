"""A realistic, reproducible chat corpus: generator and loader (search and export benchmarks).

    from scripts.corpus import build_world, generate, load
    world = build_world(seed=7, n_messages=1_000_000)      # teams, users, chats (deterministic)
    for doc in generate(7, 1_000_000, world=world): ...     # message docs, ascending id
    stats = load("http://127.0.0.1:9200", "bench", 1_000_000, seed=7)

Everything is a pure function of (seed, n_messages, start, end): the same arguments give the
same teams, users, chats and messages, byte for byte. Documents have exactly the shapes the
app writes (chatsvc/chat/accounts.py, chats.py, send.py, messages.py), so a server started
with CHATSVC_INDEX_PREFIX=<prefix> serves the corpus: every user's password is
``CORPUS_PASSWORD`` (one shared argon2 hash), team names are ``corpus-<seed>-<n>-<word>-<i>``.
Not written: idempotency claims (only a retried send would look them up) and tokens.

Realism: team sizes and chat activity are heavy-tailed (a few busy teams and chats, many
quiet ones); traffic follows working hours and weekdays; senders are chat members; bodies
range from "ok" to multi-paragraph notes with inflected English (deploy / deployed /
deployments), names, @mentions, code identifiers (foo_bar, camelCase, v2.3.1, HTTP/2),
paths, URLs, ticket numbers, times and amounts. A few messages are liked, hidden by a member
or deleted for everyone, and some chats have former members, as the export needs.
"""
import bisect
import functools
import json
import math
import multiprocessing
import os
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from chatsvc.chat.accounts import AVATAR_COLORS, hash_password  # noqa: E402
from chatsvc.ids import EPOCH_MS, format_time  # noqa: E402

CORPUS_PASSWORD = "corpus-password"
WORKER = 1023                     # snowflake worker of corpus ids: never the app's (0..)
DEFAULT_START = datetime(2025, 11, 1, tzinfo=timezone.utc)
DEFAULT_END = datetime(2026, 11, 1, tzinfo=timezone.utc)

# ------------------------------------------------------------------------- vocabulary

FIRST = ("ann bob carol dave erin frank grace heidi ivan judy mallory niaj olivia peggy rupert "
         "sybil trent victor walter yasmin zoe aisha bruno chen diego elena farid gita hiro ines "
         "jonas kofi lena marco nadia omar priya quentin rosa sanjay tomas uma vera wei xavier "
         "yusuf zara amir beatriz camille dmitri emeka fatima gunnar hana igor jamal keiko lars "
         "maria nikolai oksana pablo rahul sofia tariq ursula valentina wanda yuki").split()
LAST = ("smith garcia chen mueller rossi kowalski nguyen okafor tanaka silva dubois novak "
        "johansson patel kim ivanova hansen costa moreau schmidt lopez walker murphy singh "
        "haddad ferreira bauer lindqvist sato oconnor").split()
TEAM_WORDS = ("acme globex initech umbrella hooli stark wayne tyrell cyberdyne soylent "
              "wonka aperture vandelay pied piper gringotts oscorp monarch dunder massive "
              "northwind contoso fabrikam tailspin adventure litware proseware woodgrove").split()

COMMON = ("the to and a of i it is in that you for on we this be with have not are so but "
          "was just can do will at if my me all get what about from like they would there up "
          "out one know think an time as by he she or yes no now good some more our when "
          "your then also how see need any make want go well should could back still going "
          "today tomorrow yesterday morning afternoon tonight week later soon after before "
          "again maybe probably already really actually right sure thing things people team "
          "work call meeting quick question idea plan update status issue problem fix change "
          "changes help please thanks thank let us check look looks looking looked try tried "
          "trying test tests tested testing run running ran works working worked broken break "
          "take takes took send sent sending share shared write wrote review reviewed "
          "reviewing reviews ready done finish finished start started starting wait waiting "
          "happen happened happening around little big small new old first last next other "
          "same different important easy hard fast slow long short whole half few many much "
          "every each both because since until while though although instead").split()
TECH = ("deploy deployed deploying deployment deployments deploys release released releases "
        "releasing build builds building built merge merged merging merges branch branches "
        "commit commits committed rollback rolled rollout server servers database databases "
        "query queries index indexes indexing cache caching cached config configuration "
        "pipeline pipelines staging production prod dev cluster clusters node nodes latency "
        "timeout timeouts error errors exception exceptions crash crashed crashing bug bugs "
        "ticket tickets migration migrations migrate migrated schema endpoint endpoints api "
        "client clients request requests response responses token tokens login logout auth "
        "dashboard dashboards metrics alert alerts alerting monitor monitoring log logs "
        "logging trace tracing benchmark benchmarks memory cpu disk network upgrade upgraded "
        "upgrading patch patches hotfix docker kubernetes container containers image images "
        "backup backups restore restored replica replicas shard shards snapshot snapshots "
        "frontend backend mobile android ios browser css javascript python golang rust java "
        "typescript react postgres redis kafka nginx terraform ansible jenkins github gitlab "
        "sprint standup retro demo roadmap customer customers invoice invoices contract "
        "budget forecast quarter revenue onboarding interview candidate hiring offsite "
        "design designs mockup prototype feedback spec specs draft document docs wiki").split()
ACKS = ["ok", "ok!", "k", "sure", "yes", "yep", "nope", "no", "thanks!", "thank you", "thx", "ty",
        "lgtm", "LGTM", "+1", "sounds good", "will do", "on it", "done", "nice", "great!",
        "haha", "lol", "😂", "👍", "🎉", "got it", "makes sense", "agreed", "ack", "brb",
        "omw", "np", "ping", "one sec", "looking", "👀", "ship it", "works for me"]
GREETINGS = ["hi", "hey", "hello", "morning", "good morning", "hey all", "hi team", "yo"]
OPENERS = ["quick question:", "fyi", "FYI", "heads up:", "btw", "update:", "reminder:",
           "question for {m}:", "{m} can you take a look?", "cc {m}", "", "", "", "", ""]
IDENT_PARTS = ("user account order payment session token cache queue worker job retry batch "
               "event message chat search index shard node config flag limit count total "
               "max min timeout handler client server request response buffer stream").split()
DOMAINS = ["github.com", "gitlab.example.com", "docs.google.com", "ci.example.com",
           "grafana.internal", "jira.example.com", "stackoverflow.com", "wiki.example.org",
           "example.com", "status.example.io"]
FILE_EXT = ["py", "js", "ts", "go", "rs", "java", "yaml", "json", "md", "sql", "sh", "tf"]
ERRORS = ["NullPointerException", "ECONNREFUSED", "ETIMEDOUT", "OOMKilled", "HTTP 502",
          "HTTP 503", "500 Internal Server Error", "SIGSEGV", "KeyError", "TypeError",
          "deadlock detected", "connection reset by peer", "disk full", "404 Not Found"]
PROTOCOLS = ["HTTP/2", "HTTP/1.1", "HTTP/3", "TLS1.3", "IPv6", "gRPC", "OAuth2", "UTF-8", "x86_64",
             "arm64", "S3", "EC2", "k8s", "i18n", "e2e", "CI/CD"]


def _zipf_cum(n: int, s: float = 1.07) -> list[float]:
    total, out = 0.0, []
    for rank in range(1, n + 1):
        total += 1.0 / rank ** s
        out.append(total)
    return out


class _Words:
    """Zipf-weighted picks from a word list (fast: bisect on cumulative weights)."""

    def __init__(self, words, s=1.0):
        self.words = list(words)
        self.cum = _zipf_cum(len(self.words), s)
        self.total = self.cum[-1]

    def pick(self, rng: random.Random) -> str:
        return self.words[bisect.bisect(self.cum, rng.random() * self.total)]


_COMMON = _Words(COMMON, 0.9)
_TECH = _Words(random.Random("tech-order").sample(TECH, len(TECH)), 0.8)   # topics spread out


# ------------------------------------------------------------------------- the world

@dataclass
class World:
    seed: int
    n_messages: int
    teams: list = field(default_factory=list)      # team docs
    users: list = field(default_factory=list)      # user docs
    chats: list = field(default_factory=list)      # chat docs
    contacts: list = field(default_factory=list)   # (owner_id, contact_id, team_id)
    claims: list = field(default_factory=list)     # (key, owner_id)
    # per team: (chat docs, cumulative activity weights); per chat: member ids, weights
    team_cum: list = field(default_factory=list)
    team_chats: list = field(default_factory=list)
    chat_cum: list = field(default_factory=list)
    usernames: dict = field(default_factory=dict)  # user id -> username


class _Ids:
    """Snowflakes from given milliseconds, strictly increasing (sequence within a ms)."""

    def __init__(self):
        self.last_ms, self.seq = -1, 0

    def at(self, ms: int) -> int:
        ms -= EPOCH_MS
        if ms <= self.last_ms:
            ms = self.last_ms
            self.seq += 1
            if self.seq > 4095:
                ms, self.seq = ms + 1, 0
        else:
            self.seq = 0
        self.last_ms = ms
        return (ms << 22) | (WORKER << 12) | self.seq


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def _iso_ms(ms: int) -> str:
    return format_time(datetime.fromtimestamp(ms / 1000, tz=timezone.utc))


def build_world(seed: int, n_messages: int, start: datetime = DEFAULT_START,
                password_hash: str | None = None) -> World:
    """Teams, users, chats and contacts for a corpus of ``n_messages``: about one team per
    10,000 messages (at least 3), team sizes heavy-tailed from 3 to ~400 users."""
    rng = random.Random(f"world:{seed}")
    world = World(seed, n_messages)
    ids = _Ids()
    created_ms = _ms(start - timedelta(days=30))
    pw = password_hash or _password_hash()
    n_teams = max(3, n_messages // 10_000)
    for t in range(n_teams):
        size = min(400, max(3, int(3 + rng.paretovariate(1.3) * 8)))
        if t == 0:
            size = max(size, 60)
        name = f"corpus-{seed}-{n_messages}-{TEAM_WORDS[t % len(TEAM_WORDS)]}-{t}"
        team_id = str(ids.at(created_ms + t))
        members = []
        used = set()
        for u in range(size):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            username = first if first not in used else f"{first}.{last}"
            while username in used:
                username = f"{first}{rng.randrange(2, 999)}"
            used.add(username)
            user_id = str(ids.at(created_ms + 10_000 + t * 1000 + u))
            members.append(user_id)
            world.usernames[user_id] = username
            world.users.append({
                "id": user_id, "team_id": team_id, "username": username,
                "username_key": username.casefold(),
                "display_name": f"{first.title()} {last.title()}",
                "avatar_color": AVATAR_COLORS[rng.randrange(len(AVATAR_COLORS))],
                "password_hash": pw, "is_admin": u == 0,
                "created_at": _iso_ms(created_ms + 10_000 + t * 1000 + u)})
            world.claims.append((f"user:{team_id}:{username.casefold()}", user_id))
        world.teams.append({"id": team_id, "name": name, "name_key": name.casefold(),
                            "invite_code": f"corpus{seed}x{t}", "admin_id": members[0],
                            "created_at": _iso_ms(created_ms + t)})
        world.claims.append((f"team:{name.casefold()}", team_id))
        for owner in members:
            for contact in rng.sample(members, min(len(members), 6)):
                if contact != owner:
                    world.contacts.append((owner, contact, team_id))
        # chats: directs between frequent pairs, groups of 3..40
        chats, weights = [], []
        chat_ms = created_ms + 5_000_000 + t * 10_000

        def add_chat(kind, member_ids, title):
            nonlocal chat_ms
            chat_ms += 7
            now = _iso_ms(chat_ms)
            former = []
            if kind == "group" and len(member_ids) > 3 and rng.random() < 0.15:
                former = [member_ids.pop()]
            chat = {"id": str(ids.at(chat_ms)), "team_id": team_id, "kind": kind, "title": title,
                    "member_ids": member_ids, "former_member_ids": former,
                    "membership": [{"user_id": u, "joined_at": now, "left_at": None} for u in member_ids]
                    + [{"user_id": u, "joined_at": now, "left_at": _iso_ms(chat_ms + 86_400_000)}
                       for u in former],
                    "created_by": member_ids[0], "created_at": now}
            chats.append(chat)
            weights.append(rng.paretovariate(1.1))
        pairs = set()
        for _ in range(min(size * 3, size * (size - 1) // 2)):
            a, b = rng.sample(members, 2)
            if (a, b) in pairs or (b, a) in pairs:
                continue
            pairs.add((a, b))
            add_chat("direct", [a, b], None)
        for g in range(max(1, size // 3)):
            k = min(size, max(3, int(rng.paretovariate(1.2) * 3)), 40)
            topic = _TECH.pick(rng)
            title = rng.choice([f"{topic}", f"team-{topic}", f"{topic} sync", f"#{topic}",
                                f"{TEAM_WORDS[(t + g) % len(TEAM_WORDS)]} {topic}"])
            add_chat("group", rng.sample(members, k), title)
        world.chats.extend(chats)
        cum, total = [], 0.0
        for w in weights:
            total += w
            cum.append(total)
        world.team_chats.append(chats)
        world.chat_cum.append(cum)
    # team activity ~ number of users (bigger teams talk more)
    total, sizes = 0.0, {}
    for u in world.users:
        sizes[u["team_id"]] = sizes.get(u["team_id"], 0) + 1
    for team in world.teams:
        total += sizes[team["id"]]
        world.team_cum.append(total)
    return world


@functools.lru_cache(maxsize=None)
def _password_hash() -> str:
    """One argon2 hash of CORPUS_PASSWORD, shared by every corpus user (hashing thousands
    would take minutes). Cached: the loader's forked producer must not hash again, since
    the app's hasher runs on gevent's thread pool, whose threads do not survive a fork."""
    return hash_password(CORPUS_PASSWORD)


# ------------------------------------------------------------------------- bodies

def _ident(rng) -> str:
    a, b = rng.choice(IDENT_PARTS), rng.choice(IDENT_PARTS)
    style = rng.random()
    if style < 0.5:
        return f"{a}_{b}"
    if style < 0.8:
        return a + b.title()
    return f"{a}_{b}_{rng.choice(IDENT_PARTS)}"


def _code_token(rng, names) -> str:
    r = rng.random()
    if r < 0.25:
        return _ident(rng)
    if r < 0.40:
        return f"v{rng.randrange(0, 5)}.{rng.randrange(0, 20)}.{rng.randrange(0, 30)}"
    if r < 0.52:
        return rng.choice(PROTOCOLS)
    if r < 0.65:
        return f"{rng.choice(['src', 'lib', 'app', 'cmd', 'pkg'])}/{_ident(rng)}.{rng.choice(FILE_EXT)}"
    if r < 0.80:
        return _url(rng)
    if r < 0.90:
        return f"{rng.choice(['JIRA', 'OPS', 'BUG', 'SEC'])}-{rng.randrange(1, 9000)}"
    if r < 0.95:
        return f"#{rng.randrange(1, 5000)}"
    return rng.choice(ERRORS)


def _url(rng) -> str:
    domain = rng.choice(DOMAINS)
    path = "/".join(rng.choice(IDENT_PARTS + TECH[:40]) for _ in range(rng.randrange(1, 4)))
    tail = f"/{rng.randrange(1, 99999)}" if rng.random() < 0.5 else ""
    query = f"?id={rng.randrange(1, 9999)}" if rng.random() < 0.2 else ""
    return f"https://{domain}/{path}{tail}{query}"


def _number(rng) -> str:
    r = rng.random()
    if r < 0.3:
        return f"{rng.randrange(7, 20)}:{rng.choice(['00', '15', '30', '45'])}"
    if r < 0.5:
        return f"{rng.randrange(1, 100)}%"
    if r < 0.7:
        return f"{rng.randrange(1, 999)}ms"
    if r < 0.85:
        return f"${rng.randrange(1, 99)},{rng.randrange(100, 999)}"
    return str(rng.randrange(1, 10000))


def _sentence(rng, names, n_words) -> str:
    out = []
    for _ in range(n_words):
        r = rng.random()
        if r < 0.62:
            out.append(_COMMON.pick(rng))
        elif r < 0.90:
            out.append(_TECH.pick(rng))
        elif r < 0.94:
            out.append(_code_token(rng, names))
        elif r < 0.97:
            out.append(_number(rng))
        else:
            out.append(rng.choice(names).title())
    if out and rng.random() < 0.6:
        out[0] = out[0][:1].upper() + out[0][1:]
    return " ".join(out) + rng.choice([".", ".", "", "?", "!", "...", " :)"])


def make_body(rng: random.Random, names: list[str], handles: list[str] | None = None) -> str:
    """One chat message: mostly short, sometimes long, with the odd code token or URL.
    ``names`` are first names said in text, ``handles`` usernames for @mentions."""
    handles = handles or names
    r = rng.random()
    if r < 0.18:
        return rng.choice(ACKS)
    if r < 0.22:
        return rng.choice(GREETINGS) + (f" @{rng.choice(handles)}" if rng.random() < 0.5 else "")
    opener = rng.choice(OPENERS).format(m="@" + rng.choice(handles))
    if r < 0.82:
        body = _sentence(rng, names, max(2, int(rng.lognormvariate(2.1, 0.6))))
    elif r < 0.97:
        body = " ".join(_sentence(rng, names, max(3, int(rng.lognormvariate(2.3, 0.5))))
                        for _ in range(rng.randrange(2, 6)))
    else:
        lines = [_sentence(rng, names, rng.randrange(4, 14)), "```"]
        for _ in range(rng.randrange(2, 10)):
            lines.append(f"{_ident(rng)} = {rng.choice(['None', 'True', str(rng.randrange(100)), repr(_ident(rng))])}")
        lines.append("```")
        lines.append(_sentence(rng, names, rng.randrange(3, 30)))
        body = "\n".join(lines)
    if rng.random() < 0.1:
        body = f"@{rng.choice(handles)} {body}"
    return f"{opener} {body}".strip() if opener else body


# ------------------------------------------------------------------------- messages

def _hour_counts(rng, n: int, start: datetime, end: datetime) -> list[int]:
    """Messages per hour over [start, end): working hours and weekdays are busy."""
    hours = int((end - start).total_seconds() // 3600)
    weights = []
    for h in range(hours):
        t = start + timedelta(hours=h)
        day = 0.25 if t.weekday() >= 5 else 1.0
        hour = t.hour
        daily = 0.08 + math.exp(-((hour - 14) / 4.0) ** 2)   # peak mid-afternoon UTC
        weights.append(day * daily * (0.6 + 0.4 * h / hours))  # traffic grows over the year
    total = sum(weights)
    counts, carry = [], 0.0
    for w in weights:
        exact = n * w / total + carry
        c = int(exact)
        carry = exact - c
        counts.append(c)
    counts[-1] += n - sum(counts)
    return counts


def generate(seed: int, n_messages: int, *, world: World | None = None,
             start: datetime = DEFAULT_START, end: datetime = DEFAULT_END):
    """Yield ``n_messages`` message documents in ascending id (time) order, as the app
    stores them (chatsvc/chat/send.py), with a few likes, hides and deletions applied."""
    world = world or build_world(seed, n_messages, start)
    rng = random.Random(f"messages:{seed}:{n_messages}")
    ids = _Ids()
    names_of, handles_of = {}, {}
    for chat in world.chats:
        names_of[chat["id"]] = [world.usernames[u].split(".")[0].rstrip("0123456789") or "someone"
                                for u in chat["member_ids"]]
        handles_of[chat["id"]] = [world.usernames[u] for u in chat["member_ids"]]
    team_total = world.team_cum[-1]
    start_ms = _ms(start)
    emitted = 0
    for h, count in enumerate(_hour_counts(rng, n_messages, start, end)):
        if not count:
            continue
        base = start_ms + h * 3_600_000
        for off in sorted(rng.randrange(3_600_000) for _ in range(count)):
            t = bisect.bisect(world.team_cum, rng.random() * team_total)
            chats, cum = world.team_chats[t], world.chat_cum[t]
            chat = chats[bisect.bisect(cum, rng.random() * cum[-1])]
            members = chat["member_ids"]
            sender = members[0] if rng.random() < 0.3 else rng.choice(members)
            msg_id = ids.at(base + off)
            doc = {"id": msg_id, "chat_id": chat["id"], "team_id": chat["team_id"],
                   "sender_id": sender, "body": make_body(rng, names_of[chat["id"]], handles_of[chat["id"]]),
                   "created_at": _iso_ms(base + off), "client_msg_id": f"{rng.getrandbits(64):016x}",
                   "liked_by": [], "like_count": 0, "hidden_for": [], "deleted": False}
            r = rng.random()
            if r < 0.08:
                doc["liked_by"] = rng.sample(members, min(len(members), rng.randrange(1, 4)))
                doc["like_count"] = len(doc["liked_by"])
            elif r < 0.09:
                who = rng.choice(members)
                doc["hidden_for"] = [who]
                doc["hidden_log"] = [{"user_id": who, "at": _iso_ms(base + off + 60_000)}]
            elif r < 0.095:
                doc.update(deleted=True, deleted_body=doc["body"], body="",
                           deleted_at=_iso_ms(base + off + 120_000), deleted_by=sender)
            emitted += 1
            yield doc
    assert emitted == n_messages


# ------------------------------------------------------------------------- loading

@dataclass
class LoadStats:
    messages: int
    seconds: float
    requests: int

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


def _bulk_lines(action: str, index: str, doc_id: str, source: dict, routing=None) -> str:
    meta = {"_index": index, "_id": doc_id}
    if routing is not None:
        meta["routing"] = routing
    return json.dumps({action: meta}) + "\n" + json.dumps(source, ensure_ascii=False) + "\n"


def _post_bulk(session, url: str, body: str) -> int:
    for attempt in range(8):
        r = session.post(f"{url}/_bulk", data=body.encode("utf-8"),
                         headers={"Content-Type": "application/x-ndjson"}, timeout=300)
        if r.status_code == 429 or r.status_code >= 500:
            time.sleep(0.5 * (attempt + 1))
            continue
        r.raise_for_status()
        out = r.json()
        if out.get("errors"):
            failed = [i for i in out["items"] if list(i.values())[0].get("error")]
            retry = [i for i in failed if list(i.values())[0].get("status") == 429]
            if retry and len(retry) == len(failed):
                time.sleep(0.5 * (attempt + 1))
                continue
            raise RuntimeError(f"bulk errors: {failed[:3]}")
        return len(out["items"])
    raise RuntimeError("bulk kept being refused (429/5xx)")


def _produce(seed: int, n: int, prefix: str, batch: int, out):
    """Producer process: put ndjson _bulk bodies of ``batch`` messages, then a dict
    {chat_id: (last message id, its created_at)}."""
    try:
        last_of_chat, lines = {}, []
        for doc in generate(seed, n):
            month = doc["created_at"][:7].replace("-", ".")   # = the id's month (index_for)
            lines.append(_bulk_lines("index", f"{prefix}-messages-{month}", str(doc["id"]),
                                     doc, routing=doc["chat_id"]))
            last_of_chat[doc["chat_id"]] = (doc["id"], doc["created_at"])
            if len(lines) >= batch:
                out.put("".join(lines))
                lines = []
        if lines:
            out.put("".join(lines))
        out.put(last_of_chat)
    except BaseException as exc:
        out.put(RuntimeError(f"corpus producer failed: {exc!r}"))


def load(engine_url: str, prefix: str, n: int, seed: int, *, batch: int = 5000,
         parallel: int = 2, progress=None) -> LoadStats:
    """Create the indices of ``prefix`` (the app's templates) and bulk-load the world and
    ``n`` messages (requests of ``batch`` documents, ``parallel`` in flight). Returns the
    message load figures (the world's small kinds are loaded first, not timed)."""
    import requests
    from chatsvc.store import Engine
    from chatsvc.store.indices import bootstrap

    engine_url = engine_url.rstrip("/")
    engine = Engine(engine_url, prefix)
    bootstrap(engine)
    world = build_world(seed, n)
    session = requests.Session()
    small = []
    for team in world.teams:
        small.append(_bulk_lines("index", engine.index("teams"), team["id"], team))
    for user in world.users:
        small.append(_bulk_lines("index", engine.index("users"), user["id"], user))
    created = _iso_ms(_ms(DEFAULT_START) - 86_400_000)
    for key, owner in world.claims:
        small.append(_bulk_lines("index", engine.index("claims"), key,
                                 {"owner_id": owner, "created_at": created}))
    for chat in world.chats:
        small.append(_bulk_lines("index", engine.index("chats"), chat["id"], chat))
    for owner, contact, team_id in world.contacts:
        small.append(_bulk_lines("index", engine.index("contacts"), f"{owner}:{contact}",
                                 {"team_id": team_id, "owner_id": owner, "contact_id": contact,
                                  "created_at": created}))
    for i in range(0, len(small), batch):
        _post_bulk(session, engine_url, "".join(small[i:i + batch]))

    # Generating and encoding documents is Python work as heavy as the engine's: a separate
    # process does it, so the load rate measures the bulk path, not this script's GIL.
    ctx = multiprocessing.get_context("fork")
    chunks = ctx.Queue(maxsize=parallel * 3)
    producer = ctx.Process(target=_produce, args=(seed, n, prefix, batch, chunks), daemon=True)
    producer.start()
    slots = threading.BoundedSemaphore(parallel)
    local = threading.local()
    failures: list = []
    requests_sent = 0

    def send(body: str):
        try:
            if not hasattr(local, "s"):
                local.s = requests.Session()
            _post_bulk(local.s, engine_url, body)
        except BaseException as exc:  # surfaced by the main loop
            failures.append(exc)
        finally:
            slots.release()

    started = time.monotonic()
    last_of_chat: dict = {}
    with ThreadPoolExecutor(parallel) as pool:
        while True:
            item = chunks.get()
            if isinstance(item, dict):      # the end: each chat's last message
                last_of_chat = item
                break
            if isinstance(item, BaseException):
                raise item
            slots.acquire()
            if failures:
                raise failures[0]
            pool.submit(send, item)
            requests_sent += 1
            if progress and requests_sent % 20 == 0:
                progress(min(n, requests_sent * batch), time.monotonic() - started)
    producer.join()
    if failures:
        raise failures[0]
    elapsed = time.monotonic() - started
    # read markers: every member has read up to the chat's last message
    reads = []
    by_id = {c["id"]: c for c in world.chats}
    for chat_id, (msg_id, at) in last_of_chat.items():
        chat = by_id[chat_id]
        for uid in chat["member_ids"]:
            reads.append(_bulk_lines("index", engine.index("reads"), f"{chat_id}:{uid}",
                                     {"chat_id": chat_id, "team_id": chat["team_id"], "user_id": uid,
                                      "message_id": msg_id, "updated_at": at}))
    for i in range(0, len(reads), batch):
        _post_bulk(session, engine_url, "".join(reads[i:i + batch]))
    session.post(f"{engine_url}/{prefix}-*/_refresh", timeout=600)
    return LoadStats(n, elapsed, requests_sent)


def _main(argv):
    """``corpus.py [n]``: a quick look at n generated messages.
    ``corpus.py load URL PREFIX N SEED``: load (progress lines, then one JSON line of
    figures). Benchmarks run the load this way, in an interpreter of its own: they are
    gevent-patched, and the load forks a producer process, which a patched process with
    live greenlets and thread pool does not survive reliably."""
    if argv and argv[0] == "load":
        url, prefix, n, seed = argv[1], argv[2], int(argv[3]), int(argv[4])

        def progress(done, elapsed):
            print(f"  {done:>9,} messages  {elapsed:6.1f} s  {done / elapsed:8,.0f}/s", flush=True)

        st = load(url, prefix, n, seed, batch=5000, parallel=2, progress=progress)
        print(json.dumps({"messages": st.messages, "seconds": st.seconds, "requests": st.requests}))
        return
    count = int(argv[0]) if argv else 20
    for d in generate(7, count):
        print(d["created_at"], d["chat_id"], repr(d["body"])[:160])


if __name__ == "__main__":
    _main(sys.argv[1:])
