"""Attention in the browser workspace (issue 13): @mention autocomplete and highlighting,
browser notifications under each user's chat settings (kept on the server, live on her
other devices), typing indicators, the "New messages" divider, mention badges and "Mark
all as read". Real server, real Chromium, as in test_workspace.py (whose Person and
fixtures these tests use).

Notifications: the browser context is granted the permission, and an init script replaces
window.Notification with a harmless stand-in that records each call ({title, body, tag})
in window.__notifications (and keeps the objects, so a test can click one).
"""
import re
import time

from playwright.sync_api import expect

from tests.e2e.test_workspace import Person, base_url, browser, persons  # noqa: F401 (fixtures)
from tests.helpers import WS, Api, make_team

assert Person

RECORD_NOTIFICATIONS = """(() => {
  const calls = [];
  window.__notifications = calls;
  window.__notificationObjects = [];
  window.__permissionRequests = 0;
  const Real = window.Notification;
  class Recorded extends EventTarget {
    constructor(title, options = {}) {
      super();
      this.title = title;
      calls.push({ title, body: options.body, tag: options.tag });
      window.__notificationObjects.push(this);
    }
    close() { this.closed = true; }
    static get permission() { return Real ? Real.permission : 'default'; }
    static requestPermission() {
      window.__permissionRequests += 1;
      return Real ? Real.requestPermission() : Promise.resolve('denied');
    }
  }
  window.Notification = Recorded;
})();"""


def _team(base_url, *names):
    """A team whose members are all each other's contacts; returns {name: session}."""
    _, people = make_team(Api(base_url), *names)
    for a in people.values():
        for b in people.values():
            if a is not b:
                assert a["api"].put(f"/api/contacts/{b['user']['id']}").status_code == 204
    return people


def _chat(owner, *others, title=None):
    body = {"member_ids": [o["user"]["id"] for o in others]}
    if title:
        body["title"] = title
    r = owner["api"].post("/api/chats", json=body)
    assert r.status_code in (200, 201), r.text
    return r.json()


def _post(who, chat, body, **extra):
    r = who["api"].post(f"/api/chats/{chat['id']}/messages",
                        json={"body": body, "client_msg_id": f"t{time.monotonic_ns()}", **extra})
    assert r.status_code == 201, r.text
    return r.json()


def _open(person, chat):
    person.tid("chat-list-item").and_(person.page.locator(f'[data-chat-id="{chat["id"]}"]')).click()
    expect(person.tid("chat-view")).to_be_visible()


def _item(person, chat):
    return person.tid("chat-list-item").and_(person.page.locator(f'[data-chat-id="{chat["id"]}"]'))


def _browser(persons, base_url, name, session, notifications=False, **kw):
    p = persons(name, **kw)
    if notifications:
        p.context.grant_permissions(["notifications"], origin=base_url)
    p.page.add_init_script(RECORD_NOTIFICATIONS)
    p.sign_in_with(session["token"])
    return p


def _notes(person):
    return person.page.evaluate("window.__notifications")


def _no_trouble(*people):
    for who in people:
        assert who.alerts == [], f"{who.name}: an alert fired: {who.alerts}"
        assert who.errors == [], f"{who.name}: page errors: {who.errors}"


