// The passphrase-protected key file (docs/PROTOCOL.md §10, crates/crypto/src/keyfile.rs):
// PBKDF2-HMAC-SHA256 (600 000 iterations) and AES-256-GCM with the public fields as AAD.

import { equal, fromUtf8, randomBytes, utf8 } from './bytes.js';
import * as b64 from './b64.js';
import * as aead from './aead.js';
import { KEYFILE_AAD_PREFIX } from './labels.js';
import { parseUuid } from './ids.js';
import { checkIdentityKey, importEncryptionKey, importIdentitySeed } from './identity.js';
import { hasMembers, parseStrict } from './json.js';
import { CryptoError } from './errors.js';

export const KDF_ITERATIONS = 600000;
const MAX_ITERATIONS = 10000000;
const MAX_FILE_BYTES = 256 * 1024;
const KDF_NAME = 'PBKDF2-HMAC-SHA256';
const AEAD_NAME = 'AES-256-GCM';

/** PBKDF2-HMAC-SHA256(NFC(passphrase), salt, iter, 32). */
export async function deriveKey(passphrase, salt, iterations) {
  const normalized = passphrase.normalize('NFC');
  if (!normalized) throw new CryptoError('EmptyPassphrase', 'the passphrase is empty');
  const base = await crypto.subtle.importKey('raw', utf8(normalized), 'PBKDF2', false, ['deriveBits']);
  return new Uint8Array(await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, base, 256));
}

function aadOf(f) {
  return utf8(`${KEYFILE_AAD_PREFIX}${f.user_id}|${f.ik}|${f.kdf.name}|${f.kdf.iter}|${f.kdf.salt}|${f.aead.name}|${f.aead.nonce}`);
}

/**
 * Writes a key file. contents = { userId, ikSeed, ikPublic, encKeys: [{ keyId, sk, createdAt, status }] }.
 * Draws the salt (16) then the nonce (12). Returns the file's text.
 */
export async function exportKeyFile(contents, passphrase, nowMs = Date.now(), rng = randomBytes) {
  const salt = rng(16);
  const nonce = rng(12);
  const key = await deriveKey(passphrase, salt, KDF_ITERATIONS);
  const secret = {
    ik_seed: b64.encode(contents.ikSeed),
    enc_keys: contents.encKeys.map((k) => ({ key_id: b64.encode(k.keyId), sk: b64.encode(k.sk), created_at: k.createdAt, status: k.status })),
  };
  const file = {
    format: 'securechat-keyfile',
    v: 1,
    user_id: contents.userId,
    ik: b64.encode(contents.ikPublic),
    created_at: nowMs,
    kdf: { name: KDF_NAME, iter: KDF_ITERATIONS, salt: b64.encode(salt) },
    aead: { name: AEAD_NAME, nonce: b64.encode(nonce) },
    ct: '',
  };
  file.ct = b64.encode(await aead.seal(key, nonce, aadOf(file), utf8(JSON.stringify(secret))));
  return JSON.stringify(file, null, 2);
}

const FILE_MEMBERS = ['format', 'v', 'user_id', 'ik', 'created_at', 'kdf', 'aead', 'ct'];

