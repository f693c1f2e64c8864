// Checks at start that this browser has every WebCrypto algorithm the app needs (and
// WebAssembly, for the OPAQUE login); the app says plainly which ones are missing instead of
// failing later.

import { fromHex } from './bytes.js';

async function works(name, probe) {
  try {
    await probe();
    return null;
  } catch {
    return name;
  }
}

/** The names of missing capabilities (an empty list when everything works). */
export async function missingFeatures() {
  if (!globalThis.crypto?.subtle || !globalThis.isSecureContext) return ['WebCrypto (a secure https:// page)'];
  const subtle = crypto.subtle;
  const seed = new Uint8Array(32).fill(7);
  const checks = await Promise.all([
    works('Ed25519', async () => {
      const k = await subtle.importKey('pkcs8', new Uint8Array([...fromHex('302e020100300506032b657004220420'), ...seed]), { name: 'Ed25519' }, false, ['sign']);
      await subtle.sign({ name: 'Ed25519' }, k, seed);
    }),
    works('X25519', async () => {
      const k = await subtle.importKey('pkcs8', new Uint8Array([...fromHex('302e020100300506032b656e04220420'), ...seed]), { name: 'X25519' }, false, ['deriveBits']);
      const pub = await subtle.importKey('raw', Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 9 : 0)), { name: 'X25519' }, true, []);
      await subtle.deriveBits({ name: 'X25519', public: pub }, k, 256);
    }),
    works('HKDF', async () => {
      const k = await subtle.importKey('raw', seed, 'HKDF', false, ['deriveBits']);
      await subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: seed, info: seed }, k, 256);
    }),
    works('HMAC-SHA-256', async () => {
      const k = await subtle.importKey('raw', seed, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
      await subtle.sign('HMAC', k, seed);
    }),
    works('AES-GCM', async () => {
      const k = await subtle.importKey('raw', seed, 'AES-GCM', false, ['encrypt']);
      await subtle.encrypt({ name: 'AES-GCM', iv: seed.slice(0, 12) }, k, seed);
    }),
    works('PBKDF2', async () => {
      const k = await subtle.importKey('raw', seed, 'PBKDF2', false, ['deriveBits']);
      await subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt: seed, iterations: 1000 }, k, 256);
    }),
    works('SHA-256/SHA-512', async () => {
      await subtle.digest('SHA-256', seed);
      await subtle.digest('SHA-512', seed);
    }),
    works('IndexedDB', async () => {
      if (!globalThis.indexedDB) throw new Error('no IndexedDB');
    }),
    works('WebAssembly', async () => {
      // The OPAQUE password login (crypto/opaque.js).
      if (typeof globalThis.WebAssembly?.instantiate !== 'function' || !WebAssembly.validate(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]))) {
        throw new Error('no WebAssembly');
      }
    }),
  ]);
  return checks.filter(Boolean);
}