def test_mention_autocomplete_by_keyboard_and_highlighting(persons, base_url):
    people = _team(base_url, "alice", "bob", "carol")
    group = _chat(people["alice"], people["bob"], people["carol"], title="Launch")
    alice = _browser(persons, base_url, "alice", people["alice"], bypass_csp=True)
    bob = _browser(persons, base_url, "bob", people["bob"])
    for who in (alice, bob):
        _open(who, group)

    box = alice.tid("composer-input")
    listbox = alice.tid("mention-list")
    expect(box).to_have_attribute("role", "combobox")
    expect(box).to_have_attribute("aria-expanded", "false")
    box.press_sequentially("Hi @")
    expect(listbox).to_be_visible()
    expect(box).to_have_attribute("aria-expanded", "true")
    options = listbox.get_by_role("option")
    # The other members (never oneself), then @all in a group.
    expect(options).to_have_count(3)
    assert [o.get_attribute("data-username") for o in options.all()] == ["bob", "carol", "all"]
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", options.nth(0).get_attribute("id"))
    alice.shot("14-mention-autocomplete")
    problems = alice.accessibility_problems("chat, mention autocomplete open")
    box.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", options.nth(1).get_attribute("id"))
    box.press("ArrowDown")
    box.press("ArrowDown")  # wraps around
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    box.press("ArrowUp")
    expect(options.nth(2)).to_have_attribute("aria-selected", "true")
    box.press("ArrowUp")
    box.press("Enter")  # inserts, does not send
    expect(box).to_have_value("Hi @carol ")
    expect(listbox).to_be_hidden()
    expect(box).to_have_attribute("aria-expanded", "false")
    assert box.get_attribute("aria-activedescendant") is None
    # Typing narrows the list; Tab inserts too.
    box.press_sequentially("and @B")
    expect(options).to_have_count(1)
    box.press("Tab")
    expect(box).to_have_value("Hi @carol and @bob ")
    expect(box).to_be_focused()
    # Escape closes it and keeps the text; Enter then sends as usual.
    box.press_sequentially("(not @al")
    expect(listbox).to_be_visible()
    box.press("Escape")
    expect(listbox).to_be_hidden()
    expect(alice.tid("chat-view")).to_be_visible()
    box.press_sequentially("l) but `@bob` is code, ann@bob.example is mail.")
    box.press("Escape")
    box.press("Enter")
    text = "Hi @carol and @bob (not @all) but @bob is code, ann@bob.example is mail."
    expect(alice.message(text)).to_have_count(1)

    # Bob sees the names the server found highlighted, and the message marked as his.
    item = bob.message(text)
    expect(item).to_have_count(1)
    spans = item.get_by_test_id("mention")
    expect(spans).to_have_count(3)
    assert spans.all_inner_texts() == ["@carol", "@bob", "@all"]
    expect(spans.nth(1)).to_have_class(re.compile(r"\bself\b"))
    expect(spans.nth(0)).not_to_have_class(re.compile(r"\bself\b"))
    expect(item.locator("code")).to_have_text("@bob")
    expect(item.locator("code .mention")).to_have_count(0)
    expect(item).to_have_class(re.compile(r"\bmentions-me\b"))
    expect(item.get_by_test_id("mention-hint")).to_have_text("Mentions you")
    # For Alice it is her own message: highlighted names, but not "mentions you".
    mine = alice.message(text)
    expect(mine.get_by_test_id("mention")).to_have_count(3)
    expect(mine).not_to_have_class(re.compile(r"\bmentions-me\b"))
    # A message that names nobody of the chat has no highlight.
    _post(people["carol"], group, "hello @nobody and @dave")
    expect(bob.message("hello @nobody and @dave").get_by_test_id("mention")).to_have_count(0)

    # The thread pane's composer completes names too.
    alice.menu(alice.message(text), "menu-reply-thread")
    tbox = alice.tid("thread-input")
    expect(tbox).to_be_focused()
    tbox.press_sequentially("thanks @ca")
    expect(alice.tid("thread-mention-list").get_by_role("option")).to_have_count(1)
    tbox.press("Enter")
    expect(tbox).to_have_value("thanks @carol ")
    tbox.press("Enter")
    expect(alice.tid("thread-list").get_by_test_id("mention")).to_have_count(4)  # root 3 + reply 1
    assert not problems, "\n".join(problems)
    _no_trouble(alice, bob)


