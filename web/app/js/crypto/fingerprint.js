// Safety numbers (docs/PROTOCOL.md §11, crates/crypto/src/fingerprint.rs): libsignal's
// NumericFingerprint, version 0, 5 200 SHA-512 iterations, with 0xED || Ed25519 IK.

import { concat, sha512, utf8 } from './bytes.js';

const ITERATIONS = 5200;

/** libsignal's iterated hash over encoded key bytes and a stable id (64 bytes). */
export async function iteratedHash(keyBytes, stableId) {
  let hash = await sha512(concat(Uint8Array.of(0, 0), keyBytes, utf8(stableId), keyBytes));
  for (let i = 1; i < ITERATIONS; i++) hash = await sha512(concat(hash, keyBytes));
  return hash;
}

/** The 64-byte fingerprint hash of one party: key bytes 0xED || IK, stable id = user id. */
export function fingerprintHash(identityKey, userId) {
  return iteratedHash(concat(Uint8Array.of(0xed), identityKey), userId);
}

/** The 30 digits of a fingerprint hash. */
export function digitsOf(hash) {
  let out = '';
  for (let j = 0; j < 6; j++) {
    let n = 0;
    for (let k = 0; k < 5; k++) n = n * 256 + hash[5 * j + k];
    out += String(n % 100000).padStart(5, '0');
  }
  return out;
}

/** { digits (60), grouped (12 groups of 5), scannable (66 bytes) } for two parties. */
export async function safetyNumber(a, b) {
  const ha = await fingerprintHash(a.identityKey, a.userId);
  const hb = await fingerprintHash(b.identityKey, b.userId);
  const da = digitsOf(ha);
  const db = digitsOf(hb);
  const [first, second] = da <= db ? [[da, ha], [db, hb]] : [[db, hb], [da, ha]];
  const digits = first[0] + second[0];
  return {
    digits,
    grouped: digits.match(/.{5}/g).join(' '),
    scannable: concat(Uint8Array.of(0, 0), first[1].slice(0, 32), second[1].slice(0, 32)),
  };
}
