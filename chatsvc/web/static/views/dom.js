// Small DOM helpers. Everything user-supplied goes through textContent or attributes:
// nothing here parses strings as HTML.

/** el('div', {class: 'x', dataset: {id}, onclick}, child, 'text', ...) */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k === 'testid') node.dataset.testid = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else if (k in node && typeof v !== 'string') node[k] = v;
    else node.setAttribute(k, v === true ? '' : v);
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(node, c);
    else node.append(c instanceof Node ? c : String(c));
  }
}

/** ARIA combobox roles for a text `input` that offers the options of `listbox` (hidden
 * until there are some): the pattern of the composer's @mentions and the search box. */
export function comboboxRoles(input, listbox, label) {
  input.setAttribute('role', 'combobox');
  input.setAttribute('aria-autocomplete', 'list');
  input.setAttribute('aria-controls', listbox.id);
  input.setAttribute('aria-expanded', 'false');
  input.setAttribute('aria-haspopup', 'listbox');
  listbox.setAttribute('role', 'listbox');
  listbox.setAttribute('aria-label', label);
  listbox.hidden = true;
}

export function $(sel, root = document) { return root.querySelector(sel); }

const HEX = /^#[0-9a-fA-F]{6}$/;

function initials(name) {
  const parts = String(name || '?').trim().split(/\s+/).filter(Boolean);
  const chars = parts.length > 1 ? [parts[0], parts[parts.length - 1]] : [parts[0] || '?'];
  return chars.map((p) => [...p][0]).join('').toUpperCase();
}

/** Dark or light text, whichever reads better on the avatar colour. */
function textOn(hex) {
  const n = parseInt(hex.slice(1), 16);
  const [r, g, b] = [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  return (0.299 * r + 0.587 * g + 0.114 * b) > 150 ? '#111' : '#fff';
}

/** Initials on the user's avatar_color (validated: it is used as a CSS value). */
export function avatar(user, { size = 'md', label = true, testid } = {}) {
  const name = user ? (user.display_name || user.username) : '?';
  const color = user && HEX.test(user.avatar_color || '') ? user.avatar_color : '#6b7280';
  const node = el('span', {
    class: `avatar avatar-${size}`,
    title: name,
    testid,
    dataset: user ? { userId: user.id } : {},
  }, user?.avatar_url
    ? el('img', { src: user.avatar_url, alt: '', class: 'avatar-img', width: '64', height: '64', loading: 'lazy', decoding: 'async' })
    : initials(name));
  node.style.backgroundColor = color;
  node.style.color = textOn(color);
  if (label) { node.setAttribute('role', 'img'); node.setAttribute('aria-label', name); } else node.setAttribute('aria-hidden', 'true');
  return node;
}

export function presenceDot(status, name) {
  const online = status === 'online';
  return el('span', {
    class: `presence-dot ${online ? 'online' : 'offline'}`,
    role: 'img',
    'aria-label': `${name ? `${name} is ` : ''}${online ? 'online' : 'offline'}`,
    title: online ? 'Online' : 'Offline',
    testid: 'presence-dot',
    dataset: { status: online ? 'online' : 'offline' },
  });
}

// http(s) URLs inside free text.
const URL_RE = /\bhttps?:\/\/[^\s<>"']+/gi;
const TRAILING = '.,;:!?]}\'"';

/** Drops sentence punctuation after a URL, but keeps a ')' that closes a '(' inside it. */
function trimUrl(raw) {
  let end = raw.length;
  while (end > 0) {
    const ch = raw[end - 1];
    if (ch === ')') {
      const head = raw.slice(0, end);
      if (head.split(')').length <= head.split('(').length) break; // balanced: part of the URL
    } else if (!TRAILING.includes(ch)) break;
    end -= 1;
  }
  return raw.slice(0, end);
}

/** Text with URLs turned into safe links: only http/https, new tab, no opener, no referrer. */
export function linkify(text) {
  const frag = document.createDocumentFragment();
  const str = String(text);
  let last = 0;
  for (const match of str.matchAll(URL_RE)) {
    const raw = trimUrl(match[0]);
    let url = null;
    try { url = new URL(raw); } catch { /* not a URL after all */ }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) continue;
    frag.append(str.slice(last, match.index));
    frag.append(el('a', { href: url.href, target: '_blank', rel: 'noopener noreferrer', text: raw }));
    last = match.index + raw.length;
  }
  frag.append(str.slice(last));
  return frag;
}

const sameDay = (a, b) => a.toDateString() === b.toDateString();

export function shortTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const now = new Date();
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (sameDay(d, now)) return time;
  return `${d.toLocaleDateString([], { month: 'short', day: 'numeric', year: d.getFullYear() === now.getFullYear() ? undefined : 'numeric' })} ${time}`;
}

export function timeEl(iso) {
  const d = new Date(iso);
  return el('time', { datetime: iso, title: Number.isNaN(d.getTime()) ? '' : d.toLocaleString() }, shortTime(iso));
}

/**
 * Keyed list update: items [{key, sig, build}] where sig captures everything the node
 * shows. Unchanged nodes are kept (focus, selection and screen-reader position survive);
 * changed ones are rebuilt in place, and focus moves to the twin control in the new node.
 */
export function reconcile(parent, items) {
  const old = new Map();
  for (const child of parent.children) old.set(child.dataset.key, child);
  let cursor = parent.firstElementChild;
  const active = document.activeElement;
  for (const it of items) {
    let node = old.get(it.key);
    if (node) old.delete(it.key);
    if (!node || node.dataset.sig !== it.sig) {
      const fresh = it.build();
      fresh.dataset.key = it.key;
      fresh.dataset.sig = it.sig;
      if (node) {
        const hadFocus = node.contains(active);
        node.replaceWith(fresh);
        if (cursor === node) cursor = fresh;
        if (hadFocus) refocus(fresh, active);
      }
      node = fresh;
    }
    if (node === cursor) cursor = cursor.nextElementSibling;
    else parent.insertBefore(node, cursor);
  }
  for (const n of old.values()) n.remove();
}

function refocus(root, previous) {
  const id = previous.dataset?.testid;
  const twin = (id && root.querySelector(`[data-testid="${CSS.escape(id)}"]`)) || (root.tabIndex >= 0 ? root : null);
  if (twin) twin.focus();
}

/** Announces text to screen readers through the page's polite live region. */
export function announce(text) {
  const region = document.getElementById('announcer');
  if (!region) return;
  region.textContent = '';
  // A separate task makes repeated identical announcements be read again.
  setTimeout(() => { region.textContent = text; }, 30);
}

let toastTimer = null;
export function toast(text, kind = 'error') {
  const node = document.getElementById('toast');
  if (!node) return;
  node.textContent = text;
  node.className = `toast ${kind}`;
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { node.hidden = true; }, 6000);
}