def test_notifications_follow_the_chat_settings(persons, base_url):
    ab = _team(base_url, "alice", "bob", "carol")
    alice_s, bob_s, carol_s = ab["alice"], ab["bob"], ab["carol"]
    group = _chat(alice_s, bob_s, carol_s, title="Launch")
    direct = _chat(alice_s, bob_s)
    bob = _browser(persons, base_url, "bob", bob_s, notifications=True, bypass_csp=True)
    bob2 = _browser(persons, base_url, "bob2", bob_s, notifications=True)  # Bob's other device
    expect(bob.tid("notify-banner")).to_be_hidden()  # already granted: nothing to offer
    _open(bob, direct)

    # Group default (mentions): a plain message notifies nobody, a mention does.
    _post(alice_s, group, "plain group chatter")
    expect(_item(bob, group)).to_have_attribute("data-unread", "1")
    m = _post(alice_s, group, "@bob please review the launch notes")
    expect(_item(bob, group)).to_have_attribute("data-mentions", "1")
    bob.page.wait_for_function("window.__notifications.length >= 1")
    notes = _notes(bob)
    assert notes == [{"title": "Alice mentioned you in Launch", "body": "@bob please review the launch notes",
                      "tag": f"chatsvc-{m['id']}"}], notes
    # Direct default (all): every message notifies, except in the chat one is looking at.
    _post(alice_s, direct, "direct while you look at it")
    expect(bob.message("direct while you look at it")).to_be_visible()
    bob2.page.wait_for_function("window.__notifications.length >= 2")  # bob2 has no chat open
    assert [n["title"] for n in _notes(bob2)] == ["Alice mentioned you in Launch", "Alice"]
    # One's own messages never notify.
    bob.send("my own words")
    time.sleep(0.5)
    assert len(_notes(bob)) == 1 and len(_notes(bob2)) == 2

    # Clicking the notification opens the chat at the message.
    bob.page.evaluate("window.__notificationObjects[0].dispatchEvent(new Event('click'))")
    expect(bob.tid("chat-title")).to_have_text("Launch")
    target = bob.message("@bob please review the launch notes")
    expect(target).to_have_class(re.compile(r"\bhit\b"))
    expect(target).to_be_in_viewport()

    # Mute through the chat header's settings: stored on the server, live on the other device.
    bob.tid("chat-settings-button").click()
    panel = bob.tid("chat-settings")
    expect(panel).to_be_visible()
    expect(bob.tid("setting-notify-mentions")).to_be_checked()  # the group default
    problems = bob.accessibility_problems("chat, notification settings open")
    bob.tid("setting-mute").check()
    expect(bob.tid("chat-settings-button")).to_have_attribute("data-muted", "true")
    expect(_item(bob2, group)).to_have_attribute("data-muted", "true")
    expect(_item(bob2, group).get_by_test_id("muted-icon")).to_be_visible()
    chat = bob_s["api"].get(f"/api/chats/{group['id']}").json()
    assert (chat["muted"], chat["notify"]) == (True, "mentions")
    bob.page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(bob.tid("chat-settings-button")).to_be_focused()
    _open(bob, direct)
    _post(alice_s, group, "@bob are you there? (muted)")
    expect(_item(bob, group)).to_have_attribute("data-mentions", "1")
    expect(_item(bob2, group)).to_have_attribute("data-mentions", "1")  # Bob read the first on his desk
    time.sleep(0.7)
    assert len(_notes(bob)) == 1 and len(_notes(bob2)) == 2

    # Unmuted on the other device, with notify = nothing: still silent.
    _open(bob2, group)
    bob2.tid("chat-settings-button").click()
    bob2.tid("setting-mute").uncheck()
    bob2.tid("setting-notify-none").check()
    expect(_item(bob, group)).to_have_attribute("data-muted", "false")
    bob2.tid("chat-settings-close").click()
    _open(bob2, direct)
    _post(alice_s, group, "@bob nothing should ring")
    expect(_item(bob, group)).to_have_attribute("data-mentions", "1")
    time.sleep(0.7)
    assert len(_notes(bob)) == 1 and len(_notes(bob2)) == 2

    # notify = all: plain messages of the group notify too.
    _open(bob, group)
    bob.tid("chat-settings-button").click()
    expect(bob.tid("setting-notify-none")).to_be_checked()  # bob2's change reached this page
    bob.tid("setting-notify-all").check()
    expect(bob.tid("setting-notify-all")).to_be_checked()
    bob.tid("chat-settings-close").click()
    _open(bob, direct)
    _post(alice_s, group, "everyone hears this one")
    bob.page.wait_for_function("window.__notifications.length >= 2")
    assert _notes(bob)[-1]["title"] == "Alice in Launch"
    assert _notes(bob)[-1]["body"] == "everyone hears this one"
    bob2.page.wait_for_function("window.__notifications.length >= 3")

    # Back to mentions only: plain is silent, a mention rings.
    _open(bob, group)
    bob.tid("chat-settings-button").click()
    bob.tid("setting-notify-mentions").check()
    expect(bob.tid("setting-notify-mentions")).to_be_checked()
    bob.tid("chat-settings-close").click()
    _open(bob, direct)
    expect(_item(bob2, group)).to_have_attribute("data-muted", "false")
    chat = bob_s["api"].get(f"/api/chats/{group['id']}").json()
    assert (chat["muted"], chat["notify"]) == (False, "mentions")
    _post(alice_s, group, "plain again")
    _post(alice_s, group, "@bob last call")
    bob.page.wait_for_function("window.__notifications.length >= 3")
    time.sleep(0.5)
    assert [n["body"] for n in _notes(bob)[2:]] == ["@bob last call"]
    # Others' settings are their own: Carol's chat keeps the defaults.
    chat = carol_s["api"].get(f"/api/chats/{group['id']}").json()
    assert (chat["muted"], chat["notify"]) == (False, "mentions")
    assert not problems, "\n".join(problems)
    _no_trouble(bob, bob2)


