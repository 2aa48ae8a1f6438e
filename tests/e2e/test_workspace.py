"""The browser workspace end to end: two people in two real headless Chromium contexts
(Debian's chromium driven by Playwright) against a real gunicorn server and OpenSearch.

Screenshots of the main screens land in artifacts/ (git-ignored).
Set CHATSVC_E2E_URL to run against an already running server instead of the fixture's.
"""
import os
import re
import time
import uuid

import pytest
import requests
from playwright.sync_api import expect, sync_playwright

from tests.helpers import Api, make_team

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARTIFACTS = os.path.join(ROOT, "artifacts")
CHROMIUM = os.environ.get("CHATSVC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# The page's own default is 15 s; assertions get the same patience (a cold engine's first
# writes on a busy CI machine can take a few seconds).
expect.set_options(timeout=15_000)
# axe-core, installed by scripts/setup (package.json): every screen must pass it with no
# serious or critical violation.
AXE = os.path.join(ROOT, "node_modules", "axe-core", "axe.min.js")
XSS = "<img src=x onerror=alert(1)><script>alert(2)</script>"
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def base_url(request):
    return os.environ.get("CHATSVC_E2E_URL") or request.getfixturevalue("server").url


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)",
                    pytrace=False)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Person:
    """One user in one browser context, recording page errors and any alert() that fires."""

    def __init__(self, browser, base_url, name, viewport=None, bypass_csp=False):
        # bypass_csp lets accessibility_problems() inject axe-core despite the page's CSP.
        self.context = browser.new_context(viewport=viewport or {"width": 1280, "height": 800},
                                           bypass_csp=bypass_csp)
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.name = name
        self.errors = []
        self.alerts = []
        self.console = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("dialog", self._dialog)
        # ?debug=1 installs window.chatsvcDebug, which diagnose() reports (app.js, top).
        self.page.goto(base_url + "/?debug=1")

    def _dialog(self, dialog):
        self.alerts.append(dialog.message)
        dialog.dismiss()

    def tid(self, testid, root=None):
        return (root or self.page).get_by_test_id(testid)

    def shot(self, name):
        os.makedirs(ARTIFACTS, exist_ok=True)
        self.page.screenshot(path=os.path.join(ARTIFACTS, f"{name}.png"))

    def token(self):
        return self.page.evaluate("localStorage.getItem('chatsvc.token')")

    def messages(self):
        return self.tid("message-list").get_by_test_id("message-item")

    def message(self, text):
        return self.messages().filter(has=self.page.get_by_test_id("message-body").get_by_text(text, exact=True))

    def send(self, text):
        box = self.tid("composer-input")
        box.fill(text)
        box.press("Enter")
        expect(self.message(text)).to_have_count(1)

    def menu(self, item, action):
        item.hover()
        item.get_by_test_id("message-menu-button").click()
        item.get_by_test_id(action).click()

    def react(self, item, emoji):
        """Toggles one's quick reaction `emoji` from the message's menu."""
        item.hover()
        item.get_by_test_id("message-menu-button").click()
        item.get_by_test_id("quick-reaction").and_(self.page.locator(f'[data-emoji="{emoji}"]')).click()

    def add_contact(self, username):
        self.tid("add-contact-button").click()
        self.tid("directory-input").fill(username)
        row = self.tid("directory-item").and_(self.page.locator(f'[data-username="{username}"]'))
        row.get_by_test_id("directory-add").click()
        expect(row.get_by_test_id("directory-add")).to_have_text("Added")
        self.tid("add-contact-close").click()

    def cuttable_websocket(self):
        """Routes the page's /ws through the test, so the test can cut the link and refuse
        new ones (network emulation alone does not reliably drop a live WebSocket)."""
        self.ws_down = False
        self.ws_routes = []

        def handle(route):
            if self.ws_down:
                route.close(code=1011, reason="test: network down")
                return
            route.connect_to_server()
            self.ws_routes.append(route)

        self.page.route_web_socket(re.compile(r"/ws(\?|$)"), handle)   # /ws?team=<id>: the routing key

    def network(self, up):
        """Takes the whole network (REST and WebSocket) down or brings it back."""
        self.ws_down = not up
        self.context.set_offline(not up)
        if not up:
            for route in self.ws_routes:
                route.close(code=1011, reason="test: network down")
            self.ws_routes.clear()

    def sign_in_with(self, token):
        self.page.evaluate("t => localStorage.setItem('chatsvc.token', t)", token)
        self.page.reload()
        expect(self.tid("connection-status")).to_have_attribute("data-status", "ready")

    def accessibility_problems(self, screen):
        """axe-core's serious and critical violations on the page as it is now, as text."""
        assert os.path.exists(AXE), f"{AXE} is missing: run scripts/setup (npm ci)"
        if not self.page.evaluate("typeof window.axe === 'object'"):
            self.page.add_script_tag(path=AXE)
        found = self.page.evaluate("""async () => {
            const r = await axe.run(document, { resultTypes: ['violations'] });
            return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
              nodes: v.nodes.slice(0, 8).map((n) => n.target.join(' ') + ': ' + n.failureSummary) }));
        }""")
        # Serious and critical ones, and a missing h1 (moderate for axe, required here).
        return [f"{screen}: {v['impact']} {v['id']} ({v['help']}):\n    " + "\n    ".join(v["nodes"])
                for v in found if v["impact"] in ("serious", "critical") or v["id"] == "page-has-heading-one"]

    def bodies(self):
        return self.tid("message-list").get_by_test_id("message-body").all_inner_texts()

    def diagnose(self) -> str:
        """What this person's page shows, for a failing test's report (and a screenshot)."""
        lines = [f"--- {self.name}: {self.page.url}"]
        try:
            self.shot(f"failure-{self.name}")
            status = self.tid("connection-status").get_attribute("data-status", timeout=1000)
            lines.append(f"connection: {status}")
            lines.append(f"pending: {self.tid('pending-status').all_inner_texts()}")
            lines.append(f"messages: {self.bodies()[-5:]}")
            lines.append(f"client state: {self.page.evaluate('window.chatsvcDebug && window.chatsvcDebug()')}")
            lines.append(f"toasts: {self.page.locator('.toast').all_inner_texts()}")
        except Exception as exc:  # a diagnosis must not hide the failure it explains
            lines.append(f"(page not readable: {exc})")
        lines += [f"page error: {e}" for e in self.errors]
        lines += [f"console {c}" for c in self.console[-20:]]
        return "\n".join(lines)

    def close(self):
        self.context.close()


