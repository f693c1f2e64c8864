// Keys (docs/PROTOCOL.md §4, crates/crypto/src/identity.rs): the Ed25519 identity key and
// X25519 encryption keys as WebCrypto CryptoKeys. Private keys are imported non-extractable;
// their 32-byte seeds exist only while a key file is written or read.

import { concat, fromHex, isZero, randomBytes, sha256, toHex } from './bytes.js';
import * as b64 from './b64.js';
import { isValidPublicKey, signatureIsStrict } from './ed25519.js';
import { CryptoError } from './errors.js';

const ED25519_PKCS8 = fromHex('302e020100300506032b657004220420');
const X25519_PKCS8 = fromHex('302e020100300506032b656e04220420');
const ED = { name: 'Ed25519' };
const X = { name: 'X25519' };
const BASE_POINT = Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 9 : 0));

// ---- Ed25519 identity keys ------------------------------------------------------------

/** A fresh 32-byte Ed25519 seed. */
export function generateSeed() {
  return randomBytes(32);
}

/** Imports an identity seed: { privateKey (non-extractable, sign), publicKey (32 bytes) }. */
export async function importIdentitySeed(seed) {
  if (seed.length !== 32) throw new CryptoError('BadIdentityKey', 'an Ed25519 seed is 32 bytes');
  const pkcs8 = concat(ED25519_PKCS8, seed);
  const probe = await crypto.subtle.importKey('pkcs8', pkcs8, ED, true, ['sign']);
  const jwk = await crypto.subtle.exportKey('jwk', probe);
  const publicKey = b64.decode(jwk.x, 32, 'ik');
  const privateKey = await crypto.subtle.importKey('pkcs8', pkcs8, ED, false, ['sign']);
  return { privateKey, publicKey };
}

/** Ed25519 signature (64 bytes) of `message`. */
export async function sign(privateKey, message) {
  return new Uint8Array(await crypto.subtle.sign(ED, privateKey, message));
}

/** Validates a public identity key (§4.1): a curve point not of small order. */
export function checkIdentityKey(bytes) {
  if (!(bytes instanceof Uint8Array) || bytes.length !== 32 || !isValidPublicKey(bytes)) {
    throw new CryptoError('BadIdentityKey', 'not a valid Ed25519 identity key');
  }
  return bytes;
}

/** Decodes and validates an identity key given as base64url. */
export function parseIdentityKey(text, field = 'identity_key') {
  return checkIdentityKey(b64.decode(text, 32, field));
}

/** Strict Ed25519 verification (ed25519-dalek `verify_strict`); throws BadSignature. */
export async function verifyStrict(publicKey, message, sig) {
  checkIdentityKey(publicKey);
  if (!signatureIsStrict(sig)) throw new CryptoError('BadSignature', 'signature is not strict');
  let ok = false;
  try {
    const key = await crypto.subtle.importKey('raw', publicKey, ED, false, ['verify']);
    ok = await crypto.subtle.verify(ED, key, sig, message);
  } catch {
    ok = false;
  }
  if (!ok) throw new CryptoError('BadSignature', 'the signature does not verify');
}

/** Short key id shown in the UI: hex of SHA-256(IK)[0..8] (§11.2). */
export async function shortKeyId(publicKey) {
  return toHex((await sha256(publicKey)).slice(0, 8));
}

// ---- X25519 encryption keys -------------------------------------------------------------

/** Imports a 32-byte X25519 private key as a non-extractable CryptoKey. */
export async function importX25519Private(sk) {
  if (sk.length !== 32) throw new CryptoError('BadEncryptionKey', 'an X25519 key is 32 bytes');
  return crypto.subtle.importKey('pkcs8', concat(X25519_PKCS8, sk), X, false, ['deriveBits']);
}

/**
 * X25519(privateKey, peerPublic): 32 bytes, or null when the result is all zero (a low-order
 * peer key) or the browser refuses the point.
 */
export async function x25519(privateKey, peerPublic) {
  try {
    const pub = await crypto.subtle.importKey('raw', peerPublic, X, true, []);
    const bits = new Uint8Array(await crypto.subtle.deriveBits({ name: 'X25519', public: pub }, privateKey, 256));
    return isZero(bits) ? null : bits;
  } catch {
    return null;
  }
}

/** The public key of a private CryptoKey: X25519(sk, 9). */
export async function x25519PublicOf(privateKey) {
  const pub = await x25519(privateKey, BASE_POINT);
  if (!pub) throw new CryptoError('BadEncryptionKey', 'cannot compute the public key');
  return pub;
}

/** key_id = SHA-256(x25519_pub)[0..8]. */
export async function keyIdOf(publicKey) {
  return (await sha256(publicKey)).slice(0, 8);
}

let probeKey = null;

/** Validates a public encryption key (§4.2): X25519(0x5a…5a, pub) must not be all zero. */
export async function checkEncryptionKey(publicKey) {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) {
    throw new CryptoError('BadEncryptionKey', 'an X25519 key is 32 bytes');
  }
  probeKey ??= await importX25519Private(new Uint8Array(32).fill(0x5a));
  if (!(await x25519(probeKey, publicKey))) {
    throw new CryptoError('BadEncryptionKey', 'the encryption key is of low order');
  }
  return publicKey;
}

/** A fresh X25519 key: { sk (32 bytes), privateKey (non-extractable), publicKey, keyId }. */
export async function generateEncryptionKey() {
  const sk = randomBytes(32);
  return { sk, ...(await importEncryptionKey(sk)) };
}

/** Imports an X25519 private key: { privateKey, publicKey, keyId }. */
export async function importEncryptionKey(sk) {
  const privateKey = await importX25519Private(sk);
  const publicKey = await x25519PublicOf(privateKey);
  return { privateKey, publicKey, keyId: await keyIdOf(publicKey) };
}