def test_permission_is_asked_only_from_a_click(persons, base_url):
    people = _team(base_url, "alice", "bob")
    bob = _browser(persons, base_url, "bob", people["bob"])
    expect(bob.tid("chat-list")).to_be_visible()
    permission = bob.page.evaluate("Notification.permission")
    assert bob.page.evaluate("window.__permissionRequests") == 0
    if permission == "default":
        banner = bob.tid("notify-banner")
        expect(banner).to_be_visible()
        bob.tid("notify-enable").click()
        bob.page.wait_for_function("window.__permissionRequests === 1")
    # Not asked again by anything but that click.
    bob.page.reload()
    expect(bob.tid("connection-status")).to_have_attribute("data-status", "ready")
    assert bob.page.evaluate("window.__permissionRequests") == 0
    if bob.page.evaluate("Notification.permission") == "default":
        bob.tid("notify-dismiss").click()
        expect(bob.tid("notify-banner")).to_be_hidden()
        bob.page.reload()
        expect(bob.tid("connection-status")).to_have_attribute("data-status", "ready")
        expect(bob.tid("notify-banner")).to_be_hidden()
    _no_trouble(bob)


def test_typing_shows_and_clears(persons, base_url):
    people = _team(base_url, "alice", "bob", "carol", "dave")
    direct = _chat(people["alice"], people["bob"])
    group = _chat(people["bob"], people["alice"], people["carol"], people["dave"], title="Crew")
    alice = _browser(persons, base_url, "alice", people["alice"])
    bob = _browser(persons, base_url, "bob", people["bob"])
    frames = []
    alice.page.on("websocket", lambda ws: ws.on("framesent", lambda payload: frames.append(payload)))
    alice.page.reload()
    expect(alice.tid("connection-status")).to_have_attribute("data-status", "ready")
    for who in (alice, bob):
        _open(who, direct)
    indicator = bob.tid("typing-indicator")
    expect(indicator).to_have_attribute("aria-live", "polite")
    expect(indicator).to_have_text("")

    # Alice types for about 4 s: Bob sees it; the client sent at most one frame per 3 s.
    box = alice.tid("composer-input")
    started = time.monotonic()
    box.press_sequentially("I am writing something long", delay=150)
    expect(indicator).to_have_text("Alice is typing…")
    typed = [f for f in frames if '"typing"' in str(f)]
    assert 1 <= len(typed) <= 2, typed
    # Nothing more arrives: it goes 5 s after the last event.
    expect(indicator).to_have_text("", timeout=10_000)
    assert time.monotonic() - started >= 5
    # Typing again shows it again; her message clears it at once.
    box.press_sequentially(" and done")
    expect(indicator).to_have_text("Alice is typing…")
    box.press("Enter")
    expect(bob.message("I am writing something long and done")).to_be_visible()
    expect(indicator).to_have_text("", timeout=1_500)

    # Two and more people at once, in a group (Carol and Dave over their own sockets).
    for who in (alice, bob):
        _open(who, group)
    carol_ws = WS(base_url, people["carol"]["token"])
    dave_ws = WS(base_url, people["dave"]["token"])
    try:
        carol_ws.send({"type": "typing", "chat_id": group["id"]})
        expect(indicator).to_have_text("Carol is typing…")
        alice.tid("composer-input").press_sequentially("hm")
        expect(indicator).to_have_text(re.compile(r"^(Carol and Alice|Alice and Carol) are typing…$"))
        dave_ws.send({"type": "typing", "chat_id": group["id"]})
        expect(indicator).to_have_text("Several people are typing…")
        # Alice sees the others, never herself.
        expect(alice.tid("typing-indicator")).to_have_text(re.compile(r"^(Carol and Dave|Dave and Carol) are typing…$"))
    finally:
        carol_ws.close()
        dave_ws.close()
    _no_trouble(alice, bob)