@pytest.fixture
def persons(request, browser, base_url):
    """Makes Persons for a test; closes them after it and, when it failed, prints what each
    page showed and the end of the server's log."""
    made = []

    def make(name, viewport=None, bypass_csp=False):
        made.append(Person(browser, base_url, name, viewport, bypass_csp))
        return made[-1]

    yield make
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print("\n".join(p.diagnose() for p in made))
        log = getattr(request.getfixturevalue("server"), "log_path", None) \
            if not os.environ.get("CHATSVC_E2E_URL") else None
        if log and os.path.exists(log):
            with open(log, errors="replace") as f:
                print("--- server log (end)\n" + "".join(f.readlines()[-40:]))
    for p in made:
        p.close()


def test_two_people_chat_in_the_browser(persons, base_url):
    team = f"e2e-{uuid.uuid4().hex[:8]}"
    alice = persons("alice")
    bob = persons("bob")
    # -- Alice creates the team; the invite code is shown in her workspace --------
    page = alice.page
    expect(alice.tid("login-form")).to_be_visible()
    alice.shot("01-login")
    alice.tid("tab-create-team").click()
    alice.tid("create-team-name").fill(team)
    alice.tid("create-username").fill("alice")
    alice.tid("create-display-name").fill("Alice Archer")
    alice.tid("create-password").fill(PASSWORD)
    alice.shot("02-create-team")
    alice.tid("create-team-submit").click()
    expect(alice.tid("connection-status")).to_have_attribute("data-status", "ready")
    invite = alice.tid("invite-code").inner_text().strip()
    assert invite

    # -- Bob signs up with the invite code, logs out, logs back in ---------------
    bob.tid("tab-signup").click()
    bob.tid("signup-team").fill(team)
    bob.tid("signup-invite-code").fill(invite)
    bob.tid("signup-username").fill("bob")
    bob.tid("signup-display-name").fill("Bob Brown")
    bob.tid("signup-password").fill(PASSWORD)
    bob.tid("signup-submit").click()
    expect(bob.tid("me")).to_contain_text("Bob Brown")
    bob.tid("logout-button").click()
    expect(bob.tid("login-form")).to_be_visible()
    assert bob.token() is None
    bob.tid("login-team").fill(team)
    bob.tid("login-username").fill("bob")
    bob.tid("login-password").fill("wrong password")
    bob.tid("login-submit").click()
    expect(bob.tid("auth-error")).not_to_be_empty()
    bob.tid("login-password").fill(PASSWORD)
    bob.tid("login-submit").click()
    expect(bob.tid("connection-status")).to_have_attribute("data-status", "ready")

    # -- contacts from the directory; each sees the other online ----------------
    alice.add_contact("bob")
    bob.add_contact("alice")
    for me, other in ((alice, "Bob Brown"), (bob, "Alice Archer")):
        contact = me.tid("contact-item").filter(has_text=other)
        expect(contact.get_by_test_id("presence-dot")).to_have_attribute("data-status", "online")

    # -- Alice starts a chat with the picker ----------------------------------
    alice.tid("new-chat-button").click()
    alice.tid("new-chat-contact").filter(has_text="Bob Brown").get_by_test_id("new-chat-checkbox").check()
    alice.tid("new-chat-create").click()
    expect(alice.tid("chat-title")).to_have_text("Bob Brown")
    # The dialog is closed before the chat opens, so its composer can take focus at once.
    expect(alice.tid("new-chat-dialog")).to_be_hidden()
    expect(alice.tid("composer-input")).to_be_focused()

    # -- messages live both ways; links are safe links ------------------------
    alice.send("Hello Bob, the quartz report is at https://example.com/report?id=7.")
    link = alice.message("Hello Bob, the quartz report is at https://example.com/report?id=7.").locator("a")
    expect(link).to_have_attribute("href", "https://example.com/report?id=7")
    expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    expect(link).to_have_attribute("target", "_blank")
    bob_chat = bob.tid("chat-list-item").filter(has_text="Alice Archer")
    expect(bob_chat).to_have_attribute("data-unread", "1")
    expect(bob_chat.get_by_test_id("unread-badge")).to_have_text(re.compile(r"^1\b"))
    bob.shot("03-unread-chat-list")
    bob_chat.click()
    expect(bob_chat).to_have_attribute("data-unread", "0")
    expect(bob.message("Hello Bob, the quartz report is at https://example.com/report?id=7.")).to_be_visible()

    # Bob opened the chat: his read marker shows after Alice's message for her.
    first = alice.message("Hello Bob, the quartz report is at https://example.com/report?id=7.")
    expect(first.get_by_test_id("read-marker")).to_have_count(1)

    # Keyboard: Shift+Enter makes a new line, Enter sends.
    box = bob.tid("composer-input")
    box.type("Hi Alice!")
    box.press("Shift+Enter")
    box.type("Two lines here.")
    box.press("Enter")
    expect(bob.message("Hi Alice!\nTwo lines here.")).to_have_count(1)
    expect(box).to_have_value("")
    reply_at_alice = alice.message("Hi Alice!\nTwo lines here.")
    expect(reply_at_alice).to_be_visible()
    # The read marker moved: Alice read Bob's reply (she is looking at the chat).
    expect(bob.message("Hi Alice!\nTwo lines here.").get_by_test_id("read-marker")).to_have_count(1)
    expect(first.get_by_test_id("read-marker")).to_have_count(0)
    expect(bob.message("Hello Bob, the quartz report is at https://example.com/report?id=7.")
           .get_by_test_id("read-marker")).to_have_count(0)

    # -- like: Bob likes Alice's message (the 👍 reaction), Alice sees who on its chip ---
    bob.react(bob.message("Hello Bob, the quartz report is at https://example.com/report?id=7."), "👍")
    like = first.get_by_test_id("reaction-chip").and_(alice.page.locator('[data-emoji="👍"]'))
    expect(like).to_have_text("👍 1")
    expect(like).to_have_attribute("title", "Bob Brown")
    expect(like).to_have_attribute("aria-label", re.compile(r"^👍 1: Bob Brown"))

    # -- HTML and script in a body render inert, as text ---------------------
    alice.send(XSS)
    for who in (alice, bob):
        body = who.message(XSS).get_by_test_id("message-body")
        expect(body).to_have_text(XSS)
        # markdown with raw HTML off: one paragraph of text, no element inside it
        assert body.evaluate("n => [...n.querySelectorAll('*')].map(e => e.localName)") == ["p"]
        assert who.tid("message-list").locator("img, script").count() == 0

    # -- delete for everyone: only the sender may, the body vanishes on both -----
    bob_item = bob.message("Hi Alice!\nTwo lines here.")
    bob_item.hover()
    alice_item = alice.message("Hi Alice!\nTwo lines here.")
    alice_item.hover()
    menu_button = alice_item.get_by_test_id("message-menu-button")
    menu_button.focus()
    page.keyboard.press("Enter")  # the menu opens from the keyboard, focus moves into it
    expect(alice_item.get_by_test_id("quick-reaction").first).to_be_focused()
    expect(alice_item.get_by_test_id("menu-delete-me")).to_be_visible()
    expect(alice_item.get_by_test_id("menu-delete-everyone")).to_have_count(0)
    page.keyboard.press("Escape")
    expect(menu_button).to_be_focused()
    expect(alice_item.get_by_test_id("menu-delete-me")).to_be_hidden()
    alice.send("oops, wrong window")
    expect(bob.message("oops, wrong window")).to_be_visible()
    alice.menu(alice.message("oops, wrong window"), "menu-delete-everyone")
    for who in (alice, bob):
        expect(who.message("oops, wrong window")).to_have_count(0)
        expect(who.tid("message-list").get_by_text("This message was deleted.")).to_have_count(1)
    alice.shot("04-chat-alice")
    bob.shot("05-chat-bob")

    # -- history: push the first message out of the latest page ----------------
    api_base = base_url
    chat_id = alice.tid("chat-list-item").first.get_attribute("data-chat-id")
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {bob.token()}"
    for i in range(60):
        r = session.post(f"{api_base}/api/chats/{chat_id}/messages",
                         json={"body": f"filler message number {i}", "client_msg_id": f"fill-{i}"})
        assert r.status_code in (200, 201), r.text
    expect(alice.message("filler message number 59")).to_be_visible()
    expect(alice.messages()).to_have_count(64)

    # -- scrolling back: a fresh page shows the latest page, older ones load on scroll
    bob.page.reload()
    bob.tid("chat-list-item").first.click()
    expect(bob.message("filler message number 59")).to_be_visible()
    assert bob.messages().count() < 64
    expect(bob.tid("load-older")).to_be_visible()
    for _ in range(10):
        bob.tid("message-scroller").evaluate("n => { n.scrollTop = 0; }")
        if bob.messages().count() == 64:
            break
        time.sleep(0.3)
    expect(bob.messages()).to_have_count(64)
    expect(bob.tid("load-older")).to_be_hidden()
    expect(bob.message("Hello Bob, the quartz report is at https://example.com/report?id=7.")).to_have_count(1)

    # -- search finds the message and jumps to it in context ------------------
    # A malformed operator is reported by name, not swallowed.
    bob.tid("search-input").fill("quartz before:2026-13-01")
    bob.tid("search-submit").click()
    expect(bob.tid("search-summary")).to_contain_text("before")
    expect(bob.tid("search-hit")).to_have_count(0)
    bob.tid("search-input").fill('quartz from:alice')
    hit = bob.tid("search-hit")
    deadline = time.monotonic() + 20
    while True:  # the engine makes new documents searchable within about a second
        bob.tid("search-submit").click()
        expect(bob.tid("search-summary")).not_to_have_text("Searching…")
        if hit.count() or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    expect(hit).to_have_count(1)
    expect(hit.locator("mark")).to_have_text(re.compile("quartz", re.I))
    expect(hit.get_by_test_id("search-hit-chat")).to_have_text("Alice Archer")
    bob.shot("06-search-results")
    # Bob reloads first: a fresh page holds only the latest page of history, so the
    # hit must come from the context endpoint.
    bob.page.reload()
    bob.tid("search-input").fill('"quartz report" from:alice')
    bob.tid("search-submit").click()
    bob.tid("search-hit").first.click()
    target = bob.message("Hello Bob, the quartz report is at https://example.com/report?id=7.")
    expect(target).to_be_visible()
    expect(target).to_have_class(re.compile(r"\bhit\b"))
    expect(target).to_be_in_viewport()
    expect(bob.tid("load-newer")).to_be_visible()
    bob.shot("07-search-jump")
    # -- scrolling down from the hit loads newer pages until the newest, with no gap --
    for _ in range(30):
        if bob.tid("load-newer").is_hidden():
            break
        bob.tid("message-scroller").evaluate("n => { n.scrollTop = n.scrollHeight; }")
        bob.page.wait_for_timeout(300)
    expect(bob.tid("load-newer")).to_be_hidden()
    ids = [int(i) for i in bob.messages().evaluate_all("ns => ns.map(n => n.dataset.messageId)")]
    assert ids == sorted(set(ids)) and len(ids) > 25

    # -- Bob leaves: the chat disappears for him, Alice sees him gone -----------
    bob.tid("leave-chat-button").click()
    bob.tid("leave-confirm").click()
    expect(bob.tid("chat-list-item")).to_have_count(0)
    expect(bob.tid("empty-view")).to_be_visible()
    expect(alice.tid("chat-members")).to_contain_text("Only you")

    # -- presence goes offline when Bob's last connection closes -----------------
    bob_dot = alice.tid("contact-item").filter(has_text="Bob Brown").get_by_test_id("presence-dot")
    expect(bob_dot).to_have_attribute("data-status", "online")
    bob.tid("logout-button").click()
    expect(bob.tid("login-form")).to_be_visible()
    expect(bob_dot).to_have_attribute("data-status", "offline", timeout=20_000)

    # -- phone width: the sidebar and the chat take turns ---------------------
    alice.page.set_viewport_size({"width": 390, "height": 844})
    expect(alice.tid("chat-view")).to_be_visible()
    expect(alice.tid("contact-list")).to_be_hidden()
    alice.shot("08-phone-chat")
    alice.tid("back-button").first.click()
    expect(alice.tid("contact-list")).to_be_visible()
    alice.shot("09-phone-sidebar")

    for who in (alice, bob):
        assert who.alerts == [], f"{who.name}: an alert fired: {who.alerts}"
        assert who.errors == [], f"{who.name}: page errors: {who.errors}"


