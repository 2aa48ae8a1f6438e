// Wiring: session lifecycle, socket events -> store, user actions -> REST/WebSocket,
// store changes -> views. Rules about what the user may see live on the server; this
// file only decides what to fetch and when.
//
// Views change nothing themselves: they call `actions` (the only path to the REST API
// and the socket), and state.js's Store methods are the only writers of its fields.
// Rendering only draws: every fetch starts from an action or an event (a socket frame,
// a page answer landing, the tab becoming visible), never from a render.
//
// Debug hook: opening the page with `?debug=1` in its address (the end-to-end tests do)
// installs `window.chatsvcDebug()`, a read-only summary of the client's state for their
// failure reports, and `window.chatsvcMarkdownHtml(text)` (markdown.js's renderer, for the
// parity test). Without it, nothing is exposed.

import { Api, ApiError, setToken, setTeam, getToken, setUnauthorizedHandler } from './api.js';
import { ChatSocket, threadFields } from './socket.js';
import { Store } from './state.js';
import { cmpId, newClientMsgId } from './ids.js';
import { $, el, avatar, announce, toast } from './views/dom.js';
import { initAuth } from './views/auth.js';
import { initSidebar } from './views/sidebar.js';
import { initChatView } from './views/chat.js';
import { avatarPicker } from './views/attachments.js';
import { initSearch } from './views/search.js';
import { initDialogs } from './views/dialogs.js';
import { initThreadView } from './views/thread.js';
import { initEmojiPicker } from './views/emoji.js';
import { markdownHtml } from './markdown.js';
import * as attention from './attention.js';

const TOKEN_KEY = 'chatsvc.token';
const INVITE_KEY = 'chatsvc.invite';
const PAGE = 50;
const THREAD_PAGE = 50;
const CATCH_UP_PAGE = 200;
const CATCH_UP_MAX_PAGES = 5; // further behind than this: restart at the latest page
const TYPING_EVERY_MS = 3000;   // at most one typing frame per chat this often (the server's limit too)
const TYPING_SHOWN_MS = 5000;   // an indicator without a fresh typing event goes after this
const NOTIFY_DISMISSED_KEY = 'chatsvc.notify-banner-dismissed';

const store = new Store();
let socket = null;
let mode = 'empty'; // what the main pane shows: empty | chat | search
const readSent = new Map(); // chat id -> message id we last asked the server to mark read
let directoryFetchedAt = 0;
let emojiData = null; // the picker's data, fetched on first use
const typingSent = new Map(); // chat id -> when we last sent a typing frame for it
let typingTimer = null;

/** What to tell the user about a failure: an API error's message (with its per-field details unless `brief`). */
function errorText(e, { brief = false } = {}) {
  if (!(e instanceof ApiError)) return String(e);
  return brief ? e.message : e.describe();
}
const fail = (e) => { if (!(e instanceof ApiError && e.status === 401)) toast(errorText(e)); };

// ---- navigation -------------------------------------------------------------------

function setMode(next) {
  mode = next;
  $('#empty-view').hidden = next !== 'empty';
  if (next !== 'chat') chatView.hide();
  if (next === 'search') search.show(); else search.hide();
  showThreadPane();
  // On phones the main pane replaces the sidebar while a chat or results are shown.
  document.body.classList.toggle('show-main', next !== 'empty');
  $('#sidebar-toggle').setAttribute('aria-expanded', String(next === 'empty'));
}

/** The thread pane shows beside the open chat (the whole screen on phones) while a thread of it is open. */
function showThreadPane() {
  const t = store.thread;
  const shown = mode === 'chat' && !!t && t.chatId === store.openChatId;
  if (shown) threadView.show(); else threadView.hide();
  document.body.classList.toggle('show-thread', shown);
}

/** Loads the open thread's next page (its first when nothing is loaded yet). */
async function loadThreadPage(t) {
  if (t.loading) return;
  store.setThreadLoading(t, true);
  try {
    const after = t.replies.length ? t.replies[t.replies.length - 1].id : undefined;
    const r = await Api.thread(t.rootId, { after, limit: THREAD_PAGE });
    store.mergeThreadPage(t, r);
    await ensureUsers([r.root?.sender_id, ...(r.replies || []).map((m) => m.sender_id)].filter(Boolean));
  } finally {
    store.setThreadLoading(t, false);
  }
}