def test_new_messages_divider_jump_and_mark_all_read(persons, base_url):
    people = _team(base_url, "alice", "bob", "carol")
    alice_s, bob_s = people["alice"], people["bob"]
    direct = _chat(alice_s, bob_s)
    group = _chat(alice_s, bob_s, people["carol"], title="Ops")
    for i in range(3):
        _post(alice_s, direct, f"already read {i}")
    bob = _browser(persons, base_url, "bob", bob_s)
    _open(bob, direct)
    expect(bob.message("already read 2")).to_be_visible()
    # Nothing read yet: the divider is before the very first message.
    first = bob.tid("new-messages-divider")
    expect(first).to_have_count(1)
    assert first.evaluate("n => n.nextElementSibling.dataset.messageId") == bob.messages().first.get_attribute("data-message-id")
    _open(bob, group)
    # While Bob is elsewhere, Alice writes a lot.
    for i in range(40):
        _post(alice_s, direct, f"unread number {i}")
    expect(_item(bob, direct)).to_have_attribute("data-unread", "40")
    expect(bob.page).to_have_title("(40) chatsvc")
    assert bob.page.locator('link[rel="icon"]').get_attribute("data-count") == "40"
    assert bob.page.locator('link[rel="icon"]').get_attribute("href").startswith("data:image/png;base64,")

    _open(bob, direct)
    divider = bob.tid("new-messages-divider")
    expect(divider).to_have_count(1)
    expect(divider).to_have_text("New messages")
    # It sits right before the first unread message.
    after = divider.evaluate("n => n.nextElementSibling.querySelector('[data-testid=message-body]').textContent.trim()")
    before = divider.evaluate("n => n.previousElementSibling.querySelector('[data-testid=message-body]').textContent.trim()")
    assert (before, after) == ("already read 2", "unread number 0")
    expect(bob.page).to_have_title("chatsvc")
    # The newest messages show; the divider is off screen, so the jump control is offered.
    expect(bob.message("unread number 39")).to_be_in_viewport()
    jump = bob.tid("jump-unread")
    expect(jump).to_be_visible()
    jump.click()
    expect(divider).to_be_in_viewport()
    expect(jump).to_be_hidden()
    # It stays while the chat is open, new live messages included.
    _post(alice_s, direct, "one more while you read")
    expect(bob.message("one more while you read")).to_be_visible()
    expect(divider).to_have_count(1)
    # Leave and come back with nothing unread: gone.
    _open(bob, group)
    _open(bob, direct)
    expect(bob.message("one more while you read")).to_be_visible()
    expect(divider).to_have_count(0)
    expect(jump).to_be_hidden()

    # Mark all as read: the unread and mention badges of every chat go, on the server too.
    _open(bob, group)
    _post(alice_s, direct, "@bob direct mention")
    _post(alice_s, direct, "and plain")
    third = _chat(alice_s, bob_s, people["carol"], title="Third")
    _post(alice_s, third, "@bob in the third chat")
    _post(people["carol"], third, "carol too")
    expect(_item(bob, direct)).to_have_attribute("data-unread", "2")
    expect(_item(bob, direct).get_by_test_id("mention-badge")).to_have_text(re.compile(r"^@1"))
    expect(_item(bob, third)).to_have_attribute("data-unread", "2")
    expect(_item(bob, third)).to_have_attribute("data-mentions", "1")
    expect(bob.page).to_have_title("(4) chatsvc")
    mark = bob.tid("mark-all-read")
    expect(mark).to_be_visible()
    mark.click()
    for c in (direct, third, group):
        expect(_item(bob, c)).to_have_attribute("data-unread", "0")
        expect(_item(bob, c)).to_have_attribute("data-mentions", "0")
    expect(bob.tid("mention-badge")).to_have_count(0)
    expect(bob.tid("unread-badge")).to_have_count(0)
    expect(mark).to_be_hidden()
    expect(bob.page).to_have_title("chatsvc")
    chats = {c["id"]: c for c in bob_s["api"].get("/api/chats").json()["chats"]}
    for c in (direct, third, group):
        assert (chats[c["id"]]["unread_count"], chats[c["id"]]["mention_count"]) == (0, 0), chats[c["id"]]
    _no_trouble(bob)


