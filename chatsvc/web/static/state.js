// The client-side store: users, contacts, presence, chats and, per chat, a "window" of
// messages. A window is always a CONTIGUOUS run of history [first..last] sorted by id;
// `atLatest` says whether it reaches the newest message. Live messages are merged only
// into windows that reach the latest, so a window can never silently skip messages.
//
// The Store is the only writer of its fields (and of its chats' and windows' fields):
// everyone else reads them and changes them through the methods below, each of which
// announces what it changed, so the views re-render.

import { cmpId, maxId } from './ids.js';

function byIdAsc(a, b) { return cmpId(a.id, b.id); }

/** Shown in the chat's own flow: a top-level message, or a thread reply also sent to the chat. */
export function inChat(m) { return !m.thread_id || !!m.also_in_chat; }

/** Sorted union by id of `old` and `fresh`: newer copies replace older ones. */
function union(old, fresh) {
  const byId = new Map(old.map((m) => [m.id, m]));
  for (const m of fresh) byId.set(m.id, m);
  return [...byId.values()].sort(byIdAsc);
}

const SUMMARY = ['reply_count', 'last_reply_at', 'reply_user_ids'];

export class Store extends EventTarget {
  constructor() {
    super();
    this.reset();
  }

  reset() {
    this.me = null;
    this.users = new Map();     // id -> User
    this.contacts = new Set();  // user ids
    this.presence = new Map();  // user id -> {status, last_seen}
    this.chats = new Map();     // id -> Chat
    this.windows = new Map();   // chat id -> {messages, hasMoreBefore, atLatest, loading}
    this.stamp = 0;             // counts local changes to chats and contacts (see setChats)
    this.chatStamps = new Map(); // chat id -> stamp of its last upsert
    this.seen = new Set();      // ids of the live messages already counted (an ack and its event are one)
    // chat id -> ids of unread thread-only replies that mention me (seen live): reading the
    // chat's flow does not read them, so they keep counting in mention_count.
    this.threadMentions = new Map();
    this.contactsStamp = 0;     // stamp of the last change to the contact list
    this.openChatId = null;
    // The open thread pane: {chatId, rootId, root, replies, atLatest, loading}, or null.
    this.thread = null;
    // Who is typing where: chat id -> Map(user id -> ms timestamp after which it is stale).
    this.typing = new Map();
    // The open chat's "New messages" divider: {chatId, readId} (the reader's marker when the
    // chat was opened; null readId: nothing read yet), or null for none.
    this.divider = null;
    this.dirty = new Set();
    this.scheduled = false;
    this.changed('all');
  }

  /** Batches change notifications into one render per animation frame. */
  changed(...topics) {
    for (const t of topics) this.dirty.add(t);
    if (this.scheduled) return;
    this.scheduled = true;
    const flush = () => {
      this.scheduled = false;
      const dirty = this.dirty;
      this.dirty = new Set();
      this.dispatchEvent(new CustomEvent('change', { detail: dirty }));
    };
    // rAF does not run in background tabs; a timeout keeps state flowing there.
    if (document.visibilityState === 'hidden') setTimeout(flush, 50);
    else requestAnimationFrame(flush);
  }

  /** Resolves once the changes made so far have been announced (so the views show them). */
  flushed() {
    if (!this.scheduled) return Promise.resolve();
    return new Promise((resolve) => this.addEventListener('change', () => resolve(), { once: true }));
  }

  // ---- session and navigation ---------------------------------------------------------

  /** The signed-in user (also a user of the directory, for names and avatars). */
  setMe(user) {
    this.me = user;
    this.upsertUsers([user]);
  }

  /** The chat shown in the main pane, or null for none. */
  openChat(chatId) {
    this.openChatId = chatId;
    this.changed('chats');
  }

  closeChat() { this.openChat(null); }

  // ---- users, contacts, presence -----------------------------------------------------

  upsertUsers(list) {
    for (const u of list || []) if (u && u.id) this.users.set(u.id, u);
    this.changed('users');
  }

