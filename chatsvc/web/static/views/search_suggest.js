// Search as you type: under the search box, completions of the token being typed (the
// server's GET /api/search/suggest: operators, usernames, the caller's chat titles) and,
// while the box is empty, the last 10 searches (kept in localStorage). An ARIA combobox
// like the composer's @mentions (views/mentions.js): ArrowUp/Down move, Enter or Tab
// inserts, Escape closes.

import { el, comboboxRoles } from './dom.js';

const RECENT_KEY = 'chatsvc.recentSearches';
const RECENT_MAX = 10;
const DELAY_MS = 120;

export function recentSearches() {
  try {
    const list = JSON.parse(localStorage.getItem(RECENT_KEY) || '[]');
    return Array.isArray(list) ? list.filter((q) => typeof q === 'string').slice(0, RECENT_MAX) : [];
  } catch { return []; }
}

export function rememberSearch(q) {
  const list = [q, ...recentSearches().filter((x) => x !== q)].slice(0, RECENT_MAX);
  try { localStorage.setItem(RECENT_KEY, JSON.stringify(list)); } catch { /* private mode: no history */ }
}

/** The start of the token being typed in `value` (after the last space outside quotes). */
function lastTokenStart(value) {
  let start = 0; let quoted = false;
  for (let i = 0; i < value.length; i += 1) {
    const c = value[i];
    if (c === '"') quoted = !quoted;
    else if (!quoted && /\s/.test(c)) start = i + 1;
  }
  return start;
}

/**
 * Wires the suggestion list to the search `input`. `fetch(q)` returns the server's
 * `{suggestions}`; `submit()` runs the search in the box. Create it BEFORE other keydown
 * listeners of the input: while open it takes ArrowUp/Down, Enter, Tab and Escape.
 */
export function searchSuggestions({ input, listbox, fetch, submit }) {
  let options = [];   // [{kind, insert, label}]
  let active = -1;    // no option chosen until an arrow key: Enter alone searches
  let timer = null;
  let seq = 0;

  comboboxRoles(input, listbox, 'Search suggestions');
  const isOpen = () => !listbox.hidden;

  const optionId = (i) => `${listbox.id}-opt-${i}`;
  const KIND = { operator: 'Operator', user: 'Person', chat: 'Chat', recent: 'Recent' };

  function draw() {
    listbox.replaceChildren(...options.map((o, i) => el('li', {
      id: optionId(i), role: 'option', class: `mention-option${i === active ? ' active' : ''}`,
      'aria-selected': String(i === active), testid: 'search-suggestion', dataset: { insert: o.insert, kind: o.kind },
      onmousedown: (ev) => { ev.preventDefault(); active = i; insert(); },
    }, el('span', { class: 'suggestion-kind muted' }, KIND[o.kind] || o.kind), ' ',
    el('span', { class: 'mention-label' }, o.label))));
    if (active >= 0) {
      input.setAttribute('aria-activedescendant', optionId(active));
      listbox.querySelector('.active')?.scrollIntoView({ block: 'nearest' });
    } else input.removeAttribute('aria-activedescendant');
  }

  function open(list) {
    if (!list.length) { close(); return; }
    options = list;
    active = -1;
    listbox.hidden = false;
    input.setAttribute('aria-expanded', 'true');
    draw();
  }

  function close() {
    seq += 1;
    clearTimeout(timer);
    options = [];
    active = -1;
    listbox.hidden = true;
    listbox.replaceChildren();
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
  }

  function update() {
    clearTimeout(timer);
    const value = input.value;
    if (!value.trim()) {
      open(recentSearches().map((q) => ({ kind: 'recent', insert: q, label: q })));
      return;
    }
    const mine = ++seq;
    timer = setTimeout(async () => {
      try {
        const res = await fetch(value);
        if (mine !== seq || input.value !== value || document.activeElement !== input) return;
        open(res.suggestions || []);
      } catch { if (mine === seq) close(); }
    }, DELAY_MS);
  }

  function insert() {
    const o = options[active];
    if (!o) { close(); return; }
    if (o.kind === 'recent') {
      input.value = o.insert;
      close();
      submit();
      return;
    }
    const start = lastTokenStart(input.value);
    const pending = o.insert.endsWith(':');   // an operator waiting for its value
    input.value = input.value.slice(0, start) + o.insert + (pending ? '' : ' ');
    input.setSelectionRange(input.value.length, input.value.length);
    close();
    input.focus();
    if (pending) update();
  }

  input.addEventListener('keydown', (ev) => {
    if (ev.isComposing) return;
    if (!isOpen()) {
      if (ev.key === 'ArrowDown') { ev.preventDefault(); update(); }
      return;
    }
    const take = () => { ev.preventDefault(); ev.stopImmediatePropagation(); };
    if (ev.key === 'ArrowDown') { take(); active = (active + 1) % options.length; draw(); }
    else if (ev.key === 'ArrowUp') { take(); active = active <= 0 ? options.length - 1 : active - 1; draw(); }
    else if ((ev.key === 'Enter' || ev.key === 'Tab') && !ev.shiftKey && active >= 0) { take(); insert(); }
    else if (ev.key === 'Tab' && !ev.shiftKey && options.length) { take(); active = 0; insert(); }
    else if (ev.key === 'Escape') { take(); close(); }
    else if (ev.key === 'Enter') close();   // Enter with nothing chosen: search
  });
  input.addEventListener('input', update);
  input.addEventListener('focus', () => { if (!input.value.trim()) update(); });
  input.addEventListener('blur', () => close());

  return { close, isOpen };
}
