// The OPAQUE client (RFC 9807; docs/PROTOCOL.md §18): the Rust implementation
// (crates/opaque) built to WebAssembly (crates/opaque-wasm), driven through its plain
// interface. The module is loaded once per page from /app/opaque/securechat-opaque.wasm
// (web/app/opaque/, found relative to this file).
//
// Interface: input(len) → address of a buffer where the inputs go one after another (a
// 32-byte seed first); an operation takes the inputs' lengths and returns a status; output()
// and output_len() give its result. A two-part result is the state's length (u32,
// little-endian), the state, then the message. The module's memory grows while Argon2 runs:
// views of it are made afresh after every call.

export const WASM_URL = new URL('../../opaque/securechat-opaque.wasm', import.meta.url).href;

const SEED = 32;

/** The module's statuses. */
export const STATUS = Object.freeze({ OK: 0, INVALID_LOGIN: 1, MALFORMED: 2, REFLECTED: 3, INTERNAL: 4 });

const CODES = { 1: 'invalid_login', 2: 'malformed', 3: 'reflected', 4: 'internal' };
const MESSAGES = {
  1: 'wrong username or password',
  2: 'the server sent a malformed OPAQUE message',
  3: 'the server reflected the OPAQUE request',
  4: 'the OPAQUE computation failed in this browser (out of memory?)',
};

/**
 * A refusal of the OPAQUE module. `code` is 'invalid_login' (status 1: a wrong password or
 * an unknown account, which the client cannot tell apart), 'malformed', 'reflected',
 * 'internal' or 'unavailable' (the module could not be loaded).
 */
export class OpaqueError extends Error {
  constructor(status, message) {
    super(message || MESSAGES[status] || `OPAQUE status ${status}`);
    this.name = 'OpaqueError';
    this.status = status;
    this.code = CODES[status] || 'unavailable';
  }

  /** Whether this is a wrong password (or no such account). */
  get invalidLogin() {
    return this.status === STATUS.INVALID_LOGIN;
  }
}

let loading = null;

async function instantiate(source) {
  if (source !== undefined) {
    const bytes = source instanceof Response ? await source.arrayBuffer() : source;
    return (await WebAssembly.instantiate(bytes, {})).instance;
  }
  if (typeof WebAssembly.instantiateStreaming === 'function') {
    try {
      return (await WebAssembly.instantiateStreaming(fetch(WASM_URL), {})).instance;
    } catch {
      // a wrong Content-Type or no streaming compile: the bytes below
    }
  }
  const res = await fetch(WASM_URL);
  if (!res.ok) throw new OpaqueError(-1, `the OPAQUE module could not be loaded (HTTP ${res.status})`);
  return (await WebAssembly.instantiate(await res.arrayBuffer(), {})).instance;
}

/**
 * Loads the module (once). `source` (bytes of the module) replaces the fetch from the
 * server: for tests outside a page.
 */
export function load(source) {
  loading ??= instantiate(source).then(
    (instance) => instance.exports,
    (e) => {
      loading = null;
      throw e instanceof OpaqueError ? e : new OpaqueError(-1, `the OPAQUE module could not be loaded: ${e.message || e}`);
    },
  );
  return loading;
}

function randomSeed() {
  return crypto.getRandomValues(new Uint8Array(SEED));
}

/** The password as UTF-8 bytes, and whether they are a copy of ours to wipe. */
function passwordBytes(password) {
  if (password instanceof Uint8Array) return { bytes: password, own: false };
  if (typeof password !== 'string') throw new TypeError('the password must be a string');
  return { bytes: new TextEncoder().encode(password), own: true };
}

function checkSeed(seed) {
  if (!(seed instanceof Uint8Array) || seed.length !== SEED) throw new TypeError('an OPAQUE seed is 32 bytes');
  return seed;
}

function bytesOf(value, name) {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${name} must be bytes`);
  return value;
}

/** Runs operation `op` on seed + parts; returns a copy of its output or throws OpaqueError. */
function run(ex, op, seed, parts) {
  const total = SEED + parts.reduce((n, p) => n + p.length, 0);
  const at = ex.input(total) >>> 0;
  if (!at) throw new OpaqueError(STATUS.INTERNAL);
  const into = new Uint8Array(ex.memory.buffer, at, total);
  into.set(checkSeed(seed), 0);
  let offset = SEED;
  for (const p of parts) {
    into.set(p, offset);
    offset += p.length;
  }
  // The module reads and wipes its input; a status other than 0 leaves no output.
  const status = ex[op](...parts.map((p) => p.length));
  if (status !== STATUS.OK) throw new OpaqueError(status);
  const len = ex.output_len();
  const out = ex.output() >>> 0;
  return new Uint8Array(ex.memory.buffer, out, len).slice();
}

function twoParts(out) {
  if (out.length < 4) throw new OpaqueError(STATUS.INTERNAL);
  const len = new DataView(out.buffer, out.byteOffset, 4).getUint32(0, true);
  if (4 + len > out.length) throw new OpaqueError(STATUS.INTERNAL);
  return { state: out.slice(4, 4 + len), message: out.slice(4 + len) };
}

async function withPassword(password, fn) {
  const ex = await load();
  const pw = passwordBytes(password);
  try {
    return fn(ex, pw.bytes);
  } finally {
    if (pw.own) pw.bytes.fill(0);
  }
}

/** Registration, step 1: { state (keep it), message (registration_request, 32 bytes) }. */
export function registrationStart(password, seed = randomSeed()) {
  return withPassword(password, (ex, pw) => twoParts(run(ex, 'registration_start', seed, [pw])));
}

/** Registration, step 2: the record (192 bytes) from the server's registration_response. */
export function registrationFinish(state, password, response, seed = randomSeed()) {
  return withPassword(password, (ex, pw) =>
    run(ex, 'registration_finish', seed, [bytesOf(state, 'state'), pw, bytesOf(response, 'registration_response')]));
}

/** Login, step 1: { state (keep it), message (credential_request, KE1, 96 bytes) }. */
export function loginStart(password, seed = randomSeed()) {
  return withPassword(password, (ex, pw) => twoParts(run(ex, 'login_start', seed, [pw])));
}

/**
 * Login, step 2 (runs Argon2: about a second): the credential finalization (KE3, 64 bytes)
 * from the server's credential_response. Throws OpaqueError with code 'invalid_login' for a
 * wrong password or an unknown account.
 */
export function loginFinish(state, password, response, seed = randomSeed()) {
  return withPassword(password, (ex, pw) =>
    run(ex, 'login_finish', seed, [bytesOf(state, 'state'), pw, bytesOf(response, 'credential_response')]));
}