/**
 * After a reconnect: edits, reactions and deletions of the open thread's loaded replies
 * (and its root) were missed too, so their pages are read again and the copies replaced.
 */
async function refreshThread() {
  const t = store.thread;
  if (!t || !t.replies.length) return;
  const last = t.replies[t.replies.length - 1].id;
  let after;
  for (let pages = 0; pages < CATCH_UP_MAX_PAGES && store.thread === t; pages += 1) {
    const r = await Api.thread(t.rootId, { after, limit: THREAD_PAGE });
    store.refreshThreadCopies(t, r);
    const got = r.replies || [];
    if (!r.has_more || !got.length || cmpId(got[got.length - 1].id, last) >= 0) break;
    after = got[got.length - 1].id;
  }
}

/** After a reconnect: the open thread's root and every reply since the last one loaded. */
async function catchUpThread() {
  const t = store.thread;
  if (!t || !t.atLatest) return;
  for (let pages = 0; pages < CATCH_UP_MAX_PAGES && store.thread === t; pages += 1) {
    await loadThreadPage(t);
    if (t.atLatest) break;
  }
}

function showSidebar() {
  document.body.classList.remove('show-main');
  $('#sidebar-toggle').setAttribute('aria-expanded', 'true');
  $('#chat-list .chat-open, #contact-list .contact-open')?.focus();
}

function closeChat() {
  store.closeChat();
  setMode('empty');
}

const isViewing = (chatId) => mode === 'chat' && store.openChatId === chatId
  && document.visibilityState !== 'hidden' && !!store.window(chatId)?.atLatest;

/** The reader sees thread `rootId` of `chatId` in the pane now. */
const isViewingThread = (chatId, rootId) => mode === 'chat' && store.openChatId === chatId
  && document.visibilityState !== 'hidden' && store.thread?.rootId === rootId && !!store.thread?.atLatest
  && threadView.isShown();

/** Opening a chat with unread messages: the "New messages" divider goes at the first of them. */
function noteDivider(chatId) {
  const chat = store.chats.get(chatId);
  if (chat?.unread_count && store.me) store.setDivider(chatId, chat.reads?.[store.me.id] || null);
  else store.clearDivider();
}

/** Hides each typing indicator TYPING_SHOWN_MS after its last event. */
function scheduleTypingExpiry() {
  clearTimeout(typingTimer);
  const next = store.expireTyping(Date.now());
  if (next !== null) typingTimer = setTimeout(scheduleTypingExpiry, Math.max(50, next - Date.now() + 20));
}

/** A live message from someone else: a browser notification when her settings ask for one. */
async function maybeNotify(m) {
  if (!store.me || m.sender_id === store.me.id) return;
  if (!store.chats.has(m.chat_id)) await refreshChat(m.chat_id); // a chat we are just learning of
  const visible = document.visibilityState === 'visible';
  const openChatId = mode === 'chat' ? store.openChatId : null;
  if (!attention.shouldNotify(store, m, { openChatId, visible })) return;
  attention.notify(store, m, () => {
    if (m.thread_id && !m.also_in_chat) actions.openHit(m.chat_id, m.id, m.thread_id);
    else actions.openHit(m.chat_id, m.id);
  });
}

// ---- loading history --------------------------------------------------------------

/**
 * Fetch one page of a chat's history into `win`, which shows as loading meanwhile; `apply`
 * sees the answer after it is merged. Nothing happens if the window was replaced while the
 * request was in flight. Returns the answer, or null in that case.
 */
async function fetchPage(chatId, win, query, apply = () => {}) {
  store.setLoading(win, true);
  try {
    const r = await Api.messages(chatId, { ...query, limit: PAGE });
    if (store.window(chatId) !== win) return null;
    store.merge(chatId, r.messages);
    apply(r);
    await ensureUsers(r.messages.map((m) => m.sender_id));
    return r;
  } finally {
    store.setLoading(win, false);
  }
}

async function loadLatest(chatId, win) {
  await fetchPage(chatId, win, {}, (r) => store.setWindowEnds(win, { hasMoreBefore: !!r.has_more }));
}

