"""Conversations in the browser workspace (issue 12): edits in place, threads, reactions
with the emoji picker, markdown bodies, XSS payloads rendered inert, and the parity of the
workspace's markdown-it with the server's chatsvc.markdown. Two people in two real
Chromium contexts against a real server, as in test_workspace.py (whose Person and
fixtures these tests use).
"""
import re
import time

from playwright.sync_api import expect

from chatsvc.markdown import markdown_html
from tests.e2e.test_workspace import Person, base_url, browser, persons  # noqa: F401 (fixtures)
from tests.helpers import Api, make_team
from tests.xss_payloads import XSS_PAYLOADS

assert Person  # the fixtures above make Persons

# Ordinary markdown, for the parity test beside the payloads.
ORDINARY_MARKDOWN = [
    "plain words", "**bold** and *italic* and _also_ and ~~gone~~", "`code` here",
    "```python\nprint('hi')\n```", "```\nno language\n```", "> quoted\n> more", "- one\n- two\n  - nested",
    "3. three\n4. four", "1) paren list", "line one\nline two", "para one\n\npara two",
    "see https://example.com/a_(b)?q=1.", "[site](https://example.com \"The title\")",
    "<https://example.com/auto>", "www.example.org and example.com", "mail me at someone@example.com",
    "# not a heading", "| a | b |\n|---|---|\n| 1 | 2 |", "![img](https://example.com/x.png)",
    "a \\*not emphasis\\*", "&copy; &amp; &#169; &nbsp;", "@bob look at this", "___", "snake_case_word and 2*3*4",
    "“quotes” -- 'single' (c) ...", "日本語のテキスト **太字** и кириллица", "    indented code",
    "**unclosed *mixed** emphasis*", "[link **bold**](http://example.com/a?b=c&d=e)",
]

MARKDOWN_SAMPLE = ("**strong words** and `tiny code`\n\n```py\nprint('block')\n```\n\n"
                   "see [the site](https://example.com/docs) now")


def _pair(base_url, persons, a, b, **kw):
    """Two team members with a direct chat open in their browsers."""
    _, people = make_team(Api(base_url), a, b)
    sa, sb = people[a], people[b]
    for x, y in ((sa, sb), (sb, sa)):
        assert x["api"].put(f"/api/contacts/{y['user']['id']}").status_code == 204
    chat = sa["api"].post("/api/chats", json={"member_ids": [sb["user"]["id"]]}).json()
    pa, pb = persons(a, **kw), persons(b, **kw)
    for p, s in ((pa, sa), (pb, sb)):
        p.sign_in_with(s["token"])
        p.tid("chat-list-item").and_(p.page.locator(f'[data-chat-id="{chat["id"]}"]')).click()
        expect(p.tid("chat-view")).to_be_visible()
    return pa, pb, sa, sb, chat


def _by_emoji(person, root, emoji):
    return root.get_by_test_id("reaction-chip").and_(person.page.locator(f'[data-emoji="{emoji}"]'))


def _no_trouble(*people):
    for who in people:
        assert who.alerts == [], f"{who.name}: an alert fired: {who.alerts}"
        assert who.errors == [], f"{who.name}: page errors: {who.errors}"