def test_reconnect_catches_up_without_gaps_or_duplicates(persons, base_url):
    _, people = make_team(Api(base_url), "carol", "dave")
    carol_s, dave_s = people["carol"], people["dave"]
    for a, b in ((carol_s, dave_s), (dave_s, carol_s)):
        assert a["api"].put(f"/api/contacts/{b['user']['id']}").status_code == 204
    chat = carol_s["api"].post("/api/chats", json={"member_ids": [dave_s["user"]["id"]]}).json()

    carol = persons("carol")
    dave = persons("dave")
    dave.cuttable_websocket()
    carol.sign_in_with(carol_s["token"])
    dave.sign_in_with(dave_s["token"])
    for who in (carol, dave):
        who.tid("chat-list-item").and_(who.page.locator(f'[data-chat-id="{chat["id"]}"]')).click()
    carol.send("before the cut")
    expect(dave.message("before the cut")).to_be_visible()

    # Dave's network drops: his socket dies and reconnecting fails for now.
    dave.network(up=False)
    expect(dave.tid("connection-status")).not_to_have_attribute("data-status", "ready")

    # Dave writes while offline: it stays pending, it is not lost.
    box = dave.tid("composer-input")
    box.fill("written while offline")
    box.press("Enter")
    pending = dave.tid("pending-message")
    expect(pending).to_have_count(1)
    expect(pending.get_by_test_id("pending-status")).to_have_text("Sending…")
    dave.shot("10-offline-pending")

    # Carol keeps talking meanwhile; Dave's socket cannot receive any of it.
    for i in range(1, 4):
        carol.send(f"while you were away {i}")
    time.sleep(1.5)
    expect(dave.message("while you were away 1")).to_have_count(0)

    # Back online: reconnect with backoff, catch up, and deliver the pending message.
    dave.network(up=True)
    expect(dave.tid("connection-status")).to_have_attribute("data-status", "ready", timeout=40_000)
    expect(dave.message("written while offline")).to_have_count(1)
    expect(dave.tid("pending-message")).to_have_count(0)
    expect(carol.message("written while offline")).to_have_count(1)
    expect(dave.message("while you were away 3")).to_have_count(1)

    expected_carol_part = ["before the cut"] + [f"while you were away {i}" for i in range(1, 4)]
    for who in (carol, dave):
        bodies = who.bodies()
        # No duplicates, nothing missing, Carol's messages in the order she sent them.
        assert len(bodies) == len(set(bodies)) == 5, bodies
        assert [b for b in bodies if b != "written while offline"] == expected_carol_part, bodies
        ids = who.messages().evaluate_all("ns => ns.map(n => n.dataset.messageId)")
        assert [int(i) for i in ids] == sorted(int(i) for i in ids), ids
    server_side = dave_s["api"].get(f"/api/chats/{chat['id']}/messages").json()["messages"]
    assert [m["body"] for m in server_side].count("written while offline") == 1
    for who in (carol, dave):
        assert who.errors == [], f"{who.name}: page errors: {who.errors}"


