// The plaintext inside the content ciphertext (docs/PROTOCOL.md §7.5,
// crates/crypto/src/envelope/content.rs): compact JSON padded with spaces to 256-byte blocks.
// A group's text message may carry the group's name and colour (`group`):
// {"name": 1 to 64 characters, no control characters, "color": "#rrggbb" in lower-case hex},
// only with t = "text" and an empty body.

import { fromUtf8, utf8 } from '../bytes.js';
import * as b64 from '../b64.js';
import { parseUuid } from '../ids.js';
import { hasMembers, parseStrict } from '../json.js';
import { descriptorFromJson, descriptorToJson, validateDescriptor } from '../file_stream.js';
import { CryptoError, InvalidField } from '../errors.js';

export const PAD_BLOCK = 256;
export const MAX_PLAINTEXT_BYTES = 64 * 1024;

const KIND_OF_TYPE = { text: 'msg', file: 'file', delete: 'delete', receipt: 'receipt' };

/** The header kind a content travels as. */
export function kindOf(content) {
  return KIND_OF_TYPE[content.type];
}

/** The header `ref` of a content (tombstones and receipts). */
export function referenceOf(content) {
  return content.type === 'delete' || content.type === 'receipt' ? content.target : null;
}

/** The header `files` of a content. */
export function fileIdsOf(content) {
  return content.type === 'file' ? [content.file.fileId] : [];
}

/** Longest group name, in characters (Unicode scalar values). */
export const MAX_GROUP_NAME = 64;
const GROUP_COLOR = /^#[0-9a-f]{6}$/;
// Rust's char::is_control: the Unicode general category Cc.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Checks a group meta `{ name, color }` (the plaintext member `group`); returns it. */
export function validateGroupMeta(meta) {
  const ok = hasMembers(meta, ['name', 'color']) && typeof meta.name === 'string' && typeof meta.color === 'string';
  if (!ok) throw new CryptoError('SecretJson', 'plaintext');
  const length = [...meta.name].length;
  if (length < 1 || length > MAX_GROUP_NAME || CONTROL.test(meta.name)) {
    throw new InvalidField('plaintext.group.name', '1 to 64 characters, no control characters');
  }
  if (!GROUP_COLOR.test(meta.color)) throw new InvalidField('plaintext.group.color', '#rrggbb in lower-case hex');
  return { name: meta.name, color: meta.color };
}

/** Serialises and pads a plaintext. `ids` = { msgId, convId, sender }. */
export function encodeContent(content, hidden, ids) {
  const json = { t: content.type };
  if (content.type === 'text' || content.type === 'file') json.body = content.body;
  json.hidden = hidden;
  json.msg_id = b64.encode(ids.msgId);
  json.conv_id = ids.convId;
  json.sender_user_id = ids.sender;
  if (content.type === 'file') {
    validateDescriptor(content.file);
    json.file = descriptorToJson(content.file);
  }
  if (content.group != null) {
    if (content.type !== 'text') throw new InvalidField('plaintext.group', 'not allowed for file');
    const meta = validateGroupMeta(content.group);
    if (content.body !== '') throw new InvalidField('plaintext.body', 'must be empty with group');
    json.group = { name: meta.name, color: meta.color };
  }
  if (referenceOf(content)) json.ref = b64.encode(referenceOf(content));
  json.pad = '';
  const unpadded = utf8(JSON.stringify(json)).length;
  json.pad = ' '.repeat((PAD_BLOCK - (unpadded % PAD_BLOCK)) % PAD_BLOCK);
  const padded = utf8(JSON.stringify(json));
  if (padded.length > MAX_PLAINTEXT_BYTES) throw new CryptoError('TooLarge', 'message plaintext');
  return padded;
}

const MEMBERS = ['t', 'hidden', 'msg_id', 'conv_id', 'sender_user_id', 'pad'];
const OPTIONAL = ['body', 'file', 'group', 'ref'];

/** Parses a decrypted, padded plaintext: { content, hidden, ids }. */
export function decodeContent(bytes) {
  if (bytes.length % PAD_BLOCK !== 0) throw new InvalidField('plaintext', 'length is not a multiple of 256 bytes');
  let j;
  try {
    j = parseStrict(fromUtf8(bytes));
  } catch {
    throw new CryptoError('SecretJson', 'plaintext');
  }
  const typed =
    hasMembers(j, MEMBERS, OPTIONAL) && typeof j.t === 'string' && typeof j.hidden === 'boolean' &&
    typeof j.msg_id === 'string' && typeof j.conv_id === 'string' && typeof j.sender_user_id === 'string' &&
    typeof j.pad === 'string' && (j.body == null || typeof j.body === 'string') &&
    (j.ref == null || typeof j.ref === 'string') && (j.file == null || typeof j.file === 'object') &&
    (j.group == null || typeof j.group === 'object');
  if (!typed) throw new CryptoError('SecretJson', 'plaintext');
  const ids = {
    msgId: b64.decode(j.msg_id, 16, 'plaintext.msg_id'),
    convId: parseUuid('plaintext.conv_id', j.conv_id),
    sender: parseUuid('plaintext.sender_user_id', j.sender_user_id),
  };
  const ref = j.ref == null ? null : b64.decode(j.ref, 16, 'plaintext.ref');
  let content;
  if (j.t === 'text' || j.t === 'file') {
    if (ref) throw new InvalidField('plaintext.ref', 'not allowed for text and file');
    if (j.body == null) throw new InvalidField('plaintext.body', 'required for text and file');
    if (j.t === 'text') {
      if (j.file != null) throw new InvalidField('plaintext.file', 'not allowed for text');
      content = { type: 'text', body: j.body };
      if (j.group != null) {
        content.group = validateGroupMeta(j.group);
        if (j.body !== '') throw new InvalidField('plaintext.body', 'must be empty with group');
      }
    } else {
      if (j.file == null) throw new InvalidField('plaintext.file', 'required for file');
      if (j.group != null) throw new InvalidField('plaintext.group', 'not allowed for file');
      content = { type: 'file', body: j.body, file: descriptorFromJson(j.file) };
    }
  } else if (j.t === 'delete' || j.t === 'receipt') {
    if (j.body != null || j.file != null || j.group != null) throw new InvalidField('plaintext', 'body, file and group are not allowed for delete and receipt');
    if (!ref) throw new InvalidField('plaintext.ref', 'required for delete and receipt');
    content = { type: j.t, target: ref };
  } else {
    throw new InvalidField('plaintext.t', 'unknown message type');
  }
  return { content, hidden: j.hidden, ids };
}