def test_edit_in_place(persons, base_url):
    alice, bob, *_ = _pair(base_url, persons, "alice", "bob")
    alice.send("first draft of the plan")
    expect(bob.message("first draft of the plan")).to_be_visible()
    bob.send("a message of bob's")
    expect(alice.message("a message of bob's")).to_be_visible()

    # Only one's own messages have "Edit".
    other = alice.message("a message of bob's")
    other.hover()
    other.get_by_test_id("message-menu-button").click()
    expect(other.get_by_test_id("menu-delete-me")).to_be_visible()
    expect(other.get_by_test_id("menu-edit")).to_have_count(0)
    alice.page.keyboard.press("Escape")

    # Up in the empty composer edits the last own message; Escape cancels, focus returns.
    box = alice.tid("composer-input")
    box.click()
    box.press("ArrowUp")
    editor = alice.tid("message-list").get_by_test_id("edit-input")
    expect(editor).to_be_focused()
    expect(editor).to_have_value("first draft of the plan")
    editor.fill("this text is thrown away")
    editor.press("Escape")
    expect(editor).to_have_count(0)
    expect(box).to_be_focused()
    expect(alice.message("first draft of the plan")).to_have_count(1)
    expect(alice.message("first draft of the plan").get_by_test_id("message-edited")).to_have_count(0)

    # Up again, new text, Enter saves: both people see it with "(edited)".
    box.press("ArrowUp")
    expect(editor).to_be_focused()
    editor.fill("final **plan**, edited")
    editor.press("Enter")
    expect(editor).to_have_count(0)
    expect(box).to_be_focused()
    for who in (alice, bob):
        item = who.message("final plan, edited")
        expect(item).to_have_count(1)
        expect(item.locator("strong")).to_have_text("plan")
        marker = item.get_by_test_id("message-edited")
        expect(marker).to_have_text("(edited)")
        expect(marker).to_have_attribute("title", re.compile(r"^Edited \S"))
        expect(who.message("first draft of the plan")).to_have_count(0)

    # The menu's "Edit" works too, and Save is a button as well as Enter.
    alice.menu(alice.message("final plan, edited"), "menu-edit")
    expect(editor).to_be_focused()
    editor.fill("edited from the menu")
    alice.tid("message-list").get_by_test_id("edit-save").click()
    expect(bob.message("edited from the menu")).to_have_count(1)
    # A reload shows the stored edit.
    bob.page.reload()
    bob.tid("chat-list-item").first.click()
    expect(bob.message("edited from the menu").get_by_test_id("message-edited")).to_be_visible()
    _no_trouble(alice, bob)


