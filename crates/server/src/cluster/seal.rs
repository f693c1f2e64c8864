//! Words are authenticated: each carries a truncated HMAC-SHA256 over its channel and
//! payload, keyed from the token secret that every node shares (the agreement check makes
//! sure of that). A word without a valid tag (someone else who can publish to Redis, or a
//! node of another cluster on the same Redis) is dropped: it cannot move a connection's
//! position, close a session or count against a limit. Redis can still delay, drop or
//! replay words; the database poll covers the first two, and an old word is harmless (its
//! `seq` is behind every connection that could get it).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Bytes of the tag kept (as 32 hex digits).
const TAG_BYTES: usize = 16;

/// The key words are tagged with.
#[derive(Clone)]
pub struct WordKey([u8; 32]);

impl WordKey {
    /// Derived from the token secret, under a label of its own.
    pub fn from_token_secret(secret: &[u8]) -> Self {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
        mac.update(b"securechat cluster words v1");
        Self(mac.finalize().into_bytes().into())
    }

    fn mac(&self, channel: &str, payload: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a 32-byte key");
        mac.update(channel.as_bytes());
        mac.update(&[0]);
        mac.update(payload.as_bytes());
        mac
    }

    /// `<tag> <payload>`.
    pub fn seal(&self, channel: &str, payload: &str) -> String {
        let tag = self.mac(channel, payload).finalize().into_bytes();
        format!("{} {payload}", hex::encode(&tag[..TAG_BYTES]))
    }

    /// The payload of a sealed word, if its tag is right.
    pub fn open<'a>(&self, channel: &str, word: &'a str) -> Option<&'a str> {
        let (tag, payload) = word.split_once(' ')?;
        let tag = hex::decode(tag).ok()?;
        if tag.len() != TAG_BYTES {
            return None;
        }
        self.mac(channel, payload)
            .verify_truncated_left(&tag)
            .ok()
            .map(|()| payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_words_sealed_with_the_same_secret_for_the_same_channel_open() {
        let key = WordKey::from_token_secret(b"a token secret of at least 32 bytes!!");
        let word = key.seal("sc:u:1", "n-1 e 7 {\"x\":1}");
        assert_eq!(key.open("sc:u:1", &word), Some("n-1 e 7 {\"x\":1}"));
        assert_eq!(key.open("sc:u:2", &word), None, "another channel");
        let other = WordKey::from_token_secret(b"another token secret, also 32 bytes");
        assert_eq!(other.open("sc:u:1", &word), None, "another cluster");
        let forged = word.replacen("e 7", "e 8", 1);
        assert_eq!(key.open("sc:u:1", &forged), None, "a changed payload");
        assert_eq!(key.open("sc:u:1", "n-1 e 7 {}"), None, "no tag");
    }
}
