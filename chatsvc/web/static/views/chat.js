// The open chat: header (with the chat's notification settings), message history (keyed
// rendering so scroll position, focus and open menus survive live updates), read markers,
// the "New messages" divider and its "Jump to first unread", who is typing, the composer
// (Up in an empty composer edits your last message; `@` completes members' names).
// One message's look and menu: views/messages.js.

import { attachmentTray, composerParts } from './attachments.js';
import { cmpId } from '../ids.js';
import { $, el, avatar, presenceDot, reconcile, toast } from './dom.js';
import { renderMarkdown } from '../markdown.js';
import { messageList } from './messages.js';
import { mentionAutocomplete } from './mentions.js';

/** "Bob is typing…", "Bob and Carol are typing…", "Several people are typing…", or ''. */
export function typingText(names) {
  if (!names.length) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return 'Several people are typing…';
}

/** The first message after the reader's marker `readId` (null: nothing read) by someone else. */
export function firstUnreadId(win, readId, meId) {
  const first = win.messages[0];
  if (!first) return null;
  // Further back than what is loaded: unknown until older pages come.
  if (win.hasMoreBefore && (!readId || cmpId(readId, first.id) < 0)) return null;
  const m = win.messages.find((x) => x.sender_id !== meId && !x.deleted && (!readId || cmpId(x.id, readId) > 0));
  return m ? m.id : null;
}

const MAX_BODY = 10_000;