async function loadOlder(chatId) {
  const win = store.window(chatId);
  const first = store.first(chatId);
  if (!win || win.loading || !win.hasMoreBefore || !first) return;
  try {
    const r = await fetchPage(chatId, win, { before: first },
      (page) => store.setWindowEnds(win, { hasMoreBefore: !!page.has_more }));
    if (r) await fillScreen(chatId);
  } catch (e) { fail(e); }
}

async function loadNewer(chatId) {
  const win = store.window(chatId);
  const last = store.last(chatId);
  if (!win || win.loading || win.atLatest || !last) return;
  try {
    const r = await fetchPage(chatId, win, { after: last }, (page) => {
      if (!page.has_more) store.setWindowEnds(win, { atLatest: true });
    });
    // Live messages were not merged while the window stopped short of the end;
    // one more fetch closes any gap opened between that answer and now.
    if (r && win.atLatest) await catchUp(chatId);
    markRead(chatId);
  } catch (e) { fail(e); }
}

/**
 * History shorter than the screen cannot be scrolled up to load more: once what was just
 * loaded is on screen, fetch older pages until the screen is full or history ends.
 */
async function fillScreen(chatId) {
  await store.flushed();
  if (mode === 'chat' && chatId === store.openChatId && chatView.hasRoomAbove()) await loadOlder(chatId);
}

/** The user looks at the open chat: mark its newest loaded message read. */
function markRead(chatId) {
  const win = store.window(chatId);
  const chat = store.chats.get(chatId);
  const last = store.last(chatId);
  if (!win || !chat || !last || mode !== 'chat' || chatId !== store.openChatId || !store.me) return;
  if (document.visibilityState === 'hidden') return;
  if (win.atLatest) store.clearUnread(chatId);
  const mine = chat.reads?.[store.me.id];
  if (mine && cmpId(mine, last) >= 0) return;
  const sent = readSent.get(chatId);
  if (sent && cmpId(sent, last) >= 0) return;
  readSent.set(chatId, last);
  Api.markRead(chatId, last)
    .then(() => store.applyRead(chatId, store.me.id, last))
    .catch((e) => { readSent.delete(chatId); fail(e); });
}

/**
 * The reader looks at the open thread of the chat she is reading: mark read up to its
 * newest reply (a thread-only mention counts until the read marker passes it).
 */
function markThreadRead(t) {
  if (!t || store.thread !== t || !t.replies.length || !store.me || !isViewing(t.chatId)) return;
  if (!isViewingThread(t.chatId, t.rootId)) return;
  const last = t.replies[t.replies.length - 1].id;
  const mine = store.chats.get(t.chatId)?.reads?.[store.me.id];
  if (mine && cmpId(mine, last) >= 0) return;
  const sent = readSent.get(t.chatId);
  if (sent && cmpId(sent, last) >= 0) return;
  readSent.set(t.chatId, last);
  Api.markRead(t.chatId, last)
    .then(() => store.applyRead(t.chatId, store.me.id, last))
    .catch((e) => { readSent.delete(t.chatId); fail(e); });
}

/** Brings a window that reaches the latest message up to date after a reconnect. */
async function catchUp(chatId) {
  const win = store.window(chatId);
  if (!win || !win.atLatest) return;
  let after = store.last(chatId);
  if (!after) {
    if (!win.loading) await loadLatest(chatId, win);
    return;
  }
  for (let pages = 0; ; pages += 1) {
    if (pages >= CATCH_UP_MAX_PAGES) {
      // Very far behind: a fresh window at the end stays contiguous and cheap.
      await loadLatest(chatId, store.openWindow(chatId));
      return;
    }
    const r = await Api.messages(chatId, { after, limit: CATCH_UP_PAGE });
    if (store.window(chatId) !== win) return;
    store.merge(chatId, r.messages);
    await ensureUsers(r.messages.map((m) => m.sender_id));
    if (!r.has_more || !r.messages.length) break;
    after = r.messages[r.messages.length - 1].id;
  }
  if (chatId === store.openChatId) {
    // Likes and deletions of already-loaded messages were missed too: refresh the tail.
    const r = await Api.messages(chatId, { limit: PAGE });
    if (store.window(chatId) === win) store.refreshRange(chatId, r.messages);
  }
}

