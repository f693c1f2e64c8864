// Authorising a tombstone against the message it deletes (docs/PROTOCOL.md §8.3,
// crates/crypto/src/envelope/tombstone.rs).

import { equal } from '../bytes.js';
import { CryptoError } from '../errors.js';

/** target = { msgId, convId, sender } as stored when the target was accepted. */
export function authorizeDelete(opened, target) {
  if (opened.header.kind !== 'delete') throw new CryptoError('NotATombstone');
  if (!equal(opened.header.ref, target.msgId) || opened.header.convId !== target.convId) {
    throw new CryptoError('TombstoneTargetMismatch');
  }
  if (opened.header.sender !== target.sender) throw new CryptoError('TombstoneNotBySender');
}
