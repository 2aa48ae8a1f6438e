"""The demo team's history as a Slack workspace export (what ``scripts/demo`` imports).

    .venv/bin/python scripts/demo_export.py OUT.zip [--now 2026-11-30] [--seed 2026]

A pure function of (seed, now): six people and eight weeks of coherent, handwritten
conversations before ``now``, templated over the days: stand-ups every weekday, the
platform team's work (deploys, reviews, flaky tests, with code and links), an incident with
its timeline (a thread), the v2.3 release (its launch thread), lunch, direct messages, a
German and a Chinese thread, a member who leaves a channel, likes (+1) and emoji reactions
(skin tones included), threads (some replies also sent to the channel), edits and files.
"""
import argparse
import json
import random
import zipfile
from datetime import datetime, timedelta, timezone

PEOPLE = [("U01ALICE", "alice", "Alice Martin"), ("U02BOB", "bob", "Bob Okafor"),
          ("U03CAROL", "carol", "Carol Chen"), ("U04DAVE", "dave", "Dave Rossi"),
          ("U05ERIN", "erin", "Erin Novak"), ("U06FRANK", "frank", "Frank Silva")]
ID = {name: uid for uid, name, _ in PEOPLE}
WEEKS = 8

CHANNELS = [  # id, name, members (at the end), purpose
    ("C01PLATFORM", "platform", ["alice", "bob", "carol", "dave"], "Platform team: stand-ups, deploys, reviews"),
    ("C02INCIDENT", "incidents", ["alice", "bob", "carol", "dave", "erin", "frank"], "Incident response"),
    ("C03RELEASE", "release-v2-3", ["alice", "carol", "erin"], "Shipping v2.3"),
    ("C04LUNCH", "lunch", ["alice", "bob", "carol", "dave", "erin", "frank"], "Where and when"),
]
DMS = [("D01AB", "alice", "bob"), ("D02AC", "alice", "carol"), ("D03BD", "bob", "dave"), ("D04EF", "erin", "frank")]

SERVICES = ["search-api", "gateway", "billing", "auth", "notifier", "ingest", "web"]
TASKS = ["the retry logic in {svc}", "the {svc} dashboard", "flaky tests in {svc}", "the {svc} migration to Postgres 16",
         "rate limiting for {svc}", "the {svc} memory leak", "TLS cert rotation for {svc}", "the {svc} load test",
         "docs for the {svc} API", "cleaning up {svc} feature flags", "the {svc} on-call runbook",
         "profiling {svc} cold starts", "the {svc} index rebuild"]
BLOCKERS = ["none", "none", "none", "waiting on a review of PR #{pr}", "staging is down again",
            "need access to the prod read replica", "none, but I'm out at 3pm"]
LUNCH = [
    [("{a}", "lunch at 12:30? thinking the ramen place"), ("{b}", "in"), ("{c}", "can we do 12:45, I have a call"),
     ("{a}", "12:45 it is")],
    [("{a}", "anyone up for tacos today?"), ("{b}", "yes please :taco:"), ("{c}", "bringing my own today, but I'll join you outside"),
     ("{d}", "count me in")],
    [("{a}", "the new Thai place on 5th opened, reviews look good"), ("{b}", "let's try it, 12:15?"),
     ("{a}", "booked a table for four")],
    [("{a}", "salad bar or pizza?"), ("{b}", "pizza, it's Friday"), ("{c}", "pizza :pizza:"), ("{a}", "pizza wins")],
    [("{a}", "I'm grabbing sandwiches, want anything?"), ("{b}", "turkey on rye, thanks!"), ("{c}", "nothing for me")],
]
DISCUSSIONS = [
    [("{a}", "PR #{pr} is up: {task}. Would love a review before the deploy window"),
     ("{b}", "looking now"), ("{b}", "left two comments, mostly naming. The change to the backoff looks right"),
     ("{a}", "thanks, addressed both"), ("{b}", "approved :white_check_mark:")],
    [("{a}", "heads up: deploying {svc} {ver} to staging"), ("{b}", "go for it"),
     ("{a}", "staging looks healthy, error rate flat. Promoting to prod at 3pm unless someone objects")],
    [("{a}", "is anyone else seeing `ConnectionResetError` from {svc} in CI?"),
     ("{b}", "yes, twice this morning. I think it's the new keep-alive setting"),
     ("{a}", "reverting it for now: https://git.example.com/platform/{svc}/pull/{pr}"),
     ("{c}", "CI is green again after the revert")],
    [("{a}", "quick poll: should we bump the default timeout in {svc} from 5s to 10s?"),
     ("{b}", "I'd rather fix the slow query than raise the timeout"), ("{c}", "agree with {bn}, the p99 is only bad on one endpoint"),
     ("{a}", "fair. I'll open a ticket for the query: PLAT-{ticket}")],
    [("{a}", "here's the snippet that reproduces the bug:\n```\nfor item in batch:\n    if item.retry_count > MAX_RETRIES:\n        dead_letter.put(item)\n```\n`MAX_RETRIES` is read before the config reload"),
     ("{b}", "oh, nice find. Move the read inside the loop?"), ("{a}", "yes, PR #{pr}")],
    [("{a}", "wrote up the design for {task}: https://docs.example.com/platform/{svc}-design"),
     ("{b}", "reading it this afternoon"), ("{c}", "left comments, the rollout section needs a rollback plan"),
     ("{a}", "good point, added one")],
    [("{a}", "dashboard for {svc} is live: https://grafana.example.com/d/{svc}"),
     ("{b}", "the latency panel is :fire:"), ("{a}", "p50 {p50} ms, p99 {p99} ms since the cache change")],
    [("{a}", "who owns the {svc} alerts? got paged for a disk warning at 2am"), ("{b}", "that's us, sorry. The threshold is too low"),
     ("{b}", "raised it to 85% and added a runbook link")],
]
STANDUP_DONE = ["finished {task}", "reviewed PR #{pr}", "paired with {other} on {task}", "wrote tests for {task}",
                "got {task} to staging", "fixed a bug in {task}", "investigated {task}"]
