//! Key files as `securechat import-keys` reads them: every public field is parsed and checked
//! before a passphrase is asked for. (Decryption is not fuzzed: each attempt costs 600 000
//! PBKDF2 iterations and nothing past the AES-GCM tag is reachable without the passphrase.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use securechat_crypto::keyfile::{read_key_file_info, MAX_ITERATIONS, MIN_ITERATIONS};

fuzz_target!(|data: &[u8]| {
    let Ok(info) = read_key_file_info(data) else {
        return;
    };
    assert!((MIN_ITERATIONS..=MAX_ITERATIONS).contains(&info.iterations));
});
