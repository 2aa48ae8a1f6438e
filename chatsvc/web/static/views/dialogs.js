// Modal dialogs: add a contact from the team directory, start a chat with one or
// several contacts, and confirm leaving a chat.

import { $, el, avatar, presenceDot, toast } from './dom.js';

export function initDialogs(store, actions) {
  // ---- add contact ----
  const addDialog = $('#add-contact-dialog');
  const dirInput = $('#directory-input');
  const dirResults = $('#directory-results');
  let dirTimer = null;
  let dirSeq = 0;

  let shown = [];            // users of the latest directory answer
  const adding = new Set();  // user ids with an add request in flight

  async function searchDirectory() {
    const seq = ++dirSeq;
    const q = dirInput.value.trim();
    try {
      const users = await actions.lookupUsers(q);
      if (seq !== dirSeq) return; // a newer keystroke already asked again
      shown = users.filter((u) => u.id !== store.me?.id);
      renderDirectory(q);
    } catch (e) {
      if (seq === dirSeq) dirResults.replaceChildren(el('li', { class: 'form-error' }, e.message));
    }
  }

  // Rows derive from store.contacts + `adding`, so a re-render mid-request stays truthful.
  function renderDirectory(q = dirInput.value.trim()) {
    if (!shown.length) {
      dirResults.replaceChildren(el('li', { class: 'hint' }, q ? `Nobody matches “${q}”.` : 'Nobody else in the team yet.'));
      return;
    }
    const focusedId = document.activeElement?.closest?.('[data-testid="directory-item"]')?.dataset.userId;
    dirResults.replaceChildren(...shown.map((u) => {
      const name = u.display_name || u.username;
      const isContact = store.contacts.has(u.id);
      const busy = adding.has(u.id);
      return el('li', { class: 'picker-row', testid: 'directory-item', dataset: { userId: u.id, username: u.username } },
        avatar(u, { size: 'sm', label: false }),
        el('span', { class: 'contact-name' }, name), el('span', { class: 'muted' }, `@${u.username}`),
        el('button', {
          type: 'button', class: 'small', testid: 'directory-add', disabled: isContact || busy,
          'aria-label': isContact ? `${name} is a contact` : `Add ${name} to contacts`,
          onclick: () => add(u.id),
        }, isContact ? 'Added' : busy ? 'Adding…' : 'Add'));
    }));
    if (focusedId) dirResults.querySelector(`[data-user-id="${CSS.escape(focusedId)}"] button`)?.focus();
  }

  async function add(userId) {
    adding.add(userId);
    renderDirectory();
    try {
      await actions.addContact(userId);
    } catch (e) {
      toast(actions.errorText(e));
    } finally {
      adding.delete(userId);
      renderDirectory();
    }
  }

  dirInput.addEventListener('input', () => {
    clearTimeout(dirTimer);
    dirTimer = setTimeout(searchDirectory, 200);
  });
  $('#add-contact-button').addEventListener('click', () => {
    dirInput.value = '';
    dirResults.replaceChildren();
    addDialog.showModal();
    dirInput.focus();
    searchDirectory();
  });

  // ---- new chat ----
  const newDialog = $('#new-chat-dialog');
  const newForm = $('#new-chat-form');
  const newList = $('#new-chat-contacts');
  const newError = $('#new-chat-error');

  $('#new-chat-button').addEventListener('click', () => {
    newError.textContent = '';
    $('#new-chat-title-input').value = '';
    const ids = [...store.contacts].sort((a, b) => store.displayName(a).localeCompare(store.displayName(b)));
    newList.replaceChildren(...(ids.length ? ids.map((id) => {
      const name = store.displayName(id);
      const inputId = `pick-${id}`;
      return el('li', { class: 'picker-row', testid: 'new-chat-contact', dataset: { userId: id } },
        el('input', { type: 'checkbox', id: inputId, value: id, testid: 'new-chat-checkbox' }),
        el('label', { for: inputId, class: 'picker-label' },
          el('span', { class: 'avatar-wrap' }, avatar(store.user(id), { size: 'sm', label: false }), presenceDot(store.status(id), name)),
          el('span', {}, name)));
    }) : [el('li', { class: 'hint' }, 'Add contacts first, then start a chat with them.')]));
    newDialog.showModal();
    newList.querySelector('input')?.focus();
  });
  $('#new-chat-cancel').addEventListener('click', () => newDialog.close());
  newForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const ids = [...newList.querySelectorAll('input:checked')].map((i) => i.value);
    if (!ids.length) { newError.textContent = 'Choose at least one contact.'; return; }
    const title = $('#new-chat-title-input').value.trim();
    try {
      const chat = await actions.createChat(ids, title || undefined);
      // Closed first: while the modal is open the page behind it is inert, so the chat's
      // composer could neither take focus nor be typed into.
      newDialog.close();
      actions.openChat(chat.id);
    } catch (e) {
      newError.textContent = actions.errorText(e);
    }
  });

  // ---- leave confirmation ----
  const leaveDialog = $('#leave-dialog');
  function confirmLeave() {
    return new Promise((resolve) => {
      leaveDialog.returnValue = '';
      leaveDialog.addEventListener('close', () => resolve(leaveDialog.returnValue === 'leave'), { once: true });
      leaveDialog.showModal();
      leaveDialog.querySelector('[value=cancel]').focus();
    });
  }

  return { confirmLeave };
}