STANDUP_NEXT = ["continue {task}", "start on {task}", "review PR #{pr}", "deploy {task}", "write the doc for {task}",
                "help {other} with {task}"]
DM_TOPICS = [
    [("{a}", "got a minute to talk about the roadmap?"), ("{b}", "sure, call in 5?"), ("{a}", "perfect")],
    [("{a}", "thanks for covering on-call last night"), ("{b}", "no problem, it was quiet :sleeping:")],
    [("{a}", "can you send me the link to the budget sheet?"), ("{b}", "https://docs.example.com/sheets/q3-budget"),
     ("{a}", "got it, thanks")],
    [("{a}", "are you at the office tomorrow?"), ("{b}", "yes, from 10"), ("{a}", "great, let's grab a coffee")],
]
GERMAN = [("erin", "Frank, hast du die Übersetzung für die Release-Notes schon fertig?"),
          ("frank", "Fast. Mir fehlen noch die Abschnitte über die Suche und den Export."),
          ("erin", "Kein Stress, die Notes gehen erst am Donnerstag raus."),
          ("frank", "Super. Ich schicke sie dir morgen früh zur Durchsicht."),
          ("erin", "Danke! Und denk an die Umlaute in der Überschrift, letztes Mal waren sie kaputt."),
          ("frank", "Gute Idee, ich prüfe das vor dem Veröffentlichen.")]
CHINESE = [("carol", "这周五的团队聚餐定在哪家餐厅？"),
           ("dave", "我推荐公司楼下那家四川菜，上次大家都很喜欢。"),
           ("carol", "好主意！我来订位，大概六个人。"),
           ("dave", "记得要一个不辣的菜，Frank 不太能吃辣。"),
           ("carol", "没问题，已经订好了，晚上七点。")]
