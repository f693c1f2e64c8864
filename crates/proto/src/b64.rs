//! Strict base64url without padding, the one binary encoding used on the wire.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// Why a base64url field could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum B64Error {
    /// Not base64url without padding (or non-canonical trailing bits).
    #[error("not valid base64url without padding")]
    Invalid,
    /// Decoded, but to the wrong number of bytes.
    #[error("expected {expected} bytes, got {got}")]
    Length { expected: usize, got: usize },
}

/// Encodes bytes as base64url without padding.
pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding, rejecting padding, other alphabets and non-canonical input.
pub fn decode(text: &str) -> Result<Vec<u8>, B64Error> {
    URL_SAFE_NO_PAD.decode(text).map_err(|_| B64Error::Invalid)
}

/// Decodes base64url into exactly `N` bytes.
pub fn decode_array<const N: usize>(text: &str) -> Result<[u8; N], B64Error> {
    let bytes = decode(text)?;
    let got = bytes.len();
    bytes
        .try_into()
        .map_err(|_| B64Error::Length { expected: N, got })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_padding_and_standard_alphabet() {
        let bytes = [0xfbu8, 0xff, 0x00, 0x10];
        let text = encode(bytes);
        assert_eq!(text, "-_8AEA");
        assert_eq!(decode(&text).unwrap(), bytes);
        assert_eq!(decode("-_8AEA=="), Err(B64Error::Invalid));
        assert_eq!(decode("+/8AEA"), Err(B64Error::Invalid));
        assert_eq!(
            decode_array::<3>(&text),
            Err(B64Error::Length {
                expected: 3,
                got: 4
            })
        );
    }
}
