"""Files in the browser workspace: attach by the file button, upload progress and cancel,
send, the inline preview sized before it loads, the lightbox by keyboard, a download
link, a profile picture where the initials were, axe-core clean, and phone width. Two
people in real Chromium contexts against a real server (test_workspace.py's fixtures)."""
import io

from PIL import Image
from playwright.sync_api import expect

from tests import file_samples as samples
from tests.helpers import Api, wait_until
from tests.e2e.test_conversations_web import _no_trouble, _pair
from tests.e2e.test_workspace import Person, base_url, browser, persons  # noqa: F401 (fixtures)

assert Person


def _attach(person, name, data, mime):
    person.tid("composer-file-input").set_input_files([{"name": name, "mimeType": mime, "buffer": data}])


def test_share_an_image_and_a_document(persons, base_url):
    pa, pb, sa, sb, chat = _pair(base_url, persons, "ivy", "jon", bypass_csp=True)
    image = samples.png(400, 300)
    _attach(pa, "chart.png", image, "image/png")
    _attach(pa, "notes.pdf", samples.pdf("meeting notes"), "application/pdf")
    expect(pa.tid("attachment").and_(pa.page.locator('[data-status="ready"]'))).to_have_count(2)
    pa.tid("composer-input").fill("two files <img src=x onerror=alert(1)>")
    pa.tid("composer-input").press("Enter")
    for p in (pa, pb):
        item = p.tid("message-item").filter(has=p.page.get_by_test_id("message-files")).last
        expect(item.get_by_test_id("file-preview")).to_have_count(1)
        img = item.get_by_test_id("file-preview").locator("img")
        # the size is known before the bytes arrive: no layout jump
        assert img.get_attribute("width") == "400" and img.get_attribute("height") == "300"
        expect(img).to_have_js_property("complete", True)
        assert img.evaluate("i => i.naturalWidth") == 400
        link = item.get_by_test_id("file-link")
        expect(link).to_contain_text("notes.pdf")
        assert link.get_attribute("download") == "notes.pdf"
    expect(pa.tid("composer-files")).to_be_hidden()
    # the lightbox by keyboard: focus the preview, Enter opens, Escape closes and returns focus
    preview = pb.tid("file-preview").last
    preview.focus()
    pb.page.keyboard.press("Enter")
    expect(pb.tid("lightbox")).to_be_visible()
    expect(pb.tid("lightbox-image")).to_have_attribute("alt", "chart.png")
    assert pb.accessibility_problems("lightbox") == []
    pb.page.keyboard.press("Escape")
    expect(pb.tid("lightbox")).to_be_hidden()
    expect(preview).to_be_focused()
    assert pa.accessibility_problems("chat with files") == []
    _no_trouble(pa, pb)


def test_cancel_an_upload_and_attach_by_keyboard(persons, base_url):
    pa, _, _, _, _ = _pair(base_url, persons, "kim", "lou")
    pa.page.route("**/api/files", lambda route: None)   # the upload hangs: it can be cancelled
    _attach(pa, "big.bin", b"x" * 200_000, "application/octet-stream")
    expect(pa.tid("upload-progress")).to_be_visible()
    pa.tid("upload-cancel").click()
    expect(pa.tid("attachment")).to_have_count(0)
    pa.page.unroute("**/api/files")
    # the Attach button is reachable by Tab from the message box and opens the file chooser
    pa.tid("composer-input").focus()
    with pa.page.expect_file_chooser() as chooser:
        pa.page.keyboard.press("Tab")
        expect(pa.tid("attach-button")).to_be_focused()
        pa.page.keyboard.press("Enter")
    chooser.value.set_files([{"name": "a.txt", "mimeType": "text/plain", "buffer": b"hello"}])
    expect(pa.tid("attachment").and_(pa.page.locator('[data-status="ready"]'))).to_have_count(1)
    pa.tid("send-button").click()
    expect(pa.tid("file-link").last).to_contain_text("a.txt")
    _no_trouble(pa)


