//! RFC 9180 known-answer test for the wrap suite: base mode, DHKEM(X25519, HKDF-SHA256),
//! HKDF-SHA256, AES-256-GCM (mode 0, kem 0x0020, kdf 0x0001, aead 0x0002).
//!
//! The vector is the CFRG `test-vectors.json` entry for that suite (RFC 9180 Appendix A.6.1),
//! copied to testdata/vectors/rfc9180-x25519-aes256gcm.json.

use std::path::Path;

use hpke::aead::AesGcm256;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable as _, Kem as _, OpModeR};
use rand::{CryptoRng, RngCore};
use securechat_crypto::wrap::{hpke_derive_key_pair, hpke_open_base, hpke_seal_base};
use serde::Deserialize;

#[derive(Deserialize)]
struct Encryption {
    aad: String,
    ct: String,
    nonce: String,
    pt: String,
}

#[derive(Deserialize)]
struct Export {
    exporter_context: String,
    #[serde(rename = "L")]
    len: usize,
    exported_value: String,
}

#[derive(Deserialize)]
struct Vector {
    mode: u8,
    kem_id: u16,
    kdf_id: u16,
    aead_id: u16,
    info: String,
    #[serde(rename = "ikmR")]
    ikm_r: String,
    #[serde(rename = "ikmE")]
    ikm_e: String,
    #[serde(rename = "skRm")]
    sk_rm: String,
    #[serde(rename = "skEm")]
    sk_em: String,
    #[serde(rename = "pkRm")]
    pk_rm: String,
    #[serde(rename = "pkEm")]
    pk_em: String,
    enc: String,
    encryptions: Vec<Encryption>,
    exports: Vec<Export>,
}

fn hex(text: &str) -> Vec<u8> {
    hex::decode(text).expect("hex")
}

fn array(text: &str) -> [u8; 32] {
    hex(text).try_into().expect("32 bytes")
}

/// An "RNG" that returns fixed bytes: the RFC's ephemeral `ikmE`.
struct Fixed(Vec<u8>);

impl RngCore for Fixed {
    fn next_u32(&mut self) -> u32 {
        unimplemented!("HPKE only calls fill_bytes")
    }
    fn next_u64(&mut self) -> u64 {
        unimplemented!("HPKE only calls fill_bytes")
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        assert!(dest.len() <= self.0.len(), "fixed randomness exhausted");
        let rest = self.0.split_off(dest.len());
        dest.copy_from_slice(&self.0);
        self.0 = rest;
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for Fixed {}

fn vector() -> Vector {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/vectors/rfc9180-x25519-aes256gcm.json");
    let text = std::fs::read_to_string(&path).expect("RFC 9180 vector file");
    let mut vectors: Vec<Vector> = serde_json::from_str(&text).expect("vector JSON");
    assert_eq!(vectors.len(), 1);
    vectors.remove(0)
}

#[test]
fn wrap_suite_matches_rfc9180_base_mode_vector() {
    let v = vector();
    assert_eq!((v.mode, v.kem_id, v.kdf_id, v.aead_id), (0, 0x20, 1, 2));

    // DeriveKeyPair for the recipient and the ephemeral key.
    let (sk_r, pk_r) = hpke_derive_key_pair(&hex(&v.ikm_r));
    assert_eq!(sk_r.as_slice(), hex(&v.sk_rm));
    assert_eq!(pk_r.as_slice(), hex(&v.pk_rm));
    let (sk_e, pk_e) = hpke_derive_key_pair(&hex(&v.ikm_e));
    assert_eq!(sk_e.as_slice(), hex(&v.sk_em));
    assert_eq!(pk_e.as_slice(), hex(&v.pk_em));

    // Single-shot SealBase = the first encryption (sequence number 0) with ikmE as the
    // ephemeral randomness.
    let first = &v.encryptions[0];
    let mut rng = Fixed(hex(&v.ikm_e));
    let (enc, ct) = hpke_seal_base(
        &mut rng,
        &array(&v.pk_rm),
        &hex(&v.info),
        &hex(&first.aad),
        &hex(&first.pt),
    )
    .unwrap();
    assert_eq!(enc.as_slice(), hex(&v.enc));
    assert_eq!(ct, hex(&first.ct));

    // Single-shot OpenBase.
    let pt = hpke_open_base(
        &array(&v.sk_rm),
        &array(&v.enc),
        &hex(&v.info),
        &hex(&first.aad),
        &hex(&first.ct),
    )
    .unwrap();
    assert_eq!(pt.as_slice(), hex(&first.pt));

    // A different aad or info fails.
    assert!(hpke_open_base(
        &array(&v.sk_rm),
        &array(&v.enc),
        b"other info",
        &hex(&first.aad),
        &hex(&first.ct),
    )
    .is_err());
}

#[test]
fn hpke_crate_matches_every_sequence_number_and_export_of_the_vector() {
    let v = vector();
    let sk = <X25519HkdfSha256 as hpke::Kem>::PrivateKey::from_bytes(&hex(&v.sk_rm)).unwrap();
    let enc = <X25519HkdfSha256 as hpke::Kem>::EncappedKey::from_bytes(&hex(&v.enc)).unwrap();
    let mut ctx = hpke::setup_receiver::<AesGcm256, HkdfSha256, X25519HkdfSha256>(
        &OpModeR::Base,
        &sk,
        &enc,
        &hex(&v.info),
    )
    .unwrap();
    for export in &v.exports {
        let mut out = vec![0u8; export.len];
        ctx.export(&hex(&export.exporter_context), &mut out)
            .unwrap();
        assert_eq!(out, hex(&export.exported_value));
    }
    // The vector lists sequence numbers 0..=256; opening them in order checks each nonce.
    for (seq, encryption) in v.encryptions.iter().enumerate() {
        let pt = ctx
            .open(&hex(&encryption.ct), &hex(&encryption.aad))
            .unwrap_or_else(|_| panic!("sequence number {seq}"));
        assert_eq!(pt, hex(&encryption.pt), "sequence number {seq}");
        assert_eq!(encryption.nonce.len(), 24);
    }
    assert_eq!(X25519HkdfSha256::KEM_ID, 0x0020);
}