/** Full resync after (re)connecting: chat list, contacts + presence, open windows. */
async function sync() {
  try {
    const since = store.stamp;
    const [c, k] = await Promise.all([Api.chats(), Api.contacts()]);
    store.setChats(c.chats, { since });
    store.setContacts(k.contacts, { since });
    if (store.openChatId && !store.chats.has(store.openChatId)) {
      console.info('sync: the open chat is no longer yours; closing it');
      closeChat();
    }
    await ensureUsers(c.chats.flatMap((ch) => [...(ch.member_ids || []), ch.last_message?.sender_id]).filter(Boolean));
    await Promise.all([...store.windows.keys()].map((id) => catchUp(id).catch(fail)));
    await refreshThread().then(catchUpThread).catch(fail);
    if (store.openChatId) { markRead(store.openChatId); await fillScreen(store.openChatId); }
  } catch (e) { fail(e); }
}

/** Users outside the contact list (chat members, senders) come from the team directory. */
async function ensureUsers(ids) {
  const unknown = store.unknownUserIds([...new Set(ids)]);
  if (!unknown.length || Date.now() - directoryFetchedAt < 5000) return;
  directoryFetchedAt = Date.now();
  try {
    const r = await Api.users('');
    store.upsertUsers(r.users);
  } catch { /* names fall back to "Unknown user" */ }
}

async function refreshChat(chatId) {
  try { store.upsertChat(await Api.chat(chatId)); } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      const wasOpen = store.openChatId === chatId;
      store.removeChat(chatId);
      if (wasOpen) closeChat();
    }
  }
}

// ---- user actions -------------------------------------------------------------------

