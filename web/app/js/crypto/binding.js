// Key bindings (docs/PROTOCOL.md §4.3, crates/crypto/src/binding.rs): an encryption key is
// bound to its owner by an Ed25519 signature of the identity key.

import { concat, equal, u64be } from './bytes.js';
import * as b64 from './b64.js';
import { ENC_KEY_BINDING, lp } from './labels.js';
import { checkEncryptionKey, keyIdOf, sign, verifyStrict } from './identity.js';
import { CryptoError, InvalidField } from './errors.js';

/** "securechat/v1/enc-key\0" || lp(user_id) || lp(key_id) || u64be(created_at) || x25519 */
export function bindingMessage(userId, keyId, createdAt, x25519Pub) {
  return concat(ENC_KEY_BINDING, lp(userId), lp(keyId), u64be(Math.max(0, createdAt)), x25519Pub);
}

/** The record a client publishes for one of its encryption keys. */
export async function publishKey(identityPrivate, userId, key, createdAt) {
  const sig = await sign(identityPrivate, bindingMessage(userId, key.keyId, createdAt, key.publicKey));
  return {
    key_id: b64.encode(key.keyId),
    x25519: b64.encode(key.publicKey),
    created_at: createdAt,
    binding_sig: b64.encode(sig),
  };
}

/**
 * verify_published_key: checks a published record against the owner's identity key and user
 * id, in the order of §4.3. Returns { keyId, publicKey, createdAt }.
 */
export async function verifyPublishedKey(identityKey, userId, record) {
  const publicKey = b64.decode(record.x25519, 32, 'x25519');
  await checkEncryptionKey(publicKey);
  const keyId = b64.decode(record.key_id, 8, 'key_id');
  if (!equal(keyId, await keyIdOf(publicKey))) throw new InvalidField('key_id', 'KeyIdMismatch');
  const sig = b64.decode(record.binding_sig, 64, 'binding_sig');
  if (!Number.isSafeInteger(record.created_at)) throw new InvalidField('created_at', 'not an integer');
  try {
    await verifyStrict(identityKey, bindingMessage(userId, keyId, record.created_at, publicKey), sig);
  } catch (e) {
    throw new CryptoError('BadSignature', `binding_sig: ${e.message}`);
  }
  return { keyId, publicKey, createdAt: record.created_at };
}
