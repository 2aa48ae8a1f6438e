// Message ids are 64-bit integers sent as decimal strings. JavaScript numbers lose
// precision above 2^53, so every comparison goes through BigInt.

export function cmpId(a, b) {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The larger of two ids; null/undefined count as "nothing yet". */
export function maxId(a, b) {
  if (a == null) return b ?? null;
  if (b == null) return a;
  return cmpId(a, b) >= 0 ? a : b;
}

/**
 * A client_msg_id: 1..64 chars of [A-Za-z0-9_-]. randomUUID only exists in secure
 * contexts (https, localhost), so fall back to getRandomValues elsewhere.
 */
export function newClientMsgId() {
  if (globalThis.crypto?.randomUUID) {
    return crypto.randomUUID().replace(/[^A-Za-z0-9_-]/g, '');
  }
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