const actions = {
  async openChat(chatId) {
    if (store.thread && store.thread.chatId !== chatId) store.closeThread();
    // Opened afresh (not clicked again while open): the divider at its first unread message.
    if (!(mode === 'chat' && store.openChatId === chatId)) noteDivider(chatId);
    store.openChat(chatId);
    setMode('chat');
    let win = store.window(chatId);
    const fresh = !win || !win.atLatest;
    if (fresh) win = store.openWindow(chatId);
    chatView.show(chatId);
    markRead(chatId);
    if (fresh) await loadLatest(chatId, win).catch(fail);
    markRead(chatId);
    await fillScreen(chatId);
  },

  /** A search hit: its chat around it, or (a reply, `threadId` set) around its root with the thread open. */
  async openHit(chatId, messageId, threadId = null) {
    try {
      if (!store.chats.has(chatId)) await refreshChat(chatId);
      if (!store.chats.has(chatId)) { toast('That chat is no longer available.'); return; }
      if (threadId) {
        await actions.openHit(chatId, threadId);
        await actions.openThread(chatId, threadId, { focusReplyId: messageId });
        return;
      }
      if (store.thread) store.closeThread();
      if (!(mode === 'chat' && store.openChatId === chatId)) noteDivider(chatId);
      const r = await Api.context(messageId, 25, 25);
      const win = store.openWindow(chatId, { atLatest: !r.has_more_after, hasMoreBefore: !!r.has_more_before });
      store.merge(chatId, r.messages);
      await ensureUsers(r.messages.map((m) => m.sender_id));
      store.openChat(chatId);
      setMode('chat');
      chatView.show(chatId, { focusMessageId: messageId });
      if (win.atLatest) await catchUp(chatId);
      markRead(chatId);
      await fillScreen(chatId);
    } catch (e) { fail(e); }
  },

  async jumpToLatest(chatId) {
    const win = store.openWindow(chatId);
    chatView.show(chatId);
    await loadLatest(chatId, win).catch(fail);
    markRead(chatId);
    await fillScreen(chatId);
  },

  loadOlder, loadNewer,

  /** Loads older pages until the open chat's first unread message (the divider's) is loaded. */
  async loadUntilFirstUnread(chatId) {
    const d = store.divider;
    for (let i = 0; i < 20 && d && d.chatId === chatId && store.divider === d; i += 1) {
      const win = store.window(chatId);
      const first = store.first(chatId);
      if (!win || !win.hasMoreBefore || !first || (d.readId && cmpId(first, d.readId) <= 0)) return;
      await loadOlder(chatId);
    }
  },

  /** The user typed in a composer of `chatId`: tell the others, at most every 3 s. */
  typing(chatId) {
    const now = Date.now();
    if (now - (typingSent.get(chatId) || 0) < TYPING_EVERY_MS) return;
    if (socket?.send({ type: 'typing', chat_id: chatId })) typingSent.set(chatId, now);
  },

  /** Saves the user's own settings of a chat on the server ({muted}, {notify}), for all her devices. */
  async updateSettings(chatId, patch) {
    try {
      store.upsertChat(await Api.chatSettings(chatId, patch));
      announce(patch.muted === true ? 'Chat muted' : patch.muted === false ? 'Chat unmuted'
        : `Notify: ${{ all: 'all messages', mentions: 'mentions only', none: 'nothing' }[patch.notify] || patch.notify}`);
    } catch (e) { fail(e); }
  },

  /** Moves the read marker of every chat with unread messages or mentions to its last message. */
  async markAllRead() {
    const todo = [...store.chats.values()].filter((c) => (c.unread_count || c.mention_count) && c.last_message);
    const results = await Promise.allSettled(todo.map(async (c) => {
      const last = c.last_message.id;
      await Api.markRead(c.id, last);
      store.applyRead(c.id, store.me.id, last);
      store.clearUnread(c.id);
    }));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) fail(failed.reason); else if (todo.length) announce('All chats marked as read');
  },

  notificationPermission: () => attention.permission(),
  /** The sidebar offers notifications while the browser has not been asked yet and the user did not say "Not now". */
  offerNotifications: () => attention.permission() === 'default' && localStorage.getItem(NOTIFY_DISMISSED_KEY) !== '1',
  async enableNotifications() {
    const result = await attention.requestPermission();
    if (result === 'granted') announce('Notifications are on');
    else if (result === 'denied') toast('Notifications are blocked for this site in your browser settings.', 'info');
    store.changed('notifications');
    return result;
  },
  dismissNotificationBanner() {
    localStorage.setItem(NOTIFY_DISMISSED_KEY, '1');
    store.changed('notifications');
  },

  send(chatId, body, fileIds = []) {
    socket.sendMessage(chatId, body, newClientMsgId(), null, fileIds);
    store.changed('outbox');
  },

  sendReply(chatId, rootId, body, alsoInChat) {
    socket.sendMessage(chatId, body, newClientMsgId(), { thread_id: rootId, also_in_chat: !!alsoInChat });
    store.changed('outbox');
  },

  /** Opens the thread of `rootId` in the pane beside its chat (which must be the open one). */
  async openThread(chatId, rootId, { focusReplyId = null } = {}) {
    if (store.openChatId !== chatId) await actions.openChat(chatId);
    const t = store.openThread(chatId, rootId);
    threadView.focusOn(focusReplyId);
    showThreadPane();
    try {
      await loadThreadPage(t);
      // A search hit further down: page on until it is loaded.
      for (let i = 0; focusReplyId && !t.atLatest && i < 20 && store.thread === t
           && !t.replies.some((m) => m.id === focusReplyId); i += 1) await loadThreadPage(t);
      if (focusReplyId && store.thread === t) showThreadPane();
      markThreadRead(t);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404 && store.thread === t) {
        store.closeThread();
        showThreadPane();
        toast('That thread is no longer available.');
      } else fail(e);
    }
  },

  async loadMoreReplies() {
    const t = store.thread;
    if (!t || t.atLatest) return;
    try { await loadThreadPage(t); } catch (e) { fail(e); }
  },

  closeThread() {
    const rootId = store.thread?.rootId;
    store.closeThread();
    showThreadPane();
    const back = rootId && document.querySelector(`#message-list [data-message-id="${CSS.escape(rootId)}"]`);
    if (back) back.focus(); else $('#composer-input').focus();
  },

  /** Saves an edit; true once the server took it (its answer replaces the loaded copies). */
  async editMessage(m, body) {
    try {
      store.replaceMessage(await Api.editMessage(m.id, body));
      announce('Message edited');
      return true;
    } catch (e) { fail(e); return false; }
  },

  /** Adds (`on`) or takes back one's reaction `emoji` (👍 is the like). */
  react(m, emoji, on) {
    (on ? Api.react(m.id, emoji) : Api.unreact(m.id, emoji))
      .then((r) => store.replaceMessage(r))
      .catch(fail);
  },

  /** The emoji picker's data (vendor/emoji.json), fetched once when the picker first opens. */
  emojiData() {
    if (!emojiData) {
      emojiData = fetch('/static/vendor/emoji.json').then((r) => {
        if (!r.ok) throw new Error('Cannot load the emoji list.');
        return r.json();
      });
      emojiData.catch(() => { emojiData = null; });
    }
    return emojiData;
  },
  pending: (chatId) => (socket ? [...socket.outbox.values()].filter((p) => p.chat_id === chatId) : []),
  retry: (id) => socket?.retry(id),
  discard: (id) => socket?.discard(id),


  async deleteMessage(m, scope) {
    try {
      await Api.deleteMessage(m.id, scope);
      if (store.applyDeleted(m.chat_id, m.id, scope)) refreshChat(m.chat_id);
      announce(scope === 'everyone' ? 'Message deleted for everyone' : 'Message deleted for you');
      await fillScreen(m.chat_id);
    } catch (e) { fail(e); }
  },

  async leave(chatId) {
    if (!(await dialogs.confirmLeave())) return;
    try {
      await Api.leaveChat(chatId);
      store.removeChat(chatId);
      closeChat();
      announce('You left the chat');
    } catch (e) { fail(e); }
  },

  async openDirect(userId) {
    try {
      const chat = await Api.createChat({ member_ids: [userId] });
      store.upsertChat(chat);
      await actions.openChat(chat.id);
    } catch (e) { fail(e); }
  },

  /** Resolves with the new chat (not yet open), or rejects with the API's error for the dialog to show. */
  async createChat(memberIds, title) {
    const chat = await Api.createChat(title ? { member_ids: memberIds, title } : { member_ids: memberIds });
    store.upsertChat(chat);
    return chat;
  },

  async addContact(userId) {
    await Api.addContact(userId);
    const r = await Api.contacts();
    store.setContacts(r.contacts);
  },

  async removeContact(userId) {
    try {
      await Api.removeContact(userId);
      store.removeContact(userId);
    } catch (e) { fail(e); }
  },

  /** The team directory's users whose name starts with `prefix` (they join the store). */
  async lookupUsers(prefix) {
    const r = await Api.users(prefix);
    store.upsertUsers(r.users);
    return r.users || [];
  },

  /** One page of search results, with their senders known to the store. */
  async search(q, { sort, cursor } = {}) {
    const res = await Api.search(q, { sort, cursor: cursor || undefined });
    await ensureUsers((res.hits || []).map((h) => h.message.sender_id));
    return res;
  },

  errorText,
  showSearch: () => setMode('search'),
  searchSuggest: (q) => Api.searchSuggest(q),
  closeSearch() {
    if (store.openChatId && store.chats.has(store.openChatId)) {
      setMode('chat');
      chatView.show(store.openChatId);
      markRead(store.openChatId);
    } else closeChat();
  },
};