  user(id) { return this.users.get(id) || null; }

  displayName(id) {
    if (this.me && id === this.me.id) return this.me.display_name || this.me.username;
    const u = this.users.get(id);
    return u ? (u.display_name || u.username) : 'Unknown user';
  }

  unknownUserIds(ids) { return ids.filter((id) => !this.users.has(id)); }

  /** Like setChats: a list asked for at `since` loses to a change made here after that. */
  setContacts(list, { since = Infinity } = {}) {
    if (this.contactsStamp > since) return;
    this.contactsStamp = ++this.stamp;
    this.contacts = new Set();
    for (const c of list || []) {
      if (!c || !c.user) continue;
      this.users.set(c.user.id, c.user);
      this.contacts.add(c.user.id);
      if (c.presence) this.presence.set(c.user.id, c.presence);
    }
    this.changed('contacts', 'users');
  }

  removeContact(userId) {
    this.contactsStamp = ++this.stamp;
    this.contacts.delete(userId);
    this.changed('contacts');
  }

  setPresence(user_id, status, last_seen) {
    this.presence.set(user_id, { user_id, status, last_seen });
    this.changed('contacts', 'presence');
  }

  status(userId) {
    if (this.me && userId === this.me.id) return 'online';
    return this.presence.get(userId)?.status || 'offline';
  }

  // ---- chats ------------------------------------------------------------------------

  /**
   * Replace the chat list with the server's. `since` is the `stamp` when that list was asked
   * for: a chat learned of later (created here, or announced by a live event while the
   * request was in flight) is newer than the list, so it stays, with its open window.
   */
  setChats(list, { since = Infinity } = {}) {
    const next = new Map();
    for (const c of list || []) next.set(c.id, this.mergeChat(this.chats.get(c.id), c));
    for (const [id, chat] of this.chats) {
      if (!next.has(id) && (this.chatStamps.get(id) || 0) > since) next.set(id, chat);
    }
    this.chats = next;
    for (const id of [...this.windows.keys()]) if (!next.has(id)) this.windows.delete(id);
    this.changed('chats', 'chat');
  }

  upsertChat(chat) {
    this.stamp += 1;
    this.chatStamps.set(chat.id, this.stamp);
    this.chats.set(chat.id, this.mergeChat(this.chats.get(chat.id), chat));
    this.changed('chats', 'chat');
  }

  /** Server data wins, except a live event may already know a newer last message / read. */
  mergeChat(old, fresh) {
    const chat = { ...fresh, reads: { ...(fresh.reads || {}) } };
    if (!old) return chat;
    if (old.last_message && (!chat.last_message || cmpId(old.last_message.id, chat.last_message.id) > 0)) {
      chat.last_message = old.last_message;
    }
    for (const [uid, mid] of Object.entries(old.reads || {})) {
      if (chat.member_ids?.includes(uid)) chat.reads[uid] = maxId(chat.reads[uid], mid);
    }
    return chat;
  }

  removeChat(id) {
    this.chats.delete(id);
    this.chatStamps.delete(id);
    this.windows.delete(id);
    if (this.openChatId === id) this.openChatId = null;
    if (this.thread?.chatId === id) this.thread = null;
    this.changed('chats', 'chat', 'thread');
  }

  /** Most recent activity first. RFC 3339 UTC strings sort lexicographically. */
  sortedChats() {
    const key = (c) => c.last_message?.created_at || c.created_at || '';
    return [...this.chats.values()].sort((a, b) => (key(a) < key(b) ? 1 : key(a) > key(b) ? -1 : 0));
  }

  chatName(chat) {
    if (!chat) return 'Unknown chat';
    if (chat.title) return chat.title;
    const others = (chat.member_ids || []).filter((id) => !this.me || id !== this.me.id);
    if (!others.length) return 'Just you';
    return others.map((id) => this.displayName(id)).join(', ');
  }

