//! Key-file tests. Each import or export runs 600 000 PBKDF2 iterations, so the cases are few
//! and share files.

use rand::rngs::OsRng;
use securechat_proto::ids::UserId;
use securechat_proto::keys::KeyStatus;

use super::*;

fn contents() -> KeyFileContents {
    KeyFileContents {
        user_id: UserId::generate(),
        identity: IdentityKeyPair::generate(&mut OsRng),
        enc_keys: vec![
            StoredEncryptionKey {
                key: EncryptionKeyPair::generate(&mut OsRng),
                created_at_ms: 1_700_000_000_000,
                status: KeyStatus::Retired,
            },
            StoredEncryptionKey {
                key: EncryptionKeyPair::generate(&mut OsRng),
                created_at_ms: 1_732_530_000_000,
                status: KeyStatus::Active,
            },
        ],
    }
}

fn edit(json: &str, f: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut value: serde_json::Value = serde_json::from_str(json).unwrap();
    f(&mut value);
    serde_json::to_vec(&value).unwrap()
}

fn import_err(json: &[u8], passphrase: &str) -> CryptoError {
    match import_key_file(json, passphrase) {
        Ok(_) => panic!("expected a rejection"),
        Err(error) => error,
    }
}

#[test]
fn round_trip_with_nfc_normalised_passphrase() {
    let original = contents();
    // "Crème brûlée" composed (NFC) on export, decomposed (NFD) on import.
    let nfc = "Cr\u{e8}me br\u{fb}l\u{e9}e horse battery";
    let nfd = "Cre\u{300}me bru\u{302}le\u{301}e horse battery";
    let json = export_key_file(&mut OsRng, &original, nfc, 1_732_530_000_000).unwrap();

    let info = read_key_file_info(json.as_bytes()).unwrap();
    assert_eq!(info.user_id, original.user_id);
    assert_eq!(info.identity_key, original.identity.public());
    assert_eq!(info.iterations, 600_000);

    let imported = import_key_file(json.as_bytes(), nfd).unwrap();
    assert_eq!(imported.user_id, original.user_id);
    assert_eq!(imported.identity.public(), original.identity.public());
    assert_eq!(imported.enc_keys.len(), 2);
    for (a, b) in imported.enc_keys.iter().zip(&original.enc_keys) {
        assert_eq!(a.key.public(), b.key.public());
        assert_eq!(a.created_at_ms, b.created_at_ms);
        assert_eq!(a.status, b.status);
    }

    // Wrong passphrase.
    assert_eq!(
        import_err(json.as_bytes(), "Creme brulee horse battery"),
        CryptoError::KeyFileDecrypt
    );

    // Raising the iteration count (within bounds) breaks the tag: parameters are in the AAD.
    let raised = edit(&json, |v| v["kdf"]["iter"] = 600_001.into());
    assert_eq!(import_err(&raised, nfc), CryptoError::KeyFileDecrypt);
}

