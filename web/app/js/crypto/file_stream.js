// File encryption (docs/PROTOCOL.md §9, crates/crypto/src/file_stream.rs): STREAM over
// AES-256-GCM in chunks, nonce = prefix7 || u32be(index) || last_flag, and the descriptor
// that travels inside the signed message.

import { concat, equal, randomBytes, sha256, u32be, utf8 } from './bytes.js';
import * as b64 from './b64.js';
import { FILE_CHUNK } from './labels.js';
import { CryptoError, InvalidField } from './errors.js';

export const DEFAULT_CHUNK_SIZE = 64 * 1024;
const MIN_CHUNK_SIZE = 64;
const MAX_CHUNK_SIZE = 1024 * 1024;
const MAX_CHUNKS = 2 ** 32;
const TAG = 16;

/** max(1, ceil(size / chunk_size)) */
export function chunkCount(size, chunkSize) {
  return Math.max(1, Math.ceil(size / chunkSize));
}

function checkShape(size, chunkSize) {
  if (!Number.isInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
    throw new InvalidField('chunk_size', 'outside 64 … 1 048 576');
  }
  if (!Number.isSafeInteger(size) || size < 0 || chunkCount(size, chunkSize) > MAX_CHUNKS) {
    throw new InvalidField('size', 'outside the allowed range');
  }
}

function checkLabels(mime, name) {
  if (typeof mime !== 'string' || utf8(mime).length > 255) throw new CryptoError('TooLarge', 'file mime');
  if (typeof name !== 'string' || utf8(name).length > 1024) throw new CryptoError('TooLarge', 'file name');
}

/** The nonce of chunk `index`. */
export function chunkNonce(prefix, index, last) {
  return concat(prefix, u32be(index), Uint8Array.of(last ? 1 : 0));
}

/** Validates a descriptor object { fileId, key, noncePrefix, chunkSize, size, mime, name, ctSha256 }. */
export function validateDescriptor(d) {
  checkShape(d.size, d.chunkSize);
  checkLabels(d.mime, d.name);
}

/** The descriptor's JSON form (members in the order of §9.3). */
export function descriptorToJson(d) {
  return {
    file_id: b64.encode(d.fileId),
    key: b64.encode(d.key),
    nonce_prefix: b64.encode(d.noncePrefix),
    chunk_size: d.chunkSize,
    size: d.size,
    mime: d.mime,
    name: d.name,
    ct_sha256: b64.encode(d.ctSha256),
  };
}

const DESCRIPTOR_MEMBERS = ['file_id', 'key', 'nonce_prefix', 'chunk_size', 'size', 'mime', 'name', 'ct_sha256'];

/** Parses and validates a descriptor's JSON form (unknown or missing members refused). */
export function descriptorFromJson(json) {
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new CryptoError('SecretJson', 'file');
  const keys = Object.keys(json);
  if (keys.length !== DESCRIPTOR_MEMBERS.length || !DESCRIPTOR_MEMBERS.every((k) => keys.includes(k))) {
    throw new CryptoError('SecretJson', 'file');
  }
  const d = {
    fileId: b64.decode(json.file_id, 16, 'file.file_id'),
    key: b64.decode(json.key, 32, 'file.key'),
    noncePrefix: b64.decode(json.nonce_prefix, 7, 'file.nonce_prefix'),
    chunkSize: json.chunk_size,
    size: json.size,
    mime: json.mime,
    name: json.name,
    ctSha256: b64.decode(json.ct_sha256, 32, 'file.ct_sha256'),
  };
  validateDescriptor(d);
  return d;
}

async function importKey(key, usage) {
  return crypto.subtle.importKey('raw', key, 'AES-GCM', false, [usage]);
}

/**
 * Encrypts file bytes. Draws, in order: a placeholder file id (16), the key (32), the nonce
 * prefix (7). Returns { ciphertext, descriptor }; the caller puts the server's file id in.
 * `onProgress(done, total)` reports plaintext bytes encrypted.
 */
export async function encryptFile(bytes, mime, name, { rng = randomBytes, chunkSize = DEFAULT_CHUNK_SIZE, onProgress } = {}) {
  checkShape(bytes.length, chunkSize);
  checkLabels(mime, name);
  const fileId = rng(16);
  const key = rng(32);
  const noncePrefix = rng(7);
  const count = chunkCount(bytes.length, chunkSize);
  const ciphertext = new Uint8Array(bytes.length + TAG * count);
  const cryptoKey = await importKey(key, 'encrypt');
  for (let i = 0; i < count; i++) {
    const chunk = bytes.subarray(i * chunkSize, Math.min((i + 1) * chunkSize, bytes.length));
    const nonce = chunkNonce(noncePrefix, i, i === count - 1);
    const ct = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv: nonce, additionalData: FILE_CHUNK }, cryptoKey, chunk));
    ciphertext.set(ct, i * (chunkSize + TAG));
    if (onProgress && (i % 16 === 15 || i === count - 1)) onProgress(Math.min((i + 1) * chunkSize, bytes.length), bytes.length);
  }
  const descriptor = { fileId, key, noncePrefix, chunkSize, size: bytes.length, mime, name, ctSha256: await sha256(ciphertext) };
  return { ciphertext, descriptor };
}

/**
 * Decrypts a whole file ciphertext: checks its length and SHA-256 first, then opens every
 * chunk in order. No plaintext is returned unless everything passed.
 */
export async function decryptFile(descriptor, ciphertext, { onProgress } = {}) {
  validateDescriptor(descriptor);
  const { size, chunkSize } = descriptor;
  const count = chunkCount(size, chunkSize);
  const expected = size + TAG * count;
  if (ciphertext.length < expected) throw new CryptoError('StreamTruncated', 'the file ciphertext is too short');
  if (ciphertext.length > expected) throw new CryptoError('StreamExtended', 'the file ciphertext is too long');
  if (!equal(await sha256(ciphertext), descriptor.ctSha256)) {
    throw new CryptoError('CiphertextDigestMismatch', "the file's ciphertext hash does not match");
  }
  const cryptoKey = await importKey(descriptor.key, 'decrypt');
  const out = new Uint8Array(size);
  for (let i = 0; i < count; i++) {
    const start = i * (chunkSize + TAG);
    const len = Math.min(chunkSize, size - i * chunkSize) + TAG;
    const nonce = chunkNonce(descriptor.noncePrefix, i, i === count - 1);
    let pt;
    try {
      pt = new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv: nonce, additionalData: FILE_CHUNK }, cryptoKey, ciphertext.subarray(start, start + len)));
    } catch {
      throw new CryptoError('ChunkDecrypt', `chunk ${i} does not decrypt`);
    }
    out.set(pt, i * chunkSize);
    if (onProgress && (i % 16 === 15 || i === count - 1)) onProgress(Math.min((i + 1) * chunkSize, size), size);
  }
  return out;
}
