//! The passphrase-protected key file (docs/PROTOCOL.md, "Key file").
//!
//! ```text
//! {"format":"securechat-keyfile","v":1,"user_id":"<uuid>","ik":b64u(32),"created_at":<ms>,
//!  "kdf":{"name":"PBKDF2-HMAC-SHA256","iter":600000,"salt":b64u(16)},
//!  "aead":{"name":"AES-256-GCM","nonce":b64u(12)},"ct":b64u(ciphertext||tag)}
//! ```
//!
//! `key = PBKDF2-HMAC-SHA256(UTF-8(NFC(passphrase)), salt, iter, 32)`; the AEAD's associated
//! data is rebuilt from the parsed fields ([`key_file_aad`]), so lowering `iter` or swapping
//! `ik` breaks the tag. The plaintext holds the identity seed and every encryption key.

use pbkdf2::pbkdf2_hmac;
use rand::{CryptoRng, RngCore};
use securechat_proto::b64;
use securechat_proto::ids::UserId;
use securechat_proto::keys::KeyStatus;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use unicode_normalization::UnicodeNormalization as _;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::aead::{self, NONCE_LEN, TAG_LEN};
use crate::identity::{EncryptionKeyPair, IdentityKey, IdentityKeyPair, KEY_ID_LEN};
use crate::ids::{parse_user_id, user_id_text};
use crate::labels::KEYFILE_AAD_PREFIX;
use crate::CryptoError;

/// The `format` value.
pub const KEYFILE_FORMAT: &str = "securechat-keyfile";
/// The `v` value.
pub const KEYFILE_VERSION: u32 = 1;
/// The `kdf.name` value.
pub const KDF_NAME: &str = "PBKDF2-HMAC-SHA256";
/// The `aead.name` value.
pub const AEAD_NAME: &str = "AES-256-GCM";
/// Iterations written by default (OWASP's PBKDF2-HMAC-SHA256 minimum).
pub const DEFAULT_ITERATIONS: u32 = 600_000;
/// Fewest iterations a reader accepts.
pub const MIN_ITERATIONS: u32 = 600_000;
/// Most iterations a reader accepts (a guard against import denial of service).
pub const MAX_ITERATIONS: u32 = 10_000_000;
/// Length of the PBKDF2 salt.
pub const SALT_LEN: usize = 16;
/// Largest key file accepted.
pub const MAX_KEYFILE_BYTES: usize = 256 * 1024;
/// Most encryption keys in one file.
pub const MAX_ENC_KEYS: usize = 256;

/// An encryption key as kept in the key file.
pub struct StoredEncryptionKey {
    pub key: EncryptionKeyPair,
    /// Creation time as published (and covered by its binding), Unix ms.
    pub created_at_ms: i64,
    pub status: KeyStatus,
}

/// Everything a key file protects. Secret: no `Debug`, no `Clone`; the keys zeroize on drop.
pub struct KeyFileContents {
    pub user_id: UserId,
    pub identity: IdentityKeyPair,
    pub enc_keys: Vec<StoredEncryptionKey>,
}

