// Thin REST wrapper: one place that adds the bearer token, decodes the protocol's
// error envelope into ApiError, and reports a 401 so the app can drop a dead session.

export class ApiError extends Error {
  constructor(status, code, message, fields = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.fields = fields;
  }

  /** A readable one-liner, including per-field validation messages. */
  describe() {
    if (!this.fields || typeof this.fields !== 'object') return this.message;
    const parts = Object.entries(this.fields).map(([k, v]) =>
      `${k}: ${Array.isArray(v) ? v.join(', ') : typeof v === 'object' ? JSON.stringify(v) : v}`);
    return parts.length ? `${this.message} (${parts.join('; ')})` : this.message;
  }
}

let token = null;
let team = null;
let onUnauthorized = null;

export function setToken(value) { token = value; }
/** The caller's team id, sent as X-Chatsvc-Team: the scale-out proxy routes by it. */
export function setTeam(value) { team = value; }
export function getToken() { return token; }
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

const seg = encodeURIComponent;

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v != null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

async function request(method, path, body, { auth = true } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (auth && token) headers.Authorization = `Bearer ${token}`;
  if (auth && team) headers['X-Chatsvc-Team'] = team;
  let res;
  try {
    res = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the server.');
  }
  if (res.status === 204) return null;
  let data = null;
  try { data = await res.json(); } catch { /* empty or non-JSON body */ }
  if (!res.ok) {
    const err = (data && data.error) || {};
    const e = new ApiError(res.status, err.code || `http_${res.status}`,
      err.message || res.statusText || 'Request failed', err.fields || null);
    if (res.status === 401 && auth && onUnauthorized) onUnauthorized(e);
    throw e;
  }
  return data;
}

// One function per endpoint of PROTOCOL.md, so views never build URLs.
export const Api = {
  createTeam: (b) => request('POST', '/api/teams', b, { auth: false }),
  signup: (b) => request('POST', '/api/auth/signup', b, { auth: false }),
  login: (b) => request('POST', '/api/auth/login', b, { auth: false }),
  logout: () => request('POST', '/api/auth/logout'),
  me: () => request('GET', '/api/me'),
  users: (q) => request('GET', `/api/users${query({ q })}`),
  contacts: () => request('GET', '/api/contacts'),
  addContact: (id) => request('PUT', `/api/contacts/${seg(id)}`),
  removeContact: (id) => request('DELETE', `/api/contacts/${seg(id)}`),
  chats: () => request('GET', '/api/chats'),
  chat: (id) => request('GET', `/api/chats/${seg(id)}`),
  createChat: (b) => request('POST', '/api/chats', b),
  leaveChat: (id) => request('POST', `/api/chats/${seg(id)}/leave`),
  chatSettings: (id, b) => request('PUT', `/api/chats/${seg(id)}/settings`, b),
  messages: (chatId, params = {}) =>
    request('GET', `/api/chats/${seg(chatId)}/messages${query(params)}`),
  sendMessage: (chatId, b) => request('POST', `/api/chats/${seg(chatId)}/messages`, b),
  markRead: (chatId, messageId) =>
    request('POST', `/api/chats/${seg(chatId)}/read`, { message_id: messageId }),
  like: (id) => request('PUT', `/api/messages/${seg(id)}/like`),
  unlike: (id) => request('DELETE', `/api/messages/${seg(id)}/like`),
  editMessage: (id, body) => request('PATCH', `/api/messages/${seg(id)}`, { body }),
  thread: (rootId, params = {}) => request('GET', `/api/messages/${seg(rootId)}/thread${query(params)}`),
  react: (id, emoji) => request('PUT', `/api/messages/${seg(id)}/reactions/${seg(emoji)}`),
  unreact: (id, emoji) => request('DELETE', `/api/messages/${seg(id)}/reactions/${seg(emoji)}`),
  deleteMessage: (id, scope) => request('DELETE', `/api/messages/${seg(id)}${query({ for: scope })}`),
  context: (id, before = 20, after = 20) =>
    request('GET', `/api/messages/${seg(id)}/context${query({ before, after })}`),
  search: (q, { sort, cursor, limit } = {}) =>
    request('GET', `/api/search${query({ q, sort, cursor, limit })}`),
  searchSuggest: (q) => request('GET', `/api/search/suggest${query({ q })}`),
};
