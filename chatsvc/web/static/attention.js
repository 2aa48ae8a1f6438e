// Calling the user's attention: browser notifications (the Notification API), and the
// unread count in the page title and as a badge on the favicon.
//
// Whether to notify is the client's job (the server only stores each user's `muted` and
// `notify` per chat, so they follow her to every device): never for her own messages or in
// a muted chat; `all` notifies every message of the chat (and mentions in its threads),
// `mentions` only messages that mention her, `none` nothing; and only while the page is
// hidden or the message's chat is not the open one. Permission is asked for only from a
// click (requestPermission below), never on page load.

import { inChat } from './state.js';

export const supported = () => typeof window.Notification === 'function';
export const permission = () => (supported() ? window.Notification.permission : 'unsupported');

/** Must be called from a user's click: browsers (rightly) ignore prompts nobody asked for. */
export async function requestPermission() {
  if (!supported()) return 'unsupported';
  try { return await window.Notification.requestPermission(); } catch { return window.Notification.permission; }
}

/** Whether message `m` (just arrived live) should raise a notification. */
export function shouldNotify(store, m, { openChatId, visible }) {
  if (!m || m.deleted || !store.me || m.sender_id === store.me.id) return false;
  const chat = store.chats.get(m.chat_id);
  if (!chat || chat.muted) return false;
  if (visible && openChatId === m.chat_id) return false;
  const level = store.notifyLevel(chat);
  const mentioned = store.mentionsMe(m);
  if (level === 'none') return false;
  if (level === 'mentions') return mentioned;
  return inChat(m) || mentioned;
}

/** What the notification says: {title, body, tag}. */
export function notificationText(store, m) {
  const chat = store.chats.get(m.chat_id);
  const who = store.displayName(m.sender_id);
  const where = chat?.kind === 'direct' ? '' : ` in ${store.chatName(chat)}`;
  const title = store.mentionsMe(m) ? `${who} mentioned you${where}` : `${who}${where}`;
  const body = String(m.body || '').replace(/\s+/g, ' ').slice(0, 200);
  return { title, body, tag: `chatsvc-${m.id}` };
}

/** Shows the notification if allowed; `onClick` opens the chat at the message. */
export function notify(store, m, onClick) {
  if (permission() !== 'granted') return null;
  const { title, body, tag } = notificationText(store, m);
  let n;
  try {
    n = new window.Notification(title, { body, tag });
  } catch { return null; } // e.g. Chrome on Android only notifies from a service worker
  n.addEventListener('click', () => {
    try { window.focus(); } catch { /* not allowed: the click itself focused us */ }
    n.close?.();
    onClick();
  });
  return n;
}

// ---- title and favicon ----------------------------------------------------------------

const TITLE = 'chatsvc';
let shownCount = null;

function faviconUrl(count) {
  const size = 32;
  const canvas = document.createElement('canvas');
  canvas.width = size;
  canvas.height = size;
  const g = canvas.getContext('2d');
  if (!g) return null;
  g.fillStyle = '#2457c5';
  g.beginPath();
  g.roundRect ? g.roundRect(2, 2, 28, 28, 7) : g.rect(2, 2, 28, 28);
  g.fill();
  g.fillStyle = '#ffffff';
  g.font = 'bold 20px sans-serif';
  g.textAlign = 'center';
  g.textBaseline = 'middle';
  g.fillText('c', 15, 16);
  if (count > 0) {
    const text = count > 99 ? '99+' : String(count);
    g.fillStyle = '#d92d20';
    g.beginPath();
    g.arc(22, 10, 10, 0, 2 * Math.PI);
    g.fill();
    g.fillStyle = '#ffffff';
    g.font = `bold ${text.length > 2 ? 9 : text.length > 1 ? 12 : 14}px sans-serif`;
    g.fillText(text, 22, 11);
  }
  return canvas.toDataURL('image/png');
}

/** The page title "(3) chatsvc" and the favicon's badge show `count` unread messages. */
export function showUnread(count) {
  if (count === shownCount) return;
  shownCount = count;
  document.title = count ? `(${count}) ${TITLE}` : TITLE;
  let link = document.querySelector('link[rel="icon"]');
  if (!link) {
    link = document.createElement('link');
    link.rel = 'icon';
    document.head.append(link);
  }
  const url = faviconUrl(count);
  if (url) link.href = url;
  link.dataset.count = String(count);
}

/** Signed out: the plain title and icon. */
export function resetUnread() { showUnread(0); }