/// The public part of a key file, readable without the passphrase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFileInfo {
    pub user_id: UserId,
    pub identity_key: IdentityKey,
    /// When the file was written, Unix ms (informational; not authenticated).
    pub created_at_ms: i64,
    pub iterations: u32,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KdfJson {
    name: String,
    iter: u64,
    salt: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AeadJson {
    name: String,
    nonce: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFileJson {
    format: String,
    v: u32,
    user_id: String,
    ik: String,
    created_at: i64,
    kdf: KdfJson,
    aead: AeadJson,
    ct: String,
}

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
struct EncKeyJson {
    key_id: String,
    sk: String,
    created_at: i64,
    status: String,
}

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
struct PlaintextJson {
    ik_seed: String,
    enc_keys: Vec<EncKeyJson>,
}

/// The AEAD associated data, rebuilt from the file's fields:
/// `"securechat-keyfile|v1|" + user_id + "|" + ik + "|" + kdf.name + "|" + iter + "|" + salt
///  + "|" + aead.name + "|" + nonce` (base64url fields as in the file, `iter` in decimal).
pub fn key_file_aad(
    user_id: &UserId,
    identity_key: &IdentityKey,
    iterations: u32,
    salt: &[u8; SALT_LEN],
    nonce: &[u8; NONCE_LEN],
) -> String {
    format!(
        "{KEYFILE_AAD_PREFIX}{}|{}|{KDF_NAME}|{iterations}|{}|{AEAD_NAME}|{}",
        user_id_text(user_id),
        b64::encode(identity_key.to_bytes()),
        b64::encode(salt),
        b64::encode(nonce),
    )
}

fn check_iterations(iterations: u64) -> Result<u32, CryptoError> {
    match u32::try_from(iterations) {
        Ok(n) if (MIN_ITERATIONS..=MAX_ITERATIONS).contains(&n) => Ok(n),
        _ => Err(CryptoError::KdfIterations { got: iterations }),
    }
}

fn derive_key(
    passphrase: &str,
    salt: &[u8; SALT_LEN],
    iterations: u32,
) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let normalized: Zeroizing<String> = Zeroizing::new(passphrase.nfc().collect());
    if normalized.is_empty() {
        return Err(CryptoError::EmptyPassphrase);
    }
    let mut key = Zeroizing::new([0u8; 32]);
    pbkdf2_hmac::<Sha256>(normalized.as_bytes(), salt, iterations, key.as_mut());
    Ok(key)
}

/// Writes a key file with the default 600 000 iterations. Draws the salt (16 bytes), then the
/// nonce (12) from `rng`.
pub fn export_key_file(
    rng: &mut (impl RngCore + CryptoRng),
    contents: &KeyFileContents,
    passphrase: &str,
    created_at_ms: i64,
) -> Result<String, CryptoError> {
    export_key_file_with_iterations(rng, contents, passphrase, created_at_ms, DEFAULT_ITERATIONS)
}

/// [`export_key_file`] with a chosen iteration count (600 000 to 10 000 000).
pub fn export_key_file_with_iterations(
    rng: &mut (impl RngCore + CryptoRng),
    contents: &KeyFileContents,
    passphrase: &str,
    created_at_ms: i64,
    iterations: u32,
) -> Result<String, CryptoError> {
    let iterations = check_iterations(iterations.into())?;
    if contents.enc_keys.len() > MAX_ENC_KEYS {
        return Err(CryptoError::invalid("enc_keys", "more than 256 keys"));
    }
    let mut salt = [0u8; SALT_LEN];
    rng.fill_bytes(&mut salt);
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);

    let identity_key = contents.identity.public();
    let plaintext = PlaintextJson {
        ik_seed: b64::encode(contents.identity.seed().as_ref()),
        enc_keys: contents
            .enc_keys
            .iter()
            .map(|stored| EncKeyJson {
                key_id: b64::encode(stored.key.public().key_id()),
                sk: b64::encode(stored.key.secret_bytes().as_ref()),
                created_at: stored.created_at_ms,
                status: stored.status.as_str().to_owned(),
            })
            .collect(),
    };
    let plaintext = Zeroizing::new(
        serde_json::to_vec(&plaintext)
            .map_err(|_| CryptoError::invalid("enc_keys", "cannot be written as JSON"))?,
    );
    let key = derive_key(passphrase, &salt, iterations)?;
    let aad = key_file_aad(&contents.user_id, &identity_key, iterations, &salt, &nonce);
    let ct = aead::seal(&key, &nonce, aad.as_bytes(), &plaintext)
        .map_err(|_| CryptoError::invalid("enc_keys", "too long for AES-GCM"))?;

    let file = KeyFileJson {
        format: KEYFILE_FORMAT.to_owned(),
        v: KEYFILE_VERSION,
        user_id: user_id_text(&contents.user_id),
        ik: b64::encode(identity_key.to_bytes()),
        created_at: created_at_ms,
        kdf: KdfJson {
            name: KDF_NAME.to_owned(),
            iter: iterations.into(),
            salt: b64::encode(salt),
        },
        aead: AeadJson {
            name: AEAD_NAME.to_owned(),
            nonce: b64::encode(nonce),
        },
        ct: b64::encode(ct),
    };
    serde_json::to_string_pretty(&file)
        .map_err(|_| CryptoError::invalid("key file", "cannot be written as JSON"))
}

/// A parsed key file whose public fields all validated.
struct ParsedFile {
    info: KeyFileInfo,
    salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_LEN],
    ct: Vec<u8>,
}