  /** The user has seen the chat's newest message: its unread and mention counts drop to zero. */
  clearUnread(chatId) {
    const chat = this.chats.get(chatId);
    const left = this.threadMentions.get(chatId)?.size || 0;
    if (!chat || (!chat.unread_count && (chat.mention_count || 0) === left)) return;
    chat.unread_count = 0;
    chat.mention_count = left;
    this.changed('chats');
  }

  /** Unread messages of the chats that are not muted (the page title and the favicon). */
  totalUnread() {
    let n = 0;
    for (const c of this.chats.values()) if (!c.muted) n += c.unread_count || 0;
    return n;
  }

  /** The chat's notification level: its own setting, else the protocol's default by kind. */
  notifyLevel(chat) {
    if (!chat) return 'none';
    if (chat.notify === 'all' || chat.notify === 'mentions' || chat.notify === 'none') return chat.notify;
    return chat.kind === 'direct' ? 'all' : 'mentions';
  }

  mentionsMe(m) {
    return !!(this.me && m && !m.deleted && m.sender_id !== this.me.id && (m.mentions || []).includes(this.me.id));
  }

  // ---- typing and the unread divider -----------------------------------------------------

  /** `userId` is typing in `chatId` until `until` (ms since the epoch). */
  setTyping(chatId, userId, until) {
    if (!this.typing.has(chatId)) this.typing.set(chatId, new Map());
    this.typing.get(chatId).set(userId, until);
    this.changed('typing');
  }

  clearTyping(chatId, userId) {
    const who = this.typing.get(chatId);
    if (!who || !who.delete(userId)) return;
    if (!who.size) this.typing.delete(chatId);
    this.changed('typing');
  }

  /** Drops the indicators older than `now`; returns the next expiry (ms) or null. */
  expireTyping(now) {
    let next = null;
    let dropped = false;
    for (const [chatId, who] of this.typing) {
      for (const [uid, until] of who) {
        if (until <= now) { who.delete(uid); dropped = true; } else if (next === null || until < next) next = until;
      }
      if (!who.size) this.typing.delete(chatId);
    }
    if (dropped) this.changed('typing');
    return next;
  }

  /** The users typing in `chatId` now (other members only), in the order they started. */
  typingIn(chatId) {
    const who = this.typing.get(chatId);
    if (!who) return [];
    const members = this.chats.get(chatId)?.member_ids || [];
    return [...who.keys()].filter((id) => (!this.me || id !== this.me.id) && members.includes(id));
  }

  setDivider(chatId, readId) {
    this.divider = { chatId, readId: readId || null };
    this.changed('chat');
  }

  clearDivider() {
    if (!this.divider) return;
    this.divider = null;
    this.changed('chat');
  }

  // ---- message windows ----------------------------------------------------------------

  window(chatId) { return this.windows.get(chatId) || null; }

  /** A fresh window that accepts live messages at once, so nothing is lost while loading. */
  openWindow(chatId, { atLatest = true, hasMoreBefore = true } = {}) {
    const win = { messages: [], hasMoreBefore, atLatest, loading: false };
    this.windows.set(chatId, win);
    this.changed('chat');
    return win;
  }

  /** A page request for `win` started (true) or ended (false). */
  setLoading(win, loading) {
    win.loading = loading;
    this.changed('chat');
  }

  /** What a page answer said about the window's ends: more before it, or it reaches the latest. */
  setWindowEnds(win, { hasMoreBefore, atLatest }) {
    if (hasMoreBefore !== undefined) win.hasMoreBefore = hasMoreBefore;
    if (atLatest !== undefined) win.atLatest = atLatest;
    this.changed('chat');
  }

  first(chatId) { return this.window(chatId)?.messages[0]?.id ?? null; }

  last(chatId) {
    const msgs = this.window(chatId)?.messages;
    return msgs && msgs.length ? msgs[msgs.length - 1].id : null;
  }

