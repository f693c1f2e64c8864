// HPKE (RFC 9180) base mode for DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM on
// WebCrypto (docs/PROTOCOL.md §6.3). Proven against the RFC's vector in
// testdata/vectors/rfc9180-x25519-aes256gcm.json by the browser tests.

import { concat, randomBytes, utf8 } from './bytes.js';
import { hkdfExpand, hkdfExtract } from './aead.js';
import * as aead from './aead.js';
import { importX25519Private, x25519, x25519PublicOf } from './identity.js';
import { CryptoError } from './errors.js';

const VERSION = utf8('HPKE-v1');
const SUITE_KEM = concat(utf8('KEM'), Uint8Array.of(0x00, 0x20));
const SUITE = concat(utf8('HPKE'), Uint8Array.of(0x00, 0x20, 0x00, 0x01, 0x00, 0x02));
const EMPTY = new Uint8Array(0);
const NK = 32;
const NN = 12;

function labeledExtract(suite, salt, label, ikm) {
  return hkdfExtract(salt, concat(VERSION, suite, utf8(label), ikm));
}

function labeledExpand(suite, prk, label, info, length) {
  return hkdfExpand(prk, concat(Uint8Array.of(length >> 8, length & 0xff), VERSION, suite, utf8(label), info), length);
}

/** DeriveKeyPair(ikm): { sk (32 bytes), privateKey, publicKey }. */
export async function deriveKeyPair(ikm) {
  const dkpPrk = await labeledExtract(SUITE_KEM, EMPTY, 'dkp_prk', ikm);
  const sk = await labeledExpand(SUITE_KEM, dkpPrk, 'sk', EMPTY, 32);
  const privateKey = await importX25519Private(sk);
  return { sk, privateKey, publicKey: await x25519PublicOf(privateKey) };
}

async function extractAndExpand(dh, kemContext) {
  const eaePrk = await labeledExtract(SUITE_KEM, EMPTY, 'eae_prk', dh);
  return labeledExpand(SUITE_KEM, eaePrk, 'shared_secret', kemContext, 32);
}

/** Encap(pkR) with ephemeral randomness ikmE: { sharedSecret, enc }. */
export async function encap(pkR, ikmE = randomBytes(32)) {
  const eph = await deriveKeyPair(ikmE);
  const dh = await x25519(eph.privateKey, pkR);
  if (!dh) throw new CryptoError('WrapFailed', 'all-zero X25519 shared secret');
  return { sharedSecret: await extractAndExpand(dh, concat(eph.publicKey, pkR)), enc: eph.publicKey };
}

/** Decap(enc, skR) where skR is a private CryptoKey. */
export async function decap(enc, privateKey) {
  const dh = await x25519(privateKey, enc);
  if (!dh) throw new CryptoError('UnwrapFailed', 'all-zero X25519 shared secret');
  const pkRm = await x25519PublicOf(privateKey);
  return extractAndExpand(dh, concat(enc, pkRm));
}

/** The base-mode key schedule: a context with key, base_nonce and exporter_secret. */
export async function keySchedule(sharedSecret, info) {
  const pskIdHash = await labeledExtract(SUITE, EMPTY, 'psk_id_hash', EMPTY);
  const infoHash = await labeledExtract(SUITE, EMPTY, 'info_hash', info);
  const context = concat(Uint8Array.of(0), pskIdHash, infoHash);
  const secret = await labeledExtract(SUITE, sharedSecret, 'secret', EMPTY);
  return new Context(
    context,
    secret,
    await labeledExpand(SUITE, secret, 'key', context, NK),
    await labeledExpand(SUITE, secret, 'base_nonce', context, NN),
    await labeledExpand(SUITE, secret, 'exp', context, 32),
  );
}

/** An HPKE encryption context (sequence numbers, exports). */
export class Context {
  constructor(keyScheduleContext, secret, key, baseNonce, exporterSecret) {
    Object.assign(this, { keyScheduleContext, secret, key, baseNonce, exporterSecret });
    this.seq = 0;
  }

  nonce(seq) {
    const nonce = Uint8Array.from(this.baseNonce);
    let s = seq;
    for (let i = NN - 1; i >= NN - 7 && s > 0; i--) {
      nonce[i] ^= s & 0xff;
      s = Math.floor(s / 256);
    }
    return nonce;
  }

  async seal(aad, pt) {
    const ct = await aead.seal(this.key, this.nonce(this.seq), aad, pt);
    this.seq += 1;
    return ct;
  }

  async open(aad, ct) {
    const pt = await aead.open(this.key, this.nonce(this.seq), aad, ct);
    this.seq += 1;
    return pt;
  }

  export(exporterContext, length) {
    return labeledExpand(SUITE, this.exporterSecret, 'sec', exporterContext, length);
  }
}

/** Single-shot SealBase(pkR, info, aad, pt): { enc, ct }. */
export async function sealBase(pkR, info, aad, pt, ikmE) {
  const { sharedSecret, enc } = await encap(pkR, ikmE);
  const ctx = await keySchedule(sharedSecret, info);
  return { enc, ct: await ctx.seal(aad, pt) };
}

/** Single-shot OpenBase(enc, skR, info, aad, ct); throws UnwrapFailed. */
export async function openBase(enc, privateKey, info, aad, ct) {
  try {
    const ctx = await keySchedule(await decap(enc, privateKey), info);
    return await ctx.open(aad, ct);
  } catch {
    throw new CryptoError('UnwrapFailed', 'the key wrap does not open');
  }
}
