//! The browser's OPAQUE client, as a WebAssembly module with a plain interface (no
//! wasm-bindgen, no JavaScript generated): `web/app/js/crypto/opaque.js` drives it.
//!
//! The interface, all numbers `i32`:
//! - `input(len)` gives the address of a buffer of `len` bytes, where the caller writes the
//!   operation's inputs one after another;
//! - an operation (`registration_start`, `registration_finish`, `login_start`,
//!   `login_finish`) takes the inputs' lengths, reads them from that buffer, wipes the
//!   buffer, and returns a status ([`Status`]);
//! - `output()` and `output_len()` give its result. A result of two parts (a state and a
//!   message) is the first part's length as 4 bytes little-endian, the first part, then the
//!   second.
//!
//! Every operation's first input is a 32-byte seed from the caller's secure random source
//! (`crypto.getRandomValues`); it seeds a ChaCha20 generator for that operation only.

mod buffers;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use securechat_opaque::{client, OpaqueError};

pub use buffers::{input, output, output_len};

/// What an operation returns.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Done; the result is in the output buffer.
    Ok = 0,
    /// Wrong password or unknown account.
    InvalidLogin = 1,
    /// An input did not parse (or the lengths do not add up).
    Malformed = 2,
    /// The server reflected the blinded element.
    Reflected = 3,
    /// The key-stretching function failed (out of memory, say).
    Internal = 4,
}

impl From<OpaqueError> for Status {
    fn from(e: OpaqueError) -> Self {
        match e {
            OpaqueError::InvalidLogin => Self::InvalidLogin,
            OpaqueError::Malformed(_) => Self::Malformed,
            OpaqueError::Reflected => Self::Reflected,
            OpaqueError::Internal(_) => Self::Internal,
        }
    }
}

const SEED: usize = 32;

/// Splits the input buffer into a seed and parts of the given lengths, runs `op` on them
/// and stores its result; the input is wiped whatever happens.
fn run<const N: usize>(
    lens: [i32; N],
    op: impl FnOnce(&mut ChaCha20Rng, [&[u8]; N]) -> Result<Vec<u8>, OpaqueError>,
) -> i32 {
    let status = buffers::with_input(|bytes| {
        let Some((seed, mut rest)) = bytes.split_first_chunk::<SEED>() else {
            return Status::Malformed;
        };
        let mut parts: [&[u8]; N] = [&[]; N];
        for (part, len) in parts.iter_mut().zip(lens) {
            let Some(len) = usize::try_from(len).ok().filter(|l| *l <= rest.len()) else {
                return Status::Malformed;
            };
            let (head, tail) = rest.split_at(len);
            *part = head;
            rest = tail;
        }
        if !rest.is_empty() {
            return Status::Malformed;
        }
        let mut rng = ChaCha20Rng::from_seed(*seed);
        match op(&mut rng, parts) {
            Ok(out) => {
                buffers::set_output(out);
                Status::Ok
            }
            Err(e) => Status::from(e),
        }
    });
    status as i32
}

fn two_parts(started: client::Started) -> Vec<u8> {
    let len = u32::try_from(started.state.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(4 + started.state.len() + started.message.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&started.state);
    out.extend_from_slice(&started.message);
    out
}

/// Inputs: seed, password. Output: state and registration request.
#[allow(unsafe_code)] // `no_mangle`: the symbol is the interface
#[no_mangle]
pub extern "C" fn registration_start(password_len: i32) -> i32 {
    run([password_len], |rng, [password]| {
        client::registration_start(rng, password).map(two_parts)
    })
}

/// Inputs: seed, state, password, registration response. Output: the record to upload.
#[allow(unsafe_code)] // `no_mangle`: the symbol is the interface
#[no_mangle]
pub extern "C" fn registration_finish(state_len: i32, password_len: i32, response_len: i32) -> i32 {
    run(
        [state_len, password_len, response_len],
        |rng, [state, password, response]| {
            client::registration_finish(rng, state, password, response)
        },
    )
}

/// Inputs: seed, password. Output: state and credential request.
#[allow(unsafe_code)] // `no_mangle`: the symbol is the interface
#[no_mangle]
pub extern "C" fn login_start(password_len: i32) -> i32 {
    run([password_len], |rng, [password]| {
        client::login_start(rng, password).map(two_parts)
    })
}

/// Inputs: seed, state, password, credential response. Output: the credential
/// finalization; status 1 for a wrong password or an unknown account.
#[allow(unsafe_code)] // `no_mangle`: the symbol is the interface
#[no_mangle]
pub extern "C" fn login_finish(state_len: i32, password_len: i32, response_len: i32) -> i32 {
    run(
        [state_len, password_len, response_len],
        |rng, [state, password, response]| client::login_finish(rng, state, password, response),
    )
}
