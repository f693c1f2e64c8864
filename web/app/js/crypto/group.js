// Group membership chains (docs/PROTOCOL.md §17, crates/crypto/src/group/{change,state}.rs):
// each change is canonical JSON signed by its author's identity key and linked by hash to the
// previous one; a client verifies the whole chain from `create` and trusts only the members of
// the state it computed itself. Rules, order of checks and error texts are those of Rust:
// errors are CryptoErrors whose `message` is the Rust Display text and `code` the variant.

import { concat, equal, sha256 } from './bytes.js';
import * as b64 from './b64.js';
import { GROUP_CHANGE, GROUP_LINK, lp } from './labels.js';
import { isCanonicalUuid } from './ids.js';
import { checkIdentityKey, sign, verifyStrict } from './identity.js';
import { parseStrict, hasMembers } from './json.js';
import { CryptoError, InvalidField } from './errors.js';

/** The change format's version. */
export const CHANGE_VERSION = 1;
/** Largest change accepted, in bytes. */
export const MAX_CHANGE_BYTES = 64 * 1024;
/** Most members a group may have. */
export const MAX_MEMBERS = 256;
export const OPS = ['create', 'add', 'remove', 'admin', 'unadmin', 'leave'];

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;
// Keeps a BOM, so that it is refused as JSON is by serde (bytes.fromUtf8 would drop it).
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// ---- errors, worded as crates/crypto/src/error.rs ------------------------------------------

function jsonError(what, detail) {
  return new CryptoError('Json', `${what}: malformed JSON: ${detail}`);
}

function tooLarge(got) {
  return new CryptoError('TooLarge', `group change is too large: ${got} bytes, the limit is ${MAX_CHANGE_BYTES}`);
}

/** A change that breaks a rule of the chain: "group change {seq} refused: {reason}". */
function refuse(seq, reason) {
  const error = new CryptoError('GroupChange', `group change ${seq} refused: ${reason}`);
  error.seq = seq;
  error.reason = reason;
  return error;
}

/** b64::decode / decode_array with the Rust error texts (B64Error) under `field`. */
function decodeB64(text, field, length) {
  let bytes;
  try {
    bytes = b64.decode(text, undefined, field);
  } catch {
    throw new CryptoError('Encoding', `${field}: not valid base64url without padding`);
  }
  if (length !== undefined && bytes.length !== length) {
    throw new CryptoError('Encoding', `${field}: expected ${length} bytes, got ${bytes.length}`);
  }
  return bytes;
}

/** parse_canonical_uuid: what uuid's parse_str reads, then only the lower-case hyphenated form. */
function parseUuid(field, text) {
  if (isCanonicalUuid(text)) return text;
  const hyphenated = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
  const inner = text.startsWith('urn:uuid:') ? text.slice(9) : /^\{.*\}$/s.test(text) ? text.slice(1, -1) : text;
  const isUuid = /^[0-9a-fA-F]{32}$/.test(text) || hyphenated.test(inner);
  throw new InvalidField(field, isUuid ? 'UUID is not in lower-case hyphenated form' : 'not a UUID');
}

/** identity_key(): 32 bytes of base64url, a valid and strong Ed25519 key (identity.js). */
function parseIk(field, text) {
  const bytes = decodeB64(text, field, 32);
  try {
    return checkIdentityKey(bytes);
  } catch {
    throw new CryptoError('BadIdentityKey', 'identity key is not a valid, strong Ed25519 public key');
  }
}

// ---- the change's JSON ---------------------------------------------------------------------

/**
 * The number tokens of JSON text: whether any is not an integer as serde_json reads one (a
 * fraction, an exponent, "-0", beyond u64/i64: all floats to serde, a type error for every
 * field here), and the exact text of those directly in the top-level object, by key (JS
 * numbers lose digits above 2^53, where Rust still tells a range error from bad JSON).
 */
function numberTokens(text) {
  const top = {};
  let anyFloat = false;
  let depth = 0;
  let lastString = null;
  let key = null;
  for (const [token] of text.matchAll(/"(?:[^"\\]|\\.)*"|-?[0-9][0-9.eE+-]*|[{}[\]:,]/g)) {
    const c = token[0];
    if (c === '"') lastString = token;
    else if (c === ':') key = depth === 1 ? JSON.parse(lastString) : null;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
    else if (c !== ',') {
      const big = /^-?(0|[1-9][0-9]*)$/.test(token) && token !== '-0' ? BigInt(token) : null;
      if (big === null || big > U64_MAX || big < I64_MIN) anyFloat = true;
      if (depth === 1 && key !== null) top[key] = big;
    }
  }
  return { anyFloat, top };
}