def test_client_safety_helpers_in_the_browser(persons, base_url):
    """The few functions that guard against HTML injection and id precision loss."""
    person = persons("helpers")
    result = person.page.evaluate("""async () => {
        const search = await import('/static/views/search.js');
        const dom = await import('/static/views/dom.js');
        const ids = await import('/static/ids.js');
        const links = (text) => {
          const box = document.createElement('div');
          box.append(dom.linkify(text));
          return [...box.querySelectorAll('a')].map(a => [a.getAttribute('href'), a.rel, a.target, a.textContent]);
        };
        return {
          safe: ['plain', 'a <mark>b</mark> &lt;c&gt; &amp;', ''].map(search.isSafeHighlight),
          unsafe: ['<img src=x onerror=alert(1)>', '<mark onclick="x()">b</mark>', '<script>x</script>',
                   '<mark>a</mark><b>', '<MARK>a</MARK>', '<mark >a</mark>'].map(search.isSafeHighlight),
          links: links('see https://ex.com/a_(b), javascript:alert(1) and http://x.org/p?q=1.'),
          noLinks: links('javascript:alert(1) data:text/html,<b>x</b> ftp://h/f'),
          cmp: [ids.cmpId('9007199254740993', '9007199254740992'),
                ids.cmpId('18446744073709551615', '18446744073709551614'),
                ids.cmpId('10', '9')],
          max: ids.maxId('9007199254740993', '9007199254740992'),
          cmids: Array.from({length: 20}, ids.newClientMsgId),
        };
    }""")
    assert result["safe"] == [True, True, True]
    assert result["unsafe"] == [False] * 6
    assert result["links"] == [
        ["https://ex.com/a_(b)", "noopener noreferrer", "_blank", "https://ex.com/a_(b)"],
        ["http://x.org/p?q=1", "noopener noreferrer", "_blank", "http://x.org/p?q=1"],
    ]
    assert result["noLinks"] == []
    assert result["cmp"] == [1, 1, 1]
    assert result["max"] == "9007199254740993"
    assert len(set(result["cmids"])) == 20
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,64}", c) for c in result["cmids"])
    # The debug hook exists only when the page is opened with ?debug=1.
    assert person.page.evaluate("typeof window.chatsvcDebug") == "function"
    person.page.goto(base_url + "/")
    expect(person.tid("login-form")).to_be_visible()
    assert person.page.evaluate("typeof window.chatsvcDebug") == "undefined"
    assert person.errors == []


