// The thread pane: a root message and its replies (beside the chat on wide screens, the
// whole screen on phones), paged forward with "Load more replies", live, and a composer
// whose "Also send to chat" box puts the reply in the chat's flow too.

import { $, el, avatar, reconcile, toast } from './dom.js';
import { renderMarkdown } from '../markdown.js';
import { messageList } from './messages.js';
import { mentionAutocomplete } from './mentions.js';

const MAX_BODY = 10_000;

export function initThreadView(store, actions, picker) {
  const pane = $('#thread-pane');
  const where = $('#thread-where');
  const list = $('#thread-list');
  const scroller = $('#thread-scroller');
  const more = $('#thread-more');
  const form = $('#thread-composer');
  const input = $('#thread-input');
  const also = $('#thread-also-in-chat');
  let shownRoot = null;
  let focusId = null;     // reply to bring into view once (a search hit)
  let hitId = null;       // reply highlighted as the search hit
  let stickBottom = false;
  const messages = messageList(store, actions, { list, where: 'thread', rerender: () => render(), composer: () => input, picker });

  $('#thread-close').addEventListener('click', () => actions.closeThread());
  more.addEventListener('click', () => actions.loadMoreReplies());
  pane.addEventListener('keydown', (ev) => {
    // Escape closes the pane unless something inside it (a menu, the editor) used it.
    if (ev.key === 'Escape' && !ev.defaultPrevented && !pane.querySelector('.menu:not([hidden])')
        && !ev.target.closest('.menu-wrap')) actions.closeThread();
  });

  // Before the composer's own keydown listener: an open suggestion list takes Enter first.
  const autocomplete = mentionAutocomplete(store, { input, listbox: $('#thread-mentions'), chatId: () => store.thread?.chatId });
  input.addEventListener('input', () => {
    if (store.thread && input.value.trim()) actions.typing(store.thread.chatId);
  });

  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      form.requestSubmit();
    } else if (ev.key === 'ArrowUp' && !input.value && !ev.shiftKey && !ev.altKey && !ev.ctrlKey && !ev.metaKey) {
      const t = store.thread;
      const last = t && [...t.replies].reverse().find((m) => m.sender_id === store.me?.id && !m.deleted);
      if (last && messages.startEdit(last, { fromComposer: true })) ev.preventDefault();
    }
  });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = store.thread;
    const body = input.value.trim();
    if (!body || !t) return;
    if (!store.chats.has(t.chatId)) { toast('This chat is no longer open.'); return; }
    if ([...body].length > MAX_BODY) { toast(`A message can have at most ${MAX_BODY} characters.`); return; }
    actions.sendReply(t.chatId, t.rootId, body, also.checked);
    input.value = '';
    also.checked = false;
    stickBottom = true;
    input.focus();
  });

  function pendingItem(p) {
    const failed = p.status === 'failed';
    return el('li', { class: `message mine pending${failed ? ' failed' : ''}`, testid: 'pending-message', dataset: { clientMsgId: p.client_msg_id } },
      avatar(store.me, { testid: 'message-avatar' }),
      el('div', { class: 'bubble' },
        el('div', { class: 'meta' }, el('span', { class: 'status', testid: 'pending-status' }, failed ? `Not sent: ${p.error || 'error'}` : 'Sending…')),
        el('div', { class: 'body markdown', testid: 'message-body' }, renderMarkdown(p.body)),
        failed ? el('div', { class: 'pending-actions' },
          el('button', { type: 'button', class: 'small', testid: 'pending-retry', onclick: () => actions.retry(p.client_msg_id) }, 'Retry'),
          el('button', { type: 'button', class: 'small', testid: 'pending-discard', onclick: () => actions.discard(p.client_msg_id) }, 'Discard')) : null));
  }

  function render() {
    const t = store.thread;
    if (pane.hidden || !t) return;
    if (shownRoot !== t.rootId) {
      shownRoot = t.rootId;
      messages.reset();
      list.replaceChildren();
      stickBottom = !focusId;
    }
    const chat = store.chats.get(t.chatId);
    where.textContent = chat ? `in ${store.chatName(chat)}` : '';
    const nearBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 60;
    const items = [];
    if (t.root) {
      const it = messages.item(t.root, {}, ['root']);
      items.push({ ...it, key: `root:${t.root.id}` });
      const n = t.root.reply_count ?? t.replies.length;
      items.push({
        key: 'sep', sig: String(n),
        build: () => el('li', { class: 'thread-sep', testid: 'thread-reply-count', 'aria-hidden': 'true' },
          `${n} ${n === 1 ? 'reply' : 'replies'}`),
      });
    }
    for (const m of t.replies) items.push(messages.item(m, { hit: m.id === hitId }, [m.id === hitId]));
    if (t.atLatest) {
      const arrived = new Set(t.replies.filter((m) => m.sender_id === store.me?.id).map((m) => m.client_msg_id));
      for (const p of actions.pending(t.chatId)) {
        if (p.thread_id !== t.rootId || arrived.has(p.client_msg_id)) continue;
        items.push({ key: `p:${p.client_msg_id}`, sig: JSON.stringify([p.status, p.error]), build: () => pendingItem(p) });
      }
    }
    if (!items.length) {
      list.replaceChildren(el('li', { class: 'hint', dataset: { key: 'loading' } }, t.loading ? 'Loading…' : 'This thread is not available.'));
    } else {
      list.querySelector('[data-key="loading"]')?.remove();
      reconcile(list, items);
    }
    more.hidden = t.atLatest;
    more.disabled = t.loading;
    more.textContent = t.loading ? 'Loading…' : 'Load more replies';
    const target = focusId && list.querySelector(`[data-message-id="${CSS.escape(focusId)}"]:not([data-key^="root:"])`);
    if (target) {
      target.scrollIntoView({ block: 'center' });
      target.focus({ preventScroll: true });
      focusId = null;
    } else if (stickBottom || nearBottom) {
      scroller.scrollTop = scroller.scrollHeight;
    }
  }

  scroller.addEventListener('scroll', () => {
    if (stickBottom && scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight > 80) stickBottom = false;
    const t = store.thread;
    if (t && !t.atLatest && !t.loading && scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 150) actions.loadMoreReplies();
  }, { passive: true });

  return {
    /** The reply a search hit opened the thread for (highlighted, brought into view), or null. */
    focusOn(replyId) {
      focusId = replyId;
      hitId = replyId;
      shownRoot = null;
    },
    /** Shows the pane (the app decides when). */
    show() {
      const wasHidden = pane.hidden;
      pane.hidden = false;
      render();
      if (wasHidden && !hitId) input.focus({ preventScroll: true });
    },
    hide() {
      if (pane.hidden) return;
      pane.hidden = true;
      shownRoot = null;
      autocomplete.close();
      input.value = '';
      also.checked = false;
    },
    isShown: () => !pane.hidden,
    stickToBottom() { stickBottom = true; },
    render(dirty) {
      if (pane.hidden) return;
      if (dirty.has('all') || dirty.has('thread') || dirty.has('users') || dirty.has('outbox') || dirty.has('chats')) render();
    },
    reset() { messages.reset(); shownRoot = null; focusId = null; hitId = null; list.replaceChildren(); },
  };
}
