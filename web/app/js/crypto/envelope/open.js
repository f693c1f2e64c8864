// Opening a message: the verification procedure of docs/PROTOCOL.md §8.2
// (crates/crypto/src/envelope/open.rs), every step in order, nothing decrypted before the
// signature verified.

import { equal } from '../bytes.js';
import * as b64 from '../b64.js';
import * as aead from '../aead.js';
import { verifyStrict } from '../identity.js';
import { unwrapContentKey } from '../wrap.js';
import { decodeContent, fileIdsOf, kindOf, referenceOf } from './content.js';
import { decodeEnvelope, signatureMessage } from './envelope.js';
import { contentKey } from './seal.js';
import { CryptoError } from '../errors.js';

function sameOptional(a, b) {
  if (!a || !b) return !a && !b;
  return equal(a, b);
}

/**
 * Verifies and decrypts an envelope.
 * receiver = { userId, keys: [{ keyId, privateKey }] } (every key held, active and retired)
 * delivery = { sender, convId, serverReceivedAt }
 * pinned(userId) → identity key bytes or null; alreadyAccepted(msgIdB64) → boolean
 * Returns { header, hidden, content, expiresAt }.
 */
export async function open(envelope, receiver, delivery, nowMs, pinned, alreadyAccepted) {
  // 1.
  const { headerBytes, header, ct, sig } = decodeEnvelope(envelope);
  // 2.
  const pin = pinned(header.sender);
  if (!pin) throw new CryptoError('UnknownSender', 'no identity key is pinned for the sender');
  if (!equal(pin, header.senderIk)) throw new CryptoError('IdentityKeyChanged', "the sender's identity key changed");
  // 3.
  await verifyStrict(pin, await signatureMessage(headerBytes, ct), sig);
  // 4.
  if (delivery.sender !== header.sender) throw new CryptoError('SenderMismatch');
  if (delivery.convId !== header.convId) throw new CryptoError('ConversationMismatch');
  const mine = header.wraps.filter((w) => w.userId === receiver.userId);
  if (!mine.length) throw new CryptoError('NotARecipient');
  // 5.
  if (alreadyAccepted(b64.encode(header.msgId))) throw new CryptoError('Replay');
  // 6.
  const expiresAt = header.expiresInMs === null ? null : delivery.serverReceivedAt + header.expiresInMs;
  if (expiresAt !== null && expiresAt < nowMs) throw new CryptoError('Expired');
  // 7.
  let cek = null;
  let heldAKey = false;
  for (const wrap of mine) {
    const key = receiver.keys.find((k) => equal(k.keyId, wrap.keyId));
    if (!key) continue;
    heldAKey = true;
    const context = { msgId: header.msgId, convId: header.convId, sender: header.sender, recipient: receiver.userId, keyId: wrap.keyId };
    try {
      cek = await unwrapContentKey(key.privateKey, context, wrap);
      break;
    } catch {
      // try the next wrap
    }
  }
  if (!cek) throw new CryptoError(heldAKey ? 'UnwrapFailed' : 'NoMatchingKey');
  let plaintext;
  try {
    plaintext = await aead.open(await contentKey(cek, header.msgId), header.nonce, headerBytes, ct);
  } catch {
    throw new CryptoError('DecryptFailed');
  }
  const { content, hidden, ids } = decodeContent(plaintext);
  // 8.
  if (!equal(ids.msgId, header.msgId)) throw new CryptoError('InnerMismatch', 'msg_id');
  if (ids.convId !== header.convId) throw new CryptoError('InnerMismatch', 'conv_id');
  if (ids.sender !== header.sender) throw new CryptoError('InnerMismatch', 'sender_user_id');
  if (kindOf(content) !== header.kind) throw new CryptoError('InnerMismatch', 't');
  if (!sameOptional(referenceOf(content), header.ref)) throw new CryptoError('InnerMismatch', 'ref');
  const files = fileIdsOf(content);
  if (files.length !== header.files.length || !files.every((f, i) => equal(f, header.files[i]))) {
    throw new CryptoError('InnerMismatch', 'file_id');
  }
  return { header, hidden, content, expiresAt };
}