const isStr = (v) => typeof v === 'string' && !/[\uD800-\uDFFF]/u.test(v); // serde refuses lone surrogates
const inRange = (n, min, max) => n !== null && n !== undefined && n >= min && n <= max;

/** serde's view of ChangeJson: members, types and integer ranges (deny_unknown_fields). */
function checkChangeJson(j, numbers) {
  const ok =
    hasMembers(j, ['v', 'group_id', 'seq', 'author', 'at', 'op', 'members'], ['prev']) &&
    typeof j.v === 'number' && inRange(numbers.v, 0n, 255n) &&
    isStr(j.group_id) &&
    typeof j.seq === 'number' && inRange(numbers.seq, 0n, U64_MAX) &&
    (j.prev === undefined || j.prev === null || isStr(j.prev)) &&
    hasMembers(j.author, ['user_id', 'ik']) && isStr(j.author.user_id) && isStr(j.author.ik) &&
    typeof j.at === 'number' && inRange(numbers.at, I64_MIN, I64_MAX) &&
    isStr(j.op) &&
    Array.isArray(j.members) &&
    j.members.every((m) => hasMembers(m, ['user_id', 'ik', 'admin']) && isStr(m.user_id) && isStr(m.ik) && typeof m.admin === 'boolean');
  if (!ok) throw jsonError('group change', 'unknown, missing or wrongly typed member');
}

/**
 * The canonical text of the change's JSON: members in the order of §17.2, no spaces, the
 * integers as exact decimals (`seq` and `at` are BigInt or Number).
 */
function canonicalText(j) {
  return (
    `{"v":${j.v},"group_id":${JSON.stringify(j.group_id)},"seq":${j.seq},` +
    `"prev":${JSON.stringify(j.prev ?? null)},` +
    `"author":${JSON.stringify({ user_id: j.author.user_id, ik: j.author.ik })},` +
    `"at":${j.at},"op":${JSON.stringify(j.op)},` +
    `"members":${JSON.stringify(j.members.map((m) => ({ user_id: m.user_id, ik: m.ik, admin: m.admin })))}}`
  );
}

/** Change::to_bytes: the canonical bytes of a change object (what is signed). */
export function changeToBytes(change) {
  return new TextEncoder().encode(
    canonicalText({
      v: CHANGE_VERSION,
      group_id: change.groupId,
      seq: change.seq,
      prev: change.prev ? b64.encode(change.prev) : null,
      author: { user_id: change.author, ik: b64.encode(change.authorIk) },
      at: change.atMs,
      op: change.op,
      members: change.members.map((m) => ({ user_id: m.userId, ik: b64.encode(m.ik), admin: m.admin })),
    }),
  );
}

/**
 * Change::parse: size, JSON (serde's rules), version, canonical form byte for byte, then each
 * field. Returns { groupId, seq, prev (32 bytes or null), author, authorIk, atMs, op,
 * members: [{ userId, ik, admin }] }.
 */
export function parseChange(bytes) {
  if (bytes.length > MAX_CHANGE_BYTES) throw tooLarge(bytes.length);
  let text;
  let j;
  try {
    text = UTF8.decode(bytes);
    j = parseStrict(text);
  } catch (e) {
    throw jsonError('group change', e.message);
  }
  const numbers = numberTokens(text);
  if (numbers.anyFloat) throw jsonError('group change', 'a number is not an integer of the expected type');
  checkChangeJson(j, numbers.top);
  if (j.v !== CHANGE_VERSION) throw new CryptoError('UnsupportedVersion', `group change: unsupported version ${j.v}`);
  const exact = { ...j, seq: numbers.top.seq, at: numbers.top.at };
  if (!equal(new TextEncoder().encode(canonicalText(exact)), bytes)) {
    throw new CryptoError('NonCanonicalGroupChange', 'group change is not in canonical form (member order, spacing or number format)');
  }
  const groupId = parseUuid('conv_id', j.group_id);
  if (exact.seq > MAX_SAFE) throw new InvalidField('seq', 'integer above 2^53 - 1');
  const prev = j.prev === null ? null : decodeB64(j.prev, 'prev', 32);
  const author = parseUuid('author.user_id', j.author.user_id);
  const authorIk = parseIk('author.ik', j.author.ik);
  if (exact.at < 0n || exact.at > MAX_SAFE) throw new InvalidField('at', 'integer outside 0 … 2^53 - 1');
  if (!OPS.includes(j.op)) throw new InvalidField('op', 'unknown operation');
  const members = j.members.map((m) => ({
    userId: parseUuid('members.user_id', m.user_id),
    ik: parseIk('members.ik', m.ik),
    admin: m.admin,
  }));
  return { groupId, seq: j.seq, prev, author, authorIk, atMs: j.at, op: j.op, members };
}

