// Local storage in IndexedDB, per account: the keys (private keys as non-extractable
// CryptoKeys, their raw seeds only sealed under a non-extractable AES key), the pinned
// contacts and counters, and the ids of accepted messages (the replay defence). No message
// text is stored.

const DB_NAME = 'securechat';
const VERSION = 1;

let dbPromise = null;

function request(req) {
  return new Promise((ok, fail) => {
    req.onsuccess = () => ok(req.result);
    req.onerror = () => fail(req.error);
  });
}

function db() {
  dbPromise ??= new Promise((ok, fail) => {
    const req = indexedDB.open(DB_NAME, VERSION);
    req.onupgradeneeded = () => {
      const d = req.result;
      d.createObjectStore('keys', { keyPath: 'userId' });
      d.createObjectStore('state', { keyPath: 'userId' });
      d.createObjectStore('seen', { keyPath: ['userId', 'msgId'] });
    };
    req.onsuccess = () => ok(req.result);
    req.onerror = () => fail(req.error);
    req.onblocked = () => fail(new Error('the local database is blocked by another tab'));
  });
  return dbPromise;
}

async function tx(store, mode, fn) {
  const d = await db();
  const t = d.transaction(store, mode);
  const result = await fn(t.objectStore(store));
  await new Promise((ok, fail) => {
    t.oncomplete = ok;
    t.onerror = () => fail(t.error);
    t.onabort = () => fail(t.error || new Error('transaction aborted'));
  });
  return result;
}

const get = (store, key) => tx(store, 'readonly', (s) => request(s.get(key)));
const put = (store, value) => tx(store, 'readwrite', (s) => request(s.put(value)));

export const loadKeys = (userId) => get('keys', userId);
export const saveKeys = (record) => put('keys', record);
export const loadState = (userId) => get('state', userId);
export const saveState = (state) => put('state', state);

/** The accepted-message record of a message id, or undefined. */
export const loadSeen = (userId, msgId) => get('seen', [userId, msgId]);
export const saveSeen = (record) => put('seen', record);

/** Removes everything this browser holds for an account (keys, pins, seen ids). */
export async function forgetAccount(userId) {
  await tx('keys', 'readwrite', (s) => request(s.delete(userId)));
  await tx('state', 'readwrite', (s) => request(s.delete(userId)));
  await tx('seen', 'readwrite', (s) => request(s.delete(IDBKeyRange.bound([userId, ''], [userId, '\uffff']))));
}