  /** Sorted union by id: duplicates are impossible, and newer copies replace older ones. */
  merge(chatId, messages) {
    const win = this.windows.get(chatId);
    messages = (messages || []).filter(inChat); // thread-only replies live in their thread
    if (!win || !messages.length) return 0;
    const byId = new Map(win.messages.map((m) => [m.id, m]));
    let added = 0;
    for (const m of messages) {
      if (!byId.has(m.id)) added += 1;
      byId.set(m.id, m);
    }
    win.messages = [...byId.values()].sort(byIdAsc);
    this.changed('chat');
    return added;
  }

  /** Replaces the loaded copies of [lo..hi] with a fresh page (drops messages hidden meanwhile). */
  refreshRange(chatId, page) {
    const win = this.windows.get(chatId);
    if (!win || !page.length) return;
    const lo = page[0].id;
    const hi = page[page.length - 1].id;
    win.messages = win.messages.filter((m) => cmpId(m.id, lo) < 0 || cmpId(m.id, hi) > 0);
    this.merge(chatId, page);
  }

  // ---- live events ----------------------------------------------------------------------

  /** A live message already counted (the same one can come as an event and as an ack). */
  known(m) { return this.seen.has(m.id); }

  /**
   * A new message (live event or the ack of one's own send). `viewing`: the reader sees the
   * chat's newest messages now; `seen`: she sees this very message (for a thread-only reply,
   * its thread pane is open), so it does not count as an unread mention.
   */
  applyMessage(m, { viewing, seen = viewing }) {
    const t = this.thread;
    const isNew = !this.known(m);
    if (m.thread_id && t && t.rootId === m.thread_id && t.atLatest) {
      t.replies = union(t.replies, [m]);
      this.changed('thread');
    }
    if (this.typing.get(m.chat_id)?.has(m.sender_id)) this.clearTyping(m.chat_id, m.sender_id);
    const chat = this.chats.get(m.chat_id);
    const readMine = this.me && chat?.reads?.[this.me.id];
    const afterMarker = !readMine || cmpId(m.id, readMine) > 0;
    // A mention calls you wherever it is, thread-only replies included (as the server counts).
    if (chat && isNew && afterMarker && !seen && this.mentionsMe(m)) {
      chat.mention_count = (chat.mention_count || 0) + 1;
      if (!inChat(m)) {
        if (!this.threadMentions.has(m.chat_id)) this.threadMentions.set(m.chat_id, new Set());
        this.threadMentions.get(m.chat_id).add(m.id);
      }
      this.changed('chats');
    }
    this.seen.add(m.id);
    if (!inChat(m)) return; // a thread-only reply: not in the chat's flow, not unread there
    if (chat) {
      if (!chat.last_message || cmpId(m.id, chat.last_message.id) > 0) {
        chat.last_message = m;
        // Whoever writes has read the chat up to their own message.
        chat.reads = { ...chat.reads, [m.sender_id]: maxId(chat.reads?.[m.sender_id], m.id) };
        const mine = this.me && m.sender_id === this.me.id;
        if (!mine && !viewing) chat.unread_count = (chat.unread_count || 0) + 1;
      }
      this.changed('chats');
    }
    const win = this.windows.get(m.chat_id);
    if (win && win.atLatest) this.merge(m.chat_id, [m]);
  }

  /** Changes every loaded copy of message `id`: in its chat's window, as the chat's last message, in the thread pane. */
  updateMessage(chatId, id, patch) {
    const win = this.windows.get(chatId);
    if (win) {
      const i = win.messages.findIndex((m) => m.id === id);
      if (i >= 0) win.messages[i] = { ...win.messages[i], ...patch };
    }
    const chat = this.chats.get(chatId);
    if (chat?.last_message?.id === id) chat.last_message = { ...chat.last_message, ...patch };
    const t = this.thread;
    if (t && t.chatId === chatId) {
      if (t.root?.id === id) t.root = { ...t.root, ...patch };
      const j = t.replies.findIndex((m) => m.id === id);
      if (j >= 0) t.replies[j] = { ...t.replies[j], ...patch };
      this.changed('thread');
    }
    this.changed('chat', 'chats');
  }