/** The public fields of a key file (step 1 of import): { userId, ik, iterations, createdAt }. */
export function readKeyFileInfo(text) {
  if (utf8(text).length > MAX_FILE_BYTES) throw new CryptoError('TooLarge', 'key file');
  let f;
  try {
    f = parseStrict(text);
  } catch {
    throw new CryptoError('Json', 'this is not a securechat key file');
  }
  const shaped =
    hasMembers(f, FILE_MEMBERS) && hasMembers(f.kdf, ['name', 'iter', 'salt']) && hasMembers(f.aead, ['name', 'nonce']) &&
    typeof f.format === 'string' && Number.isInteger(f.v) && typeof f.user_id === 'string' && typeof f.ik === 'string' &&
    Number.isInteger(f.created_at) && typeof f.kdf.name === 'string' && Number.isInteger(f.kdf.iter) &&
    typeof f.kdf.salt === 'string' && typeof f.aead.name === 'string' && typeof f.aead.nonce === 'string' && typeof f.ct === 'string';
  if (!shaped || f.format !== 'securechat-keyfile') throw new CryptoError('Json', 'this is not a securechat key file');
  if (f.v !== 1) throw new CryptoError('UnsupportedVersion', 'key file');
  if (f.kdf.name !== KDF_NAME || f.aead.name !== AEAD_NAME) throw new CryptoError('UnsupportedAlgorithm', 'key file');
  if (f.kdf.iter < KDF_ITERATIONS || f.kdf.iter > MAX_ITERATIONS) throw new CryptoError('KdfIterations', 'key file iteration count');
  parseUuid('user_id', f.user_id);
  const ik = checkIdentityKey(b64.decode(f.ik, 32, 'ik'));
  const salt = b64.decode(f.kdf.salt, 16, 'kdf.salt');
  const nonce = b64.decode(f.aead.nonce, 12, 'aead.nonce');
  const ct = b64.decode(f.ct, undefined, 'ct');
  if (ct.length < 16) throw new CryptoError('Encoding', 'ct');
  return { file: f, userId: f.user_id, ik, iterations: f.kdf.iter, createdAt: f.created_at, salt, nonce, ct };
}

/**
 * Reads a key file with its passphrase:
 * { userId, ikSeed, ikPublic, identityPrivate, encKeys: [{ keyId, sk, publicKey, privateKey, createdAt, status }] }.
 */
export async function importKeyFile(text, passphrase) {
  const info = readKeyFileInfo(text);
  const key = await deriveKey(passphrase, info.salt, info.iterations);
  let plaintext;
  try {
    plaintext = await aead.open(key, info.nonce, aadOf(info.file), info.ct);
  } catch {
    throw new CryptoError('KeyFileDecrypt', 'wrong passphrase, or the file was altered');
  }
  let s;
  try {
    s = parseStrict(fromUtf8(plaintext));
  } catch {
    throw new CryptoError('SecretJson', 'key file');
  }
  if (!hasMembers(s, ['ik_seed', 'enc_keys']) || !Array.isArray(s.enc_keys)) throw new CryptoError('SecretJson', 'key file');
  const ikSeed = b64.decode(s.ik_seed, 32, 'ik_seed');
  const identity = await importIdentitySeed(ikSeed);
  if (!equal(identity.publicKey, info.ik)) throw new CryptoError('KeyFileInconsistent', 'the identity seed does not match ik');
  if (s.enc_keys.length > 256) throw new CryptoError('KeyFileInconsistent', 'too many keys');
  const seen = new Set();
  const encKeys = [];
  for (const k of s.enc_keys) {
    if (!hasMembers(k, ['key_id', 'sk', 'created_at', 'status']) || !Number.isSafeInteger(k.created_at)) {
      throw new CryptoError('SecretJson', 'key file');
    }
    const keyId = b64.decode(k.key_id, 8, 'enc_keys.key_id');
    const sk = b64.decode(k.sk, 32, 'enc_keys.sk');
    const imported = await importEncryptionKey(sk);
    if (!equal(imported.keyId, keyId)) throw new CryptoError('KeyFileInconsistent', 'a key id does not match its key');
    if (seen.has(k.key_id)) throw new CryptoError('KeyFileInconsistent', 'a key id appears twice');
    seen.add(k.key_id);
    if (k.status !== 'active' && k.status !== 'retired') throw new CryptoError('SecretJson', 'key file');
    encKeys.push({ keyId, sk, ...imported, createdAt: k.created_at, status: k.status });
  }
  return { userId: info.userId, ikSeed, ikPublic: info.ik, identityPrivate: identity.privateKey, encKeys };
}
