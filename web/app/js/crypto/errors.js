// Errors named as in crates/crypto/src/error.rs (CryptoError), so that tests and the UI can
// tell failures apart by `code`.

export class CryptoError extends Error {
  constructor(code, message) {
    super(message || code);
    this.name = 'CryptoError';
    this.code = code;
  }
}

export class InvalidField extends CryptoError {
  constructor(field, reason) {
    super('InvalidField', `${field}: ${reason}`);
    this.field = field;
  }
}

/** A CryptoError with the given code. */
export function fail(code, message) {
  return new CryptoError(code, message);
}