INCIDENT = [  # minutes after the start, who, text, where: the channel, the thread of the first, or both
    (0, "dave", "<!here> search-api p99 latency is at 2.3s and climbing, error rate 4%. Starting an incident", "chat"),
    (1, "alice", "I'm incident commander. Dave, you're on investigation; Bob, comms please", "chat"),
    (2, "bob", "on comms. Status page updated: https://status.example.com/incidents/417", "chat"),
    (4, "dave", "errors are all from one node: search-3. Heap at 97%", "thread"),
    (6, "carol", "a reindex job started 20 minutes ago on that node", "thread"),
    (7, "alice", "pause the reindex job", "thread"),
    (9, "carol", "paused. `POST /_tasks/reindex-8812/_cancel` returned ok", "thread"),
    (12, "dave", "heap is coming down: 81%. p99 at 900ms", "thread"),
    (15, "dave", "p99 back to 140ms, error rate 0.1%", "both"),
    (16, "bob", "status page: monitoring", "chat"),
    (30, "alice", "stable for 15 minutes. Resolving. Timeline and follow-ups in the postmortem doc", "both"),
    (31, "bob", "status page: resolved :white_check_mark:", "chat"),
    (45, "alice", "postmortem draft: https://docs.example.com/postmortems/417 - root cause: reindex jobs are not throttled", "thread"),
    (50, "carol", "follow-up PLAT-2291: throttle reindex jobs to 20% of the heap", "thread"),
]
RELEASE = [
    (0, "alice", "kicking off v2.3. Checklist: https://docs.example.com/releases/v2.3"),
    (0, "erin", "QA plan is ready, running the regression suite on the RC tomorrow"),
    (1, "carol", "RC1 is tagged: v2.3.0-rc1"),
    (2, "erin", "regression found one bug: the CSV export drops the last row when the file ends without a newline"),
    (2, "carol", "fix is in PR #{pr}, RC2 tagged"),
    (3, "erin", "RC2 passes the regression suite :tada:"),
    (3, "frank", "I'm moving to the mobile team next week, so I'll leave this channel. Good luck with the launch!"),
    (4, "alice", "release notes draft: https://docs.example.com/releases/v2.3-notes"),
    (6, "carol", "v2.3.0 is live :rocket:"),
    (6, "alice", "great work everyone. Retro on Monday"),
]


REACTIONS = ["eyes", "heart", "joy", "raised_hands", "white_check_mark", "+1::skin-tone-2", "+1::skin-tone-4",
             "rocket", "100"]

RELEASE_THREAD = [  # replies to "v2.3.0 is live": minutes after it, who, text, also in the channel
    (3, "erin", "smoke tests pass on prod, the CSV export fix is confirmed", False),
    (8, "alice", "release notes published: https://docs.example.com/releases/v2.3-notes", True),
    (15, "carol", "dashboards are calm, no new errors since the rollout", False),
    (22, "erin", "closing the QA tracker for v2.3 :white_check_mark:", False),
]


def _ts(dt: datetime, micro: int = 0) -> str:
    return f"{int(dt.timestamp())}.{micro:06d}"


class Builder:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.folders: dict[str, list] = {}
        self.used: set = set()

    def post(self, folder: str, when: datetime, who: str, text: str, **extra) -> dict:
        micro = self.rng.randrange(1, 999_999)
        while (folder, int(when.timestamp()), micro) in self.used:
            micro += 1
        self.used.add((folder, int(when.timestamp()), micro))
        msg = {"type": "message", "user": ID[who], "text": text, "ts": _ts(when, micro), **extra}
        r = self.rng.random()
        if r < 0.10:
            others = [u for _, u, _ in PEOPLE if u != who]
            people = self.rng.sample(others, self.rng.randint(1, 3))
            name = "+1" if r < 0.07 else self.rng.choice(REACTIONS)
            msg["reactions"] = [{"name": name, "users": [ID[u] for u in people], "count": len(people)}]
        self.folders.setdefault(folder, []).append(msg)
        return msg

    def reply(self, root: dict, folder: str, when: datetime, who: str, text: str, broadcast: bool = False) -> dict:
        """A reply in ``root``'s thread (``broadcast``: also sent to the channel)."""
        extra = {"thread_ts": root["ts"], **({"subtype": "thread_broadcast"} if broadcast else {})}
        msg = self.post(folder, when, who, text, **extra)
        root["thread_ts"] = root["ts"]
        root["reply_count"] = root.get("reply_count", 0) + 1
        root.setdefault("reply_users", [])
        if msg["user"] not in root["reply_users"]:
            root["reply_users"].append(msg["user"])
        return msg

    @staticmethod
    def edit(msg: dict, when: datetime):
        msg["edited"] = {"user": msg["user"], "ts": _ts(when)}


def _fill(template: str, slots: dict) -> str:
    return template.format(**slots)


