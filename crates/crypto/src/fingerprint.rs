//! Safety numbers: libsignal's NumericFingerprint (version 0x0000, 5200 iterations) over our
//! own key encoding, plus the short key id shown next to a contact.
//!
//! Per party: `H_0 = SHA-512(0x0000 || key_bytes || stable_id || key_bytes)`,
//! `H_i = SHA-512(H_{i-1} || key_bytes)` for `i = 1..5199`; its first 30 bytes as six 5-byte
//! big-endian integers, each mod 100000 and zero-padded to 5 digits, give 30 digits. The
//! safety number is both parties' 30 digits, the smaller string first (the same on both
//! sides). Here `key_bytes = 0xED || ed25519_pub` and `stable_id` = the user id's canonical
//! UUID text.

use std::fmt::Write as _;

use securechat_proto::ids::UserId;
use sha2::{Digest as _, Sha256, Sha512};

use crate::identity::IdentityKey;
use crate::ids::user_id_text;

/// The fingerprint version prefixed to the first hash.
pub const FINGERPRINT_VERSION: [u8; 2] = [0x00, 0x00];
/// Number of SHA-512 invocations per party.
pub const FINGERPRINT_ITERATIONS: u32 = 5200;
/// Type byte before an Ed25519 identity key (Signal uses 0x05 before X25519 keys).
pub const KEY_TYPE_ED25519: u8 = 0xED;
/// Length of the scannable (QR) payload: version, then two 32-byte fingerprint prefixes.
pub const SCANNABLE_LEN: usize = 2 + 32 + 32;

/// libsignal's per-party iterated hash: `iterations` SHA-512 invocations in total.
pub fn numeric_fingerprint(key_bytes: &[u8], stable_id: &[u8], iterations: u32) -> [u8; 64] {
    let mut hash = Sha512::new()
        .chain_update(FINGERPRINT_VERSION)
        .chain_update(key_bytes)
        .chain_update(stable_id)
        .chain_update(key_bytes)
        .finalize();
    for _ in 1..iterations {
        hash = Sha512::new()
            .chain_update(hash)
            .chain_update(key_bytes)
            .finalize();
    }
    hash.into()
}

/// The 30 display digits of one party's fingerprint.
pub fn fingerprint_digits(fingerprint: &[u8; 64]) -> String {
    let mut digits = String::with_capacity(30);
    for chunk in fingerprint[..30].chunks_exact(5) {
        let value = chunk
            .iter()
            .fold(0u64, |acc, &byte| (acc << 8) | u64::from(byte));
        // Writing to a String cannot fail.
        let _ = write!(digits, "{:05}", value % 100_000);
    }
    digits
}

/// One user's fingerprint: `numeric_fingerprint(0xED || ik, user_id_text, 5200)`.
pub fn user_fingerprint(user_id: &UserId, identity_key: &IdentityKey) -> [u8; 64] {
    let mut key_bytes = [0u8; 33];
    key_bytes[0] = KEY_TYPE_ED25519;
    key_bytes[1..].copy_from_slice(&identity_key.to_bytes());
    numeric_fingerprint(
        &key_bytes,
        user_id_text(user_id).as_bytes(),
        FINGERPRINT_ITERATIONS,
    )
}

/// The safety number of two users: identical on both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafetyNumber {
    digits: String,
    scannable: [u8; SCANNABLE_LEN],
}

impl SafetyNumber {
    /// The 60 digits.
    pub fn digits(&self) -> &str {
        &self.digits
    }

