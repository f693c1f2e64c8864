//! The signed, encrypted message envelope as it travels (docs/PROTOCOL.md, "Envelope").
//! The server routes by the header inside `h` and never sees plaintext.

use serde::{Deserialize, Serialize};

/// `{"v":1,"h":b64u(header_bytes),"ct":b64u(ciphertext),"sig":b64u(signature)}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Envelope {
    pub v: u32,
    /// The header's exact JSON bytes, base64url.
    pub h: String,
    /// Content ciphertext with its tag, base64url.
    pub ct: String,
    /// Ed25519 signature, base64url.
    pub sig: String,
}

impl Envelope {
    /// Bytes on the wire, roughly: what size limits apply to.
    pub fn wire_len(&self) -> usize {
        self.h.len() + self.ct.len() + self.sig.len() + 32
    }
}
