// The WebSocket link: authenticates, reconnects by itself with exponential backoff,
// heartbeats, and owns the outbox of unsent messages. A message stays in the outbox
// until its `ack` (or a REST 200/201) arrives, and every retry reuses the SAME
// client_msg_id, so the server's idempotency turns retries into no-ops, never duplicates.

const PING_EVERY_MS = 25_000;
const PONG_TIMEOUT_MS = 10_000;
const READY_TIMEOUT_MS = 10_000;
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30_000;
const REST_FALLBACK_AFTER_MS = 4_000;
// Error codes after which retrying the same send later can succeed.
const RETRYABLE = new Set(['unavailable', 'rate_limited', 'network']);

/** The thread part of a send (REST body or frame): nothing for a message to the chat. */
export function threadFields(item) {
  const files = item.file_ids?.length ? { file_ids: item.file_ids } : {};
  return item.thread_id ? { thread_id: item.thread_id, also_in_chat: !!item.also_in_chat, ...files } : files;
}

export class ChatSocket extends EventTarget {
  /**
   * @param {object} o
   * @param {() => string|null} o.getToken
   * @param {() => string|null} [o.getTeam]  the team id: the proxy's routing key (/ws?team=)
   * @param {string} o.outboxKey  localStorage key, so a reload still delivers what was typed
   * @param {(item) => Promise<object>} o.restSend  REST fallback while the socket is down
   */
  constructor({ getToken, getTeam = () => null, outboxKey, restSend }) {
    super();
    this.getToken = getToken;
    this.getTeam = getTeam;
    this.outboxKey = outboxKey;
    this.restSend = restSend;
    this.ws = null;
    this.status = 'offline'; // offline | connecting | ready
    this.attempt = 0;
    this.stopped = true;
    this.timers = {};
    this.outbox = new Map(); // client_msg_id -> {chat_id, body, client_msg_id, created_at, status, error}
    this.loadOutbox();
    this.onOnline = () => { if (!this.stopped && this.status === 'offline') this.connectNow(); };
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener('online', this.onOnline);
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener('online', this.onOnline);
    for (const k of Object.keys(this.timers)) this.clearTimer(k);
    if (this.ws) { this.ws.onclose = null; this.ws.close(1000); this.ws = null; }
    this.setStatus('offline');
  }

  clearTimer(name) {
    clearTimeout(this.timers[name]);
    clearInterval(this.timers[name]);
    delete this.timers[name];
  }

  setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this.dispatchEvent(new CustomEvent('status', { detail: status }));
  }

  emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }

  connectNow() {
    this.clearTimer('reconnect');
    this.attempt = 0;
    this.connect();
  }

  connect() {
    if (this.stopped) return;
    const token = this.getToken();
    if (!token) return;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    let ws;
    try {
      // Behind the scale-out proxy all of a team goes to one instance: say which team.
      const team = this.getTeam();
      ws = new WebSocket(`${scheme}://${location.host}/ws${team ? `?team=${encodeURIComponent(team)}` : ''}`);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.setStatus('connecting');
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: 'auth', token }));
      // The server must answer `ready` promptly; a half-open link would otherwise hang.
      this.timers.ready = setTimeout(() => ws.close(4000), READY_TIMEOUT_MS);
    };
    ws.onmessage = (ev) => this.onFrame(ws, ev.data);
    ws.onerror = () => { /* onclose follows and handles it */ };
    ws.onclose = (ev) => this.onClose(ws, ev);
  }

  onClose(ws, ev) {
    if (ws !== this.ws) return;
    console.info(`socket closed (${ev.code}); reconnecting unless the session ended`);
    this.ws = null;
    this.clearTimer('ready');
    this.clearTimer('ping');
    this.clearTimer('pong');
    this.setStatus('offline');
    if (ev.code === 4401) {
      // The token was revoked or is unknown: retrying cannot help.
      this.emit('unauthorized');
      return;
    }
    this.scheduleReconnect();
    this.scheduleRestFallback();
  }

  scheduleReconnect() {
    if (this.stopped) return;
    // Full-jitter exponential backoff: spreads a crowd of clients after a server restart.
    const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    const delay = cap / 2 + Math.random() * cap / 2;
    this.attempt += 1;
    this.clearTimer('reconnect');
    this.timers.reconnect = setTimeout(() => this.connect(), delay);
  }

  onFrame(ws, raw) {
    let frame;
    try { frame = JSON.parse(raw); } catch { return; }
    if (!frame || typeof frame !== 'object') return;
    this.clearTimer('pong'); // any frame proves the link is alive
    switch (frame.type) {
      case 'ready':
        this.clearTimer('ready');
        this.attempt = 0;
        this.setStatus('ready');
        this.timers.ping = setInterval(() => this.ping(), PING_EVERY_MS);
        this.emit('ready', frame);
        this.flushOutbox();
        return;
      case 'pong':
        return;
      case 'ack':
        this.settle(frame.client_msg_id, frame.message);
        return;
      case 'error':
        if (this.status !== 'ready' && frame.code === 'unauthorized') {
          this.stopped = true;
          this.emit('unauthorized');
          ws.close(1000);
          return;
        }
        this.onErrorFrame(frame);
        return;
      default:
        this.emit('event', frame);
    }
  }

  ping() {
    if (!this.send({ type: 'ping' })) return;
    this.clearTimer('pong');
    this.timers.pong = setTimeout(() => { if (this.ws) this.ws.close(4000); }, PONG_TIMEOUT_MS);
  }

  /** Sends a frame if the link is ready; false otherwise (the caller decides what to do). */
  send(frame) {
    if (this.status !== 'ready' || !this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  // ---- outbox ---------------------------------------------------------------------

  /** `thread`: {thread_id, also_in_chat} for a reply in a thread. */
  sendMessage(chat_id, body, client_msg_id, thread = null, fileIds = []) {
    const item = { chat_id, body, client_msg_id, created_at: new Date().toISOString(), status: 'pending', error: null };
    if (fileIds.length) item.file_ids = fileIds;
    if (thread?.thread_id) Object.assign(item, { thread_id: thread.thread_id, also_in_chat: !!thread.also_in_chat });
    this.outbox.set(client_msg_id, item);
    this.saveOutbox();
    this.transmit(item);
    if (this.status !== 'ready') this.scheduleRestFallback();
  }

  transmit(item) {
    this.send({ type: 'send', ref: `send:${item.client_msg_id}`, chat_id: item.chat_id,
      body: item.body, client_msg_id: item.client_msg_id, ...threadFields(item) });
  }

  flushOutbox() {
    for (const item of this.outbox.values()) if (item.status === 'pending') this.transmit(item);
  }

  retry(client_msg_id) {
    const item = this.outbox.get(client_msg_id);
    if (!item) return;
    item.status = 'pending';
    item.error = null;
    this.changedOutbox();
    this.transmit(item);
    if (this.status !== 'ready') this.scheduleRestFallback();
  }

  discard(client_msg_id) {
    if (this.outbox.delete(client_msg_id)) this.changedOutbox();
  }

  /** Outbox items leave only here: the server has stored the message. */
  settle(client_msg_id, message) {
    this.outbox.delete(client_msg_id);
    this.changedOutbox();
    if (message) this.emit('ack', { client_msg_id, message });
  }

  onErrorFrame(frame) {
    const ref = typeof frame.ref === 'string' ? frame.ref : '';
    if (!ref.startsWith('send:')) { this.emit('server-error', frame); return; }
    const item = this.outbox.get(ref.slice(5));
    if (!item) return;
    if (RETRYABLE.has(frame.code)) {
      // Keep it pending and try again shortly with the same client_msg_id.
      setTimeout(() => { if (this.outbox.get(item.client_msg_id) === item) this.transmit(item); }, 3000);
      return;
    }
    item.status = 'failed';
    item.error = frame.message || frame.code;
    this.changedOutbox();
  }

  /** While the socket is down, deliver pending messages over REST (same idempotency key). */
  scheduleRestFallback() {
    if (this.timers.rest || !this.restSend) return;
    this.timers.rest = setTimeout(async () => {
      delete this.timers.rest;
      if (this.stopped || this.status === 'ready') return;
      for (const item of [...this.outbox.values()]) {
        if (item.status !== 'pending') continue;
        try {
          const message = await this.restSend(item);
          this.settle(item.client_msg_id, message);
        } catch (e) {
          if (!RETRYABLE.has(e.code) && e.status && e.status !== 401) {
            item.status = 'failed';
            item.error = e.message;
            this.changedOutbox();
          }
        }
      }
      if (this.status !== 'ready' && [...this.outbox.values()].some((i) => i.status === 'pending')) {
        this.scheduleRestFallback();
      }
    }, REST_FALLBACK_AFTER_MS);
  }

  changedOutbox() {
    this.saveOutbox();
    this.emit('outbox');
  }

  loadOutbox() {
    try {
      const items = JSON.parse(localStorage.getItem(this.outboxKey) || '[]');
      for (const it of items) {
        if (it && it.client_msg_id && it.chat_id && typeof it.body === 'string') {
          this.outbox.set(it.client_msg_id, { ...it, status: it.status === 'failed' ? 'failed' : 'pending' });
        }
      }
    } catch { /* corrupted storage: start empty */ }
  }

  saveOutbox() {
    try { localStorage.setItem(this.outboxKey, JSON.stringify([...this.outbox.values()])); } catch { /* quota */ }
  }
}