    /// The 60 digits in twelve space-separated groups of five, as shown to users.
    pub fn grouped(&self) -> String {
        self.digits
            .as_bytes()
            .chunks(5)
            .filter_map(|group| std::str::from_utf8(group).ok())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The QR payload: `0x0000 || fp_first[0..32] || fp_second[0..32]`, the parties in the
    /// order of their digits (so both users' payloads are equal).
    pub fn scannable(&self) -> &[u8; SCANNABLE_LEN] {
        &self.scannable
    }

    /// Whether a payload scanned from the other user's screen matches.
    pub fn matches_scanned(&self, scanned: &[u8]) -> bool {
        scanned == self.scannable.as_slice()
    }
}

/// The safety number between `a` and `b` (argument order does not matter).
pub fn safety_number(
    a_user: &UserId,
    a_key: &IdentityKey,
    b_user: &UserId,
    b_key: &IdentityKey,
) -> SafetyNumber {
    let a = user_fingerprint(a_user, a_key);
    let b = user_fingerprint(b_user, b_key);
    let (a_digits, b_digits) = (fingerprint_digits(&a), fingerprint_digits(&b));
    let ((first_digits, first), (second_digits, second)) = if a_digits <= b_digits {
        ((a_digits, a), (b_digits, b))
    } else {
        ((b_digits, b), (a_digits, a))
    };
    let mut scannable = [0u8; SCANNABLE_LEN];
    scannable[..2].copy_from_slice(&FINGERPRINT_VERSION);
    scannable[2..34].copy_from_slice(&first[..32]);
    scannable[34..].copy_from_slice(&second[..32]);
    SafetyNumber {
        digits: first_digits + &second_digits,
        scannable,
    }
}

/// The short key id shown in the UI: lower-case hex of `SHA-256(ik)[0..8]` (16 characters).
pub fn short_key_id(identity_key: &IdentityKey) -> String {
    Sha256::digest(identity_key.to_bytes())[..8].iter().fold(
        String::with_capacity(16),
        |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::IdentityKeyPair;
    use rand::rngs::OsRng;

    /// libsignal's own vector (rust/protocol/src/fingerprint.rs, `fingerprint_test_v1`):
    /// X25519 keys with type byte 0x05, phone numbers as stable ids, 5200 iterations.
    #[test]
    fn matches_libsignal_numeric_fingerprint_vector() {
        let alice_key =
            hex::decode("0506863bc66d02b40d27b8d49ca7c09e9239236f9d7d25d6fcca5ce13c7064d868")
                .unwrap();
        let bob_key =
            hex::decode("05f781b6fb32fed9ba1cf2de978d4d5da28dc34046ae814402b5c0dbd96fda907b")
                .unwrap();
        let alice = numeric_fingerprint(&alice_key, b"+14152222222", 5200);
        let bob = numeric_fingerprint(&bob_key, b"+14153333333", 5200);
        assert_eq!(
            hex::encode(&alice[..32]),
            "1e301a0353dce3dbe7684cb8336e85136cdc0ee96219494ada305d62a7bd61df"
        );
        assert_eq!(
            hex::encode(&bob[..32]),
            "d62cbf73a11592015b6b9f1682ac306fea3aaf3885b84d12bca631e9d4fb3a4d"
        );
        let (a, b) = (fingerprint_digits(&alice), fingerprint_digits(&bob));
        let display = if a < b { a + &b } else { b + &a };
        assert_eq!(
            display,
            "300354477692869396892869876765458257569162576843440918079131"
        );
    }

    #[test]
    fn both_sides_compute_the_same_number_and_a_key_change_alters_it() {
        let (alice, bob) = (UserId::generate(), UserId::generate());
        let (ak, bk) = (
            IdentityKeyPair::generate(&mut OsRng).public(),
            IdentityKeyPair::generate(&mut OsRng).public(),
        );
        let one = safety_number(&alice, &ak, &bob, &bk);
        let two = safety_number(&bob, &bk, &alice, &ak);
        assert_eq!(one, two);
        assert_eq!(one.digits().len(), 60);
        assert!(one.digits().bytes().all(|d| d.is_ascii_digit()));
        assert_eq!(one.grouped().len(), 60 + 11);
        assert!(one.matches_scanned(two.scannable()));

        let mallory = IdentityKeyPair::generate(&mut OsRng).public();
        let swapped = safety_number(&alice, &ak, &bob, &mallory);
        assert_ne!(swapped.digits(), one.digits());
        assert!(!swapped.matches_scanned(one.scannable()));
        assert_eq!(short_key_id(&ak).len(), 16);
    }
}