def build(now: datetime, seed: int = 2026) -> dict:
    """{zip path: JSON content} of the export."""
    rng = random.Random(seed)
    b = Builder(rng)
    end = now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(weeks=WEEKS)
    days = [start + timedelta(days=i) for i in range(WEEKS * 7)]
    weekdays = [d for d in days if d.weekday() < 5]

    def slots(names):
        svc = rng.choice(SERVICES)
        other = rng.choice([n for _, n, _ in PEOPLE if n not in names[:1]])
        return {"svc": svc, "task": rng.choice(TASKS).format(svc=svc), "pr": rng.randint(1200, 4800),
                "ticket": rng.randint(1000, 2999), "ver": f"v2.{rng.randint(1, 3)}.{rng.randint(0, 9)}",
                "p50": rng.randint(8, 40), "p99": rng.randint(60, 300), "other": other,
                **{k: n for k, n in zip("abcd", names)}, **{k + "n": n.title() for k, n in zip("abcd", names)}}

    def at(day, hour, minute):
        return day + timedelta(hours=hour, minutes=minute, seconds=rng.randint(0, 59))

    def script(folder, day, lines, people, hour, minute=0, thread=False):
        """``thread``: the first line is the root, the others its replies."""
        s = slots(people)
        t = at(day, hour, minute)
        root = None
        for i, (who, text) in enumerate(lines):
            if thread and root is not None:
                b.reply(root, folder, t, _fill(who, s), _fill(text, s))
            else:
                root = b.post(folder, t, _fill(who, s), _fill(text, s))
            t += timedelta(minutes=rng.randint(1, 6), seconds=rng.randint(0, 59))

    platform = ["alice", "bob", "carol", "dave"]
    for day in days:
        weekday = day.weekday() < 5
        if weekday:
            for i, who in enumerate(rng.sample(platform, 4)):   # the stand-up, 9:30
                s = slots([who])
                s["other"] = rng.choice([p for p in platform if p != who])
                done = rng.choice(STANDUP_DONE).format(**s)
                s.update(slots([who]), other=s["other"])
                nxt = rng.choice(STANDUP_NEXT).format(**s)
                blocker = rng.choice(BLOCKERS).format(**s)
                b.post("platform", at(day, 9, 30 + 2 * i), who,
                       f"*Stand-up* Yesterday: {done}. Today: {nxt}. Blockers: {blocker}")
            for hour in rng.sample([10, 10, 11, 12, 13, 14, 15, 16, 17], rng.randint(7, 9)):
                script("platform", day, rng.choice(DISCUSSIONS), rng.sample(platform, 4), hour, rng.randint(0, 40),
                       thread=rng.random() < 0.2)
            people = rng.sample([n for _, n, _ in PEOPLE], 4)
            script("lunch", day, rng.choice(LUNCH), people, 11, rng.randint(30, 55))
            for dm, a, c in rng.sample(DMS, 4):
                pair = [a, c] if rng.random() < 0.5 else [c, a]
                script(dm, day, rng.choice(DM_TOPICS), pair, rng.choice([10, 14, 16]), rng.randint(0, 50))
        elif rng.random() < 0.5:
            b.post("lunch", at(day, 12, 0), rng.choice(["erin", "frank"]), "anyone around for brunch this weekend?")
            b.post("lunch", at(day, 12, 20), rng.choice(["alice", "dave"]), "can't this time, have fun!")

    # An incident three weeks ago, the release in the last two weeks, the German and Chinese threads.
    incident_day = next(d for d in reversed(weekdays) if d <= end - timedelta(weeks=3))
    t0 = at(incident_day, 14, 7)
    first = None
    for minutes, who, text, where in INCIDENT:   # the timeline is the thread of the first message
        when = t0 + timedelta(minutes=minutes, seconds=rng.randint(0, 50))
        if where == "chat":
            msg = b.post("incidents", when, who, text)
        else:
            msg = b.reply(first, "incidents", when, who, text, broadcast=where == "both")
        if minutes == 12:
            b.edit(msg, t0 + timedelta(minutes=13))
        if first is None:
            first = msg
            msg["reactions"] = [{"name": "eyes", "users": [ID["alice"], ID["bob"], ID["carol"]], "count": 3}]
        if minutes == 30:
            msg["reactions"] = [{"name": "raised_hands", "users": [ID["dave"], ID["carol"]], "count": 2},
                                {"name": "heart", "users": [ID["erin"]], "count": 1}]
    b.post("incidents", t0 + timedelta(minutes=47), "dave", "timeline export attached", subtype="file_share",
           files=[{"id": "F01TIMELINE", "name": "incident-417-timeline.csv", "title": "Incident 417 timeline",
                   "mimetype": "text/csv", "url_private": "https://files.example.com/F01TIMELINE/incident-417-timeline.csv"}])

    release_days = [d for d in weekdays if d >= end - timedelta(days=14)][:7]
    pr = rng.randint(3000, 4000)
    frank_left = None
    for step, who, text in RELEASE:
        day = release_days[min(step, len(release_days) - 1)]
        when = at(day, 10 + step % 6, rng.randint(0, 50))
        msg = b.post("release-v2-3", when, who, text.format(pr=pr))
        if "live" in text:   # the launch thread
            msg["reactions"] = [{"name": "tada", "users": [ID["erin"], ID["alice"]], "count": 2},
                                {"name": "+1", "users": [ID["alice"], ID["erin"]], "count": 2},
                                {"name": "rocket", "users": [ID["erin"]], "count": 1}]
            for minutes, replier, line, broadcast in RELEASE_THREAD:
                b.reply(msg, "release-v2-3", when + timedelta(minutes=minutes, seconds=rng.randint(0, 50)),
                        replier, line, broadcast)
        elif "RC2 passes" in text:
            msg["reactions"] = [{"name": "+1::skin-tone-4", "users": [ID["carol"], ID["alice"]], "count": 2}]
        elif "release notes draft" in text or "kicking off" in text:
            b.edit(msg, when + timedelta(minutes=rng.randint(5, 40)))
        if who == "frank":
            msg["reactions"] = [{"name": "heart", "users": [ID["alice"], ID["carol"], ID["erin"]], "count": 3}]
            frank_left = day + timedelta(hours=17)
    b.post("release-v2-3", frank_left, "frank", "<@U06FRANK> has left the channel", subtype="channel_leave")
    joined = release_days[0] - timedelta(hours=1)
    for who in ("alice", "carol", "erin", "frank"):
        b.post("release-v2-3", joined + timedelta(minutes=len(who)), who, f"<@{ID[who]}> has joined the channel",
               subtype="channel_join")

    script("D04EF", weekdays[-6], GERMAN, ["erin", "frank"], 15, 5)
    script("platform", weekdays[-4], CHINESE, ["carol", "dave"], 16, 10, thread=True)
    # Special messages the demo acts on after the import (found by their text).
    b.post("platform", at(weekdays[-1], 16, 55), "bob", "oops, wrong window: the staging password is hunter2")
    b.post("lunch", at(weekdays[-1], 12, 50), "frank", "reminder: my farewell cake is in the kitchen :cake:")

    files = {}
    for folder, msgs in b.folders.items():
        by_day = {}
        for m in sorted(msgs, key=lambda m: float(m["ts"])):
            day = datetime.fromtimestamp(float(m["ts"]), tz=timezone.utc).strftime("%Y-%m-%d")
            by_day.setdefault(day, []).append(m)
        for day, day_msgs in by_day.items():
            files[f"{folder}/{day}.json"] = day_msgs
    created = int((start - timedelta(days=3)).timestamp())
    files["users.json"] = [{"id": uid, "name": name, "real_name": real, "deleted": False, "is_bot": False,
                            "is_admin": name == "alice",
                            "profile": {"real_name": real, "display_name": real.split()[0]}} for uid, name, real in PEOPLE]
    files["channels.json"] = [{"id": cid, "name": name, "created": created, "creator": ID["alice"],
                               "members": [ID[m] for m in members], "is_archived": False,
                               "topic": {"value": ""}, "purpose": {"value": purpose}}
                              for cid, name, members, purpose in CHANNELS]
    files["groups.json"] = []
    files["dms.json"] = [{"id": did, "created": created, "members": [ID[a], ID[c]]} for did, a, c in DMS]
    files["mpims.json"] = []
    # Folders are named after channels; DMs after their ids.
    names = {name: name for _, name, _, _ in CHANNELS}
    return {path: content for path, content in files.items()
            if "/" not in path or path.split("/")[0] in names or path.split("/")[0].startswith("D0")}


def write(path: str, now: datetime, seed: int = 2026) -> int:
    """Write the zip; returns the number of messages in it."""
    files = build(now, seed)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in files.items():  # a fixed date: the same bytes every time
            z.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)),
                       json.dumps(content, ensure_ascii=False, indent=1), zipfile.ZIP_DEFLATED)
    return sum(len(v) for k, v in files.items() if "/" in k)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out")
    parser.add_argument("--now", help="YYYY-MM-DD (default: today, UTC)")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    now = datetime.strptime(args.now, "%Y-%m-%d").replace(tzinfo=timezone.utc) if args.now \
        else datetime.now(timezone.utc)
    print(f"{write(args.out, now, args.seed)} messages -> {args.out}")


if __name__ == "__main__":
    main()