// ---- live events ------------------------------------------------------------------

function onEvent(f) {
  switch (f.type) {
    case 'message': {
      const m = f.message;
      if (!m) return;
      if (!store.chats.has(m.chat_id)) refreshChat(m.chat_id);
      // Our own message seen live (maybe from the REST fallback): it is stored, stop resending.
      if (store.me && m.sender_id === store.me.id && socket?.outbox.has(m.client_msg_id)) socket.settle(m.client_msg_id, null);
      const fresh = !store.known(m);
      const threadOnly = !!m.thread_id && !m.also_in_chat;
      const seen = threadOnly ? isViewingThread(m.chat_id, m.thread_id) && isViewing(m.chat_id) : isViewing(m.chat_id);
      store.applyMessage(m, { viewing: isViewing(m.chat_id), seen });
      markRead(m.chat_id);
      // A mention in a thread reply the reader is looking at: read, so the server stops counting it.
      if (fresh && threadOnly && seen) markThreadRead(store.thread);
      if (fresh) maybeNotify(m).catch(() => {});
      ensureUsers([m.sender_id]);
      if (store.me && m.sender_id !== store.me.id && m.thread_id && !m.also_in_chat) {
        if (store.thread?.rootId === m.thread_id && threadView.isShown()) {
          announce(`${store.displayName(m.sender_id)} replied in the thread: ${m.body.slice(0, 200)}`);
        }
      } else if (store.me && m.sender_id !== store.me.id) {
        const who = store.displayName(m.sender_id);
        const text = m.deleted ? 'deleted message' : m.body.slice(0, 200);
        announce(store.openChatId === m.chat_id && mode === 'chat'
          ? `${who}: ${text}` : `New message from ${who} in ${store.chatName(store.chats.get(m.chat_id))}`);
      }
      return;
    }
    case 'liked':
    case 'unliked':
      store.applyLikes(f.chat_id, f.message_id, f.liked_by);
      return;
    case 'read':
      store.applyRead(f.chat_id, f.user_id, f.message_id);
      return;
    case 'edited':
      store.replaceMessage(f.message);
      return;
    case 'reaction':
      store.applyReactions(f.chat_id, f.message_id, f.reactions);
      return;
    case 'thread':
      store.applyThreadRoot(f.chat_id, f.root);
      ensureUsers(f.root?.reply_user_ids || []);
      return;
    case 'deleted':
      if (store.applyDeleted(f.chat_id, f.message_id, f.for)) refreshChat(f.chat_id);
      fillScreen(f.chat_id);
      return;
    case 'chat':
      store.upsertChat(f.chat);
      ensureUsers(f.chat.member_ids || []);
      return;
    case 'left':
      if (store.me && f.user_id === store.me.id) {
        const wasOpen = store.openChatId === f.chat_id;
        store.removeChat(f.chat_id);
        if (wasOpen) closeChat();
      } else {
        store.applyLeft(f.chat_id, f.user_id);
        announce(`${store.displayName(f.user_id)} left ${store.chatName(store.chats.get(f.chat_id))}`);
      }
      return;
    case 'presence':
      store.setPresence(f.user_id, f.status, f.last_seen);
      return;
    case 'typing':
      if (!f.chat_id || !f.user_id || (store.me && f.user_id === store.me.id)) return;
      store.setTyping(f.chat_id, f.user_id, Date.now() + TYPING_SHOWN_MS);
      ensureUsers([f.user_id]);
      scheduleTypingExpiry();
      return;
    default:
      // Frame types added by later protocol versions are ignored, not errors.
  }
}

