//! Files: chunked AES-256-GCM in the STREAM construction (Hoang–Reyhanitabar–Rogaway–Vizár),
//! as implemented by `aead::stream::StreamBE32`.
//!
//! A random file key `FK` and a random 7-byte nonce prefix per file; plaintext is cut into
//! `chunk_size`-byte chunks (64 KiB by default; the last holds the remainder, an empty file is
//! one empty chunk), and chunk `i` is sealed with
//!
//! `nonce = prefix7 || u32be(i) || last_flag` (`0x01` on the last chunk, else `0x00`),
//! `aad = "securechat/v1/file-chunk"`.
//!
//! Reordered chunks fail (the index is in the nonce), a non-final chunk cannot pose as the
//! final one (the flag), so truncation at a chunk boundary and extension are detected. The
//! [`FileDescriptor`] that travels inside the (signed, encrypted) file message carries the key,
//! the prefix, the sizes and `SHA-256` of the whole ciphertext.

use aes_gcm::aead::stream::{DecryptorBE32, EncryptorBE32};
use aes_gcm::aead::{KeyInit as _, Payload};
use aes_gcm::{Aes256Gcm, Key};
use rand::{CryptoRng, RngCore};
use securechat_proto::b64;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::aead::TAG_LEN;
use crate::envelope::MAX_SAFE_INTEGER;
use crate::ids::FileId;
use crate::labels::FILE_CHUNK_LABEL;
use crate::CryptoError;

/// Plaintext bytes per chunk written by securechat clients.
pub const DEFAULT_CHUNK_SIZE: u32 = 64 * 1024;
/// Smallest chunk size a reader accepts.
pub const MIN_CHUNK_SIZE: u32 = 64;
/// Largest chunk size a reader accepts (bounds the memory a chunk needs).
pub const MAX_CHUNK_SIZE: u32 = 1024 * 1024;
/// Length of the nonce prefix.
pub const NONCE_PREFIX_LEN: usize = 7;
/// Longest MIME type, in bytes.
pub const MAX_MIME_LEN: usize = 255;
/// Longest file name, in bytes of UTF-8.
pub const MAX_NAME_LEN: usize = 1024;
/// Most chunks in one file: the counter is 32 bits.
pub const MAX_CHUNKS: u64 = 1 << 32;

/// A file key. Zeroized on drop; no `Debug`, no `Clone`.
pub struct FileKey(Zeroizing<[u8; 32]>);

impl FileKey {
    /// A fresh key from the CSPRNG.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(key.as_mut());
        Self(key)
    }

    /// Wraps known bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self(Zeroizing::new(*bytes))
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(self.0.as_ref()))
    }
}

/// Everything a recipient needs to fetch, check and decrypt a file; travels inside the file
/// message's plaintext. Holds the key: no `Debug`, no `Clone`.
pub struct FileDescriptor {
    /// The id the blob is stored under (random, 128 bits).
    pub file_id: FileId,
    pub key: FileKey,
    pub nonce_prefix: [u8; NONCE_PREFIX_LEN],
    /// Plaintext bytes per chunk.
    pub chunk_size: u32,
    /// Plaintext size in bytes.
    pub size: u64,
    pub mime: String,
    pub name: String,
    /// SHA-256 of the whole ciphertext (all chunks, tags included, concatenated).
    pub ct_sha256: [u8; 32],
}

/// The number of chunks of a `size`-byte file: `max(1, ceil(size / chunk_size))`.
pub fn chunk_count(size: u64, chunk_size: u32) -> u64 {
    size.div_ceil(u64::from(chunk_size)).max(1)
}

/// Plaintext length of chunk `index` (which must be below the chunk count).
fn plaintext_chunk_len(size: u64, chunk_size: u32, index: u64) -> usize {
    let start = index.saturating_mul(chunk_size.into());
    let len = size.saturating_sub(start).min(chunk_size.into());
    // At most chunk_size, which is a u32.
    usize::try_from(len).unwrap_or(usize::MAX)
}

fn check_shape(size: u64, chunk_size: u32) -> Result<(), CryptoError> {
    if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
        return Err(CryptoError::invalid(
            "chunk_size",
            "outside 64..=1048576 bytes",
        ));
    }
    if size > MAX_SAFE_INTEGER || chunk_count(size, chunk_size) > MAX_CHUNKS {
        return Err(CryptoError::invalid(
            "size",
            "file too large for a 32-bit chunk counter or above 2^53 - 1",
        ));
    }
    Ok(())
}

