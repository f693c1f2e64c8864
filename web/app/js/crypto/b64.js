// Strict base64url without padding (docs/PROTOCOL.md §2.1): the one spelling of each byte
// string. Refuses padding, whitespace, the standard alphabet, length ≡ 1 (mod 4) and
// non-canonical trailing bits.

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const LOOKUP = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) LOOKUP[ALPHABET.charCodeAt(i)] = i;

export class EncodingError extends Error {
  constructor(field, reason) {
    super(`${field}: ${reason}`);
    this.name = 'EncodingError';
    this.field = field;
  }
}

/** base64url text of bytes, no padding. */
export function encode(bytes) {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + ALPHABET[(n >> 6) & 63] + ALPHABET[n & 63];
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i] << 16;
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63];
  } else if (rest === 2) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + ALPHABET[(n >> 6) & 63];
  }
  return out;
}

/** Bytes of strict base64url text; `length` (optional) is the exact decoded length. */
export function decode(text, length, field = 'value') {
  if (typeof text !== 'string') throw new EncodingError(field, 'not a string');
  if (text.length % 4 === 1) throw new EncodingError(field, 'invalid length');
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let bits = 0;
  let acc = 0;
  let o = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? LOOKUP[c] : -1;
    if (v < 0) throw new EncodingError(field, 'invalid base64url character');
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
    acc &= (1 << bits) - 1;
  }
  if (acc !== 0) throw new EncodingError(field, 'non-canonical trailing bits');
  if (length !== undefined && out.length !== length) {
    throw new EncodingError(field, `expected ${length} bytes, got ${out.length}`);
  }
  return out;
}
