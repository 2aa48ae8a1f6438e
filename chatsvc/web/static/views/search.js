// Search results. The server's `highlights` are the one piece of server HTML the page
// inserts, and only after checking that the only markup in them is <mark></mark>.

import { $, el, avatar, timeEl } from './dom.js';
import { rememberSearch, searchSuggestions } from './search_suggest.js';

// Plain text (no angle brackets at all) interleaved with bare <mark> and </mark> tags.
const SAFE_HIGHLIGHT = /^(?:[^<>]|<mark>|<\/mark>)*$/;

export function isSafeHighlight(html) {
  return typeof html === 'string' && SAFE_HIGHLIGHT.test(html);
}

function highlightNode(html, fallbackText) {
  const p = el('p', { class: 'highlight', testid: 'search-highlight' });
  if (isSafeHighlight(html)) p.innerHTML = html; // vetted: only <mark> tags, rest escaped
  else p.textContent = fallbackText;
  return p;
}

export function initSearch(store, actions) {
  const form = $('#search-form');
  const input = $('#search-input');
  const sort = $('#search-sort');
  const view = $('#search-view');
  const results = $('#search-results');
  const summary = $('#search-summary');
  const more = $('#search-more');
  let current = null; // {q, sort, cursor, seq}
  let seq = 0;
  const suggestions = searchSuggestions({
    input, listbox: $('#search-suggestions'), fetch: (q) => actions.searchSuggest(q),
    submit: () => form.requestSubmit(),
  });

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = input.value.trim();
    if (!q) return;
    suggestions.close();
    rememberSearch(q);
    run(q, sort.value);
  });
  more.addEventListener('click', () => current && page());
  $('#search-close').addEventListener('click', () => actions.closeSearch());

  async function run(q, order) {
    current = { q, sort: order, cursor: null, seq: ++seq, shown: 0 };
    results.replaceChildren();
    summary.textContent = 'Searching…';
    more.hidden = true;
    actions.showSearch();
    await page();
  }

  async function page() {
    const mine = current;
    more.disabled = true;
    try {
      const res = await actions.search(mine.q, { sort: mine.sort, cursor: mine.cursor });
      if (mine.seq !== seq) return; // superseded by a newer search
      const hits = res.hits || [];
      results.append(...hits.map(hitItem));
      mine.shown += hits.length;
      mine.cursor = res.next_cursor || null;
      const total = typeof res.total === 'number' ? res.total : (res.total?.value ?? mine.shown);
      summary.textContent = total
        ? `${total} result${total === 1 ? '' : 's'} for “${mine.q}”` : `No results for “${mine.q}”`;
      more.hidden = !mine.cursor || !hits.length;
    } catch (e) {
      if (mine.seq !== seq) return;
      summary.textContent = e?.code === 'unavailable'
        ? 'Search is temporarily unavailable. Try again in a moment.' : actions.errorText(e, { brief: true });
    } finally {
      more.disabled = false;
    }
  }

  function hitItem(hit) {
    const m = hit.message;
    const chat = store.chats.get(hit.chat?.id) || hit.chat;
    const chatName = store.chats.has(hit.chat?.id) ? store.chatName(chat) : (hit.chat?.title || 'Direct chat');
    const highlights = (hit.highlights && hit.highlights.length) ? hit.highlights : [null];
    return el('li', {},
      el('button', {
        type: 'button', class: 'search-hit', testid: 'search-hit',
        dataset: { messageId: m.id, chatId: m.chat_id },
        // A hit on a thread reply opens its thread.
        onclick: () => actions.openHit(m.chat_id, m.id, m.thread_id || null),
      },
      el('span', { class: 'hit-head' },
        avatar(store.user(m.sender_id), { size: 'sm', label: false }),
        el('span', { class: 'sender' }, store.displayName(m.sender_id)),
        el('span', { class: 'muted' }, ' in '),
        el('span', { class: 'hit-chat', testid: 'search-hit-chat' }, chatName),
        m.thread_id ? el('span', { class: 'muted', testid: 'search-hit-thread' }, ' (thread reply)') : null,
        el('span', { class: 'muted hit-time' }, timeEl(m.created_at))),
      // The server's highlight fragments as they are; without one, the body as plain text
      // (a hit is one button: rendered markdown would put links inside it).
      highlights.map((h) => (h == null ? el('p', { class: 'highlight', testid: 'search-highlight' }, m.body) : highlightNode(h, m.body))),
      // The files of the hit (found by their names or the words inside them), as text.
      m.files?.length ? el('p', { class: 'hit-files muted', testid: 'search-hit-files' },
        `Files: ${m.files.map((f) => f.name).join(', ')}`) : null));
  }

  return {
    show() { view.hidden = false; },
    hide() { view.hidden = true; },
  };
}