def test_mention_badges_across_two_devices(persons, base_url):
    people = _team(base_url, "alice", "bob", "carol")
    alice_s, bob_s = people["alice"], people["bob"]
    group = _chat(alice_s, bob_s, people["carol"], title="Launch")
    direct = _chat(alice_s, bob_s)
    root = _post(alice_s, group, "a thread starts here")
    phone = _browser(persons, base_url, "bob-phone", bob_s, viewport={"width": 390, "height": 844}, bypass_csp=True)
    desk = _browser(persons, base_url, "bob-desk", bob_s)
    _open(desk, direct)
    for who in (phone, desk):
        expect(_item(who, group)).to_have_attribute("data-mentions", "0")

    _post(alice_s, group, "@bob one")
    _post(alice_s, group, "two for @Bob.")
    _post(alice_s, group, "not for you")
    for who in (phone, desk):
        badge = _item(who, group).get_by_test_id("mention-badge")
        expect(badge).to_have_text(re.compile(r"^@2"))
        expect(_item(who, group).get_by_test_id("unread-badge")).to_have_text(re.compile(r"^4"))  # the root too
    problems = phone.accessibility_problems("phone, sidebar with mention badges")
    # A mention in a thread-only reply counts too (it calls you wherever it is).
    _post(alice_s, group, "@bob in the thread", thread_id=root["id"])
    for who in (phone, desk):
        expect(_item(who, group)).to_have_attribute("data-mentions", "3")
        expect(_item(who, group)).to_have_attribute("data-unread", "4")  # thread-only: not unread in the chat
    assert bob_s["api"].get(f"/api/chats/{group['id']}").json()["mention_count"] == 3

    # Reading the chat on the desk clears both devices, but for the thread's mention...
    _open(desk, group)
    expect(desk.message("not for you")).to_be_visible()
    for who in (phone, desk):
        expect(_item(who, group)).to_have_attribute("data-mentions", "1")
        expect(_item(who, group)).to_have_attribute("data-unread", "0")
    assert bob_s["api"].get(f"/api/chats/{group['id']}").json()["mention_count"] == 1
    # ... which goes when he opens the thread.
    desk.message("a thread starts here").get_by_test_id("thread-summary").click()
    expect(desk.tid("thread-list").get_by_test_id("message-item")).to_have_count(2)
    for who in (phone, desk):
        expect(_item(who, group)).to_have_attribute("data-mentions", "0")
    assert bob_s["api"].get(f"/api/chats/{group['id']}").json()["mention_count"] == 0
    desk.tid("thread-close").click()

    # Up again on both; the phone opens the chat: down on both.
    _open(desk, direct)
    _post(alice_s, group, "@all standup in 5")
    for who in (phone, desk):
        expect(_item(who, group)).to_have_attribute("data-mentions", "1")
    _open(phone, group)
    expect(phone.message("@all standup in 5").get_by_test_id("mention")).to_have_class(re.compile(r"\bself\b"))
    expect(phone.message("@all standup in 5")).to_have_class(re.compile(r"\bmentions-me\b"))
    problems += phone.accessibility_problems("phone, chat with mentions")
    phone.tid("chat-settings-button").click()
    expect(phone.tid("chat-settings")).to_be_visible()
    problems += phone.accessibility_problems("phone, notification settings open")
    phone.page.keyboard.press("Escape")
    for who in (phone, desk):
        expect(_item(who, group)).to_have_attribute("data-mentions", "0")
    assert not problems, "\n".join(problems)
    _no_trouble(phone, desk)


