// Sealing a message (docs/PROTOCOL.md §7.7, crates/crypto/src/envelope/seal.rs). Randomness
// is drawn in exactly this order: msg_id (16), CEK (32), nonce (12), then one ikmE (32) per
// wrap, so that the vectors reproduce byte for byte.

import { equal, randomBytes } from '../bytes.js';
import * as b64 from '../b64.js';
import * as aead from '../aead.js';
import { CONTENT } from '../labels.js';
import { sign } from '../identity.js';
import { wrapContentKey } from '../wrap.js';
import { encodeContent, fileIdsOf, kindOf, referenceOf } from './content.js';
import { MAX_WRAPS, headerToBytes } from './header.js';
import { signatureMessage } from './envelope.js';
import { CryptoError, InvalidField } from '../errors.js';

/** k_content = HKDF-SHA256(salt = msg_id, IKM = CEK, info = "securechat/v1/content", 32). */
export function contentKey(cek, msgId) {
  return aead.hkdf(msgId, cek, CONTENT, 32);
}

/**
 * Seals a message.
 * sender  = { userId, identityPrivate, identityPublic, ownKeys: [{ publicKey, keyId }] }
 * message = { convId, senderCtr, sentAt, expiresInMs, hidden, content, recipients: [{ userId, publicKey, keyId }] }
 * Returns { envelope, msgId }.
 */
export async function seal(sender, message, rng = randomBytes) {
  if (!sender.ownKeys.length) throw new InvalidField('own_keys', "the sender's own copy needs at least one own key");
  if (!Number.isSafeInteger(message.senderCtr) || message.senderCtr < 0) throw new InvalidField('sender_ctr', 'out of range');
  if (!Number.isSafeInteger(message.sentAt) || message.sentAt < 0) throw new InvalidField('sent_at', 'out of range');
  const expires = message.expiresInMs ?? null;
  if (expires !== null && (!Number.isSafeInteger(expires) || expires < 1)) throw new InvalidField('expires_in_ms', 'out of range');

  // A caller-chosen id (clients pass a time-ordered one, ids.js) or the first random draw.
  const msgId = message.msgId ?? rng(16);
  const cek = rng(32);
  const nonce = rng(12);
  const plaintext = encodeContent(message.content, !!message.hidden, { msgId, convId: message.convId, sender: sender.userId });

  const targets = [
    ...message.recipients,
    ...sender.ownKeys.map((k) => ({ userId: sender.userId, publicKey: k.publicKey, keyId: k.keyId })),
  ];
  const wraps = [];
  for (const target of targets) {
    if (wraps.some((w) => w.userId === target.userId && equal(w.keyId, target.keyId))) continue;
    const context = { msgId, convId: message.convId, sender: sender.userId, recipient: target.userId, keyId: target.keyId };
    const { enc, ct } = await wrapContentKey(target.publicKey, context, cek, rng(32));
    wraps.push({ userId: target.userId, keyId: target.keyId, enc, ct });
  }
  if (wraps.length > MAX_WRAPS) throw new InvalidField('wraps', 'more than 512 wraps');

  const headerBytes = headerToBytes({
    msgId,
    convId: message.convId,
    sender: sender.userId,
    senderIk: sender.identityPublic,
    senderCtr: message.senderCtr,
    sentAt: message.sentAt,
    expiresInMs: expires,
    kind: kindOf(message.content),
    ref: referenceOf(message.content),
    files: fileIdsOf(message.content),
    nonce,
    wraps,
  });
  if (headerBytes.length > 128 * 1024) throw new CryptoError('TooLarge', 'header');
  const ct = await aead.seal(await contentKey(cek, msgId), nonce, headerBytes, plaintext);
  const sig = await sign(sender.identityPrivate, await signatureMessage(headerBytes, ct));
  return {
    envelope: { v: 1, h: b64.encode(headerBytes), ct: b64.encode(ct), sig: b64.encode(sig) },
    msgId,
  };
}
