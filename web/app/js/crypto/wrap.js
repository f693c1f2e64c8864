// Content-key wraps (docs/PROTOCOL.md §6, crates/crypto/src/wrap.rs): HPKE base mode with
// everything the wrap belongs to in `info`.

import { concat } from './bytes.js';
import { WRAP, lp } from './labels.js';
import { openBase, sealBase } from './hpke.js';
import { CryptoError } from './errors.js';

const EMPTY = new Uint8Array(0);

/** info = lp(label) || lp(msg_id) || lp(conv_id) || lp(sender) || lp(recipient) || lp(key_id) */
export function wrapInfo({ msgId, convId, sender, recipient, keyId }) {
  return concat(lp(WRAP), lp(msgId), lp(convId), lp(sender), lp(recipient), lp(keyId));
}

/** Wraps the 32-byte CEK to a recipient public key: { enc (32), ct (48) }. */
export async function wrapContentKey(recipientPublic, context, cek, ikmE) {
  const { enc, ct } = await sealBase(recipientPublic, wrapInfo(context), EMPTY, cek, ikmE);
  if (ct.length !== 48) throw new CryptoError('WrapFailed');
  return { enc, ct };
}

/** Opens a wrap with a private CryptoKey; throws UnwrapFailed. */
export async function unwrapContentKey(privateKey, context, wrapped) {
  const cek = await openBase(wrapped.enc, privateKey, wrapInfo(context), EMPTY, wrapped.ct);
  if (cek.length !== 32) throw new CryptoError('UnwrapFailed');
  return cek;
}