fn parse(json: &[u8]) -> Result<ParsedFile, CryptoError> {
    if json.len() > MAX_KEYFILE_BYTES {
        return Err(CryptoError::TooLarge {
            what: "key file",
            limit: MAX_KEYFILE_BYTES,
            got: json.len(),
        });
    }
    let file: KeyFileJson = serde_json::from_slice(json).map_err(CryptoError::json("key file"))?;
    if file.format != KEYFILE_FORMAT {
        return Err(CryptoError::invalid("format", "not a securechat key file"));
    }
    if file.v != KEYFILE_VERSION {
        return Err(CryptoError::UnsupportedVersion {
            what: "key file",
            got: file.v.into(),
        });
    }
    if file.kdf.name != KDF_NAME {
        return Err(CryptoError::UnsupportedAlgorithm { field: "kdf.name" });
    }
    if file.aead.name != AEAD_NAME {
        return Err(CryptoError::UnsupportedAlgorithm { field: "aead.name" });
    }
    let iterations = check_iterations(file.kdf.iter)?;
    let user_id = parse_user_id("user_id", &file.user_id)?;
    let identity_key = IdentityKey::from_bytes(
        &b64::decode_array(&file.ik).map_err(CryptoError::encoding("ik"))?,
    )?;
    let salt = b64::decode_array(&file.kdf.salt).map_err(CryptoError::encoding("kdf.salt"))?;
    let nonce = b64::decode_array(&file.aead.nonce).map_err(CryptoError::encoding("aead.nonce"))?;
    let ct = b64::decode(&file.ct).map_err(CryptoError::encoding("ct"))?;
    if ct.len() < TAG_LEN {
        return Err(CryptoError::invalid("ct", "shorter than the AES-GCM tag"));
    }
    Ok(ParsedFile {
        info: KeyFileInfo {
            user_id,
            identity_key,
            created_at_ms: file.created_at,
            iterations,
        },
        salt,
        nonce,
        ct,
    })
}

/// Reads the public fields of a key file (to show whose it is before asking the passphrase).
pub fn read_key_file_info(json: &[u8]) -> Result<KeyFileInfo, CryptoError> {
    parse(json).map(|parsed| parsed.info)
}

fn decode_secret<const N: usize>(
    field: &'static str,
    text: &str,
) -> Result<Zeroizing<[u8; N]>, CryptoError> {
    b64::decode_array::<N>(text)
        .map(Zeroizing::new)
        .map_err(CryptoError::encoding(field))
}

/// Decrypts a key file and checks that its keys agree with its public fields: the identity
/// seed derives `ik`, and every encryption key matches its key id.
pub fn import_key_file(json: &[u8], passphrase: &str) -> Result<KeyFileContents, CryptoError> {
    let parsed = parse(json)?;
    let info = &parsed.info;
    let key = derive_key(passphrase, &parsed.salt, info.iterations)?;
    let aad = key_file_aad(
        &info.user_id,
        &info.identity_key,
        info.iterations,
        &parsed.salt,
        &parsed.nonce,
    );
    let plaintext = aead::open(&key, &parsed.nonce, aad.as_bytes(), &parsed.ct)
        .map_err(|_| CryptoError::KeyFileDecrypt)?;
    let plaintext: PlaintextJson =
        serde_json::from_slice(&plaintext).map_err(|_| CryptoError::SecretJson {
            what: "key file plaintext",
        })?;

    let seed = decode_secret::<32>("ik_seed", &plaintext.ik_seed)?;
    let identity = IdentityKeyPair::from_seed(&seed);
    if identity.public() != info.identity_key {
        return Err(CryptoError::KeyFileInconsistent {
            what: "ik_seed does not derive ik",
        });
    }
    if plaintext.enc_keys.len() > MAX_ENC_KEYS {
        return Err(CryptoError::invalid("enc_keys", "more than 256 keys"));
    }
    let mut enc_keys: Vec<StoredEncryptionKey> = Vec::with_capacity(plaintext.enc_keys.len());
    for stored in &plaintext.enc_keys {
        let key_id = b64::decode_array::<KEY_ID_LEN>(&stored.key_id)
            .map_err(CryptoError::encoding("enc_keys.key_id"))?;
        let sk = decode_secret::<32>("enc_keys.sk", &stored.sk)?;
        let key = EncryptionKeyPair::from_secret_bytes(&sk);
        if key.public().key_id() != key_id {
            return Err(CryptoError::KeyFileInconsistent {
                what: "an encryption key does not match its key id",
            });
        }
        if enc_keys
            .iter()
            .any(|other| other.key.public().key_id() == key_id)
        {
            return Err(CryptoError::KeyFileInconsistent {
                what: "an encryption key is listed twice",
            });
        }
        let status = match stored.status.as_str() {
            "active" => KeyStatus::Active,
            "retired" => KeyStatus::Retired,
            _ => {
                return Err(CryptoError::invalid(
                    "enc_keys.status",
                    "not active or retired",
                ))
            }
        };
        enc_keys.push(StoredEncryptionKey {
            key,
            created_at_ms: stored.created_at,
            status,
        });
    }
    Ok(KeyFileContents {
        user_id: info.user_id,
        identity,
        enc_keys,
    })
}

#[cfg(test)]
mod tests;