export function initChatView(store, actions, picker) {
  const view = $('#chat-view');
  const title = $('#chat-title');
  const members = $('#chat-members');
  const scroller = $('#message-scroller');
  const list = $('#message-list');
  const olderBtn = $('#load-older');
  const newerBtn = $('#load-newer');
  const composer = $('#composer');
  const input = $('#composer-input');

  let scrollTarget = null;  // message id to bring into view (search jump)
  let hitId = null;         // message highlighted as the search hit
  let stickBottom = false;  // keep pinned to the newest message (just opened / just sent)
  let chatIdShown = null;
  const drafts = new Map(); // chat id -> unsent text, kept while the user looks elsewhere
  const messages = messageList(store, actions, { list, where: 'chat', rerender: () => render(), composer: () => input, picker });
  const typing = $('#typing-indicator');
  const jump = $('#jump-unread');
  let dividerAt = null;     // message id the "New messages" divider is drawn before

  // ---- composer -----------------------------------------------------------------

  // Before the composer's own keydown listener: an open suggestion list takes Enter first.
  const autocomplete = mentionAutocomplete(store, { input, listbox: $('#composer-mentions'), chatId: () => store.openChatId });

  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      composer.requestSubmit();
    } else if (ev.key === 'ArrowUp' && !input.value && !ev.shiftKey && !ev.altKey && !ev.ctrlKey && !ev.metaKey) {
      // Up in an empty composer edits your last message, as in the usual team chats.
      const win = store.openChatId && store.window(store.openChatId);
      const last = win && [...win.messages].reverse().find((m) => m.sender_id === store.me?.id && !m.deleted);
      if (last && messages.startEdit(last, { fromComposer: true })) ev.preventDefault();
    }
  });
  input.addEventListener('input', () => {
    if (store.openChatId) drafts.set(store.openChatId, input.value);
    autosize();
    // The others see "… is typing" (actions throttle the frames).
    if (store.openChatId && input.value.trim()) actions.typing(store.openChatId);
  });
  function autosize() {
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
  }
  const attachments = attachmentTray({ form: composer, input, ...composerParts() });
  composer.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const chatId = store.openChatId;
    const body = input.value.trim();
    if (attachments.busy()) { toast('Wait for the uploads to finish (or cancel them).'); return; }
    const fileIds = attachments.readyIds();
    if (!body && !fileIds.length) return;
    if (!chatId || !store.chats.has(chatId)) { toast('This chat is no longer open.'); return; }
    if ([...body].length > MAX_BODY) { toast(`A message can have at most ${MAX_BODY} characters.`); return; }
    actions.send(chatId, body, fileIds);
    attachments.clear();
    input.value = '';
    drafts.delete(chatId);
    autosize();
    stickBottom = true;
    input.focus();
  });

  // ---- header ------------------------------------------------------------------------

  $('#leave-chat-button').addEventListener('click', () => {
    if (store.openChatId) actions.leave(store.openChatId);
  });

  // The chat's notification settings: a disclosure panel of native controls (Tab, Space
  // and the arrow keys work as usual); each change is saved on the server at once.
  const settingsButton = $('#chat-settings-button');
  const settingsPanel = $('#chat-settings');
  const muted = $('#setting-muted');
  const notifyBoxes = [...settingsPanel.querySelectorAll('input[name="chat-notify"]')];
  const note = $('#chat-settings-note');
  let saving = 0;                   // changes on their way to the server
  let queue = Promise.resolve();    // they are saved one after another, in the user's order

  function setSettingsOpen(open, { focus = false } = {}) {
    settingsPanel.hidden = !open;
    settingsButton.setAttribute('aria-expanded', String(open));
    if (open) { drawSettings(); if (focus) muted.focus(); }
  }
  function drawSettings() {
    const chat = store.chats.get(store.openChatId);
    if (!chat) return;
    const level = store.notifyLevel(chat);
    // While a change is being saved its control keeps what the user chose.
    if (!saving) muted.checked = !!chat.muted;
    for (const box of notifyBoxes) if (!saving) box.checked = box.value === level;
    const perm = actions.notificationPermission();
    note.textContent = chat.muted ? 'Muted: no notifications from this chat, whatever the setting below.'
      : perm === 'denied' ? 'Notifications are blocked for this site in your browser settings.'
        : perm === 'default' ? 'Turn on notifications (in the sidebar) to get them on this device.' : '';
  }
  function save(patch) {
    const chatId = store.openChatId;
    if (!chatId) return;
    saving += 1;
    queue = queue.then(() => actions.updateSettings(chatId, patch)).finally(() => { saving -= 1; drawSettings(); });
  }
  settingsButton.addEventListener('click', (ev) => {
    ev.stopPropagation();
    setSettingsOpen(settingsPanel.hidden, { focus: true });
  });
  muted.addEventListener('change', () => save({ muted: muted.checked }));
  for (const box of notifyBoxes) box.addEventListener('change', () => { if (box.checked) save({ notify: box.value }); });
  $('#chat-settings-close').addEventListener('click', () => { setSettingsOpen(false); settingsButton.focus(); });
  settingsPanel.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') { ev.preventDefault(); setSettingsOpen(false); settingsButton.focus(); }
  });
  document.addEventListener('click', (ev) => {
    if (!settingsPanel.hidden && !ev.target.closest?.('.settings-wrap')) setSettingsOpen(false);
  });

  // ---- unread divider -----------------------------------------------------------

  /** Shows "Jump to first unread" while the divider (or its message, not loaded yet) is above the screen. */
  function updateJump() {
    const d = store.divider;
    let show = false;
    if (d && d.chatId === store.openChatId) {
      const line = list.querySelector('[data-testid="new-messages-divider"]');
      if (line) show = line.offsetTop + line.offsetHeight < scroller.scrollTop + 4;
      else show = !!(store.window(d.chatId)?.hasMoreBefore && d.readId && store.first(d.chatId)
        && cmpId(d.readId, store.first(d.chatId)) < 0);
    }
    jump.hidden = !show;
  }
  jump.addEventListener('click', async () => {
    const chatId = store.openChatId;
    if (!chatId) return;
    await actions.loadUntilFirstUnread(chatId);
    await store.flushed();
    const line = list.querySelector('[data-testid="new-messages-divider"]');
    if (!line) return;
    scroller.scrollTop = Math.max(0, line.offsetTop - 8);
    stickBottom = false;
    const first = line.nextElementSibling;
    if (first?.dataset.messageId) first.focus({ preventScroll: true });
    updateJump();
  });

  // ---- history paging ------------------------------------------------------------

  olderBtn.addEventListener('click', () => store.openChatId && actions.loadOlder(store.openChatId));
  newerBtn.addEventListener('click', () => store.openChatId && actions.jumpToLatest(store.openChatId));
  scroller.addEventListener('scroll', () => {
    const chatId = store.openChatId;
    const win = chatId && store.window(chatId);
    if (!win || win.loading) return;
    if (scroller.scrollTop < 150 && win.hasMoreBefore) actions.loadOlder(chatId);
    else if (!win.atLatest && scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 150) actions.loadNewer(chatId);
    if (stickBottom && scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight > 80) stickBottom = false;
    updateJump();
  }, { passive: true });

  /** Which readers' avatars go after which message: the newest loaded message <= their read id. */
  function readMarkers(chat, win) {
    const at = new Map();
    const msgs = win.messages;
    if (!msgs.length) return at;
    for (const uid of chat.member_ids || []) {
      if (store.me && uid === store.me.id) continue;
      const readId = chat.reads?.[uid];
      if (!readId) continue;
      if (cmpId(readId, msgs[0].id) < 0) continue; // read point is older than what is loaded
      if (!win.atLatest && cmpId(readId, msgs[msgs.length - 1].id) > 0) continue; // newer than loaded
      let spot = null;
      for (let i = msgs.length - 1; i >= 0; i -= 1) {
        if (cmpId(msgs[i].id, readId) <= 0) { spot = msgs[i].id; break; }
      }
      if (!spot) continue;
      if (!at.has(spot)) at.set(spot, []);
      at.get(spot).push(uid);
    }
    return at;
  }

  function pendingItem(p) {
    const failed = p.status === 'failed';
    return el('li', {
      class: `message mine pending${failed ? ' failed' : ''}`, testid: 'pending-message',
      dataset: { clientMsgId: p.client_msg_id },
    },
    avatar(store.me, { testid: 'message-avatar' }),
    el('div', { class: 'bubble' },
      el('div', { class: 'meta' },
        el('span', { class: 'sender' }, store.displayName(store.me?.id)), ' ',
        el('span', { class: 'status', testid: 'pending-status' }, failed ? `Not sent: ${p.error || 'error'}` : 'Sending…')),
      el('div', { class: 'body markdown', testid: 'message-body' }, renderMarkdown(p.body)),
      failed ? el('div', { class: 'pending-actions' },
        el('button', { type: 'button', class: 'small', testid: 'pending-retry', onclick: () => actions.retry(p.client_msg_id) }, 'Retry'),
        el('button', { type: 'button', class: 'small', testid: 'pending-discard', onclick: () => actions.discard(p.client_msg_id) }, 'Discard')) : null));
  }

  function renderTyping() {
    const chatId = store.openChatId;
    const text = chatId ? typingText(store.typingIn(chatId).map((id) => store.displayName(id))) : '';
    if (typing.textContent !== text) typing.textContent = text;
  }

  function renderHeader(chat) {
    title.textContent = store.chatName(chat);
    settingsButton.textContent = chat.muted ? '🔕' : '🔔';
    settingsButton.setAttribute('aria-label', chat.muted ? 'Notification settings (muted)' : 'Notification settings');
    settingsButton.title = chat.muted ? 'Muted: notification settings' : 'Notification settings';
    settingsButton.dataset.muted = String(!!chat.muted);
    if (!settingsPanel.hidden) drawSettings();
    const others = (chat.member_ids || []).filter((id) => !store.me || id !== store.me.id);
    members.replaceChildren(
      ...others.flatMap((id, i) => [
        i ? ', ' : '',
        el('span', { class: 'member' }, store.contacts.has(id) ? presenceDot(store.status(id), store.displayName(id)) : null,
          store.displayName(id)),
      ]),
      others.length ? ' and you' : 'Only you are left in this chat');
  }

  function render() {
    const chatId = store.openChatId;
    const chat = chatId && store.chats.get(chatId);
    const win = chatId && store.window(chatId);
    if (!chat || !win) return;
    if (chatIdShown !== chatId) {
      chatIdShown = chatId;
      messages.reset();
      list.replaceChildren();
      autocomplete.close();
      setSettingsOpen(false);
    }
    renderHeader(chat);

    // Remember what the reader is looking at, to keep it still while content changes.
    const nearBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 60;
    let anchorKey = null;
    let anchorOffset = 0;
    for (const li of list.children) {
      if (li.offsetTop + li.offsetHeight > scroller.scrollTop) {
        anchorKey = li.dataset.key;
        anchorOffset = li.offsetTop - scroller.scrollTop;
        break;
      }
    }

    const readers = readMarkers(chat, win);
    const d = store.divider;
    // Once drawn, the divider stays before the same message while the chat is open.
    if (!d || d.chatId !== chatId) dividerAt = null;
    else if (!dividerAt || !win.messages.some((m) => m.id === dividerAt)) dividerAt = firstUnreadId(win, d.readId, store.me?.id);
    const items = [];
    for (const m of win.messages) {
      if (m.id === dividerAt) {
        items.push({
          key: 'new-divider', sig: m.id,
          build: () => el('li', { class: 'new-divider', testid: 'new-messages-divider', dataset: { before: m.id } },
            el('span', {}, 'New messages')),
        });
      }
      const r = readers.get(m.id) || [];
      items.push(messages.item(m, { readers: r, hit: m.id === hitId },
        [r, m.id === hitId, r.map((id) => store.user(id)?.avatar_color)]));
    }
    if (win.atLatest) {
      // A pending message whose copy already arrived live is shown once, as the real one.
      const arrived = new Set(win.messages.filter((m) => m.sender_id === store.me?.id).map((m) => m.client_msg_id));
      for (const p of actions.pending(chatId).filter((item) => !item.thread_id)) {
        if (arrived.has(p.client_msg_id)) continue;
        items.push({ key: `p:${p.client_msg_id}`, sig: JSON.stringify([p.status, p.error]), build: () => pendingItem(p) });
      }
    }
    if (!items.length && !win.loading) {
      list.replaceChildren(el('li', { class: 'hint', dataset: { key: 'empty' } }, 'No messages yet. Say hello!'));
    } else {
      reconcile(list, items);
    }
    olderBtn.hidden = !win.hasMoreBefore;
    olderBtn.disabled = win.loading;
    olderBtn.textContent = win.loading ? 'Loading…' : 'Load older messages';
    newerBtn.hidden = win.atLatest;
    newerBtn.textContent = 'Jump to the latest messages';

    // Restore the view: the search hit first, then the bottom, else the anchor.
    const target = scrollTarget && list.querySelector(`[data-message-id="${CSS.escape(scrollTarget)}"]`);
    if (target) {
      target.scrollIntoView({ block: 'center' });
      target.focus({ preventScroll: true });
      scrollTarget = null;
    } else if (stickBottom || (nearBottom && win.atLatest && !scrollTarget)) {
      scroller.scrollTop = scroller.scrollHeight;
    } else if (anchorKey) {
      const li = [...list.children].find((n) => n.dataset.key === anchorKey);
      if (li) scroller.scrollTop = li.offsetTop - anchorOffset;
    }
    renderTyping();
    updateJump();
  }


  return {
    /** Called by the app when a chat is opened; `focusMessageId` comes from a search hit. */
    show(chatId, { focusMessageId = null } = {}) {
      view.hidden = false;
      if (chatIdShown !== chatId) { input.value = drafts.get(chatId) || ''; autosize(); }
      scrollTarget = focusMessageId;
      hitId = focusMessageId;
      stickBottom = !focusMessageId;
      render();
      if (!focusMessageId) input.focus({ preventScroll: true });
    },
    hide() { view.hidden = true; chatIdShown = null; autocomplete.close(); setSettingsOpen(false); },
    render(dirty) {
      if (view.hidden) return;
      if (dirty.has('all') || dirty.has('chat') || dirty.has('users') || dirty.has('presence') || dirty.has('outbox')) render();
      else if (dirty.has('chats')) { const chat = store.chats.get(store.openChatId); if (chat) renderHeader(chat); }
      if (dirty.has('typing')) renderTyping();
    },

    stickToBottom() { stickBottom = true; },
    /** The open chat's history is shorter than the screen (so it cannot be scrolled up) and has more. */
    hasRoomAbove() {
      const win = !view.hidden && store.openChatId && store.window(store.openChatId);
      return !!win && !win.loading && win.hasMoreBefore && scroller.scrollHeight <= scroller.clientHeight + 10;
    },
    /** Forget everything of the signed-out account. */
    reset() { drafts.clear(); hitId = null; scrollTarget = null; messages.reset(); chatIdShown = null; },
  };
}
