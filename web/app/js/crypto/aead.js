// AES-256-GCM and HKDF-SHA256 on WebCrypto (crates/crypto/src/aead.rs).

import { concat, utf8 } from './bytes.js';


async function aesKey(key) {
  if (key instanceof CryptoKey) return key;
  return crypto.subtle.importKey('raw', key, 'AES-GCM', false, ['encrypt', 'decrypt']);
}

/** AES-256-GCM encryption: ciphertext || 16-byte tag. */
export async function seal(key, nonce, aad, plaintext) {
  const k = await aesKey(key);
  return new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv: nonce, additionalData: aad }, k, plaintext));
}

/** AES-256-GCM decryption; throws on a wrong key or altered data. */
export async function open(key, nonce, aad, ciphertext) {
  const k = await aesKey(key);
  return new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv: nonce, additionalData: aad }, k, ciphertext));
}

async function hmacKey(key) {
  // An empty HMAC key equals 32 zero bytes (RFC 2104 pads the key with zeros), and WebCrypto
  // refuses empty keys.
  const bytes = key.length === 0 ? new Uint8Array(32) : key;
  return crypto.subtle.importKey('raw', bytes, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
}

/** HMAC-SHA256. */
export async function hmac(key, data) {
  return new Uint8Array(await crypto.subtle.sign('HMAC', await hmacKey(key), data));
}

/** HKDF-Extract (RFC 5869) with SHA-256. */
export function hkdfExtract(salt, ikm) {
  return hmac(salt, ikm);
}

/** HKDF-Expand (RFC 5869) with SHA-256. */
export async function hkdfExpand(prk, info, length) {
  const key = await hmacKey(prk);
  const blocks = [];
  let previous = new Uint8Array(0);
  for (let i = 1; blocks.length * 32 < length; i++) {
    previous = new Uint8Array(await crypto.subtle.sign('HMAC', key, concat(previous, info, Uint8Array.of(i))));
    blocks.push(previous);
  }
  return concat(...blocks).slice(0, length);
}

/** HKDF-SHA256 (extract then expand). */
export async function hkdf(salt, ikm, info, length) {
  return hkdfExpand(await hkdfExtract(salt, ikm), typeof info === 'string' ? utf8(info) : info, length);
}

