"""Message bodies that try to run script or leave the page through markdown rendering.

Shared by the browser tests (tests/e2e: each is sent as a message and rendered by the
workspace, and rendered by markdown.js for the parity check against chatsvc.markdown) and
any server-side test of chatsvc.markdown.to_html. Every one must render inert: no element
outside the allow-list, no on* attribute, no link whose href is not http: or https:.
"""

XSS_PAYLOADS = [
    # raw HTML (html is off: shown as text)
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<img src=\"x\" onerror=\"alert('img')\">",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<body onload=alert(1)>",
    "<iframe src=\"javascript:alert(1)\"></iframe>",
    "<iframe srcdoc=\"<script>alert(1)</script>\"></iframe>",
    "<object data=\"javascript:alert(1)\"></object>",
    "<embed src=\"javascript:alert(1)\">",
    "<style>body{background:url(javascript:alert(1))}</style>",
    "<div style=\"width: expression(alert(1))\">css expression</div>",
    "<a href=\"javascript:alert(1)\">click</a>",
    "<a href=javascript:alert(1) onmouseover=alert(2)>hover</a>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>",
    "<svg><a xlink:href=\"javascript:alert(1)\"><text x=\"20\" y=\"20\">x</text></a></svg>",
    "<form><button formaction=javascript:alert(1)>go</button></form>",
    "<input autofocus onfocus=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<!--<img src=x onerror=alert(1)>-->",
    "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
    # markdown links and images with dangerous schemes
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x]( javascript:alert(1) )",
    "[x](jav&#x09;ascript:alert(1))",
    "[x](jav\tascript:alert(1))",
    "[x](&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1))",
    "[x](javascript&colon;alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](vbscript:msgbox(1))",
    "[x](file:///etc/passwd)",
    "[x](//evil.example/path)",
    "[x](\\u006Aavascript:alert(1))",
    "[x](%6A%61%76%61%73%63%72%69%70%74:alert(1))",
    "[x](https://ok.example \"title\" onmouseover=alert(1))",
    "[x](https://ok.example \"a\\\" onmouseover=\\\"alert(1)\")",
    "[x](https://ok.example 'it''s')",
    "[x](<javascript:alert(1)>)",
    "[x][r]\n\n[r]: javascript:alert(1)",
    "![x](javascript:alert(1))",
    "![x](https://evil.example/x.png\" onerror=\"alert(1))",
    "[![img](x)](javascript:alert(1))",
    # autolinks and linkify
    "<javascript:alert(1)>",
    "<data:text/html,<script>alert(1)</script>>",
    "<vbscript:msgbox(1)>",
    "javascript:alert(1)",
    "see www.example.com/?q=\"><script>alert(1)</script>",
    "https://example.com/\"onmouseover=\"alert(1)",
    "https://example.com/<img src=x onerror=alert(1)>",
    "mailto:someone@example.com <mailto:x@example.com>",
    # entities, escapes, unicode tricks
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&#60;img src=x onerror=alert(1)&#62;",
    "\\<script\\>alert(1)\\</script\\>",
    "\u003cscript\u003ealert(1)\u003c/script\u003e",
    "＜script＞alert(1)＜/script＞",
    "[x](java\u0000script:alert(1))",
    "[x](\u202ejavascript:alert(1))",
    # code spans and fences keep markup as text
    "`<img src=x onerror=alert(1)>`",
    "```html\n<script>alert(1)</script>\n```",
    "```\" onmouseover=\"alert(1)\n<b>x</b>\n```",
    "```javascript:alert(1)\nx\n```",
    "> <svg onload=alert(1)>\n> [q](javascript:alert(1))",
    "- <img src=x onerror=alert(1)>\n- [l](vbscript:x)",
    "**<img src=x onerror=alert(1)>** _<b onmouseover=alert(1)>x</b>_",
]

assert len(XSS_PAYLOADS) >= 30