fn check_labels(mime: &str, name: &str) -> Result<(), CryptoError> {
    if mime.len() > MAX_MIME_LEN {
        return Err(CryptoError::TooLarge {
            what: "file mime",
            limit: MAX_MIME_LEN,
            got: mime.len(),
        });
    }
    if name.len() > MAX_NAME_LEN {
        return Err(CryptoError::TooLarge {
            what: "file name",
            limit: MAX_NAME_LEN,
            got: name.len(),
        });
    }
    Ok(())
}

impl FileDescriptor {
    /// Number of chunks.
    pub fn chunk_count(&self) -> u64 {
        chunk_count(self.size, self.chunk_size)
    }

    /// Total ciphertext length: `size + 16 * chunk_count`.
    pub fn ciphertext_len(&self) -> u64 {
        self.size
            .saturating_add(self.chunk_count().saturating_mul(TAG_LEN as u64))
    }

    /// Validates sizes and labels (done on every descriptor a message carries).
    pub fn validate(&self) -> Result<(), CryptoError> {
        check_shape(self.size, self.chunk_size)?;
        check_labels(&self.mime, &self.name)
    }

    pub(crate) fn to_json(&self) -> FileDescriptorJson {
        FileDescriptorJson {
            file_id: self.file_id.to_b64(),
            key: b64::encode(self.key.0.as_ref()),
            nonce_prefix: b64::encode(self.nonce_prefix),
            chunk_size: self.chunk_size,
            size: self.size,
            mime: self.mime.clone(),
            name: self.name.clone(),
            ct_sha256: b64::encode(self.ct_sha256),
        }
    }

    pub(crate) fn from_json(json: &FileDescriptorJson) -> Result<Self, CryptoError> {
        let key = Zeroizing::new(
            b64::decode_array::<32>(&json.key).map_err(CryptoError::encoding("file.key"))?,
        );
        let descriptor = Self {
            file_id: FileId::decode("file.file_id", &json.file_id)?,
            key: FileKey::from_bytes(&key),
            nonce_prefix: b64::decode_array(&json.nonce_prefix)
                .map_err(CryptoError::encoding("file.nonce_prefix"))?,
            chunk_size: json.chunk_size,
            size: json.size,
            mime: json.mime.clone(),
            name: json.name.clone(),
            ct_sha256: b64::decode_array(&json.ct_sha256)
                .map_err(CryptoError::encoding("file.ct_sha256"))?,
        };
        descriptor.validate()?;
        Ok(descriptor)
    }
}

/// The descriptor's JSON inside the message plaintext. Zeroized on drop (it holds the key).
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileDescriptorJson {
    file_id: String,
    key: String,
    nonce_prefix: String,
    chunk_size: u32,
    size: u64,
    mime: String,
    name: String,
    ct_sha256: String,
}

/// Encrypts a file of known size chunk by chunk.
pub struct FileEncryptor {
    file_id: FileId,
    key: FileKey,
    nonce_prefix: [u8; NONCE_PREFIX_LEN],
    chunk_size: u32,
    size: u64,
    next: u64,
    stream: Option<EncryptorBE32<Aes256Gcm>>,
    digest: Sha256,
}

impl FileEncryptor {
    /// Starts a `size`-byte file with 64 KiB chunks. Draws, in order: file id (16 bytes),
    /// key (32), nonce prefix (7).
    pub fn new(rng: &mut (impl RngCore + CryptoRng), size: u64) -> Result<Self, CryptoError> {
        Self::with_chunk_size(rng, size, DEFAULT_CHUNK_SIZE)
    }

    /// Starts a file with another chunk size (64 B to 1 MiB; small sizes make short test
    /// vectors with several chunks).
    pub fn with_chunk_size(
        rng: &mut (impl RngCore + CryptoRng),
        size: u64,
        chunk_size: u32,
    ) -> Result<Self, CryptoError> {
        check_shape(size, chunk_size)?;
        let file_id = FileId::generate(rng);
        let key = FileKey::generate(rng);
        let mut nonce_prefix = [0u8; NONCE_PREFIX_LEN];
        rng.fill_bytes(&mut nonce_prefix);
        let stream = EncryptorBE32::from_aead(key.cipher(), (&nonce_prefix).into());
        Ok(Self {
            file_id,
            key,
            nonce_prefix,
            chunk_size,
            size,
            next: 0,
            stream: Some(stream),
            digest: Sha256::new(),
        })
    }