def test_a_thread_end_to_end(persons, base_url):
    alice, bob, sa, sb, chat = _pair(base_url, persons, "alice", "bob")
    alice.send("root question: where is the report?")
    root_bob = bob.message("root question: where is the report?")
    expect(root_bob).to_be_visible()

    # Bob replies in a thread: only in the thread.
    bob.menu(root_bob, "menu-reply-thread")
    pane = bob.tid("thread-pane")
    expect(pane).to_be_visible()
    expect(pane.get_by_test_id("message-body").first).to_have_text("root question: where is the report?")
    expect(bob.tid("thread-input")).to_be_focused()
    bob.tid("thread-input").fill("thread-only answer")
    bob.tid("thread-input").press("Enter")
    expect(pane.get_by_test_id("message-item").filter(has_text="thread-only answer")).to_have_count(1)

    # Alice's chat: the root's summary updates live; the reply is not in the flow.
    root_alice = alice.message("root question: where is the report?")
    summary = root_alice.get_by_test_id("thread-summary")
    expect(summary.get_by_test_id("reply-count")).to_have_text("1 reply")
    expect(summary.get_by_test_id("replier-avatar")).to_have_count(1)
    expect(summary.get_by_test_id("last-reply")).to_contain_text("Last reply")
    expect(summary).to_have_attribute("aria-label", re.compile(r"^1 reply from Bob"))
    for who in (alice, bob):
        expect(who.message("thread-only answer")).to_have_count(0)

    # "Also send to chat": in the thread and in both chat flows.
    bob.tid("thread-input").fill("an answer for everyone")
    bob.tid("thread-also-in-chat").check()
    bob.tid("thread-send").click()
    expect(bob.tid("thread-also-in-chat")).not_to_be_checked()
    expect(pane.get_by_test_id("message-item").filter(has_text="an answer for everyone")).to_have_count(1)
    for who in (alice, bob):
        expect(who.message("an answer for everyone")).to_have_count(1)
        expect(who.message("an answer for everyone").get_by_test_id("open-reply-thread")).to_be_visible()
    expect(summary.get_by_test_id("reply-count")).to_have_text("2 replies")

    # Alice opens the thread from the summary and answers; Bob's open pane shows it live.
    summary.click()
    alice_pane = alice.tid("thread-pane")
    expect(alice_pane.get_by_test_id("message-item")).to_have_count(3)
    alice.shot("11-thread-pane")
    alice.tid("thread-input").fill("thanks, found it")
    alice.tid("thread-input").press("Enter")
    expect(pane.get_by_test_id("message-item").filter(has_text="thanks, found it")).to_have_count(1)
    expect(root_bob.get_by_test_id("reply-count")).to_have_text("3 replies")
    expect(alice.message("thanks, found it")).to_have_count(0)
    expect(bob.message("thanks, found it")).to_have_count(0)

    # History after a reload: the thread-only replies stay out of the flow.
    alice.page.reload()
    alice.tid("chat-list-item").first.click()
    expect(alice.message("an answer for everyone")).to_have_count(1)
    expect(alice.message("root question: where is the report?").get_by_test_id("reply-count")).to_have_text("3 replies")
    expect(alice.message("thread-only answer")).to_have_count(0)
    expect(alice.message("thanks, found it")).to_have_count(0)
    assert [m["body"] for m in sa["api"].get(f"/api/chats/{chat['id']}/messages").json()["messages"]] \
        == ["root question: where is the report?", "an answer for everyone"]

    # Phone width: the pane is the whole screen; closing it shows the chat again.
    bob.page.set_viewport_size({"width": 390, "height": 844})
    expect(pane).to_be_visible()
    expect(bob.tid("message-list")).to_be_hidden()
    bob.shot("12-phone-thread")
    bob.tid("thread-close").click()
    expect(pane).to_be_hidden()
    expect(bob.tid("message-list")).to_be_visible()

    # A search hit on a thread-only reply opens its thread, the reply in view.
    alice.tid("search-input").fill('"thread-only answer"')
    hit = alice.tid("search-hit")
    deadline = time.monotonic() + 20
    while True:  # the engine makes new documents searchable within about a second
        alice.tid("search-submit").click()
        expect(alice.tid("search-summary")).not_to_have_text("Searching…")
        if hit.count() or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    expect(hit).to_have_count(1)
    hit.click()
    alice_pane = alice.tid("thread-pane")
    expect(alice_pane).to_be_visible()
    reply = alice_pane.get_by_test_id("message-item").filter(has_text="thread-only answer")
    expect(reply).to_have_class(re.compile(r"\bhit\b"))
    expect(reply).to_be_in_viewport()
    _no_trouble(alice, bob)


def test_an_open_thread_catches_up_what_changed_while_offline(persons, base_url):
    _, people = make_team(Api(base_url), "erin", "finn")
    se, sf = people["erin"], people["finn"]
    chat = se["api"].post("/api/chats", json={"member_ids": [sf["user"]["id"]]}).json()
    root = sf["api"].post(f"/api/chats/{chat['id']}/messages",
                          json={"body": "root of the plan", "client_msg_id": "off-r"}).json()
    replies = [sf["api"].post(f"/api/chats/{chat['id']}/messages", json={
        "body": f"step {i}", "client_msg_id": f"off-{i}", "thread_id": root["id"]}).json() for i in range(3)]
    erin = persons("erin")
    erin.cuttable_websocket()
    erin.sign_in_with(se["token"])
    erin.tid("chat-list-item").and_(erin.page.locator(f'[data-chat-id="{chat["id"]}"]')).click()
    erin.message("root of the plan").get_by_test_id("thread-summary").click()
    pane = erin.tid("thread-list")
    expect(pane.get_by_test_id("message-item")).to_have_count(4)   # the root and 3 replies

    # While Erin is offline, Finn edits a reply, reacts to another, deletes the third, and
    # adds one more.
    erin.network(up=False)
    expect(erin.tid("connection-status")).not_to_have_attribute("data-status", "ready")
    assert sf["api"].patch(f"/api/messages/{replies[0]['id']}", json={"body": "step zero, revised"}).status_code == 200
    assert sf["api"].put(f"/api/messages/{replies[1]['id']}/reactions/🎉").status_code == 200
    assert sf["api"].delete(f"/api/messages/{replies[2]['id']}?for=everyone").status_code == 204
    sf["api"].post(f"/api/chats/{chat['id']}/messages", json={
        "body": "step 3", "client_msg_id": "off-3", "thread_id": root["id"]})
    erin.network(up=True)
    expect(erin.tid("connection-status")).to_have_attribute("data-status", "ready", timeout=20_000)

    items = pane.get_by_test_id("message-item")
    expect(items.filter(has_text="step zero, revised")).to_have_count(1)
    expect(items.filter(has_text="step 1").get_by_test_id("reaction-chip")).to_have_count(1)
    expect(items.filter(has_text="step 2")).to_have_count(0)
    expect(items.filter(has_text="step 3")).to_have_count(1)
    _no_trouble(erin)


