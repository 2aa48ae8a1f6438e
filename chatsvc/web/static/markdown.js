// Message markdown, rendered exactly as the server's chatsvc/markdown.py does it (the
// HTML export), so one input looks the same everywhere: markdown-it's `zero` preset with
// the same rules and options, links only to http(s), then DOMPurify with the same
// allow-list as a second wall. tests/e2e compares markdownHtml() with markdown_html().
//
// The vendored files are UMD builds: imported as modules they define globalThis.markdownit
// and globalThis.DOMPurify (same-origin static files; no eval, so CSP script-src 'self').

import './vendor/markdown-it.min.js';
import './vendor/purify.min.js';

// chatsvc/markdown.py: RULES, OPTIONS, TAGS, ATTRIBUTES, LINK_REL, _SAFE_LINK, _LANGUAGE_CLASS
export const RULES = ['emphasis', 'strikethrough', 'backticks', 'fence', 'blockquote', 'list', 'link',
  'linkify', 'newline', 'autolink', 'escape', 'entity'];
export const OPTIONS = { html: false, linkify: true, breaks: true, typographer: false };
const TAGS = ['p', 'br', 'strong', 'em', 's', 'code', 'pre', 'blockquote', 'ul', 'ol', 'li', 'a'];
const ATTRIBUTES = { a: ['href'], ol: ['start'], code: ['class'] };
const LINK_REL = 'noopener noreferrer nofollow';
const SAFE_LINK = /^https?:/i;
const LANGUAGE_CLASS = /^language-[A-Za-z0-9_+#-]{1,32}$/;

const md = globalThis.markdownit('zero', OPTIONS);
md.enable(RULES);
md.validateLink = (url) => SAFE_LINK.test(url.trim());

// A DOMPurify instance of our own, so its hooks and settings touch nobody else's.
const purify = globalThis.DOMPurify(window);
purify.addHook('afterSanitizeAttributes', (node) => {
  if (node.nodeType !== 1) return;
  const tag = node.nodeName.toLowerCase();
  const allowed = ATTRIBUTES[tag] || [];
  for (const { name } of [...node.attributes]) {
    if (!allowed.includes(name)) node.removeAttribute(name);
  }
  if (tag === 'code' && node.hasAttribute('class') && !LANGUAGE_CLASS.test(node.getAttribute('class'))) {
    node.removeAttribute('class');
  }
  if (tag === 'a') {
    const href = node.getAttribute('href');
    if (href != null && !SAFE_LINK.test(href)) node.removeAttribute('href');
    node.setAttribute('rel', LINK_REL);
    node.setAttribute('target', '_blank');
  }
});
const PURIFY = {
  ALLOWED_TAGS: TAGS,
  ALLOWED_ATTR: ['href', 'start', 'class'],
  ALLOWED_URI_REGEXP: SAFE_LINK,
  ALLOW_DATA_ATTR: false,
  ALLOW_ARIA_ATTR: false,
  KEEP_CONTENT: true,
};

/** markdown-it's HTML for `text`, before sanitising (what the parity test compares). */
export function markdownHtml(text) {
  return md.render(String(text));
}

/** `text` as safe HTML markup (a string): inert whatever it holds. */
export function markdownSafeHtml(text) {
  return purify.sanitize(markdownHtml(text), PURIFY);
}

/** `text` rendered as a DocumentFragment, ready to append (never parsed by innerHTML). */
export function renderMarkdown(text) {
  return purify.sanitize(markdownHtml(text), { ...PURIFY, RETURN_DOM_FRAGMENT: true });
}