    /// Number of chunks this file has.
    pub fn chunk_count(&self) -> u64 {
        chunk_count(self.size, self.chunk_size)
    }

    /// The plaintext length the next chunk must have, or `None` once all are sealed.
    pub fn next_chunk_len(&self) -> Option<usize> {
        (self.next < self.chunk_count())
            .then(|| plaintext_chunk_len(self.size, self.chunk_size, self.next))
    }

    /// Seals the next chunk: exactly `chunk_size` bytes, the last one the remainder.
    pub fn encrypt_chunk(&mut self, chunk: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let expected = self.next_chunk_len().ok_or(CryptoError::StreamExtended)?;
        if chunk.len() != expected {
            return Err(CryptoError::ChunkLength {
                index: self.next,
                expected,
                got: chunk.len(),
            });
        }
        let payload = Payload {
            msg: chunk,
            aad: FILE_CHUNK_LABEL,
        };
        let last = self.next + 1 == self.chunk_count();
        let sealed = if last {
            let stream = self.stream.take().ok_or(CryptoError::StreamExtended)?;
            stream.encrypt_last(payload)
        } else {
            let stream = self.stream.as_mut().ok_or(CryptoError::StreamExtended)?;
            stream.encrypt_next(payload)
        }
        .map_err(|_| CryptoError::invalid("chunk", "chunk counter exhausted"))?;
        self.digest.update(&sealed);
        self.next += 1;
        Ok(sealed)
    }

    /// Completes the file and returns its descriptor.
    pub fn finish(self, mime: &str, name: &str) -> Result<FileDescriptor, CryptoError> {
        let expected = self.chunk_count();
        if self.next < expected {
            return Err(CryptoError::StreamTruncated {
                got: self.next,
                expected,
            });
        }
        check_labels(mime, name)?;
        Ok(FileDescriptor {
            file_id: self.file_id,
            key: self.key,
            nonce_prefix: self.nonce_prefix,
            chunk_size: self.chunk_size,
            size: self.size,
            mime: mime.to_owned(),
            name: name.to_owned(),
            ct_sha256: self.digest.finalize().into(),
        })
    }
}

/// Decrypts a file chunk by chunk, in order, against its descriptor.
pub struct FileDecryptor {
    chunk_size: u32,
    size: u64,
    next: u64,
    stream: Option<DecryptorBE32<Aes256Gcm>>,
    digest: Sha256,
    expected_digest: [u8; 32],
}

impl FileDecryptor {
    /// Prepares to decrypt the file `descriptor` describes.
    pub fn new(descriptor: &FileDescriptor) -> Result<Self, CryptoError> {
        descriptor.validate()?;
        Ok(Self {
            chunk_size: descriptor.chunk_size,
            size: descriptor.size,
            next: 0,
            stream: Some(DecryptorBE32::from_aead(
                descriptor.key.cipher(),
                (&descriptor.nonce_prefix).into(),
            )),
            digest: Sha256::new(),
            expected_digest: descriptor.ct_sha256,
        })
    }

    /// Number of chunks.
    pub fn chunk_count(&self) -> u64 {
        chunk_count(self.size, self.chunk_size)
    }

    /// The ciphertext length the next chunk must have, or `None` after the final chunk.
    pub fn next_chunk_len(&self) -> Option<usize> {
        (self.next < self.chunk_count())
            .then(|| plaintext_chunk_len(self.size, self.chunk_size, self.next) + TAG_LEN)
    }

    /// Opens the next ciphertext chunk. Refuses chunks after the final one, chunks of the
    /// wrong length, and chunks that do not authenticate at this position.
    pub fn decrypt_chunk(&mut self, chunk: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let expected = self.next_chunk_len().ok_or(CryptoError::StreamExtended)?;
        if chunk.len() != expected {
            return Err(CryptoError::ChunkLength {
                index: self.next,
                expected,
                got: chunk.len(),
            });
        }
        self.digest.update(chunk);
        let payload = Payload {
            msg: chunk,
            aad: FILE_CHUNK_LABEL,
        };
        let index = self.next;
        let last = index + 1 == self.chunk_count();
        let opened = if last {
            let stream = self.stream.take().ok_or(CryptoError::StreamExtended)?;
            stream.decrypt_last(payload)
        } else {
            let stream = self.stream.as_mut().ok_or(CryptoError::StreamExtended)?;
            stream.decrypt_next(payload)
        }
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::ChunkDecrypt { index })?;
        self.next += 1;
        Ok(opened)
    }

    /// Ends the stream: every chunk must have been opened and the ciphertext digest must match.
    pub fn finish(self) -> Result<(), CryptoError> {
        let expected = self.chunk_count();
        if self.next < expected {
            return Err(CryptoError::StreamTruncated {
                got: self.next,
                expected,
            });
        }
        if <[u8; 32]>::from(self.digest.finalize()) != self.expected_digest {
            return Err(CryptoError::CiphertextDigestMismatch);
        }
        Ok(())
    }
}

