// The signed header (docs/PROTOCOL.md §7.2, crates/crypto/src/envelope/header.rs): canonical
// JSON built once by the sender, parsed strictly by receivers.

import { equal, fromUtf8, utf8 } from '../bytes.js';
import * as b64 from '../b64.js';
import { parseUuid } from '../ids.js';
import { checkIdentityKey } from '../identity.js';
import { hasMembers, parseStrict } from '../json.js';
import { CryptoError, InvalidField } from '../errors.js';

export const SUITE = 'X25519-HKDF-SHA256-AES256GCM-Ed25519';
export const MAX_WRAPS = 512;
const KINDS = ['msg', 'file', 'delete', 'receipt'];
const HEADER_MEMBERS = ['v', 'suite', 'msg_id', 'conv_id', 'sender', 'sender_ctr', 'sent_at', 'expires_in_ms', 'kind', 'ref', 'files', 'nonce', 'wraps'];

/** Whether a kind names another message in `ref`. */
export function hasRef(kind) {
  return kind === 'delete' || kind === 'receipt';
}

/** The canonical header_bytes of a header object (members in table order). */
export function headerToBytes(h) {
  const json = {
    v: 1,
    suite: SUITE,
    msg_id: b64.encode(h.msgId),
    conv_id: h.convId,
    sender: { user_id: h.sender, ik: b64.encode(h.senderIk) },
    sender_ctr: h.senderCtr,
    sent_at: h.sentAt,
    expires_in_ms: h.expiresInMs ?? null,
    kind: h.kind,
    ref: h.ref ? b64.encode(h.ref) : null,
    files: h.files.map((f) => b64.encode(f)),
    nonce: b64.encode(h.nonce),
    wraps: h.wraps.map((w) => ({ user_id: w.userId, key_id: b64.encode(w.keyId), enc: b64.encode(w.enc), ct: b64.encode(w.ct) })),
  };
  return utf8(JSON.stringify(json));
}

const isInt = (v) => typeof v === 'number' && Number.isInteger(v);
const isStr = (v) => typeof v === 'string';

function checkTypes(j) {
  const ok =
    hasMembers(j, HEADER_MEMBERS) &&
    isInt(j.v) && isStr(j.suite) && isStr(j.msg_id) && isStr(j.conv_id) &&
    hasMembers(j.sender, ['user_id', 'ik']) && isStr(j.sender.user_id) && isStr(j.sender.ik) &&
    isInt(j.sender_ctr) && j.sender_ctr >= 0 && isInt(j.sent_at) &&
    (j.expires_in_ms === null || isInt(j.expires_in_ms)) &&
    isStr(j.kind) && (j.ref === null || isStr(j.ref)) &&
    Array.isArray(j.files) && j.files.every(isStr) && isStr(j.nonce) &&
    Array.isArray(j.wraps) &&
    j.wraps.every((w) => hasMembers(w, ['user_id', 'key_id', 'enc', 'ct']) && isStr(w.user_id) && isStr(w.key_id) && isStr(w.enc) && isStr(w.ct));
  if (!ok) throw new CryptoError('Json', 'header: wrong structure');
}

function checkRange(field, value, min) {
  if (value < min || !Number.isSafeInteger(value)) {
    throw new InvalidField(field, 'integer outside the allowed range (up to 2^53 - 1)');
  }
}

/** Header::parse: strict JSON, version, suite, canonical form, then every field. */
export function parseHeader(bytes) {
  let j;
  try {
    j = parseStrict(fromUtf8(bytes));
  } catch {
    throw new CryptoError('Json', 'header: not valid JSON');
  }
  checkTypes(j);
  if (j.v !== 1) throw new CryptoError('UnsupportedVersion', 'header');
  if (j.suite !== SUITE) throw new CryptoError('UnsupportedAlgorithm', 'suite');
  const msgId = b64.decode(j.msg_id, 16, 'msg_id');
  const convId = parseUuid('conv_id', j.conv_id);
  const sender = parseUuid('sender.user_id', j.sender.user_id);
  const senderIk = checkIdentityKey(b64.decode(j.sender.ik, 32, 'sender.ik'));
  checkRange('sender_ctr', j.sender_ctr, 0);
  checkRange('sent_at', j.sent_at, 0);
  if (j.expires_in_ms !== null) checkRange('expires_in_ms', j.expires_in_ms, 1);
  if (!KINDS.includes(j.kind)) throw new InvalidField('kind', 'unknown kind');
  let ref = null;
  if (hasRef(j.kind)) {
    if (j.ref === null) throw new InvalidField('ref', 'required for kinds delete and receipt');
    ref = b64.decode(j.ref, 16, 'ref');
  } else if (j.ref !== null) {
    throw new InvalidField('ref', 'must be null for kinds msg and file');
  }
  const files = j.files.map((f) => b64.decode(f, 16, 'files'));
  if (j.kind === 'file' ? files.length !== 1 : files.length !== 0) {
    throw new InvalidField('files', 'a file message carries exactly one file id, others none');
  }
  const nonce = b64.decode(j.nonce, 12, 'nonce');
  if (j.wraps.length === 0) throw new InvalidField('wraps', 'at least one wrap is required');
  if (j.wraps.length > MAX_WRAPS) throw new InvalidField('wraps', 'more than 512 wraps');
  const seen = new Set();
  const wraps = j.wraps.map((w) => {
    const wrap = {
      userId: parseUuid('wraps.user_id', w.user_id),
      keyId: b64.decode(w.key_id, 8, 'wraps.key_id'),
      enc: b64.decode(w.enc, 32, 'wraps.enc'),
      ct: b64.decode(w.ct, 48, 'wraps.ct'),
    };
    const id = `${wrap.userId}/${w.key_id}`;
    if (seen.has(id)) throw new InvalidField('wraps', 'two wraps for the same user and key id');
    seen.add(id);
    return wrap;
  });
  const header = {
    msgId, convId, sender, senderIk, senderCtr: j.sender_ctr, sentAt: j.sent_at,
    expiresInMs: j.expires_in_ms, kind: j.kind, ref, files, nonce, wraps,
  };
  if (!equal(headerToBytes(header), bytes)) throw new CryptoError('NonCanonicalHeader', 'the header is not canonical JSON');
  return header;
}

/** Distinct users with a wrap, in order of first appearance. */
export function recipientsOf(header) {
  return [...new Set(header.wraps.map((w) => w.userId))];
}
