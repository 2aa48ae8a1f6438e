// The emoji picker: a modal dialog with a search box over the vendored emoji data
// (vendor/emoji.json, loaded through actions on first use). Keyboard: type to search,
// Down (or Tab) moves into the grid, arrow keys move in it, Enter picks, Escape closes;
// focus goes back to where the picker was opened from.

import { $, el } from './dom.js';

const SHOWN = 120; // results drawn at once (the search narrows the rest)

export function initEmojiPicker(actions) {
  const dialog = $('#emoji-dialog');
  const search = $('#emoji-search');
  const grid = $('#emoji-results');
  const status = $('#emoji-status');
  let data = null;
  let current = null; // {onPick, returnFocus}
  let seq = 0;

  /** The emoji matching every word of `q`: the exact name first, then names starting with it, then names, then keywords. */
  function matches(q) {
    const words = q.toLowerCase().split(/\s+/).filter(Boolean);
    if (!words.length) return data.emoji;
    const scored = [];
    for (const e of data.emoji) {
      const name = e.n.toLowerCase();
      const keys = ` ${e.k.toLowerCase()}`;
      let score = 0;
      for (const w of words) {
        if (e.u === w || name.startsWith(w)) continue;
        if (` ${name}`.includes(` ${w}`)) score += 1;
        else if (name.includes(w)) score += 2;
        else if (keys.includes(` ${w}`)) score += 3;
        else if (keys.includes(w)) score += 4;
        else { score = -1; break; }
      }
      if (score >= 0) scored.push([name === words.join(' ') ? -1 : score, e]); // the exact name first
    }
    return scored.sort((a, b) => a[0] - b[0]).map(([, e]) => e); // stable: data order within a score
  }

  function draw() {
    if (!data) return;
    const found = matches(search.value.trim());
    const shown = found.slice(0, SHOWN);
    grid.replaceChildren(...shown.map((e, i) => el('button', {
      type: 'button', class: 'emoji-option', testid: 'emoji-option', tabindex: i === 0 ? '0' : '-1',
      dataset: { emoji: e.u }, title: e.n, 'aria-label': e.n,
      onclick: () => pick(e.u),
    }, e.u)));
    status.textContent = !found.length ? 'No emoji match.'
      : found.length > SHOWN ? `${found.length} emoji; showing the first ${SHOWN}. Type to narrow.`
        : `${found.length} emoji`;
  }

  function pick(emoji) {
    const c = current;
    dialog.close();
    c?.onPick(emoji);
  }

  const options = () => [...grid.querySelectorAll('.emoji-option')];

  function move(to) {
    const all = options();
    if (!all.length) return;
    const i = Math.max(0, Math.min(all.length - 1, to));
    for (const b of all) b.tabIndex = -1;
    all[i].tabIndex = 0;
    all[i].focus();
  }

  function columns() {
    const all = options();
    if (all.length < 2) return 1;
    const top = all[0].offsetTop;
    const n = all.findIndex((b) => b.offsetTop !== top);
    return n < 0 ? all.length : n;
  }

  search.addEventListener('input', draw);
  search.addEventListener('keydown', (ev) => {
    if (ev.key === 'ArrowDown') { ev.preventDefault(); move(0); }
    else if (ev.key === 'Enter') {
      ev.preventDefault();
      const first = options()[0];
      if (first) pick(first.dataset.emoji);
    }
  });
  grid.addEventListener('keydown', (ev) => {
    const all = options();
    const i = all.indexOf(document.activeElement);
    if (i < 0) return;
    const cols = columns();
    const to = { ArrowRight: i + 1, ArrowLeft: i - 1, ArrowDown: i + cols, ArrowUp: i - cols, Home: 0, End: all.length - 1 }[ev.key];
    if (to === undefined) return;
    ev.preventDefault();
    if (ev.key === 'ArrowUp' && i < cols) { search.focus(); return; }
    move(to);
  });
  $('#emoji-close').addEventListener('click', () => dialog.close());
  // Escape closes at once (a search box would otherwise take the first one to clear itself).
  dialog.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') { ev.preventDefault(); dialog.close(); }
  }, true);
  dialog.addEventListener('close', () => {
    const c = current;
    current = null;
    const back = c?.returnFocus?.();
    if (back && back.isConnected) back.focus();
  });

  return {
    /** Opens the picker; `onPick(emoji)` gets the chosen emoji, `returnFocus()` the element to focus after. */
    async open({ onPick, returnFocus }) {
      current = { onPick, returnFocus };
      search.value = '';
      grid.replaceChildren();
      status.textContent = data ? '' : 'Loading…';
      if (!dialog.open) dialog.showModal();
      search.focus();
      const mine = ++seq;
      if (!data) {
        try { data = await actions.emojiData(); } catch (e) { status.textContent = actions.errorText(e, { brief: true }); return; }
      }
      if (mine === seq && dialog.open) draw();
    },
  };
}
