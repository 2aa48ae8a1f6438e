// One message as the chat flow and the thread pane show it: markdown body (or its editor
// while it is being edited in place), "(edited)", reaction chips, the thread summary, and
// the per-message menu (quick reactions, emoji picker, reply in thread, edit, delete).
//
// Each list (the chat's history, the thread pane) has its own controller: which message's
// menu is open and which one is being edited are the list's own UI state, kept across the
// keyed re-renders. Everything that changes data goes through `actions`.

import { filesSignature, messageFiles } from './attachments.js';
import { el, avatar, timeEl, shortTime, toast } from './dom.js';
import { renderMarkdown } from '../markdown.js';
import { mentionNames, highlightMentions } from './mentions.js';

const MAX_BODY = 10_000;
export const LIKE = '👍';
export const QUICK_REACTIONS = [
  ['👍', 'thumbs up'], ['🎉', 'party popper'], ['❤️', 'red heart'],
  ['😂', 'face with tears of joy'], ['😮', 'face with open mouth'], ['🙏', 'folded hands'],
];

/** [{emoji, user_ids}] with the like (liked_by, the 👍 reaction) first and current. */
export function reactionsOf(m) {
  const others = (m.reactions || []).filter((r) => r.emoji !== LIKE && r.user_ids?.length);
  const likers = m.liked_by || [];
  return likers.length ? [{ emoji: LIKE, user_ids: likers }, ...others] : others;
}

function names(store, ids) {
  const list = ids.map((id) => store.displayName(id));
  return list.length > 1 ? `${list.slice(0, -1).join(', ')} and ${list[list.length - 1]}` : list.join('');
}

/**
 * @param {object} o
 * @param {HTMLElement} o.list       the element holding the message items
 * @param {'chat'|'thread'} o.where  the chat flow shows thread summaries and "Reply in thread"
 * @param {() => void} o.rerender    the owner's render (after a change of the list's UI state)
 * @param {() => HTMLElement} o.composer  where focus goes back after an edit started from it
 * @param {object} o.picker          views/emoji.js
 */
