//! One-time codes (invitations, password resets): 128 random bits shown as base64url, stored
//! only as their SHA-256, and the links that carry them to the browser (in the URL fragment,
//! which a browser never sends to a server).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

/// A fresh code and the hash the store keeps.
pub struct OneTimeCode {
    pub code: String,
    pub hash: [u8; 32],
}

impl OneTimeCode {
    /// A new random code.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let code = URL_SAFE_NO_PAD.encode(bytes);
        let hash = hash(&code);
        Self { code, hash }
    }
}

/// The stored form of a code as a person typed or pasted it (surrounding blanks ignored).
pub fn hash(code: &str) -> [u8; 32] {
    Sha256::digest(code.trim().as_bytes()).into()
}

/// What a link carries.
#[derive(Debug, Clone, Copy)]
pub enum LinkKind {
    Invite,
    Reset,
}

/// The browser link for a code: `https://chat.example.org/#invite=CODE`.
pub fn link(public_url: &str, kind: LinkKind, code: &str) -> String {
    let key = match kind {
        LinkKind::Invite => "invite",
        LinkKind::Reset => "reset",
    };
    format!("{}/#{key}={code}", public_url.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_long_random_and_hashed_as_typed() {
        let a = OneTimeCode::generate();
        let b = OneTimeCode::generate();
        assert_eq!(a.code.len(), 22);
        assert_ne!(a.code, b.code);
        assert_eq!(hash(&format!("  {}\n", a.code)), a.hash);
        assert_eq!(
            link("https://chat.example.org/", LinkKind::Invite, "abc"),
            "https://chat.example.org/#invite=abc"
        );
    }
}