def test_profile_picture_replaces_initials(persons, base_url):
    pa, pb, sa, _, chat = _pair(base_url, persons, "max", "ned")
    pa.send("hello with a face")
    pa.tid("avatar-input").set_input_files([{"name": "me.png", "mimeType": "image/png",
                                            "buffer": samples.png(300, 200, (0, 128, 0))}])
    expect(pa.tid("me").locator("img.avatar-img")).to_have_count(1)
    api = Api(base_url, sa["token"])   # a fresh connection: sa's has been idle while the browser worked
    user = api.get("/api/me").json()
    got = api.get(user["avatar_url"])
    assert Image.open(io.BytesIO(got.content)).size == (256, 256)     # cropped square
    # the other person sees the picture where the initials were (after loading the team anew)
    pb.page.reload()
    pb.tid("chat-list-item").and_(pb.page.locator(f'[data-chat-id="{chat["id"]}"]')).click()
    item = pb.message("hello with a face")
    expect(item.get_by_test_id("message-avatar").locator("img")).to_have_attribute("src", user["avatar_url"])
    _no_trouble(pa, pb)


def test_files_at_phone_width(persons, base_url):
    pa, _, _, _, _ = _pair(base_url, persons, "ola", "pia", viewport={"width": 375, "height": 740})
    _attach(pa, "wide.png", samples.png(1600, 400), "image/png")
    _attach(pa, "a-very-long-file-name-that-would-overflow-a-phone-screen-easily.pdf",
            samples.pdf("x"), "application/pdf")
    expect(pa.tid("attachment").and_(pa.page.locator('[data-status="ready"]'))).to_have_count(2)
    pa.tid("send-button").click()
    expect(pa.tid("file-preview").last).to_be_visible()
    overflow = pa.page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px at phone width"
    left, right = pa.tid("file-preview").last.evaluate(
        "e => { const r = e.getBoundingClientRect(); return [r.left, r.right]; }")
    assert left >= 0 and right <= 375, (left, right)
    _no_trouble(pa)


def test_file_names_with_markup_render_inert(persons, base_url):
    pa, pb, _, _, _ = _pair(base_url, persons, "quin", "rae")
    _attach(pa, "<img src=x onerror=alert(1)>.txt", b"hello", "text/plain")
    _attach(pa, "\"><svg onload=alert(2)>.txt", b"hello", "text/plain")
    expect(pa.tid("attachment").and_(pa.page.locator('[data-status="ready"]'))).to_have_count(2)
    pa.tid("send-button").click()
    for p in (pa, pb):
        expect(p.tid("file-link")).to_have_count(2)
        assert p.page.locator(".message-files img, .message-files svg").count() == 0
        assert "onerror" in p.tid("file-link").first.inner_text()
    _no_trouble(pa, pb)


def test_search_finds_words_inside_a_file_and_shows_it(persons, base_url):
    import uuid
    pa, pb, sa, _, chat = _pair(base_url, persons, "sam", "tia")
    word = "zx" + uuid.uuid4().hex[:8]
    _attach(pa, "budget.pdf", samples.pdf(f"the {word} figures"), "application/pdf")
    expect(pa.tid("attachment").and_(pa.page.locator('[data-status="ready"]'))).to_have_count(1)
    pa.tid("send-button").click()
    expect(pa.tid("file-link")).to_have_count(1)

    poller = Api(base_url, sa["token"])   # a fresh connection: sa's has been idle while the browser worked

    def found():
        r = poller.get("/api/search", params={"q": word})
        return r.status_code == 200 and r.json()["hits"]
    wait_until(found, 60, "the text inside the PDF to be searchable")
    pb.tid("search-input").fill(word)
    pb.page.keyboard.press("Enter")
    expect(pb.tid("search-hit-files")).to_have_text("Files: budget.pdf")
    _no_trouble(pa, pb)


_DATA_TRANSFER = """([kind, name]) => {
  const dt = new DataTransfer();
  dt.items.add(new File(['pasted or dropped text'], name, { type: 'text/plain' }));
  const target = document.querySelector(kind === 'paste' ? '#composer-input' : '#composer');
  const ev = kind === 'paste'
    ? new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true })
    : new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true });
  target.dispatchEvent(ev);
}"""


def test_paste_and_drop_attach_files(persons, base_url):
    pa, pb, _, _, _ = _pair(base_url, persons, "uma", "vic")
    pa.page.evaluate(_DATA_TRANSFER, ["paste", "pasted.txt"])
    pa.page.evaluate(_DATA_TRANSFER, ["drop", "dropped.txt"])
    expect(pa.tid("attachment").and_(pa.page.locator('[data-status="ready"]'))).to_have_count(2)
    pa.tid("send-button").click()
    expect(pb.tid("file-link")).to_have_count(2)
    expect(pb.tid("file-link").first).to_contain_text("pasted.txt")
    expect(pb.tid("file-link").last).to_contain_text("dropped.txt")
    _no_trouble(pa, pb)