  /** A newer copy of a message (an edit, a reaction answer): replaces the loaded ones. */
  replaceMessage(m) {
    if (m?.id) this.updateMessage(m.chat_id, m.id, m);
  }

  applyReactions(chatId, messageId, reactions) {
    this.updateMessage(chatId, messageId, { reactions: reactions || [] });
  }

  /** A thread root's reply summary changed (a `thread` event). */
  applyThreadRoot(chatId, root) {
    if (!root?.id) return;
    const patch = {};
    for (const k of SUMMARY) if (k in root) patch[k] = root[k];
    this.updateMessage(chatId, root.id, patch);
  }

  // ---- the thread pane -------------------------------------------------------------------

  /** Opens the thread of `rootId` (its root shown at once if loaded); live replies merge meanwhile. */
  openThread(chatId, rootId) {
    const root = this.window(chatId)?.messages.find((m) => m.id === rootId) || null;
    this.thread = { chatId, rootId, root, replies: [], atLatest: true, loading: false };
    this.changed('thread');
    return this.thread;
  }

  closeThread() {
    if (!this.thread) return;
    this.thread = null;
    this.changed('thread');
  }

  setThreadLoading(t, loading) {
    t.loading = loading;
    this.changed('thread');
  }

  /**
   * A page of the thread (replies in id order after some reply): merged; with more after it,
   * the pane stops at its end (live replies merged meanwhile are dropped: a later page brings them).
   */
  mergeThreadPage(t, { root, replies, has_more: hasMore }) {
    if (this.thread !== t) return;
    if (root) t.root = root;
    t.replies = union(t.replies, replies || []);
    const last = replies?.length ? replies[replies.length - 1].id : null;
    if (hasMore && last) t.replies = t.replies.filter((m) => cmpId(m.id, last) <= 0);
    t.atLatest = !hasMore;
    this.changed('thread');
  }

  /** Newer copies of the thread's root and of the replies already loaded (nothing added). */
  refreshThreadCopies(t, { root, replies }) {
    if (this.thread !== t) return;
    if (root) t.root = root;
    const fresh = new Map((replies || []).map((m) => [m.id, m]));
    t.replies = t.replies.map((m) => fresh.get(m.id) || m);
    this.changed('thread');
  }

  applyLikes(chatId, messageId, likedBy) {
    this.updateMessage(chatId, messageId, { liked_by: likedBy || [] });
  }

  applyRead(chatId, userId, messageId) {
    const chat = this.chats.get(chatId);
    if (!chat) return;
    chat.reads = { ...chat.reads, [userId]: maxId(chat.reads?.[userId], messageId) };
    if (this.me && userId === this.me.id) {
      const pending = this.threadMentions.get(chatId);
      if (pending) for (const id of [...pending]) if (cmpId(id, messageId) <= 0) pending.delete(id);
      if (chat.last_message && cmpId(messageId, chat.last_message.id) >= 0) {
        chat.unread_count = 0;
        chat.mention_count = pending?.size || 0;
      }
    }
    this.changed('chat', 'chats');
  }

  /** Returns true when the chat's last message changed meaning and needs a refetch. */
  applyDeleted(chatId, messageId, scope) {
    const chat = this.chats.get(chatId);
    const wasLast = chat?.last_message?.id === messageId;
    if (scope === 'everyone') {
      this.updateMessage(chatId, messageId, { body: '', deleted: true });
      return false;
    }
    const win = this.windows.get(chatId);
    if (win) win.messages = win.messages.filter((m) => m.id !== messageId);
    const t = this.thread;
    if (t && t.chatId === chatId) {
      t.replies = t.replies.filter((m) => m.id !== messageId);
      this.changed('thread');
    }
    this.changed('chat', 'chats');
    return wasLast;
  }

  applyLeft(chatId, userId) {
    const chat = this.chats.get(chatId);
    if (!chat) return;
    chat.member_ids = (chat.member_ids || []).filter((id) => id !== userId);
    const reads = { ...chat.reads };
    delete reads[userId];
    chat.reads = reads;
    this.changed('chat', 'chats');
  }
}