def test_a_resync_in_flight_keeps_what_changed_meanwhile(persons):
    """The full resync after a (re)connect replaces the chat list with the server's. A chat
    created (or announced live) while that request was in flight is newer than its answer:
    it must stay, with its open message window, or the open chat silently stops working.
    Likewise a contact added or removed meanwhile."""
    person = persons("resync")
    result = person.page.evaluate("""async () => {
        const { Store } = await import('/static/state.js');
        const s = new Store();
        s.upsertChat({ id: '1', member_ids: [] });
        s.openWindow('1');
        const since = s.stamp;                       // the resync's request leaves now
        s.upsertChat({ id: '2', member_ids: [] });    // created while it is in flight
        s.openWindow('2');
        s.setChats([{ id: '1', member_ids: [] }], { since });   // its answer: no chat 2
        const kept = [[...s.chats.keys()], [...s.windows.keys()]];
        s.setChats([{ id: '1', member_ids: [] }], { since: s.stamp });  // a later answer
        const later = [[...s.chats.keys()], [...s.windows.keys()]];
        // contacts: a list fetched after adding one wins over a resync asked for before
        const before = s.stamp;
        s.setContacts([{ user: { id: 'a' } }, { user: { id: 'b' } }]);
        s.setContacts([{ user: { id: 'a' } }], { since: before });
        const contacts = [...s.contacts];
        s.removeContact('b');
        s.setContacts([{ user: { id: 'a' } }, { user: { id: 'b' } }], { since: before });
        return { kept, later, contacts, afterRemove: [...s.contacts] };
    }""")
    assert result["kept"] == [["1", "2"], ["1", "2"]]
    assert result["later"] == [["1"], ["1"]]   # gone from a list asked for after it: dropped
    assert result["contacts"] == ["a", "b"]
    assert result["afterRemove"] == ["a"]