def test_reactions_with_the_picker(persons, base_url):
    alice, bob, *_ = _pair(base_url, persons, "alice", "bob")
    alice.send("react to this one")
    item_bob = bob.message("react to this one")
    item_alice = alice.message("react to this one")
    expect(item_bob).to_be_visible()

    # Bob opens the picker from the menu by keyboard, searches, picks with Enter.
    item_bob.hover()
    menu_button = item_bob.get_by_test_id("message-menu-button")
    menu_button.focus()
    bob.page.keyboard.press("Enter")
    item_bob.get_by_test_id("menu-add-reaction").focus()
    bob.page.keyboard.press("Enter")
    picker = bob.tid("emoji-picker")
    expect(picker).to_be_visible()
    expect(bob.tid("emoji-search")).to_be_focused()
    expect(bob.tid("emoji-option").first).to_be_visible()
    # Escape closes it (even with text in the search box) and focus goes back to the menu button.
    bob.page.keyboard.type("cat")
    expect(bob.tid("emoji-option").first).to_have_attribute("data-emoji", "🐈")  # the exact name first
    bob.page.keyboard.press("Escape")
    expect(picker).to_be_hidden()
    expect(menu_button).to_be_focused()

    bob.page.keyboard.press("Enter")
    item_bob.get_by_test_id("menu-add-reaction").click()
    expect(bob.tid("emoji-search")).to_be_focused()
    bob.page.keyboard.type("party popper")
    expect(bob.tid("emoji-option").first).to_have_attribute("data-emoji", "🎉")
    bob.page.keyboard.press("ArrowDown")
    expect(bob.tid("emoji-option").first).to_be_focused()
    bob.tid("emoji-search").fill("heart")
    expect(bob.tid("emoji-option").nth(1)).to_be_visible()
    bob.page.keyboard.press("ArrowDown")
    bob.page.keyboard.press("ArrowRight")
    second = bob.tid("emoji-option").nth(1)
    expect(second).to_be_focused()
    chosen = second.get_attribute("data-emoji")
    bob.page.keyboard.press("Enter")
    expect(picker).to_be_hidden()
    expect(menu_button).to_be_focused()
    for who, item in ((alice, item_alice), (bob, item_bob)):
        expect(_by_emoji(who, item, chosen)).to_have_text(f"{chosen} 1")
    expect(_by_emoji(alice, item_alice, chosen)).to_have_attribute("title", "Bob")

    # Enter in the search box picks the first match.
    item_bob.get_by_test_id("add-reaction").click()
    bob.tid("emoji-search").fill("party pop")
    expect(bob.tid("emoji-option").first).to_have_attribute("data-emoji", "🎉")
    bob.tid("emoji-search").press("Enter")
    expect(picker).to_be_hidden()
    for who, item in ((alice, item_alice), (bob, item_bob)):
        expect(_by_emoji(who, item, "🎉")).to_have_text("🎉 1")

    # Alice clicks the chip: her reaction joins; again: it goes; Bob's too: the chip goes.
    chip = _by_emoji(alice, item_alice, "🎉")
    chip.click()
    expect(chip).to_have_text("🎉 2")
    expect(chip).to_have_attribute("aria-pressed", "true")
    expect(_by_emoji(bob, item_bob, "🎉")).to_have_text("🎉 2")
    expect(_by_emoji(bob, item_bob, "🎉")).to_have_attribute("aria-pressed", "true")  # his own is in it
    expect(_by_emoji(bob, item_bob, "🎉")).to_have_attribute("title", re.compile(r"^(Bob and Alice|Alice and Bob)$"))
    chip.click()
    expect(chip).to_have_text("🎉 1")
    expect(chip).to_have_attribute("aria-pressed", "false")
    expect(_by_emoji(bob, item_bob, "🎉")).to_have_text("🎉 1")
    _by_emoji(bob, item_bob, "🎉").click()
    for who, item in ((alice, item_alice), (bob, item_bob)):
        expect(_by_emoji(who, item, "🎉")).to_have_count(0)

    # Quick reactions: 👍 is the like (and shows first).
    alice.react(item_alice, "👍")
    for who, item in ((alice, item_alice), (bob, item_bob)):
        expect(_by_emoji(who, item, "👍")).to_have_text("👍 1")
        expect(item.get_by_test_id("reaction-chip").first).to_have_attribute("data-emoji", "👍")
    alice.react(item_alice, "👍")
    expect(_by_emoji(bob, item_bob, "👍")).to_have_count(0)
    _no_trouble(alice, bob)