// ---- the signed change -------------------------------------------------------------------

/** "securechat/v1/group-change\0" || change_bytes */
function signatureInput(bytes) {
  return concat(GROUP_CHANGE, bytes);
}

/** SignedChange::from_json: `{"change": b64u, "sig": b64u}` → { bytes, sig }. */
export function parseSignedChange(text) {
  let j;
  try {
    j = parseStrict(text);
  } catch (e) {
    throw jsonError('signed group change', e.message);
  }
  if (!hasMembers(j, ['change', 'sig']) || !isStr(j.change) || !isStr(j.sig)) {
    throw jsonError('signed group change', 'unknown, missing or wrongly typed member');
  }
  const bytes = decodeB64(j.change, 'change');
  if (bytes.length > MAX_CHANGE_BYTES) throw tooLarge(bytes.length);
  const sig = decodeB64(j.sig, 'sig', 64);
  return { bytes, sig };
}

/** SignedChange::to_json. */
export function signedChangeToJson(signed) {
  return JSON.stringify({ change: b64.encode(signed.bytes), sig: b64.encode(signed.sig) });
}

/** Change::sign: the signed change, by the author's { privateKey, publicKey } (its own key). */
export async function signChange(change, author) {
  if (!equal(author.publicKey, change.authorIk)) {
    throw new InvalidField('author.ik', "the signing key is not the change's author key");
  }
  const bytes = changeToBytes(change);
  return { bytes, sig: await sign(author.privateKey, signatureInput(bytes)) };
}

/** SignedChange::open: parses the change, then verifies its signature by the author key. */
export async function openSignedChange(signed) {
  const change = parseChange(signed.bytes);
  try {
    await verifyStrict(change.authorIk, signatureInput(signed.bytes), signed.sig);
  } catch {
    throw new CryptoError('BadSignature', 'signature does not verify');
  }
  return change;
}

/** SignedChange::link: SHA-256("securechat/v1/group-link\0" || lp(change_bytes) || sig). */
export async function linkOf(signed) {
  return sha256(concat(GROUP_LINK, lp(signed.bytes), signed.sig));
}

// ---- the state a verified chain leads to ---------------------------------------------------