def test_history_shorter_than_a_tall_screen_loads_older_pages_by_itself(persons, base_url):
    """A latest page that does not fill the screen cannot be scrolled up, so no scroll ever
    asks for more: once it has landed, the client fetches older pages until the screen is
    full or history ends (without the user scrolling, and not from inside rendering)."""
    _, people = make_team(Api(base_url), "erin", "frank")
    erin_s, frank_s = people["erin"], people["frank"]
    chat = erin_s["api"].post("/api/chats", json={"member_ids": [frank_s["user"]["id"]]}).json()
    for i in range(70):
        r = erin_s["api"].post(f"/api/chats/{chat['id']}/messages",
                               json={"body": f"short {i}", "client_msg_id": f"short-{i}"})
        assert r.status_code in (200, 201), r.text

    frank = persons("frank", viewport={"width": 1280, "height": 4800})
    frank.sign_in_with(frank_s["token"])
    frank.tid("chat-list-item").first.click()
    expect(frank.message("short 69")).to_be_visible()
    # The latest page (50) fits on this screen; the older 20 arrive without scrolling.
    expect(frank.messages()).to_have_count(70)
    expect(frank.tid("load-older")).to_be_hidden()
    assert frank.bodies() == [f"short {i}" for i in range(70)]
    assert frank.errors == []


