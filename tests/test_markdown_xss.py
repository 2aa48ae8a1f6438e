"""The HTML export's markdown (chatsvc.markdown.to_html) renders every payload of the shared
list (tests/xss_payloads.py, also sent through the browser workspace by tests/e2e) inert."""
from html.parser import HTMLParser

import pytest

from chatsvc.markdown import TAGS, to_html
from tests.xss_payloads import XSS_PAYLOADS


class _Elements(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_payload_renders_inert(payload):
    parser = _Elements()
    parser.feed(to_html(payload))
    for tag, attrs in parser.found:
        assert tag in TAGS, (tag, payload)
        assert not [a for a in attrs if a.lower().startswith("on")], (tag, attrs, payload)
        if tag == "a":
            assert (attrs.get("href") or "").lower().startswith(("http:", "https:")), (attrs, payload)
            assert attrs.get("rel") == "noopener noreferrer nofollow"
