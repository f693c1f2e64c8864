//! Errors of the crypto crate: precise, and never carrying secret material.
//!
//! Messages name the check that failed and the field at fault. Details from JSON parsers are
//! only kept for public inputs (envelopes, headers, key-file outer JSON): a parser message may
//! quote the input, and decrypted plaintext must never reach a log.

/// A cryptographic check, a limit or a decoding failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    // --- keys and signatures -------------------------------------------------------------
    /// The identity key is not a valid Ed25519 public key, or is a weak (small-order) one.
    #[error("identity key is not a valid, strong Ed25519 public key")]
    BadIdentityKey,
    /// The X25519 key has the wrong length or is a low-order point.
    #[error("encryption key is not a valid X25519 public key of full order")]
    BadEncryptionKey,
    /// The key id is not `SHA-256(x25519)[0..8]`.
    #[error("key id does not match the encryption key")]
    KeyIdMismatch,
    /// A signature did not verify (strict Ed25519 verification).
    #[error("signature does not verify")]
    BadSignature,

    // --- encodings and limits ------------------------------------------------------------
    /// A base64url field could not be decoded to the expected length.
    #[error("{field}: {source}")]
    Encoding {
        field: &'static str,
        source: securechat_proto::b64::B64Error,
    },
    /// Public JSON (envelope, header, key-file wrapper) is malformed or has unknown,
    /// duplicate or missing members.
    #[error("{what}: malformed JSON: {detail}")]
    Json { what: &'static str, detail: String },
    /// Decrypted JSON is malformed. Parser details are withheld: they may quote secrets.
    #[error("{what}: malformed JSON (details withheld, the input is secret)")]
    SecretJson { what: &'static str },
    /// A field is present and well-encoded but its value is not allowed.
    #[error("{field}: {reason}")]
    InvalidField {
        field: &'static str,
        reason: &'static str,
    },
    /// An input exceeds a protocol limit.
    #[error("{what} is too large: {got} bytes, the limit is {limit}")]
    TooLarge {
        what: &'static str,
        limit: usize,
        got: usize,
    },
    /// A format or protocol version this implementation does not know.
    #[error("{what}: unsupported version {got}")]
    UnsupportedVersion { what: &'static str, got: u64 },
    /// A cipher-suite or algorithm name this implementation does not know.
    #[error("{field}: unsupported algorithm")]
    UnsupportedAlgorithm { field: &'static str },
    /// The group change bytes are not the canonical serialisation of the change they encode.
    #[error("group change is not in canonical form (member order, spacing or number format)")]
    NonCanonicalGroupChange,
    /// A group membership change breaks a rule of the chain (docs/PROTOCOL.md §17.3).
    #[error("group change {seq} refused: {reason}")]
    GroupChange { seq: u64, reason: &'static str },
    /// A group member's identity key differs from the one pinned for that user.
    #[error(
        "group member {user} has an identity key other than the pinned one (safety number changed)"
    )]
    GroupKeyMismatch { user: securechat_proto::ids::UserId },
    /// A group message's sender is not a member of the group as this client verified it.
    #[error("the sender {user} is not a member of the group as verified here")]
    GroupSenderNotMember { user: securechat_proto::ids::UserId },
    /// A group message is wrapped for someone outside the group as this client verified it
    /// (a member the server pretends to have added).
    #[error(
        "the message is wrapped for {user}, who is not a member of the group as verified here"
    )]
    GroupOutsider { user: securechat_proto::ids::UserId },
    /// The header bytes are not the canonical serialisation of the header they encode.
    #[error("header is not in canonical form (member order, spacing or number format)")]
    NonCanonicalHeader,

    // --- the verification procedure of an envelope (docs/PROTOCOL.md, "Opening") ---------
    /// No identity key is pinned for the header's sender: fetch, pin (TOFU) and retry.
    #[error("no identity key is pinned for the sender")]
    UnknownSender,
    /// The header's identity key differs from the pinned one: run the key-change flow.
    #[error("sender identity key differs from the pinned key (safety number changed)")]
    IdentityKeyChanged,
    /// The server-asserted sender is not the header's sender.
    #[error("transport sender differs from the signed sender")]
    SenderMismatch,
    /// The conversation the envelope arrived in is not the header's `conv_id`.
    #[error("envelope belongs to another conversation")]
    ConversationMismatch,
    /// This user has no wrap in the header (reflected or misrouted envelope).
    #[error("this user is not among the envelope's recipients")]
    NotARecipient,
    /// This user has wraps, but for no key id whose private key is held here.
    #[error("no private key held for any of this user's wraps")]
    NoMatchingKey,
    /// The `msg_id` was already accepted in this conversation.
    #[error("message id already accepted (replay)")]
    Replay,
    /// The self-destruct time has passed.
    #[error("message has expired")]
    Expired,
    /// HPKE encapsulation failed (all-zero shared secret).
    #[error("could not wrap the content key (HPKE seal failed)")]
    WrapFailed,
    /// HPKE decapsulation or the wrap's AEAD failed.
    #[error("could not unwrap the content key (HPKE open failed)")]
    UnwrapFailed,
    /// The content AEAD did not authenticate.
    #[error("content does not decrypt (AES-GCM authentication failed)")]
    DecryptFailed,
    /// An id repeated inside the plaintext differs from the signed header.
    #[error("plaintext {field} differs from the header")]
    InnerMismatch { field: &'static str },

    // --- tombstones ----------------------------------------------------------------------
    /// The message is not a `delete` tombstone.
    #[error("message is not a delete tombstone")]
    NotATombstone,
    /// The tombstone's `ref` or conversation does not name the given message.
    #[error("tombstone does not reference this message")]
    TombstoneTargetMismatch,
    /// The tombstone's sender did not send the referenced message.
    #[error("tombstone sender is not the sender of the referenced message")]
    TombstoneNotBySender,

    // --- file streams --------------------------------------------------------------------
    /// A chunk handed to the encryptor or decryptor has the wrong length.
    #[error("file chunk {index}: expected {expected} bytes, got {got}")]
    ChunkLength {
        index: u64,
        expected: usize,
        got: usize,
    },
    /// A chunk did not authenticate (tampered, reordered, or a non-final chunk made final).
    #[error("file chunk {index} does not decrypt")]
    ChunkDecrypt { index: u64 },
    /// More chunks than the descriptor announces.
    #[error("file stream continues after its final chunk")]
    StreamExtended,
    /// The stream ended before its final chunk.
    #[error("file stream truncated: {got} of {expected} chunks")]
    StreamTruncated { got: u64, expected: u64 },
    /// The ciphertext's SHA-256 differs from the descriptor's.
    #[error("file ciphertext digest differs from the descriptor")]
    CiphertextDigestMismatch,

    // --- key files -----------------------------------------------------------------------
    /// The PBKDF2 iteration count is outside the accepted range.
    #[error("key file iteration count {got} is outside 600000..=10000000")]
    KdfIterations { got: u64 },
    /// The passphrase is empty.
    #[error("passphrase is empty")]
    EmptyPassphrase,
    /// Wrong passphrase, or the key file was altered.
    #[error("key file does not decrypt (wrong passphrase or altered file)")]
    KeyFileDecrypt,
    /// The decrypted keys contradict the file's public fields.
    #[error("key file is inconsistent: {what}")]
    KeyFileInconsistent { what: &'static str },
}

impl CryptoError {
    /// A base64url decoding error for `field`.
    pub(crate) fn encoding(
        field: &'static str,
    ) -> impl Fn(securechat_proto::b64::B64Error) -> Self {
        move |source| Self::Encoding { field, source }
    }

    /// A JSON error on public input, keeping the parser's detail.
    pub(crate) fn json(what: &'static str) -> impl Fn(serde_json::Error) -> Self {
        move |error| Self::Json {
            what,
            detail: error.to_string(),
        }
    }

    /// An invalid value.
    pub(crate) fn invalid(field: &'static str, reason: &'static str) -> Self {
        Self::InvalidField { field, reason }
    }
}