#[test]
fn parameters_and_public_fields_are_checked_before_the_kdf() {
    let json = export_key_file(&mut OsRng, &contents(), "pass", 0).unwrap();
    let other = contents();

    // Downgrade and import-DoS guards.
    let low = edit(&json, |v| v["kdf"]["iter"] = 599_999.into());
    assert_eq!(
        import_err(&low, "pass"),
        CryptoError::KdfIterations { got: 599_999 }
    );
    let high = edit(&json, |v| v["kdf"]["iter"] = 10_000_001.into());
    assert_eq!(
        import_err(&high, "pass"),
        CryptoError::KdfIterations { got: 10_000_001 }
    );
    let huge = edit(&json, |v| v["kdf"]["iter"] = (1u64 << 40).into());
    assert_eq!(
        import_err(&huge, "pass"),
        CryptoError::KdfIterations { got: 1 << 40 }
    );

    // Unknown version, names, members; wrong lengths.
    let v2 = edit(&json, |v| v["v"] = 2.into());
    assert!(matches!(
        import_err(&v2, "pass"),
        CryptoError::UnsupportedVersion { .. }
    ));
    let kdf = edit(&json, |v| v["kdf"]["name"] = "PBKDF2-HMAC-SHA1".into());
    assert_eq!(
        import_err(&kdf, "pass"),
        CryptoError::UnsupportedAlgorithm { field: "kdf.name" }
    );
    let extra = edit(&json, |v| v["extra"] = 1.into());
    assert!(matches!(
        import_err(&extra, "pass"),
        CryptoError::Json { .. }
    ));
    let short_salt = edit(&json, |v| v["kdf"]["salt"] = "AAAA".into());
    assert!(matches!(
        import_err(&short_salt, "pass"),
        CryptoError::Encoding {
            field: "kdf.salt",
            ..
        }
    ));
    assert_eq!(
        import_err(json.as_bytes(), ""),
        CryptoError::EmptyPassphrase
    );
    assert!(matches!(
        export_key_file_with_iterations(&mut OsRng, &other, "pass", 0, 1000),
        Err(CryptoError::KdfIterations { got: 1000 })
    ));

    // Swapping the identity key breaks the tag (it is in the AAD).
    let swapped = edit(&json, |v| {
        v["ik"] = b64::encode(other.identity.public().to_bytes()).into();
    });
    assert_eq!(import_err(&swapped, "pass"), CryptoError::KeyFileDecrypt);
}

#[test]
fn decrypted_keys_must_match_the_public_fields() {
    // A file whose plaintext contradicts its public part, encrypted with a correct AAD (what
    // a buggy writer could produce): import refuses it after decryption.
    let good = contents();
    let intruder = IdentityKeyPair::generate(&mut OsRng);
    let mut salt = [0u8; SALT_LEN];
    OsRng.fill_bytes(&mut salt);
    let nonce = [1u8; NONCE_LEN];
    let key = derive_key("pass", &salt, MIN_ITERATIONS).unwrap();
    let write = |plaintext: &str| {
        let aad = key_file_aad(
            &good.user_id,
            &good.identity.public(),
            MIN_ITERATIONS,
            &salt,
            &nonce,
        );
        let ct = aead::seal(&key, &nonce, aad.as_bytes(), plaintext.as_bytes()).unwrap();
        serde_json::to_vec(&KeyFileJson {
            format: KEYFILE_FORMAT.into(),
            v: 1,
            user_id: user_id_text(&good.user_id),
            ik: b64::encode(good.identity.public().to_bytes()),
            created_at: 0,
            kdf: KdfJson {
                name: KDF_NAME.into(),
                iter: MIN_ITERATIONS.into(),
                salt: b64::encode(salt),
            },
            aead: AeadJson {
                name: AEAD_NAME.into(),
                nonce: b64::encode(nonce),
            },
            ct: b64::encode(ct),
        })
        .unwrap()
    };
    let wrong_seed = format!(
        r#"{{"ik_seed":"{}","enc_keys":[]}}"#,
        b64::encode(intruder.seed().as_ref())
    );
    assert_eq!(
        import_err(&write(&wrong_seed), "pass"),
        CryptoError::KeyFileInconsistent {
            what: "ik_seed does not derive ik"
        }
    );
    let ek = &good.enc_keys[0].key;
    let wrong_key_id = format!(
        r#"{{"ik_seed":"{}","enc_keys":[{{"key_id":"{}","sk":"{}","created_at":0,"status":"active"}}]}}"#,
        b64::encode(good.identity.seed().as_ref()),
        b64::encode(good.enc_keys[1].key.public().key_id()),
        b64::encode(ek.secret_bytes().as_ref()),
    );
    assert_eq!(
        import_err(&write(&wrong_key_id), "pass"),
        CryptoError::KeyFileInconsistent {
            what: "an encryption key does not match its key id"
        }
    );
}
