// Sidebar: the "Turn on notifications" banner, contacts with presence dots, and the chat
// list (most recent first, unread and mention counts, muted chats, last message preview,
// "Mark all as read").

import { $, el, avatar, presenceDot, reconcile, shortTime } from './dom.js';

export function initSidebar(store, actions) {
  const contactList = $('#contact-list');
  const chatList = $('#chat-list');
  const markAll = $('#mark-all-read');
  const banner = $('#notify-banner');

  markAll.addEventListener('click', async () => {
    await actions.markAllRead();
    if (markAll.hidden) chatList.querySelector('.chat-open')?.focus(); // the button went with the badges
  });
  $('#notify-enable').addEventListener('click', async () => {
    await actions.enableNotifications(); // asks the browser: only ever from this click
    renderBanner();
  });
  $('#notify-dismiss').addEventListener('click', () => {
    actions.dismissNotificationBanner();
    renderBanner();
    $('#chat-list .chat-open, #new-chat-button')?.focus();
  });

  function renderBanner() {
    banner.hidden = !actions.offerNotifications();
  }

  function renderContacts() {
    const ids = [...store.contacts].sort((a, b) =>
      store.displayName(a).localeCompare(store.displayName(b)));
    if (!ids.length) {
      contactList.replaceChildren(el('li', { class: 'hint', dataset: { key: 'empty' } },
        'No contacts yet. Use “Add contact” to find teammates.'));
      return;
    }
    reconcile(contactList, ids.map((id) => {
      const u = store.user(id);
      const status = store.status(id);
      return {
        key: id,
        sig: JSON.stringify([u?.display_name, u?.username, u?.avatar_color, status]),
        build: () => contactItem(u, id, status),
      };
    }));
  }

  function contactItem(u, id, status) {
    const name = store.displayName(id);
    return el('li', { class: 'contact', testid: 'contact-item', dataset: { userId: id, status } },
      el('button', {
        type: 'button', class: 'contact-open', testid: 'contact-open',
        title: `Chat with ${name}`,
        onclick: () => actions.openDirect(id),
      },
      el('span', { class: 'avatar-wrap' }, avatar(u, { size: 'sm', label: false }), presenceDot(status, name)),
      el('span', { class: 'contact-name' }, name),
      u?.username ? el('span', { class: 'muted' }, `@${u.username}`) : null),
      el('button', {
        type: 'button', class: 'icon-button remove', testid: 'contact-remove',
        'aria-label': `Remove ${name} from contacts`, title: 'Remove contact',
        onclick: () => actions.removeContact(id),
      }, '×'));
  }

  function preview(chat) {
    const m = chat.last_message;
    if (!m) return 'No messages yet';
    const who = store.me && m.sender_id === store.me.id ? 'You' : store.displayName(m.sender_id).split(' ')[0];
    const text = m.deleted ? 'Message deleted' : m.body.replace(/\s+/g, ' ').slice(0, 120);
    return `${who}: ${text}`;
  }

  function renderChats() {
    const chats = store.sortedChats();
    if (!chats.length) {
      chatList.replaceChildren(el('li', { class: 'hint', dataset: { key: 'empty' } }, 'No chats yet.'));
      return;
    }
    reconcile(chatList, chats.map((c) => {
      const name = store.chatName(c);
      const text = preview(c);
      const when = c.last_message?.created_at || c.created_at;
      const current = c.id === store.openChatId;
      return {
        key: c.id,
        sig: JSON.stringify([name, text, when, c.unread_count, c.mention_count, c.muted, current, c.kind]),
        build: () => el('li', {},
          el('button', {
            type: 'button', class: `chat-open${current ? ' current' : ''}${c.muted ? ' is-muted' : ''}`,
            testid: 'chat-list-item',
            dataset: { chatId: c.id, unread: String(c.unread_count || 0), mentions: String(c.mention_count || 0), muted: String(!!c.muted) },
            'aria-current': current ? 'true' : null,
            onclick: () => actions.openChat(c.id),
          },
          el('span', { class: 'chat-line' },
            el('span', { class: 'chat-name', testid: 'chat-name' }, name,
              c.muted ? el('span', { class: 'muted-icon', testid: 'muted-icon', title: 'Muted' },
                el('span', { 'aria-hidden': 'true' }, ' 🔕'), el('span', { class: 'sr-only' }, ' (muted)')) : null),
            el('span', { class: 'muted chat-time' }, when ? shortTime(when) : '')),
          el('span', { class: 'chat-line' },
            el('span', { class: 'chat-preview', testid: 'chat-preview' }, text),
            el('span', { class: 'badges' },
              c.mention_count ? el('span', { class: 'badge mention-badge', testid: 'mention-badge' },
                `@${c.mention_count}`, el('span', { class: 'sr-only' }, c.mention_count === 1 ? ' mention' : ' mentions')) : null,
              c.unread_count ? el('span', { class: 'badge', testid: 'unread-badge' },
                String(c.unread_count), el('span', { class: 'sr-only' }, ' unread')) : null)))),
      };
    }));
  }

  return {
    render(dirty) {
      const all = dirty.has('all');
      if (all || dirty.has('contacts') || dirty.has('users')) renderContacts();
      if (all || dirty.has('chats') || dirty.has('users') || dirty.has('chat')) {
        renderChats();
        markAll.hidden = !store.sortedChats().some((c) => (c.unread_count || c.mention_count) && c.last_message);
      }
      if (all || dirty.has('notifications')) renderBanner();
    },
  };
}