def test_markdown_renders(persons, base_url):
    alice, bob, *_ = _pair(base_url, persons, "alice", "bob")
    box = alice.tid("composer-input")
    box.fill(MARKDOWN_SAMPLE)
    box.press("Enter")
    for who in (alice, bob):
        body = who.tid("message-list").get_by_test_id("message-body").filter(has_text="strong words")
        expect(body).to_have_count(1)
        expect(body.locator("strong")).to_have_text("strong words")
        expect(body.locator("p > code")).to_have_text("tiny code")
        expect(body.locator("pre > code.language-py")).to_have_text("print('block')\n")
        link = body.locator("a")
        expect(link).to_have_text("the site")
        expect(link).to_have_attribute("href", "https://example.com/docs")
        expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
        expect(link).to_have_attribute("target", "_blank")
    alice.shot("13-markdown")
    _no_trouble(alice, bob)


CHECK_BODIES = """(root) => {
  const bad = [];
  for (const n of root.querySelectorAll('*')) {
    for (const a of n.attributes) if (/^on/i.test(a.name)) bad.push(`${n.localName}[${a.name}]`);
  }
  const bodies = root.querySelectorAll('[data-testid="message-body"]');
  for (const b of bodies) {
    for (const n of b.querySelectorAll('script, iframe, object, embed, style, svg, math, img, form, input, link, meta, base, frame, frameset'))
      bad.push(`<${n.localName}> in a body`);
    for (const n of b.querySelectorAll('*')) {
      if (!['p', 'br', 'strong', 'em', 's', 'code', 'pre', 'blockquote', 'ul', 'ol', 'li', 'a'].includes(n.localName))
        bad.push(`<${n.localName}> not allowed`);
      for (const a of n.attributes) {
        if (!['href', 'start', 'class', 'rel', 'target'].includes(a.name)) bad.push(`${n.localName}[${a.name}]`);
        if (a.name === 'class' && !(n.localName === 'code' && /^language-[A-Za-z0-9_+#-]+$/.test(a.value))) bad.push(`class=${a.value}`);
      }
    }
    for (const a of b.querySelectorAll('a')) {
      if (!/^https?:/i.test(a.getAttribute('href') || '')) bad.push(`a href=${a.getAttribute('href')}`);
      if (a.rel !== 'noopener noreferrer nofollow' || a.target !== '_blank') bad.push(`a rel=${a.rel} target=${a.target}`);
    }
  }
  return { bad, bodies: bodies.length };
}"""