/** A member map in user id order (Rust's BTreeMap<UserId, _>: canonical UUID text sorts so). */
function sortedMembers(map) {
  return new Map([...map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

const MAKE_STATE = Symbol('GroupState');

function checkSize(seq, size) {
  if (size > MAX_MEMBERS) throw refuse(seq, 'a group has at most 256 members');
}

/**
 * The membership after changes 0 ..= seq, all verified. Immutable: `apply` returns a new
 * state and leaves this one as it was.
 */
export class GroupState {
  #groupId;
  #seq;
  #head;
  #members; // Map userId → { ik, admin } (frozen entries)

  // Only this module makes states (from verified changes): a caller cannot forge one.
  constructor(token, groupId, seq, head, members) {
    if (token !== MAKE_STATE) throw new TypeError('a GroupState comes from genesis, apply or verifyChain');
    this.#groupId = groupId;
    this.#seq = seq;
    this.#head = head;
    this.#members = sortedMembers(members);
    Object.freeze(this);
  }

  get groupId() {
    return this.#groupId;
  }

  /** The seq of the last change applied. */
  get seq() {
    return this.#seq;
  }

  /** The link of the last change applied (the next change's `prev`). */
  get head() {
    return Uint8Array.from(this.#head);
  }

  /** userId → { ik, admin }, in user id order (a copy: changing it changes no state). */
  get members() {
    return new Map([...this.#members].map(([user, m]) => [user, { ik: Uint8Array.from(m.ik), admin: m.admin }]));
  }

  isMember(userId) {
    return this.#members.has(userId);
  }

  /** GroupState::verify: a whole chain from its first change. */
  static async verifyChain(chain) {
    if (!chain.length) throw refuse(0, 'the chain is empty');
    let state = await GroupState.genesis(chain[0]);
    for (const signed of chain.slice(1)) state = await state.apply(signed);
    return state;
  }

  /** GroupState::genesis: the state made by a group's first change (`create`). */
  static async genesis(signed) {
    const change = await openSignedChange(signed);
    if (change.seq !== 0 || change.prev !== null) throw refuse(change.seq, 'the first change must have seq 0 and no prev');
    if (change.op !== 'create') throw refuse(0, 'the first change must be a create');
    const members = new Map();
    for (const m of change.members) {
      if (members.has(m.userId)) throw refuse(0, 'a member is listed twice');
      members.set(m.userId, Object.freeze({ ik: m.ik, admin: m.admin }));
    }
    checkSize(0, members.size);
    const creator = members.get(change.author);
    if (!creator || !creator.admin || !equal(creator.ik, change.authorIk)) {
      throw refuse(0, 'the creator must be an admin member with its own key');
    }
    return new GroupState(MAKE_STATE, change.groupId, 0, await linkOf(signed), members);
  }

  /**
   * GroupState::apply: the state after `signed`, which must be this group's next change,
   * signed by a member allowed to make it.
   */
  async apply(signed) {
    const change = await openSignedChange(signed);
    const seq = change.seq;
    if (change.groupId !== this.#groupId) throw refuse(seq, 'the change belongs to another group');
    if (seq !== this.#seq + 1) throw refuse(seq, 'the change does not follow the last one (seq)');
    if (change.prev === null || !equal(change.prev, this.#head)) {
      throw refuse(seq, 'the change does not link to the last one (prev)');
    }
    const author = this.#members.get(change.author);
    if (!author) throw refuse(seq, 'the author is not a member');
    if (!equal(author.ik, change.authorIk)) throw refuse(seq, "the author's key is not the one in the group");
    if (change.op !== 'leave' && !author.admin) throw refuse(seq, 'only an admin may change the membership');
    if (!change.members.length) throw refuse(seq, 'the change names no member');
    const members = new Map(this.#members);
    const seen = new Set();
    for (const m of change.members) {
      if (seen.has(m.userId)) throw refuse(seq, 'a member is listed twice');
      seen.add(m.userId);
      applyOne(change, m, members);
    }
    checkSize(seq, members.size);
    if (change.op === 'leave' && members.size && ![...members.values()].some((m) => m.admin)) {
      throw refuse(seq, 'the last admin cannot leave while others stay: make another member an admin first');
    }
    return new GroupState(MAKE_STATE, this.#groupId, seq, await linkOf(signed), members);
  }

  /**
   * GroupState::check_pins: every member's key must be the one pinned for that user;
   * `pinned(userId)` returns the pinned key bytes or null (may be async). Users without a pin
   * are left to the caller to pin from the chain (trust on first use).
   */
  async checkPins(pinned) {
    for (const [user, member] of this.#members) {
      const pin = await pinned(user);
      if (pin && !equal(pin, member.ik)) {
        const error = new CryptoError('GroupKeyMismatch', `group member ${user} has an identity key other than the pinned one (safety number changed)`);
        error.user = user;
        throw error;
      }
    }
  }
}

/** One named member's part of a change (apply_one), on the new state's `members`. */
function applyOne(change, m, members) {
  const seq = change.seq;
  const current = members.get(m.userId);
  // Every op but add names a current member, with the key the state has for it.
  const existing = () => {
    if (!current) throw refuse(seq, 'the change names someone who is not a member');
    if (!equal(current.ik, m.ik)) throw refuse(seq, "a member's key differs from the group's");
    return current;
  };
  const flag = (expected, reason) => {
    if (m.admin !== expected) throw refuse(seq, reason);
  };
  switch (change.op) {
    case 'create':
      throw refuse(seq, 'only the first change may be a create');
    case 'add':
      if (current) throw refuse(seq, 'an added member is already a member');
      members.set(m.userId, Object.freeze({ ik: m.ik, admin: m.admin }));
      break;
    case 'remove': {
      if (m.userId === change.author) throw refuse(seq, 'an admin leaves by a leave, not a remove');
      flag(existing().admin, 'a removed member must be named with its admin flag');
      members.delete(m.userId);
      break;
    }
    case 'admin': {
      const c = existing();
      if (c.admin) throw refuse(seq, 'the member is an admin already');
      flag(true, 'an admin change names the member with admin true');
      members.set(m.userId, Object.freeze({ ik: c.ik, admin: true }));
      break;
    }
    case 'unadmin': {
      if (m.userId === change.author) throw refuse(seq, 'an admin cannot unadmin itself');
      const c = existing();
      if (!c.admin) throw refuse(seq, 'the member is not an admin');
      flag(false, 'an unadmin names the member with admin false');
      members.set(m.userId, Object.freeze({ ik: c.ik, admin: false }));
      break;
    }
    case 'leave': {
      if (m.userId !== change.author) throw refuse(seq, 'a leave names only its author');
      flag(existing().admin, 'a leaving member must be named with its admin flag');
      members.delete(m.userId);
      break;
    }
    default:
      throw new InvalidField('op', 'unknown operation');
  }
}

// The same as plain functions.

/** The state of a group's first change. */
export function genesis(signed) {
  return GroupState.genesis(signed);
}

/** The state after `signed`; `state` is left unchanged. */
export function apply(state, signed) {
  return state.apply(signed);
}

/** The state a whole chain leads to. */
export function verifyChain(chain) {
  return GroupState.verifyChain(chain);
}