const STATUS_TEXT = { ready: 'Online', connecting: 'Connecting…', offline: 'Reconnecting…' };

function startSocket(me) {
  socket = new ChatSocket({
    getToken,
    getTeam: () => store.me?.team_id || me.team_id,
    outboxKey: `chatsvc.outbox.${me.id}`,
    restSend: (item) => Api.sendMessage(item.chat_id, { body: item.body, client_msg_id: item.client_msg_id, ...threadFields(item) }),
  });
  socket.addEventListener('ready', (ev) => {
    if (ev.detail.user) store.setMe(ev.detail.user);
    sync();
  });
  socket.addEventListener('event', (ev) => onEvent(ev.detail));
  socket.addEventListener('ack', (ev) => {
    const m = ev.detail.message;
    store.applyMessage(m, { viewing: isViewing(m.chat_id) });
    markRead(m.chat_id);
    if (m.thread_id && store.thread?.rootId === m.thread_id) threadView.stickToBottom();
    if (m.chat_id === store.openChatId && (!m.thread_id || m.also_in_chat)) chatView.stickToBottom();
    store.changed('outbox');
  });
  socket.addEventListener('outbox', () => store.changed('outbox'));
  socket.addEventListener('status', (ev) => {
    const node = $('#connection-status');
    node.dataset.status = ev.detail;
    node.textContent = STATUS_TEXT[ev.detail] || ev.detail;
  });
  socket.addEventListener('unauthorized', () => endSession('Your session has ended. Please log in again.'));
  socket.addEventListener('server-error', (ev) => toast(ev.detail.message || ev.detail.code));
  socket.start();
}

// ---- session --------------------------------------------------------------------

function renderMe() {
  const me = store.me;
  $('#me').replaceChildren(avatar(me, { size: 'sm', label: false }),
    el('span', { class: 'me-name' }, me.display_name || me.username),
    ...avatarPicker((user) => { store.setMe({ ...me, ...user }); renderMe(); store.changed('users'); }));
  const invite = JSON.parse(localStorage.getItem(INVITE_KEY) || 'null');
  const show = invite && invite.user_id === me.id;
  $('#invite-banner').hidden = !show;
  if (show) {
    $('#invite-team').textContent = invite.team;
    $('#invite-code').textContent = invite.code;
  }
}

