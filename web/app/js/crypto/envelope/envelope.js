// The outer envelope {"v":1,"h","ct","sig"} (docs/PROTOCOL.md §7.1, §7.6,
// crates/crypto/src/envelope.rs): decoding with limits, and the signed message.

import { concat, sha256 } from '../bytes.js';
import * as b64 from '../b64.js';
import { MESSAGE_SIG } from '../labels.js';
import { parseHeader } from './header.js';
import { CryptoError, InvalidField } from '../errors.js';

const MAX_HEADER_BYTES = 128 * 1024;
const MAX_CT_BYTES = 64 * 1024 + 16;
const b64Len = (n) => Math.ceil((4 * n) / 3);

function decodeLimited(field, text, limit) {
  if (typeof text !== 'string') throw new CryptoError('Json', 'envelope');
  if (text.length > b64Len(limit)) throw new CryptoError('TooLarge', field);
  return b64.decode(text, undefined, field);
}

/** Step 1 of opening: version, sizes, strict base64url, header syntax. */
export function decodeEnvelope(envelope) {
  if (!envelope || envelope.v !== 1) throw new CryptoError('UnsupportedVersion', 'envelope');
  const headerBytes = decodeLimited('h', envelope.h, MAX_HEADER_BYTES);
  const ct = decodeLimited('ct', envelope.ct, MAX_CT_BYTES);
  if (ct.length < 256 + 16 || (ct.length - 16) % 256 !== 0) {
    throw new InvalidField('ct', 'length is not a padded plaintext plus the 16-byte tag');
  }
  const sig = b64.decode(envelope.sig, 64, 'sig');
  return { headerBytes, header: parseHeader(headerBytes), ct, sig };
}

/** "securechat/v1/message\0" || SHA-256(header_bytes) || SHA-256(ct) */
export async function signatureMessage(headerBytes, ct) {
  return concat(MESSAGE_SIG, await sha256(headerBytes), await sha256(ct));
}

/** The parsed header of an envelope without verifying anything (routing, display). */
export function peekHeader(envelope) {
  return decodeEnvelope(envelope).header;
}