def test_xss_payloads_render_inert(persons, base_url):
    alice, bob, sa, sb, chat = _pair(base_url, persons, "alice", "bob")
    # Sent over REST while both watch (the live path), one reply in a thread, then reloaded (history).
    for i, payload in enumerate(XSS_PAYLOADS):
        r = sb["api"].post(f"/api/chats/{chat['id']}/messages", json={"body": payload, "client_msg_id": f"xss-{i}"})
        assert r.status_code == 201, r.text
    root = sb["api"].get(f"/api/chats/{chat['id']}/messages?limit=1").json()["messages"][0]
    for i, payload in enumerate(XSS_PAYLOADS[:10]):
        r = sb["api"].post(f"/api/chats/{chat['id']}/messages", json={
            "body": payload, "client_msg_id": f"xss-t{i}", "thread_id": root["id"], "also_in_chat": i % 2 == 0})
        assert r.status_code == 201, r.text
    # One edited into a payload (the `edited` event path).
    mine = sa["api"].post(f"/api/chats/{chat['id']}/messages", json={"body": "harmless", "client_msg_id": "xss-e"}).json()
    n = len(XSS_PAYLOADS) + 5 + 1
    for who in (alice, bob):
        expect(who.messages()).to_have_count(n)
    assert sa["api"].patch(f"/api/messages/{mine['id']}", json={"body": XSS_PAYLOADS[2]}).status_code == 200
    for who in (alice, bob):
        expect(who.message("harmless")).to_have_count(0)
        result = who.tid("message-list").evaluate(CHECK_BODIES)
        assert result["bad"] == [] and result["bodies"] == n, result
    # The thread pane renders its replies the same way.
    alice.tid("message-list").get_by_test_id("thread-summary").first.click()
    expect(alice.tid("thread-list").get_by_test_id("message-item")).to_have_count(11)
    result = alice.tid("thread-list").evaluate(CHECK_BODIES)
    assert result["bad"] == [] and result["bodies"] == 11, result
    # History, after a reload.
    bob.page.reload()
    bob.tid("chat-list-item").first.click()
    expect(bob.messages().nth(49)).to_be_attached()
    result = bob.tid("message-list").evaluate(CHECK_BODIES)
    assert result["bad"] == [], result
    # Hovering and focusing every link and body fires nothing either.
    for link in alice.tid("message-list").locator("a").all()[:20]:
        link.hover()
    alice.page.wait_for_timeout(300)
    _no_trouble(alice, bob)


def test_markdown_parity_with_the_server(persons):
    """One rendering everywhere: markdown.js's markdown-it (before DOMPurify) gives exactly
    chatsvc.markdown.markdown_html's output (markdown-it-py, used by the HTML export)."""
    person = persons("parity")
    inputs = XSS_PAYLOADS + ORDINARY_MARKDOWN
    browser_html = person.page.evaluate("(xs) => xs.map((x) => window.chatsvcMarkdownHtml(x))", inputs)
    imported = person.page.evaluate(
        "async (xs) => { const m = await import('/static/markdown.js'); return xs.map(m.markdownHtml); }", inputs)
    assert browser_html == imported
    diffs = [(text, js, markdown_html(text)) for text, js in zip(inputs, browser_html) if js != markdown_html(text)]
    assert not diffs, "\n".join(f"{t!r}:\n  js: {j!r}\n  py: {p!r}" for t, j, p in diffs)
    # And the safe HTML the page inserts has no more than the allow-list.
    checked = person.page.evaluate("""async (xs) => {
        const m = await import('/static/markdown.js');
        const box = document.createElement('div');
        box.dataset.testid = 'message-body';
        const root = document.createElement('div');
        root.append(box);
        for (const x of xs) box.append(m.renderMarkdown(x));
        return (%s)(root);
    }""" % CHECK_BODIES, inputs)
    assert checked["bad"] == [], checked
    assert person.errors == []