async function enterWorkspace(me) {
  store.reset();
  store.setMe(me);
  setTeam(me.team_id);
  readSent.clear();
  auth.hide();
  $('#workspace').hidden = false;
  renderMe();
  setMode('empty');
  startSocket(me);
  await sync();
}

function endSession(message = '') {
  socket?.stop();
  socket = null;
  localStorage.removeItem(TOKEN_KEY);
  setToken(null);
  setTeam(null);
  store.reset();
  attention.resetUnread();
  typingSent.clear();
  clearTimeout(typingTimer);
  mode = 'empty';
  // Nothing of the previous account may stay on screen for the next one.
  for (const id of ['#message-list', '#search-results', '#chat-list', '#contact-list']) $(id).replaceChildren();
  $('#search-input').value = '';
  $('#composer-input').value = '';
  chatView.reset();
  threadView.hide();
  threadView.reset();
  document.body.classList.remove('show-thread');
  $('#workspace').hidden = true;
  auth.show(message);
}

async function logout() {
  const me = store.me;
  try { await Api.logout(); } catch { /* the token is dropped locally either way */ }
  // Unsent drafts of this account should not linger on a shared computer.
  if (me) localStorage.removeItem(`chatsvc.outbox.${me.id}`);
  endSession();
}

async function onSession(res, extra) {
  localStorage.setItem(TOKEN_KEY, res.token);
  setToken(res.token);
  if (extra.team) {
    localStorage.setItem(INVITE_KEY, JSON.stringify({ user_id: res.user.id, team: extra.team.name, code: extra.team.invite_code }));
  }
  await enterWorkspace(res.user);
}

async function boot() {
  const token = localStorage.getItem(TOKEN_KEY);
  if (!token) { auth.show(); return; }
  setToken(token);
  try {
    await enterWorkspace(await Api.me());
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) { endSession('Please log in again.'); return; }
    auth.show('Cannot reach the server. Retrying…');
    setTimeout(() => { if ($('#workspace').hidden && localStorage.getItem(TOKEN_KEY)) boot(); }, 5000);
  }
}

// ---- start -----------------------------------------------------------------------

const auth = initAuth({ login: Api.login, signup: Api.signup, createTeam: Api.createTeam, onSession, errorText });
const sidebar = initSidebar(store, actions);
const picker = initEmojiPicker(actions);
const chatView = initChatView(store, actions, picker);
const threadView = initThreadView(store, actions, picker);
const search = initSearch(store, actions);
const dialogs = initDialogs(store, actions);

store.addEventListener('change', (ev) => {
  if (!store.me) return;
  sidebar.render(ev.detail);
  chatView.render(ev.detail);
  if (ev.detail.has('thread') || ev.detail.has('chats')) showThreadPane();
  threadView.render(ev.detail);
  attention.showUnread(store.totalUnread());
});

setUnauthorizedHandler(() => { if (store.me) endSession('Your session has ended. Please log in again.'); });
$('#logout-button').addEventListener('click', logout);
$('#sidebar-toggle').addEventListener('click', showSidebar);
for (const b of document.querySelectorAll('.back-button')) b.addEventListener('click', showSidebar);
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState !== 'visible' || !store.openChatId || mode !== 'chat') return;
  // Back to a chat that got messages while the page was hidden: show where they start.
  const d = store.divider;
  if (!(d && d.chatId === store.openChatId)) noteDivider(store.openChatId);
  markRead(store.openChatId);
});

// A read-only summary of the client's state, for the end-to-end tests' failure reports
// (only with ?debug=1, see the top of this file).
if (new URLSearchParams(location.search).get('debug') === '1') {
  window.chatsvcDebug = () => ({
    mode, openChatId: store.openChatId, chats: [...store.chats.keys()], windows: [...store.windows.keys()],
    socket: socket ? socket.status : null, outbox: socket ? socket.outbox.size : 0,
    divider: store.divider,
    counts: Object.fromEntries([...store.chats.values()].map((c) => [c.id, [c.unread_count, c.mention_count]])),
    thread: store.thread ? { rootId: store.thread.rootId, replies: store.thread.replies.length, atLatest: store.thread.atLatest } : null,
  });
  // markdown-it's HTML before sanitising, for the parity test against chatsvc.markdown.
  window.chatsvcMarkdownHtml = markdownHtml;
}

boot();
