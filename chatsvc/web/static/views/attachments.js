// Files in the workspace: the composer's attachments (file button, drag and drop, paste;
// each upload with its progress and a Cancel button), a message's files (inline previews
// sized before they load, so nothing jumps; other files as download links), the lightbox,
// and the profile-picture picker. Uploads use XMLHttpRequest: fetch() reports no upload
// progress.

import { $, el, announce, toast } from './dom.js';
import { getToken } from '../api.js';

const MAX_FILES = 10;

export function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function errorOf(xhr) {
  try { return JSON.parse(xhr.responseText).error.message; } catch { return `upload failed (${xhr.status})`; }
}

/** POST one file to `path` (multipart part "file"). {promise, abort}; progress(0..1). */
export function uploadFile(file, { path = '/api/files', method = 'POST', progress = () => {} } = {}) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open(method, path);
    xhr.setRequestHeader('Authorization', `Bearer ${getToken()}`);
    xhr.upload.onprogress = (ev) => { if (ev.lengthComputable) progress(ev.loaded / ev.total); };
    xhr.onload = () => (xhr.status >= 200 && xhr.status < 300 ? resolve(JSON.parse(xhr.responseText)) : reject(new Error(errorOf(xhr))));
    xhr.onerror = () => reject(new Error('the upload failed: check the connection'));
    xhr.onabort = () => reject(Object.assign(new Error('cancelled'), { cancelled: true }));
    const form = new FormData();
    form.append('file', file, file.name || 'pasted-file');
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}

/** The composer's tray: uploads in progress and files ready to send with the next message. */
export function attachmentTray({ form, input, tray, picker, button }) {
  const items = [];   // {id, name, size, status: uploading|ready|failed, file?, upload?, bar?}
  const changed = new Set();

  function draw() {
    tray.replaceChildren(...items.map(chip));
    tray.hidden = items.length === 0;
    changed.forEach((fn) => fn());
  }

  function chip(item) {
    const label = `${item.name} (${formatSize(item.size)})`;
    const remove = item.status === 'uploading'
      ? el('button', { type: 'button', class: 'small', testid: 'upload-cancel', 'aria-label': `Cancel upload of ${item.name}`, onclick: () => item.upload.abort() }, 'Cancel')
      : el('button', { type: 'button', class: 'small', testid: 'attachment-remove', 'aria-label': `Remove ${item.name}`, onclick: () => drop(item) }, 'Remove');
    const bar = item.status === 'uploading'
      ? el('progress', { max: '1', value: String(item.progress || 0), 'aria-label': `Uploading ${item.name}`, testid: 'upload-progress' })
      : null;
    item.bar = bar;
    return el('li', { class: `attachment ${item.status}`, testid: 'attachment', dataset: { status: item.status } },
      el('span', { class: 'attachment-name' }, label), bar, remove);
  }

  function drop(item) {
    items.splice(items.indexOf(item), 1);
    draw();
    input.focus();
  }

  function add(files) {
    for (const file of files) {
      if (items.length >= MAX_FILES) { toast(`A message can carry at most ${MAX_FILES} files.`); break; }
      const item = { id: null, name: file.name || 'pasted-file', size: file.size, status: 'uploading', progress: 0 };
      item.upload = uploadFile(file, {
        progress: (p) => { item.progress = p; if (item.bar) item.bar.value = p; },
      });
      items.push(item);
      item.upload.promise.then((res) => {
        Object.assign(item, { id: res.file.id, status: 'ready' });
        announce(`${item.name} is ready to send`);
        draw();
      }, (err) => {
        if (err.cancelled) { drop(item); announce(`Upload of ${item.name} cancelled`); return; }
        toast(`${item.name}: ${err.message}`);
        drop(item);
      });
    }
    draw();
  }

  button.addEventListener('click', () => picker.click());
  picker.addEventListener('change', () => { add([...picker.files]); picker.value = ''; });
  form.addEventListener('dragover', (ev) => { if (ev.dataTransfer?.types?.includes('Files')) { ev.preventDefault(); form.classList.add('dropping'); } });
  form.addEventListener('dragleave', () => form.classList.remove('dropping'));
  form.addEventListener('drop', (ev) => {
    form.classList.remove('dropping');
    if (!ev.dataTransfer?.files?.length) return;
    ev.preventDefault();
    add([...ev.dataTransfer.files]);
  });
  input.addEventListener('paste', (ev) => {
    const files = [...(ev.clipboardData?.files || [])];
    if (files.length) { ev.preventDefault(); add(files); }
  });

  return {
    busy: () => items.some((i) => i.status === 'uploading'),
    readyIds: () => items.filter((i) => i.status === 'ready').map((i) => i.id),
    clear() { items.splice(0, items.length); draw(); },
    onChange(fn) { changed.add(fn); },
  };
}