def test_every_screen_passes_axe(persons, base_url):
    """Each screen, with the content it usually shows, has no serious or critical
    accessibility violation by axe-core (contrast, names, headings, landmarks...)."""
    _, people = make_team(Api(base_url), "gina", "hugo")
    gina_s, hugo_s = people["gina"], people["hugo"]
    for a, b in ((gina_s, hugo_s), (hugo_s, gina_s)):
        assert a["api"].put(f"/api/contacts/{b['user']['id']}").status_code == 204
    chat = gina_s["api"].post("/api/chats", json={"member_ids": [hugo_s["user"]["id"]]}).json()
    sent = [hugo_s["api"].post(f"/api/chats/{chat['id']}/messages",
                               json={"body": f"axe check {i} https://example.com/{i}",
                                     "client_msg_id": f"axe-{i}"}).json() for i in range(3)]
    assert gina_s["api"].put(f"/api/messages/{sent[0]['id']}/like").status_code == 200
    assert hugo_s["api"].delete(f"/api/messages/{sent[1]['id']}?for=everyone").status_code == 204
    # Conversations: a reaction, an edit, markdown, a thread with replies (one also in the chat).
    assert gina_s["api"].put(f"/api/messages/{sent[2]['id']}/reactions/%F0%9F%8E%89").status_code == 200
    assert hugo_s["api"].patch(f"/api/messages/{sent[2]['id']}",
                               json={"body": "axe check 2 https://example.com/2 **edited** `code`\n> quote"}).status_code == 200
    for i, also in enumerate((False, True)):
        r = gina_s["api"].post(f"/api/chats/{chat['id']}/messages", json={
            "body": f"axe reply {i}\n- a list\n- of two", "client_msg_id": f"axe-r{i}",
            "thread_id": sent[0]["id"], "also_in_chat": also})
        assert r.status_code == 201, r.text

    problems = []
    gina = persons("gina", bypass_csp=True)
    expect(gina.tid("login-form")).to_be_visible()
    problems += gina.accessibility_problems("log in")
    gina.tid("tab-signup").click()
    problems += gina.accessibility_problems("sign up")
    gina.tid("tab-create-team").click()
    problems += gina.accessibility_problems("create a team")
    gina.tid("tab-login").click()
    gina.tid("login-submit").click()
    expect(gina.tid("auth-error")).not_to_be_empty()
    problems += gina.accessibility_problems("log in, with an error")

    gina.sign_in_with(gina_s["token"])
    expect(gina.tid("chat-list-item")).to_have_count(1)
    expect(gina.tid("unread-badge")).to_be_visible()
    problems += gina.accessibility_problems("workspace, no chat open")
    gina.tid("chat-list-item").first.click()
    expect(gina.message("axe reply 1 a list of two")).to_be_visible()
    gina.send("my own message")
    problems += gina.accessibility_problems("chat")
    item = gina.message("my own message")
    item.hover()
    item.get_by_test_id("message-menu-button").click()
    problems += gina.accessibility_problems("chat, message menu open")
    item.get_by_test_id("menu-add-reaction").click()
    expect(gina.tid("emoji-option").first).to_be_visible()
    problems += gina.accessibility_problems("emoji picker")
    gina.tid("emoji-search").fill("heart")
    problems += gina.accessibility_problems("emoji picker, searched")
    gina.page.keyboard.press("Escape")
    expect(gina.tid("emoji-picker")).to_be_hidden()
    gina.message("my own message").get_by_test_id("message-menu-button").click()
    gina.message("my own message").get_by_test_id("menu-edit").click()
    expect(gina.tid("edit-input")).to_be_focused()
    problems += gina.accessibility_problems("chat, editing a message")
    gina.page.keyboard.press("Escape")
    gina.tid("thread-summary").first.click()
    expect(gina.tid("thread-list").get_by_test_id("message-item")).to_have_count(3)
    problems += gina.accessibility_problems("chat with the thread pane")
    gina.tid("thread-close").click()

    gina.tid("search-input").click()
    gina.tid("search-input").press_sequentially("has:l")
    expect(gina.tid("search-suggestion").first).to_be_visible()
    problems += gina.accessibility_problems("search suggestions open")
    gina.page.keyboard.press("Escape")
    expect(gina.tid("search-suggestions")).to_be_hidden()
    gina.tid("search-input").fill("axe")
    gina.tid("search-submit").click()
    expect(gina.tid("search-hit").first).to_be_visible()
    problems += gina.accessibility_problems("search results")

    gina.tid("add-contact-button").click()
    expect(gina.tid("directory-item").first).to_be_visible()
    problems += gina.accessibility_problems("add contact dialog")
    gina.tid("add-contact-close").click()
    gina.tid("new-chat-button").click()
    expect(gina.tid("new-chat-contact").first).to_be_visible()
    problems += gina.accessibility_problems("new chat dialog")
    gina.page.keyboard.press("Escape")

    gina.page.set_viewport_size({"width": 390, "height": 844})
    expect(gina.tid("search-view")).to_be_visible()
    problems += gina.accessibility_problems("phone, search results")
    gina.page.locator(".back-button:visible").click()
    expect(gina.tid("contact-list")).to_be_visible()
    problems += gina.accessibility_problems("phone, sidebar")
    gina.tid("chat-list-item").first.click()
    expect(gina.tid("chat-view")).to_be_visible()
    problems += gina.accessibility_problems("phone, chat")
    gina.tid("thread-summary").first.click()
    expect(gina.tid("thread-pane")).to_be_visible()
    expect(gina.tid("message-list")).to_be_hidden()
    problems += gina.accessibility_problems("phone, thread")

    assert not problems, "\n".join(problems)
    assert gina.errors == []