/// Encrypts a whole file in memory with 64 KiB chunks: `(ciphertext, descriptor)`.
pub fn encrypt_file(
    rng: &mut (impl RngCore + CryptoRng),
    plaintext: &[u8],
    mime: &str,
    name: &str,
) -> Result<(Vec<u8>, FileDescriptor), CryptoError> {
    encrypt_file_with_chunk_size(rng, plaintext, mime, name, DEFAULT_CHUNK_SIZE)
}

/// [`encrypt_file`] with another chunk size.
pub fn encrypt_file_with_chunk_size(
    rng: &mut (impl RngCore + CryptoRng),
    plaintext: &[u8],
    mime: &str,
    name: &str,
    chunk_size: u32,
) -> Result<(Vec<u8>, FileDescriptor), CryptoError> {
    check_labels(mime, name)?;
    let mut encryptor = FileEncryptor::with_chunk_size(rng, plaintext.len() as u64, chunk_size)?;
    let mut out = Vec::with_capacity(plaintext.len() + TAG_LEN);
    let mut rest = plaintext;
    while let Some(len) = encryptor.next_chunk_len() {
        let (chunk, tail) = rest.split_at(len.min(rest.len()));
        out.extend_from_slice(&encryptor.encrypt_chunk(chunk)?);
        rest = tail;
    }
    Ok((out, encryptor.finish(mime, name)?))
}