def test_attention_rules_in_the_page(persons):
    """The pure rules: the typing sentence, what is highlighted, when to notify."""
    person = persons("rules")
    result = person.page.evaluate("""async () => {
        const { typingText, firstUnreadId } = await import('/static/views/chat.js');
        const { highlightMentions } = await import('/static/views/mentions.js');
        const { shouldNotify } = await import('/static/attention.js');
        const { Store } = await import('/static/state.js');
        const { renderMarkdown } = await import('/static/markdown.js');
        const marked = (text, names, me = 'u1') => {
          const box = document.createElement('div');
          box.append(renderMarkdown(text));
          highlightMentions(box, new Map(Object.entries(names)), me);
          return [...box.querySelectorAll('.mention')].map((n) => [n.textContent, n.classList.contains('self')]);
        };
        const s = new Store();
        s.setMe({ id: 'me', username: 'me' });
        s.upsertChat({ id: 'd', kind: 'direct', member_ids: ['me', 'a'] });
        s.upsertChat({ id: 'g', kind: 'group', member_ids: ['me', 'a', 'b'] });
        s.upsertChat({ id: 'm', kind: 'group', member_ids: ['me', 'a'], muted: true, notify: 'all' });
        s.upsertChat({ id: 'n', kind: 'direct', member_ids: ['me', 'a'], notify: 'none' });
        s.upsertChat({ id: 'x', kind: 'group', member_ids: ['me', 'a'], notify: 'all' });
        const msg = (chat_id, extra = {}) => ({ id: '10', chat_id, sender_id: 'a', body: 'hi', mentions: [], ...extra });
        const away = { openChatId: null, visible: true };
        const notify = {
          direct: shouldNotify(s, msg('d'), away),
          directOpen: shouldNotify(s, msg('d'), { openChatId: 'd', visible: true }),
          directOpenHidden: shouldNotify(s, msg('d'), { openChatId: 'd', visible: false }),
          mine: shouldNotify(s, msg('d', { sender_id: 'me' }), away),
          deleted: shouldNotify(s, msg('d', { deleted: true }), away),
          group: shouldNotify(s, msg('g'), away),
          groupMention: shouldNotify(s, msg('g', { mentions: ['me'] }), away),
          mutedMention: shouldNotify(s, msg('m', { mentions: ['me'] }), away),
          none: shouldNotify(s, msg('n', { mentions: ['me'] }), away),
          allThreadOnly: shouldNotify(s, msg('x', { thread_id: '5' }), away),
          allThreadMention: shouldNotify(s, msg('x', { thread_id: '5', mentions: ['me'] }), away),
          unknownChat: shouldNotify(s, msg('zz'), away),
        };
        const win = (messages, hasMoreBefore = false) => ({ messages, hasMoreBefore });
        const ms = [{ id: '1', sender_id: 'a' }, { id: '2', sender_id: 'me' }, { id: '3', sender_id: 'a' }];
        return {
          typing: [typingText([]), typingText(['Bob']), typingText(['Bob', 'Carol']), typingText(['B', 'C', 'D'])],
          marks: {
            basic: marked('hi @bob and @Carol.', { bob: 'u1', carol: 'u2' }),
            code: marked('`@bob` and\\n```\\n@bob\\n```\\n@bob', { bob: 'u1' }),
            glued: marked('mail ann@bob.com or x@bob', { bob: 'u1' }),
            unknown: marked('@dave is not here', { bob: 'u1' }),
            dotted: marked('@b.o.b. yes', { 'b.o.b': 'u3' }),
            all: marked('@all hands', { all: 'all' }),
            link: marked('[@bob](https://example.com/@bob)', { bob: 'u1' }),
          },
          notify,
          first: [firstUnreadId(win(ms), '1', 'me'), firstUnreadId(win(ms), '2', 'me'), firstUnreadId(win(ms), null, 'me'),
                  firstUnreadId(win(ms, true), null, 'me'), firstUnreadId(win(ms, true), '0', 'me'),
                  firstUnreadId(win(ms, true), '1', 'me')],
        };
    }""")
    assert result["typing"] == ["", "Bob is typing…", "Bob and Carol are typing…", "Several people are typing…"]
    marks = result["marks"]
    assert marks["basic"] == [["@bob", True], ["@Carol", False]]
    assert marks["code"] == [["@bob", True]]
    assert marks["glued"] == []
    assert marks["unknown"] == []
    assert marks["dotted"] == [["@b.o.b", False]]
    assert marks["all"] == [["@all", True]]
    assert marks["link"] == []
    assert result["notify"] == {
        "direct": True, "directOpen": False, "directOpenHidden": True, "mine": False, "deleted": False,
        "group": False, "groupMention": True, "mutedMention": False, "none": False,
        "allThreadOnly": False, "allThreadMention": True, "unknownChat": False,
    }
    assert result["first"] == ["3", "3", "1", None, None, "3"]
    assert person.errors == []