// ---- a message's files ---------------------------------------------------------------

let lightbox = null;

function openLightbox(file, opener) {
  if (!lightbox) {
    lightbox = el('dialog', { class: 'lightbox', testid: 'lightbox', 'aria-label': 'Image' });
    lightbox.addEventListener('click', (ev) => { if (ev.target === lightbox) lightbox.close(); });
    document.body.append(lightbox);
  }
  const close = el('button', { type: 'button', class: 'lightbox-close', testid: 'lightbox-close', onclick: () => lightbox.close() }, 'Close');
  lightbox.setAttribute('aria-label', file.name);
  lightbox.replaceChildren(
    el('img', { src: file.url, alt: file.name, width: String(file.width), height: String(file.height), testid: 'lightbox-image' }),
    el('p', { class: 'lightbox-caption' }, el('a', { href: file.url, download: file.name }, `Download ${file.name}`), ' ', close));
  lightbox.onclose = () => opener?.focus();
  lightbox.showModal();
  close.focus();
}

function preview(file) {
  // Width and height are known before the image loads: the box keeps its place.
  const width = file.thumbnail_width || file.width;
  const height = file.thumbnail_height || file.height;
  const button = el('button', {
    type: 'button', class: 'file-preview', testid: 'file-preview', 'aria-label': `Open image ${file.name}`,
  }, el('img', { src: file.thumbnail_url, alt: '', width: String(width), height: String(height), loading: 'lazy', decoding: 'async' }));
  button.addEventListener('click', () => openLightbox(file, button));
  return button;
}

function fileLink(file) {
  return el('a', { class: 'file-link', href: file.url || '#', download: file.name, testid: 'file-link' },
    el('span', { class: 'file-name' }, file.name), ' ', el('span', { class: 'file-size' }, formatSize(file.size)));
}

/** The files of a message (null when it has none). */
export function messageFiles(m) {
  if (m.deleted || !m.files?.length) return null;
  return el('ul', { class: 'message-files', testid: 'message-files' },
    m.files.map((f) => el('li', {}, f.thumbnail_url && f.width ? preview(f) : fileLink(f))));
}

/** What of a message's files its rendering depends on (for the keyed re-render). */
export function filesSignature(m) {
  return (m.files || []).map((f) => f.id);
}

// ---- profile picture -----------------------------------------------------------------

/** A "Picture" button that uploads a new profile picture; onUser(user) with the result. */
export function avatarPicker(onUser) {
  const picker = el('input', { type: 'file', accept: 'image/png,image/jpeg,image/gif,image/webp', class: 'sr-only', tabindex: '-1', 'aria-hidden': 'true', testid: 'avatar-input' });
  const button = el('button', { type: 'button', class: 'small', testid: 'avatar-button' }, 'Picture');
  button.addEventListener('click', () => picker.click());
  picker.addEventListener('change', () => {
    const file = picker.files[0];
    picker.value = '';
    if (!file) return;
    uploadFile(file, { path: '/api/me/avatar', method: 'PUT' }).promise
      .then((user) => { onUser(user); announce('Profile picture updated'); },
        (err) => toast(`Picture: ${err.message}`));
  });
  return [button, picker];
}

export function composerParts() {
  return { tray: $('#composer-files'), picker: $('#composer-file-input'), button: $('#composer-attach') };
}
