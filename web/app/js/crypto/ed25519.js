// Ed25519 point checks that WebCrypto does not make: decoding a public key or a signature's
// R to a curve point and refusing points of small order, as ed25519-dalek's
// `VerifyingKey::from_bytes` + `is_weak` and `verify_strict` do (docs/PROTOCOL.md §4.1).
// Public data only: BigInt arithmetic is not constant-time, and needs not be here.

const P = (1n << 255n) - 19n;
const L = (1n << 252n) + 27742317777372353535851937790883648493n;

function mod(a) {
  const r = a % P;
  return r >= 0n ? r : r + P;
}

function pow(base, exp) {
  let result = 1n;
  let b = mod(base);
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % P;
    b = (b * b) % P;
    e >>= 1n;
  }
  return result;
}

const D = mod(-121665n * pow(121666n, P - 2n));
const SQRT_M1 = pow(2n, (P - 1n) / 4n);

function littleEndian(bytes) {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]);
  return n;
}

/** The point of a 32-byte encoding as extended coordinates, or null if it is not on the curve. */
function decompress(bytes) {
  if (bytes.length !== 32) return null;
  const copy = Uint8Array.from(bytes);
  copy[31] &= 0x7f;
  const y = mod(littleEndian(copy));
  const y2 = (y * y) % P;
  const u = mod(y2 - 1n);
  const v = mod(D * y2 + 1n);
  const v3 = (v * v % P) * v % P;
  const v7 = (v3 * v3 % P) * v % P;
  let x = (u * v3 % P) * pow(u * v7, (P - 5n) / 8n) % P;
  const check = (v * x % P) * x % P;
  if (check === u) {
    // x is a root
  } else if (check === mod(-u)) {
    x = (x * SQRT_M1) % P;
  } else {
    return null;
  }
  return { X: x, Y: y, Z: 1n };
}

function double({ X, Y, Z }) {
  const A = (X * X) % P;
  const B = (Y * Y) % P;
  const C = (2n * Z * Z) % P;
  const Dd = mod(-A);
  const E = mod((X + Y) * (X + Y) - A - B);
  const G = mod(Dd + B);
  const F = mod(G - C);
  const H = mod(Dd - B);
  return { X: (E * F) % P, Y: (G * H) % P, Z: (F * G) % P };
}

function isSmallOrder(point) {
  const eight = double(double(double(point)));
  return eight.X === 0n && eight.Y === eight.Z;
}

/** Whether 32 bytes are a valid Ed25519 public key: on the curve and not of small order. */
export function isValidPublicKey(bytes) {
  const point = decompress(bytes);
  return point !== null && !isSmallOrder(point);
}

/**
 * The checks of `verify_strict` that WebCrypto's verify may not make: S reduced, R a curve
 * point not of small order. (WebCrypto then checks the equation and R's canonical encoding.)
 */
export function signatureIsStrict(sig) {
  if (sig.length !== 64) return false;
  if (littleEndian(sig.subarray(32)) >= L) return false;
  const r = decompress(sig.subarray(0, 32));
  return r !== null && !isSmallOrder(r);
}