def test_search_suggestions_by_keyboard_and_recent_searches(persons, base_url):
    people = _team(base_url, "alice", "bob", "carol")
    _chat(people["alice"], people["bob"], title="Release v2")
    alice = _browser(persons, base_url, "alice", people["alice"])
    box = alice.tid("search-input")
    listbox = alice.tid("search-suggestions")
    options = listbox.get_by_role("option")
    expect(box).to_have_attribute("role", "combobox")
    expect(box).to_have_attribute("aria-expanded", "false")
    box.click()
    box.press_sequentially("deploy fr")
    expect(listbox).to_be_visible()
    expect(box).to_have_attribute("aria-expanded", "true")
    expect(options.first).to_have_attribute("data-insert", "from:")
    box.press("ArrowDown")
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", options.nth(0).get_attribute("id"))
    box.press("Enter")                      # inserts the operator, then offers its values
    expect(box).to_have_value("deploy from:")
    expect(options.first).to_be_visible()
    assert "from:me" in [o.get_attribute("data-insert") for o in options.all()]
    box.press_sequentially("b")
    expect(options).to_have_count(1)
    expect(options.first).to_have_attribute("data-insert", "from:bob")
    box.press("Tab")                        # Tab takes the first one
    expect(box).to_have_value("deploy from:bob ")
    expect(listbox).to_be_hidden()
    box.press_sequentially("in:rel")
    expect(options.first).to_have_attribute("data-insert", 'in:"Release v2"')
    box.press("ArrowDown")
    box.press("ArrowUp")                    # wraps around to the last (the only one)
    box.press("Escape")
    expect(listbox).to_be_hidden()
    expect(box).to_have_value("deploy from:bob in:rel")
    box.fill("launch plans")
    box.press("Enter")                      # nothing chosen: Enter searches
    expect(alice.tid("search-view")).to_be_visible()
    recent = alice.page.evaluate("JSON.parse(localStorage.getItem('chatsvc.recentSearches'))")
    assert recent == ["launch plans"]
    # An empty box offers the recent searches; choosing one runs it.
    box.fill("")
    box.press("ArrowDown")
    expect(options.first).to_have_attribute("data-kind", "recent")
    box.press("ArrowDown")
    box.press("Enter")
    expect(box).to_have_value("launch plans")
    assert alice.errors == []