/// Decrypts a whole file in memory; refuses truncated, extended, reordered or altered input.
pub fn decrypt_file(
    descriptor: &FileDescriptor,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let mut decryptor = FileDecryptor::new(descriptor)?;
    let mut out = Zeroizing::new(Vec::with_capacity(ciphertext.len()));
    let mut rest = ciphertext;
    while let Some(len) = decryptor.next_chunk_len() {
        if rest.len() < len {
            if rest.is_empty() {
                break; // Reported as truncation by finish().
            }
            return Err(CryptoError::ChunkLength {
                index: decryptor.next,
                expected: len,
                got: rest.len(),
            });
        }
        let (chunk, tail) = rest.split_at(len);
        out.extend_from_slice(&decryptor.decrypt_chunk(chunk)?);
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(CryptoError::StreamExtended);
    }
    decryptor.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aead;
    use rand::rngs::OsRng;

    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    fn chunks(ct: &[u8], descriptor: &FileDescriptor) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut rest = ct;
        for i in 0..descriptor.chunk_count() {
            let len = plaintext_chunk_len(descriptor.size, descriptor.chunk_size, i) + TAG_LEN;
            let (chunk, tail) = rest.split_at(len);
            out.push(chunk.to_vec());
            rest = tail;
        }
        out
    }

    #[test]
    fn round_trips_at_and_around_chunk_boundaries() {
        for len in [0usize, 1, 63, 64, 65, 128, 200] {
            let data = sample(len);
            let (ct, descriptor) =
                encrypt_file_with_chunk_size(&mut OsRng, &data, "text/plain", "a.txt", 64).unwrap();
            assert_eq!(descriptor.chunk_count(), chunk_count(len as u64, 64));
            assert_eq!(ct.len() as u64, descriptor.ciphertext_len());
            assert_eq!(decrypt_file(&descriptor, &ct).unwrap().as_slice(), data);
        }
        let data = sample(150_000);
        let (ct, descriptor) = encrypt_file(&mut OsRng, &data, "a/b", "big").unwrap();
        assert_eq!(descriptor.chunk_count(), 3);
        assert_eq!(decrypt_file(&descriptor, &ct).unwrap().as_slice(), data);
    }

    #[test]
    fn the_nonce_is_prefix_counter_and_last_flag() {
        let data = sample(100);
        let (ct, descriptor) = encrypt_file_with_chunk_size(&mut OsRng, &data, "", "", 64).unwrap();
        let parts = chunks(&ct, &descriptor);
        for (index, last) in [(0u32, 0u8), (1, 1)] {
            let mut nonce = [0u8; 12];
            nonce[..7].copy_from_slice(&descriptor.nonce_prefix);
            nonce[7..11].copy_from_slice(&index.to_be_bytes());
            nonce[11] = last;
            let i = index as usize;
            let pt = aead::open(&descriptor.key.0, &nonce, FILE_CHUNK_LABEL, &parts[i]).unwrap();
            assert_eq!(pt.as_slice(), &data[i * 64..(i * 64 + 64).min(100)]);
        }
    }

    #[test]
    fn reordering_truncation_extension_and_tampering_are_detected() {
        let data = sample(200);
        let (ct, descriptor) =
            encrypt_file_with_chunk_size(&mut OsRng, &data, "x/y", "f", 64).unwrap();
        let parts = chunks(&ct, &descriptor);
        assert_eq!(parts.len(), 4);

        // Reordered: chunks 0 and 1 swapped.
        let mut decryptor = FileDecryptor::new(&descriptor).unwrap();
        assert_eq!(
            decryptor.decrypt_chunk(&parts[1]).err(),
            Some(CryptoError::ChunkDecrypt { index: 0 })
        );

        // Truncated: the stream ends before the final chunk.
        let mut decryptor = FileDecryptor::new(&descriptor).unwrap();
        for part in &parts[..3] {
            decryptor.decrypt_chunk(part).unwrap();
        }
        assert_eq!(
            decryptor.finish().err(),
            Some(CryptoError::StreamTruncated {
                got: 3,
                expected: 4
            })
        );
        let truncated = parts[..3].concat();
        assert_eq!(
            decrypt_file(&descriptor, &truncated).err(),
            Some(CryptoError::StreamTruncated {
                got: 3,
                expected: 4
            })
        );

        // Truncated with a descriptor claiming the shorter size: chunk 2 was not sealed as
        // the final chunk, so it fails as one.
        let forged = FileDescriptor {
            file_id: descriptor.file_id,
            key: FileKey::from_bytes(&descriptor.key.0),
            nonce_prefix: descriptor.nonce_prefix,
            chunk_size: 64,
            size: 192,
            mime: String::new(),
            name: String::new(),
            ct_sha256: Sha256::digest(&truncated).into(),
        };
        assert_eq!(
            decrypt_file(&forged, &truncated).err(),
            Some(CryptoError::ChunkDecrypt { index: 2 })
        );

        // Extended: anything after the final chunk.
        let mut decryptor = FileDecryptor::new(&descriptor).unwrap();
        for part in &parts {
            decryptor.decrypt_chunk(part).unwrap();
        }
        assert_eq!(
            decryptor.decrypt_chunk(&parts[0]).err(),
            Some(CryptoError::StreamExtended)
        );
        let mut extended = ct.clone();
        extended.extend_from_slice(&parts[0]);
        assert_eq!(
            decrypt_file(&descriptor, &extended).err(),
            Some(CryptoError::StreamExtended)
        );

        // Tampered byte.
        let mut tampered = ct.clone();
        tampered[70] ^= 1;
        assert_eq!(
            decrypt_file(&descriptor, &tampered).err(),
            Some(CryptoError::ChunkDecrypt { index: 0 })
        );
        let mut tampered = ct;
        tampered[100] ^= 1;
        assert_eq!(
            decrypt_file(&descriptor, &tampered).err(),
            Some(CryptoError::ChunkDecrypt { index: 1 })
        );
    }

    #[test]
    fn the_encryptor_enforces_chunk_lengths() {
        let mut encryptor = FileEncryptor::with_chunk_size(&mut OsRng, 100, 64).unwrap();
        assert_eq!(
            encryptor.encrypt_chunk(&[0u8; 10]).err(),
            Some(CryptoError::ChunkLength {
                index: 0,
                expected: 64,
                got: 10
            })
        );
        encryptor.encrypt_chunk(&[0u8; 64]).unwrap();
        assert!(encryptor.encrypt_chunk(&[0u8; 64]).is_err());
        encryptor.encrypt_chunk(&[0u8; 36]).unwrap();
        assert_eq!(
            encryptor.encrypt_chunk(&[]).err(),
            Some(CryptoError::StreamExtended)
        );
        assert!(encryptor.finish("", "").is_ok());

        let encryptor = FileEncryptor::with_chunk_size(&mut OsRng, 100, 64).unwrap();
        assert!(matches!(
            encryptor.finish("", ""),
            Err(CryptoError::StreamTruncated { .. })
        ));
        assert!(FileEncryptor::with_chunk_size(&mut OsRng, 1, 63).is_err());
    }
}
