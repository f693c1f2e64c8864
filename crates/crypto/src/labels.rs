//! The domain-separation labels of securechat/v1 and the length-prefix encoding `lp()`.
//!
//! Every label is registered in docs/PROTOCOL.md ("Labels"). A label that is followed by
//! unframed data ends in a NUL byte; a label that is itself `lp()`-framed does not need one.

pub use crate::binding::ENC_KEY_LABEL;

/// HPKE `info` prefix of content-key wraps (framed: `lp(WRAP_LABEL)`).
pub const WRAP_LABEL: &[u8] = b"securechat/v1/wrap";
/// HKDF-SHA256 `info` of the per-message content key.
pub const CONTENT_LABEL: &[u8] = b"securechat/v1/content";
/// Prefix of the Ed25519 message signature input.
pub const MESSAGE_SIG_LABEL: &[u8] = b"securechat/v1/message\x00";
/// AES-256-GCM associated data of every file chunk.
pub const FILE_CHUNK_LABEL: &[u8] = b"securechat/v1/file-chunk";
/// Prefix of the SHA-256 input deriving a 1:1 conversation id.
pub const DIRECT_CONV_LABEL: &[u8] = b"securechat/v1/direct-conv\x00";
/// Prefix of the Ed25519 signature input of a group membership change.
pub const GROUP_CHANGE_LABEL: &[u8] = b"securechat/v1/group-change\x00";
/// Prefix of the SHA-256 input of the link from a group change to the previous one.
pub const GROUP_LINK_LABEL: &[u8] = b"securechat/v1/group-link\x00";
/// Prefix of the key-file AEAD associated data.
pub const KEYFILE_AAD_PREFIX: &str = "securechat-keyfile|v1|";

/// Appends `lp(bytes) = u32be(len(bytes)) || bytes`.
///
/// Every framed field of the protocol is bounded far below 4 GiB (ids, keys, labels), so the
/// length always fits; a longer slice would be a programming error and is clamped rather than
/// panicking.
pub fn lp(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lp_prefixes_a_big_endian_u32_length() {
        let mut out = Vec::new();
        lp(&mut out, b"abc");
        lp(&mut out, b"");
        assert_eq!(out, [0, 0, 0, 3, b'a', b'b', b'c', 0, 0, 0, 0]);
    }
}
