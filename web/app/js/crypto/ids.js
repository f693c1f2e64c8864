// Identifiers (docs/PROTOCOL.md §2.4–2.6, §5): canonical UUID text, client-made UUIDv7 user
// ids, derived 1:1 conversation ids.

import { concat, randomBytes, sha256, toHex } from './bytes.js';
import { DIRECT_CONV, lp } from './labels.js';
import { InvalidField } from './errors.js';

const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Whether `text` is a UUID in its one canonical spelling (lower-case, hyphenated). */
export function isCanonicalUuid(text) {
  return typeof text === 'string' && CANONICAL_UUID.test(text);
}

/** Checks a canonical UUID, naming `field` when it is not one. */
export function parseUuid(field, text) {
  if (!isCanonicalUuid(text)) throw new InvalidField(field, 'not a canonical UUID');
  return text;
}

function uuidText(bytes) {
  const hex = toHex(bytes);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A fresh UUIDv7 (RFC 9562): 48-bit Unix ms timestamp, version 7, variant 10, random rest. */
export function uuidV7(nowMs = Date.now()) {
  const bytes = randomBytes(16);
  let ts = nowMs;
  for (let i = 5; i >= 0; i--) {
    bytes[i] = ts % 256;
    ts = Math.floor(ts / 256);
  }
  bytes[6] = (bytes[6] & 0x0f) | 0x70;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  return uuidText(bytes);
}

/**
 * A message id: the 48-bit Unix ms time, big-endian, then 10 random bytes. Ids that grow with
 * time keep the server's idempotency index growing at its end (docs/PROTOCOL.md §5).
 */
export function timeOrderedMsgId(nowMs = Date.now()) {
  const bytes = randomBytes(16);
  let ts = Math.max(0, Math.floor(nowMs));
  for (let i = 5; i >= 0; i--) {
    bytes[i] = ts % 256;
    ts = Math.floor(ts / 256);
  }
  return bytes;
}

/** ConvId::direct(a, b): the 1:1 conversation id both sides derive (a UUIDv8). */
export async function directConvId(a, b) {
  const [lo, hi] = a <= b ? [a, b] : [b, a];
  const digest = await sha256(concat(DIRECT_CONV, lp(lo), lp(hi)));
  const u = digest.slice(0, 16);
  u[6] = (u[6] & 0x0f) | 0x80;
  u[8] = (u[8] & 0x3f) | 0x80;
  return uuidText(u);
}