export function messageList(store, actions, { list, where, rerender, composer, picker }) {
  let menuOpenId = null;   // message whose menu is open
  let editingId = null;    // message being edited in place
  let editDraft = '';      // the editor's text, kept across re-renders
  let editFromComposer = false;
  let saving = false;

  const itemOf = (id) => list.querySelector(`[data-testid="message-item"][data-message-id="${CSS.escape(id)}"]`);

  function setMenu(id, focusFirst = false) {
    menuOpenId = id;
    for (const wrap of list.querySelectorAll('.menu-wrap')) {
      const open = wrap.dataset.messageId === id;
      wrap.querySelector('.menu').hidden = !open;
      wrap.querySelector('.menu-button').setAttribute('aria-expanded', String(open));
      if (open && focusFirst) wrap.querySelector('.menu button')?.focus();
    }
  }
  const menuButton = (id) => list.querySelector(`.menu-wrap[data-message-id="${CSS.escape(id)}"] .menu-button`);

  document.addEventListener('click', (ev) => {
    if (menuOpenId && !ev.target.closest?.('.menu-wrap')) setMenu(null);
  });
  list.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && menuOpenId) {
      const id = menuOpenId;
      setMenu(null);
      menuButton(id)?.focus();
    }
  });

  // ---- editing in place -----------------------------------------------------------

  function startEdit(m, { fromComposer = false } = {}) {
    if (!m || m.deleted || m.sender_id !== store.me?.id) return false;
    editingId = m.id;
    editDraft = m.body;
    editFromComposer = fromComposer;
    setMenu(null);
    rerender();
    const box = itemOf(m.id)?.querySelector('[data-testid="edit-input"]');
    if (box) { box.focus(); box.setSelectionRange(box.value.length, box.value.length); }
    return true;
  }

  function endEdit(id) {
    editingId = null;
    editDraft = '';
    rerender();
    if (editFromComposer) composer()?.focus();
    else itemOf(id)?.focus();
  }

  async function saveEdit(m) {
    const body = editDraft.trim();
    if (!body) { toast('A message cannot be empty. Delete it instead.'); return; }
    if ([...body].length > MAX_BODY) { toast(`A message can have at most ${MAX_BODY} characters.`); return; }
    if (body === m.body) { endEdit(m.id); return; }
    if (saving) return;
    saving = true;
    try {
      if (await actions.editMessage(m, body)) endEdit(m.id);
    } finally { saving = false; }
  }

  function editor(m) {
    const box = el('textarea', {
      class: 'edit-input', testid: 'edit-input', rows: '2', maxlength: String(MAX_BODY),
      'aria-label': 'Edit message', 'aria-describedby': `edit-help-${m.id}`,
      oninput: (ev) => { editDraft = ev.target.value; },
      onkeydown: (ev) => {
        if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); saveEdit(m); }
        else if (ev.key === 'Escape') { ev.preventDefault(); ev.stopPropagation(); endEdit(m.id); }
      },
    });
    box.value = editDraft;
    return el('div', { class: 'edit-form', testid: 'edit-form' }, box,
      el('div', { class: 'edit-actions' },
        el('span', { class: 'muted', id: `edit-help-${m.id}` }, 'Enter saves, Escape cancels'),
        el('button', { type: 'button', class: 'small', testid: 'edit-cancel', onclick: () => endEdit(m.id) }, 'Cancel'),
        el('button', { type: 'button', class: 'small primary', testid: 'edit-save', onclick: () => saveEdit(m) }, 'Save')));
  }

  // ---- reactions ------------------------------------------------------------------

  function toggle(m, emoji) {
    const mine = reactionsOf(m).some((r) => r.emoji === emoji && r.user_ids.includes(store.me?.id));
    actions.react(m, emoji, !mine);
  }

  function openPicker(m, returnTo) {
    setMenu(null);
    picker.open({
      onPick: (emoji) => {
        const already = reactionsOf(m).some((r) => r.emoji === emoji && r.user_ids.includes(store.me?.id));
        if (!already) actions.react(m, emoji, true);
      },
      returnFocus: () => (returnTo && returnTo()) || menuButton(m.id) || itemOf(m.id),
    });
  }

  function reactionRow(m) {
    const rs = reactionsOf(m);
    if (!rs.length) return null;
    return el('div', { class: 'reactions', testid: 'message-reactions', role: 'group', 'aria-label': 'Reactions' },
      rs.map((r) => {
        const mine = r.user_ids.includes(store.me?.id);
        const who = names(store, r.user_ids);
        return el('button', {
          type: 'button', class: `reaction-chip${mine ? ' mine' : ''}`, testid: 'reaction-chip',
          dataset: { emoji: r.emoji, count: String(r.user_ids.length) },
          'aria-pressed': String(mine), title: who,
          'aria-label': `${r.emoji} ${r.user_ids.length}: ${who}${mine ? ' (you reacted; press to take it back)' : ''}`,
          onclick: () => toggle(m, r.emoji),
        }, el('span', { class: 'reaction-emoji' }, r.emoji), ' ', el('span', { class: 'reaction-count' }, String(r.user_ids.length)));
      }),
      el('button', {
        type: 'button', class: 'reaction-chip add', testid: 'add-reaction', 'aria-label': 'Add a reaction', title: 'Add a reaction',
        onclick: (ev) => { const me = ev.currentTarget; openPicker(m, () => (me.isConnected ? me : null)); },
      }, '+'));
  }

  // ---- menu and thread summary ----------------------------------------------------

  function menuFor(m, mine) {
    const sender = store.displayName(m.sender_id);
    const menuId = `menu-${where}-${m.id}`;
    const item = (label, testid, fn) => el('button', {
      type: 'button', testid, onclick: () => { setMenu(null); fn(); },
    }, label);
    const open = menuOpenId === m.id;
    const reacted = new Set(reactionsOf(m).filter((r) => r.user_ids.includes(store.me?.id)).map((r) => r.emoji));
    return el('div', { class: 'menu-wrap', dataset: { messageId: m.id } },
      el('button', {
        type: 'button', class: 'menu-button icon-button', testid: 'message-menu-button',
        'aria-label': `Actions for message from ${sender}`, 'aria-haspopup': 'true',
        'aria-expanded': String(open), 'aria-controls': menuId,
        onclick: (ev) => { ev.stopPropagation(); setMenu(menuOpenId === m.id ? null : m.id, true); },
      }, '⋯'),
      el('div', { class: 'menu', id: menuId, hidden: !open },
        m.deleted ? null : el('div', { class: 'quick-reactions', role: 'group', 'aria-label': 'Quick reactions' },
          QUICK_REACTIONS.map(([emoji, name]) => el('button', {
            type: 'button', class: `quick-reaction${reacted.has(emoji) ? ' mine' : ''}`, testid: 'quick-reaction',
            dataset: { emoji }, 'aria-pressed': String(reacted.has(emoji)), title: name,
            'aria-label': reacted.has(emoji) ? `Take back ${name}` : `React with ${name}`,
            onclick: () => { setMenu(null); toggle(m, emoji); },
          }, emoji))),
        m.deleted ? null : item('Add reaction…', 'menu-add-reaction', () => openPicker(m)),
        m.deleted || where !== 'chat' ? null
          : item('Reply in thread', 'menu-reply-thread', () => actions.openThread(m.chat_id, m.thread_id || m.id)),
        mine && !m.deleted ? item('Edit', 'menu-edit', () => startEdit(m)) : null,
        item('Delete for me', 'menu-delete-me', () => actions.deleteMessage(m, 'me')),
        mine && !m.deleted ? item('Delete for everyone', 'menu-delete-everyone', () => actions.deleteMessage(m, 'everyone')) : null));
  }

  function threadSummary(m) {
    const n = m.reply_count || 0;
    if (where !== 'chat' || m.thread_id || !n) return null;
    const repliers = (m.reply_user_ids || []).slice(0, 5);
    const count = `${n} ${n === 1 ? 'reply' : 'replies'}`;
    return el('button', {
      type: 'button', class: 'thread-summary', testid: 'thread-summary',
      'aria-label': `${count}${repliers.length ? ` from ${names(store, repliers)}` : ''}${m.last_reply_at ? `, last reply ${shortTime(m.last_reply_at)}` : ''}. Open the thread`,
      onclick: () => actions.openThread(m.chat_id, m.id),
    },
    el('span', { class: 'repliers', 'aria-hidden': 'true' },
      repliers.map((id) => avatar(store.user(id), { size: 'xs', label: false, testid: 'replier-avatar' }))),
    el('span', { class: 'reply-count', testid: 'reply-count' }, count),
    m.last_reply_at ? el('span', { class: 'muted last-reply', testid: 'last-reply' }, 'Last reply ', timeEl(m.last_reply_at)) : null);
  }

  // ---- one item -------------------------------------------------------------------

  function build(m, { readers = [], hit = false } = {}) {
    const mine = store.me && m.sender_id === store.me.id;
    const sender = store.user(m.sender_id) || (mine ? store.me : null);
    const editing = editingId === m.id && !m.deleted;
    let body;
    if (m.deleted) body = el('div', { class: 'body deleted-note', testid: 'message-body' }, 'This message was deleted.');
    else if (editing) body = editor(m);
    else {
      body = el('div', { class: 'body markdown', testid: 'message-body' }, renderMarkdown(m.body));
      highlightMentions(body, mentionNames(store, m, store.chats.get(m.chat_id)), store.me?.id);
    }
    const forMe = store.mentionsMe(m);
    return el('li', {
      class: `message${mine ? ' mine' : ''}${m.deleted ? ' deleted' : ''}${hit ? ' hit' : ''}${forMe ? ' mentions-me' : ''}`,
      testid: 'message-item', tabindex: '-1',
      dataset: { messageId: m.id, senderId: m.sender_id, deleted: String(!!m.deleted), threadId: m.thread_id || '' },
    },
    avatar(sender, { testid: 'message-avatar' }),
    el('div', { class: 'bubble' },
      el('div', { class: 'meta' },
        el('span', { class: 'sender', testid: 'message-sender' }, store.displayName(m.sender_id)), ' ', timeEl(m.created_at),
        forMe ? [' ', el('span', { class: 'mention-hint', testid: 'mention-hint' }, 'Mentions you')] : null,
        m.edited_at && !m.deleted ? [' ', el('span', {
          class: 'edited', testid: 'message-edited', title: `Edited ${new Date(m.edited_at).toLocaleString()}`,
        }, '(edited)')] : null,
        where === 'chat' && m.thread_id ? [' ', el('button', {
          type: 'button', class: 'link-button', testid: 'open-reply-thread',
          onclick: () => actions.openThread(m.chat_id, m.thread_id),
        }, 'replied in a thread')] : null),
      body,
      messageFiles(m),
      m.deleted ? null : reactionRow(m),
      threadSummary(m)),
    menuFor(m, mine),
    readers.length ? el('div', {
      class: 'read-markers', testid: 'read-markers', role: 'group',
      'aria-label': `Read by ${readers.map((id) => store.displayName(id)).join(', ')}`,
    }, readers.map((id) => {
      const a = avatar(store.user(id), { size: 'xs', label: false, testid: 'read-marker' });
      a.dataset.userId = id;
      return a;
    })) : null);
  }

  /** What a message's node shows, for the keyed rendering (dom.js reconcile). */
  function signature(m, extra = []) {
    const senderU = store.user(m.sender_id);
    const rs = reactionsOf(m).map((r) => [r.emoji, r.user_ids, r.user_ids.map((id) => store.displayName(id))]);
    const mentioned = (m.mentions || []).map((id) => store.user(id)?.username);
    return JSON.stringify([filesSignature(m), m.body, m.deleted, m.edited_at, rs, m.mentions, mentioned, m.reply_count, m.last_reply_at, m.reply_user_ids,
      (m.reply_user_ids || []).map((id) => store.user(id)?.avatar_color), editingId === m.id,
      senderU?.display_name, senderU?.avatar_color, ...extra]);
  }

  return {
    item: (m, opts = {}, extra = []) => ({ key: m.id, sig: signature(m, extra), build: () => build(m, opts) }),
    startEdit,
    editing: () => editingId,
    reset() { menuOpenId = null; editingId = null; editDraft = ''; },
  };
}
