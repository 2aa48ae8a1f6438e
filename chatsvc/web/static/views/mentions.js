// @mentions in the workspace: the composer's autocomplete of chat members after `@` (an
// ARIA combobox: the textarea owns a listbox, keyboard only works), and the highlighting
// of the names the server found in a message (`message.mentions`) in its rendered body.
//
// The server decides what is a mention (chatsvc/chat/mentions.py); the page only marks
// the `@username` text of the users listed in `mentions`, outside code, as a DOM
// post-process on the sanitised markdown (no HTML is ever parsed from user text).

import { el, avatar, comboboxRoles } from './dom.js';

// The server's MENTION_RE: a name not glued to a word before the `@`.
const MENTION_RE = /(^|[^A-Za-z0-9_.+@-])@([A-Za-z0-9_.-]{1,32})/g;
// What the composer is completing: `@` and the name so far, just before the caret.
const TYPED_RE = /(?:^|[^A-Za-z0-9_.+@-])@([A-Za-z0-9_.-]{0,32})$/;
const SHOWN = 8;

/** `{name -> user id}` of a message's mentions, by casefolded username (`all` too in a group). */
export function mentionNames(store, m, chat) {
  const names = new Map();
  for (const id of m.mentions || []) {
    const u = store.user(id) || (store.me?.id === id ? store.me : null);
    if (u?.username) names.set(u.username.toLowerCase(), id);
  }
  if ((m.mentions || []).length && chat?.kind === 'group' && !names.has('all')) names.set('all', 'all');
  return names;
}

/**
 * Wraps each `@name` of `names` (see mentionNames) in `root` (rendered markdown) in a
 * <span class="mention">, leaving code, preformatted text and links alone. `meId` gets
 * the "self" class (its own and `@all`). Returns whether anything was marked.
 */
export function highlightMentions(root, names, meId) {
  if (!names.size) return false;
  const doc = root.ownerDocument || document;
  const walker = doc.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
    acceptNode: (n) => (n.parentElement?.closest('code, pre, a') ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT),
  });
  const texts = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) if (n.data.includes('@')) texts.push(n);
  let marked = false;
  for (const node of texts) {
    const str = node.data;
    const parts = [];
    let last = 0;
    for (const match of str.matchAll(MENTION_RE)) {
      let name = match[2];
      // A trailing `.` or `-` is sentence punctuation unless the longer form is a name.
      while (name && !names.has(name.toLowerCase()) && /[.-]$/.test(name)) name = name.slice(0, -1);
      const id = names.get(name.toLowerCase());
      if (!id) continue;
      const start = match.index + match[1].length;
      parts.push(str.slice(last, start));
      const self = id === meId || id === 'all';
      parts.push(el('span', {
        class: `mention${self ? ' self' : ''}`, testid: 'mention', dataset: { userId: id },
      }, `@${name}`));
      last = start + 1 + name.length;
    }
    if (!parts.length) continue;
    parts.push(str.slice(last));
    node.replaceWith(...parts.filter((p) => p !== ''));
    marked = true;
  }
  return marked;
}

/**
 * The autocomplete of one composer. `chatId()` is the chat being written in; `listbox` is
 * the (initially empty, hidden) <ul> the suggestions go in. The keydown listener is added
 * here, so create this BEFORE the composer's own one: while the list is open it takes
 * ArrowUp/Down, Enter, Tab and Escape for itself.
 */
export function mentionAutocomplete(store, { input, listbox, chatId }) {
  let options = [];   // [{id, username, label, user}]
  let active = 0;
  let range = null;   // [start, end] of `@name` in the input's value

  comboboxRoles(input, listbox, 'People to mention');

  const isOpen = () => !listbox.hidden;

  function candidates(query) {
    const chat = store.chats.get(chatId());
    if (!chat) return [];
    const q = query.toLowerCase();
    const out = [];
    for (const id of chat.member_ids || []) {
      if (store.me && id === store.me.id) continue;
      const u = store.user(id);
      if (!u?.username) continue;
      const words = String(u.display_name || '').toLowerCase().split(/\s+/);
      if (u.username.toLowerCase().startsWith(q) || words.some((w) => w.startsWith(q))) {
        out.push({ id, username: u.username, label: u.display_name || u.username, user: u });
      }
    }
    out.sort((a, b) => a.username.localeCompare(b.username));
    if (chat.kind === 'group' && 'all'.startsWith(q) && !out.some((o) => o.username.toLowerCase() === 'all')) {
      out.push({ id: 'all', username: 'all', label: 'Everyone in this chat', user: null });
    }
    return out.slice(0, SHOWN);
  }

  function optionId(i) { return `${listbox.id}-opt-${i}`; }

  function draw() {
    listbox.replaceChildren(...options.map((o, i) => el('li', {
      id: optionId(i), role: 'option', class: `mention-option${i === active ? ' active' : ''}`,
      'aria-selected': String(i === active), testid: 'mention-option', dataset: { username: o.username },
      onmousedown: (ev) => { ev.preventDefault(); active = i; insert(); },
    },
    o.user ? avatar(o.user, { size: 'xs', label: false }) : el('span', { class: 'mention-all', 'aria-hidden': 'true' }, '@'),
    el('span', { class: 'mention-label' }, o.label), ' ',
    el('span', { class: 'muted' }, `@${o.username}`))));
    input.setAttribute('aria-activedescendant', optionId(active));
    listbox.querySelector('.active')?.scrollIntoView({ block: 'nearest' });
  }

  function close() {
    if (!isOpen() && !options.length) return;
    options = [];
    range = null;
    listbox.hidden = true;
    listbox.replaceChildren();
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
  }

  /** Looks at the text before the caret and opens, updates or closes the list. */
  function update() {
    const caret = input.selectionStart;
    if (caret !== input.selectionEnd) { close(); return; }
    const match = TYPED_RE.exec(input.value.slice(0, caret));
    if (!match) { close(); return; }
    const found = candidates(match[1]);
    if (!found.length) { close(); return; }
    const keep = options[active]?.id;
    options = found;
    active = Math.max(0, options.findIndex((o) => o.id === keep));
    range = [caret - match[1].length - 1, caret];
    listbox.hidden = false;
    input.setAttribute('aria-expanded', 'true');
    draw();
  }

  function insert() {
    const o = options[active];
    if (!o || !range) { close(); return; }
    const [start, end] = range;
    const text = `@${o.username} `;
    input.value = input.value.slice(0, start) + text + input.value.slice(end);
    const caret = start + text.length;
    input.setSelectionRange(caret, caret);
    close();
    input.dispatchEvent(new Event('input', { bubbles: true })); // drafts, autosize
    input.focus();
  }

  input.addEventListener('keydown', (ev) => {
    if (!isOpen() || ev.isComposing) return;
    const take = () => { ev.preventDefault(); ev.stopImmediatePropagation(); };
    if (ev.key === 'ArrowDown') { take(); active = (active + 1) % options.length; draw(); }
    else if (ev.key === 'ArrowUp') { take(); active = (active - 1 + options.length) % options.length; draw(); }
    else if ((ev.key === 'Enter' && !ev.shiftKey) || (ev.key === 'Tab' && !ev.shiftKey)) { take(); insert(); }
    else if (ev.key === 'Escape') { take(); close(); }
  });
  input.addEventListener('input', update);
  input.addEventListener('click', update);
  input.addEventListener('keyup', (ev) => { if (ev.key === 'ArrowLeft' || ev.key === 'ArrowRight' || ev.key === 'Home' || ev.key === 'End') update(); });
  input.addEventListener('blur', () => close());

  return { close, isOpen };
}
