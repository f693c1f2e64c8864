//! Known-answer vectors in testdata/vectors/, generated from fixed seeds.
//!
//! Each test regenerates its file's content deterministically (a ChaCha20 RNG per file or case,
//! seeded with `SHA-256("securechat/v1 test vectors/" || name)`) and
//! - writes the file when it is missing or `SECURECHAT_REGEN_VECTORS=1`;
//! - otherwise requires the file to be byte-identical, so any change of the wire format fails
//!   here until the vectors are regenerated on purpose (and the JavaScript side follows).
//!
//! Besides reproducing the bytes, every vector is checked with independent primitives (HKDF,
//! AES-GCM, HPKE open, Ed25519) so that the intermediate values it documents are right.
//!
//! Conventions: fields ending in `_hex` are lower-case hex, `plaintext`/`header`/`aad` strings
//! are UTF-8 text, every other binary field is base64url without padding.

use std::path::PathBuf;

use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use hkdf::Hkdf;
use rand::{CryptoRng, RngCore, SeedableRng as _};
use rand_chacha::ChaCha20Rng;
use securechat_crypto::binding::{binding_message, publish_key, verify_published_key};
use securechat_crypto::envelope::{
    open, parse_header, seal, signature_message, Content, Delivery, Envelope, Header, Kind,
    OutgoingMessage, Receiver, RecipientKey, Sender,
};
use securechat_crypto::file_stream::{decrypt_file, encrypt_file_with_chunk_size, FileDescriptor};
use securechat_crypto::fingerprint::{
    fingerprint_digits, numeric_fingerprint, safety_number, short_key_id, user_fingerprint,
};
use securechat_crypto::identity::{EncryptionKeyPair, IdentityKey, IdentityKeyPair};
use securechat_crypto::ids::{user_id_text, ConvId, MsgId};
use securechat_crypto::keyfile::{
    export_key_file, import_key_file, key_file_aad, KeyFileContents, StoredEncryptionKey,
    DEFAULT_ITERATIONS,
};
use securechat_crypto::wrap::{hpke_derive_key_pair, hpke_open_base, WrapContext};
use securechat_proto::b64;
use securechat_proto::ids::UserId;
use securechat_proto::keys::{KeyStatus, NewEncryptionKey};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

// --- plumbing -------------------------------------------------------------------------------

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/vectors")
}

/// Writes or checks `name` (see the module docs).
fn pin(name: &str, value: &impl Serialize) {
    let generated = serde_json::to_string_pretty(value).expect("vector JSON") + "\n";
    let path = vectors_dir().join(name);
    let regenerate = std::env::var("SECURECHAT_REGEN_VECTORS").is_ok_and(|v| v == "1");
    match std::fs::read_to_string(&path) {
        Ok(existing) if !regenerate => {
            if existing != generated {
                let line = existing
                    .lines()
                    .zip(generated.lines())
                    .position(|(a, b)| a != b)
                    .map_or_else(|| "length".to_owned(), |i| format!("line {}", i + 1));
                panic!(
                    "{} no longer matches what the code produces (first difference: {line}). \
                     If the protocol change is intended, rerun with SECURECHAT_REGEN_VECTORS=1, \
                     review the diff and update docs/PROTOCOL.md and the JavaScript client.",
                    path.display()
                );
            }
        }
        _ => {
            std::fs::create_dir_all(vectors_dir()).expect("create testdata/vectors");
            std::fs::write(&path, generated).expect("write vector");
        }
    }
}

fn seeded(name: &str) -> ChaCha20Rng {
    let seed: [u8; 32] = Sha256::digest(format!("securechat/v1 test vectors/{name}")).into();
    ChaCha20Rng::from_seed(seed)
}

/// Records every draw so the vectors can list the randomness that went in.
struct Recorder {
    rng: ChaCha20Rng,
    draws: Vec<Vec<u8>>,
}

impl Recorder {
    fn new(name: &str) -> Self {
        Self {
            rng: seeded(name),
            draws: Vec::new(),
        }
    }
}

impl RngCore for Recorder {
    fn next_u32(&mut self) -> u32 {
        let mut bytes = [0u8; 4];
        self.fill_bytes(&mut bytes);
        u32::from_be_bytes(bytes)
    }
    fn next_u64(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        self.fill_bytes(&mut bytes);
        u64::from_be_bytes(bytes)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.rng.fill_bytes(dest);
        self.draws.push(dest.to_vec());
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for Recorder {}

fn draw<const N: usize>(rng: &mut impl RngCore) -> [u8; N] {
    let mut bytes = [0u8; N];
    rng.fill_bytes(&mut bytes);
    bytes
}

fn b64u(bytes: impl AsRef<[u8]>) -> String {
    b64::encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    b64::decode(text).expect("base64url")
}

const CREATED_AT: i64 = 1_732_530_000_000;

/// A test user with fixed keys.
struct User {
    name: &'static str,
    id: UserId,
    ik_seed: [u8; 32],
    ik: IdentityKeyPair,
    ek_sk: [u8; 32],
    ek: EncryptionKeyPair,
}

#[derive(Serialize)]
struct UserVector {
    name: &'static str,
    user_id: String,
    ik_seed: String,
    ik: String,
    ek_sk: String,
    ek_pub: String,
    key_id: String,
}

/// Alice, Bob and Carol: UUIDv7 ids, keys from the seed "users".
fn users() -> [User; 3] {
    let mut rng = seeded("users");
    let ids = [
        ("alice", "0193650e-2c00-7a11-8ce0-a11ce0000001"),
        ("bob", "0193650e-2c00-7b0b-8b0b-b0b000000002"),
        ("carol", "0193650e-2c00-7ca1-8ca1-ca1000000003"),
    ];
    ids.map(|(name, id)| {
        let ik_seed = draw::<32>(&mut rng);
        let ek_sk = draw::<32>(&mut rng);
        User {
            name,
            id: id.parse().expect("uuid"),
            ik_seed,
            ik: IdentityKeyPair::from_seed(&ik_seed),
            ek_sk,
            ek: EncryptionKeyPair::from_secret_bytes(&ek_sk),
        }
    })
}

impl User {
    fn vector(&self) -> UserVector {
        UserVector {
            name: self.name,
            user_id: user_id_text(&self.id),
            ik_seed: b64u(self.ik_seed),
            ik: b64u(self.ik.public().to_bytes()),
            ek_sk: b64u(self.ek_sk),
            ek_pub: b64u(self.ek.public().to_bytes()),
            key_id: b64u(self.ek.public().key_id()),
        }
    }
}

// --- binding.json ---------------------------------------------------------------------------

#[derive(Serialize)]
struct BindingCase {
    user_id: String,
    ik_seed: String,
    ik: String,
    x25519_sk: String,
    x25519: String,
    key_id: String,
    created_at: i64,
    message_hex: String,
    record: NewEncryptionKey,
}

#[derive(Serialize)]
struct BindingFile {
    description: &'static str,
    cases: Vec<BindingCase>,
}

#[test]
fn binding_vectors() {
    let [alice, bob, _] = users();
    let mut rng = seeded("binding");
    let rotated = EncryptionKeyPair::from_secret_bytes(&draw::<32>(&mut rng));
    let cases = [
        (&alice, &alice.ek, CREATED_AT),
        (&alice, &rotated, CREATED_AT + 86_400_000),
        (&bob, &bob.ek, CREATED_AT + 1),
    ]
    .map(|(user, key, created_at)| {
        let record = publish_key(&user.ik, &user.id, key, created_at);
        let verified =
            verify_published_key(&user.ik.public(), &user.id, &record).expect("verifies");
        assert_eq!(verified.x25519, key.public());
        BindingCase {
            user_id: user_id_text(&user.id),
            ik_seed: b64u(user.ik_seed),
            ik: b64u(user.ik.public().to_bytes()),
            x25519_sk: b64u(key.secret_bytes().as_ref()),
            x25519: b64u(key.public().to_bytes()),
            key_id: b64u(key.public().key_id()),
            created_at,
            message_hex: hex::encode(binding_message(
                &user.id,
                &key.public().key_id(),
                created_at,
                &key.public().to_bytes(),
            )),
            record,
        }
    });
    for case in &cases {
        // Independent check: key id and signature over the documented message.
        let x25519 = unb64(&case.x25519);
        assert_eq!(unb64(&case.key_id), Sha256::digest(&x25519)[..8]);
        let ik = IdentityKey::from_bytes(&unb64(&case.ik).try_into().expect("32")).expect("ik");
        let sig: [u8; 64] = unb64(&case.record.binding_sig).try_into().expect("64");
        ik.verify(&hex::decode(&case.message_hex).expect("hex"), &sig)
            .expect("binding signature");
    }
    pin(
        "binding.json",
        &BindingFile {
            description: "Key bindings: binding_sig = Ed25519(IK, message), message = \
                          \"securechat/v1/enc-key\\x00\" || lp(user_id) || lp(key_id) || \
                          u64be(created_at) || x25519. record is the JSON a client publishes.",
            cases: cases.into_iter().collect(),
        },
    );
}

// --- envelope.json --------------------------------------------------------------------------

#[derive(Serialize)]
struct Randomness {
    msg_id: String,
    cek: String,
    nonce: String,
    /// HPKE DeriveKeyPair input of each wrap's ephemeral key, in wrap order.
    ikm_e: Vec<String>,
}

#[derive(Serialize)]
struct WrapVector {
    user: &'static str,
    key_id: String,
    info_hex: String,
    /// HPKE `enc`: the public key of DeriveKeyPair(ikm_e) (also in the header).
    enc: String,
}

#[derive(Serialize)]
struct OpenCheck {
    user: &'static str,
    server_received_at: i64,
    now: i64,
}

#[derive(Serialize)]
struct EnvelopeCase {
    name: &'static str,
    description: &'static str,
    sender: &'static str,
    recipients: Vec<&'static str>,
    conv_id: String,
    sender_ctr: u64,
    sent_at: i64,
    expires_in_ms: Option<i64>,
    hidden: bool,
    random: Randomness,
    wraps: Vec<WrapVector>,
    k_content: String,
    plaintext: String,
    header: String,
    sig_message_hex: String,
    envelope: Envelope,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_ct: Option<String>,
    open_as: Vec<OpenCheck>,
}

#[derive(Serialize)]
struct EnvelopeFile {
    description: &'static str,
    users: Vec<UserVector>,
    cases: Vec<EnvelopeCase>,
}

struct Spec<'a> {
    name: &'static str,
    description: &'static str,
    sender: &'a User,
    recipients: Vec<&'a User>,
    conv_id: ConvId,
    sender_ctr: u64,
    expires_in_ms: Option<i64>,
    hidden: bool,
    content: Content,
    file_ct: Option<Vec<u8>>,
}

const SERVER_RECEIVED_AT: i64 = CREATED_AT + 1_500;

fn envelope_case(spec: &Spec<'_>, users: &[User]) -> EnvelopeCase {
    let sent_at = CREATED_AT + 1_000;
    let recipients: Vec<RecipientKey> = spec
        .recipients
        .iter()
        .map(|user| RecipientKey {
            user_id: user.id,
            key: user.ek.public(),
        })
        .collect();
    let mut rng = Recorder::new(&format!("envelope/{}", spec.name));
    let sealed = seal(
        &mut rng,
        &Sender {
            user_id: spec.sender.id,
            identity: &spec.sender.ik,
            own_keys: &[spec.sender.ek.public()],
        },
        &OutgoingMessage {
            msg_id: None,
            conv_id: spec.conv_id,
            sender_ctr: spec.sender_ctr,
            sent_at_ms: sent_at,
            expires_in_ms: spec.expires_in_ms,
            hidden: spec.hidden,
            content: &spec.content,
            recipients: &recipients,
        },
    )
    .expect("seal");
    let draws = rng.draws;
    let (msg_id, cek, nonce) = (&draws[0], &draws[1], &draws[2]);
    assert_eq!(msg_id.as_slice(), sealed.msg_id.0);

    let header_bytes = unb64(&sealed.envelope.h);
    let ct = unb64(&sealed.envelope.ct);
    let header = Header::parse(&header_bytes).expect("header");
    let by_id = |id: &UserId| users.iter().find(|u| u.id == *id).expect("known user");

    // HPKE: every wrap opens to the CEK with its recipient's key, and its `enc` is the
    // public key DeriveKeyPair(ikmE) gives.
    let wraps: Vec<WrapVector> = header
        .wraps
        .iter()
        .zip(&draws[3..])
        .map(|(wrap, ikm_e)| {
            let user = by_id(&wrap.user_id);
            let info = WrapContext {
                msg_id: &header.msg_id,
                conv_id: &header.conv_id,
                sender: &header.sender,
                recipient: &wrap.user_id,
                key_id: &wrap.key_id,
            }
            .info();
            assert_eq!(hpke_derive_key_pair(ikm_e).1, wrap.wrapped.enc);
            let opened =
                hpke_open_base(&user.ek_sk, &wrap.wrapped.enc, &info, b"", &wrap.wrapped.ct)
                    .expect("wrap opens");
            assert_eq!(opened.as_slice(), cek.as_slice());
            WrapVector {
                user: user.name,
                key_id: b64u(wrap.key_id),
                info_hex: hex::encode(&info),
                enc: b64u(wrap.wrapped.enc),
            }
        })
        .collect();
    assert_eq!(draws.len(), 3 + wraps.len());

    // Content key and AEAD with independent primitives.
    let mut k_content = [0u8; 32];
    Hkdf::<Sha256>::new(Some(msg_id), cek)
        .expand(b"securechat/v1/content", &mut k_content)
        .expect("hkdf");
    let plaintext = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&k_content))
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: &ct,
                aad: &header_bytes,
            },
        )
        .expect("content decrypts");
    assert_eq!(plaintext.len() % 256, 0);

    // Signature.
    let sig_message = signature_message(&header_bytes, &ct);
    let mut expected = b"securechat/v1/message\x00".to_vec();
    expected.extend_from_slice(&Sha256::digest(&header_bytes));
    expected.extend_from_slice(&Sha256::digest(&ct));
    assert_eq!(sig_message, expected);
    spec.sender
        .ik
        .public()
        .verify(
            &sig_message,
            &unb64(&sealed.envelope.sig).try_into().expect("64"),
        )
        .expect("signature");

    let mut open_as: Vec<OpenCheck> = spec
        .recipients
        .iter()
        .chain([&spec.sender])
        .map(|user| OpenCheck {
            user: user.name,
            server_received_at: SERVER_RECEIVED_AT,
            now: SERVER_RECEIVED_AT + spec.expires_in_ms.unwrap_or(1_000),
        })
        .collect();
    open_as.dedup_by_key(|check| check.user);

    EnvelopeCase {
        name: spec.name,
        description: spec.description,
        sender: spec.sender.name,
        recipients: spec.recipients.iter().map(|user| user.name).collect(),
        conv_id: spec.conv_id.text(),
        sender_ctr: spec.sender_ctr,
        sent_at,
        expires_in_ms: spec.expires_in_ms,
        hidden: spec.hidden,
        random: Randomness {
            msg_id: b64u(msg_id),
            cek: b64u(cek),
            nonce: b64u(nonce),
            ikm_e: draws[3..].iter().map(b64u).collect(),
        },
        wraps,
        k_content: b64u(k_content),
        plaintext: String::from_utf8(plaintext).expect("UTF-8 plaintext"),
        header: String::from_utf8(header_bytes).expect("UTF-8 header"),
        sig_message_hex: hex::encode(sig_message),
        envelope: sealed.envelope,
        file_ct: spec.file_ct.as_ref().map(b64u),
        open_as,
    }
}

/// Opens every case as every listed user, through the public API.
fn open_case(case: &EnvelopeCase, spec: &Spec<'_>, users: &[User]) {
    for check in &case.open_as {
        let me = users.iter().find(|u| u.name == check.user).expect("user");
        let opened = open(
            &case.envelope,
            &Receiver {
                user_id: me.id,
                keys: std::slice::from_ref(&me.ek),
            },
            &Delivery {
                sender: spec.sender.id,
                conv_id: spec.conv_id,
                server_received_at_ms: check.server_received_at,
            },
            check.now,
            |id| users.iter().find(|u| u.id == *id).map(|u| u.ik.public()),
            |_| false,
        )
        .unwrap_or_else(|e| panic!("{} opens as {}: {e}", case.name, check.user));
        assert_eq!(opened.hidden, spec.hidden);
        assert_eq!(opened.header.kind, spec.content.kind());
        match (&opened.content, &spec.content) {
            (Content::Text { body: a }, Content::Text { body: b }) => assert_eq!(a, b),
            (Content::File { body: a, file: fa }, Content::File { body: b, file: fb }) => {
                assert_eq!(a, b);
                assert_eq!(fa.file_id, fb.file_id);
                assert_eq!(fa.ct_sha256, fb.ct_sha256);
                let ct = spec.file_ct.as_deref().expect("file ciphertext");
                let plain = decrypt_file(fa, ct).expect("file decrypts");
                assert_eq!(plain.len() as u64, fa.size);
            }
            (
                Content::GroupMeta { name: a, color: ca },
                Content::GroupMeta { name: b, color: cb },
            ) => assert_eq!((a, ca), (b, cb)),
            (Content::Delete { target: a }, Content::Delete { target: b })
            | (Content::Receipt { target: a }, Content::Receipt { target: b }) => {
                assert_eq!(a, b)
            }
            _ => panic!("{}: content type differs", case.name),
        }
    }
    let routing = parse_header(&case.envelope).expect("routing header");
    assert_eq!(routing.sender, spec.sender.id);
    assert_eq!(routing.conv_id, spec.conv_id);
}

#[test]
fn envelope_vectors() {
    let users = users();
    let [alice, bob, carol] = &users;
    let direct_ab = ConvId::direct(&alice.id, &bob.id);
    let group = ConvId(
        "0193650e-2c00-4000-8000-00000000c0f1"
            .parse()
            .expect("uuid"),
    );

    // The 1:1 text message is sealed first: the tombstone and receipt refer to its msg_id.
    let mut rng = seeded("envelope/file-plaintext");
    let file_data: Vec<u8> = (0..200u8).map(|i| i.wrapping_mul(31)).collect();
    let (file_ct, descriptor) = encrypt_file_with_chunk_size(
        &mut rng,
        &file_data,
        "application/octet-stream",
        "data.bin",
        64,
    )
    .expect("file");
    let text_msg_id =
        |cases: &[EnvelopeCase]| MsgId::from_b64(&cases[0].random.msg_id).expect("msg id");

    let mut specs = vec![Spec {
        name: "text-direct",
        description:
            "Alice to Bob, 1:1 conversation (conv_id = direct(alice, bob)), non-ASCII text.",
        sender: alice,
        recipients: vec![bob],
        conv_id: direct_ab,
        sender_ctr: 1,
        expires_in_ms: None,
        hidden: false,
        content: Content::Text {
            body: "Hello Bob! Grüße 👋 — \"quoted\" \\ back\nslash".into(),
        },
        file_ct: None,
    }];
    let mut cases = vec![envelope_case(&specs[0], &users)];
    let first = text_msg_id(&cases);
    specs.extend([
        Spec {
            name: "text-group-expiring-hidden",
            description: "Alice to Bob and Carol in a group, self-destruct after 60 s, hidden.",
            sender: alice,
            recipients: vec![bob, carol],
            conv_id: group,
            sender_ctr: 42,
            expires_in_ms: Some(60_000),
            hidden: true,
            content: Content::Text {
                body: "x".repeat(300),
            },
            file_ct: None,
        },
        Spec {
            name: "file",
            description: "Bob to Alice: a file message; file_ct is the file's ciphertext \
                          (200 bytes in 64-byte chunks).",
            sender: bob,
            recipients: vec![alice],
            conv_id: direct_ab,
            sender_ctr: 1,
            expires_in_ms: None,
            hidden: false,
            content: Content::File {
                body: "the data".into(),
                file: descriptor,
            },
            file_ct: Some(file_ct),
        },
        Spec {
            name: "delete",
            description: "Alice's tombstone for text-direct.",
            sender: alice,
            recipients: vec![bob],
            conv_id: direct_ab,
            sender_ctr: 2,
            expires_in_ms: None,
            hidden: false,
            content: Content::Delete { target: first },
            file_ct: None,
        },
        Spec {
            name: "receipt",
            description: "Bob's read receipt for text-direct.",
            sender: bob,
            recipients: vec![alice],
            conv_id: direct_ab,
            sender_ctr: 2,
            expires_in_ms: None,
            hidden: false,
            content: Content::Receipt { target: first },
            file_ct: None,
        },
        Spec {
            name: "group-name",
            description: "Carol names the group of text-group-expiring-hidden, for Alice and \
                          Bob: a text plaintext with an empty body and the group member.",
            sender: carol,
            recipients: vec![alice, bob],
            conv_id: group,
            sender_ctr: 1,
            expires_in_ms: None,
            hidden: false,
            content: Content::GroupMeta {
                name: "Family 👪 \"Müller\"".into(),
                color: "#2f6fde".into(),
            },
            file_ct: None,
        },
    ]);
    for spec in &specs[1..] {
        cases.push(envelope_case(spec, &users));
    }
    for (case, spec) in cases.iter().zip(&specs) {
        open_case(case, spec, &users);
    }
    assert_eq!(
        parse_header(&cases[3].envelope).expect("h").kind,
        Kind::Delete
    );

    pin(
        "envelope.json",
        &EnvelopeFile {
            description: "securechat/v1 envelopes. random lists the draws in order (msg_id, CEK, \
                          nonce, one ikmE per wrap); wraps[i].info_hex is the HPKE info; \
                          k_content = HKDF-SHA256(CEK, salt=msg_id, info=\"securechat/v1/content\"); \
                          plaintext is the padded JSON; header is header_bytes as text. Open each \
                          envelope as each open_as user with the sender's IK pinned, the transport \
                          sender = sender, conv_id as given and the given times.",
            users: users.iter().map(User::vector).collect(),
            cases,
        },
    );
}

// --- file_stream.json -----------------------------------------------------------------------

#[derive(Serialize)]
struct ChunkVector {
    index: u32,
    last: bool,
    nonce_hex: String,
    ct: String,
}

#[derive(Serialize)]
struct FileCase {
    name: &'static str,
    chunk_size: u32,
    plaintext: String,
    file_id: String,
    key: String,
    nonce_prefix: String,
    aad: &'static str,
    chunks: Vec<ChunkVector>,
    ct_sha256: String,
    mime: &'static str,
    file_name: &'static str,
}

#[derive(Serialize)]
struct FileStreamFile {
    description: &'static str,
    cases: Vec<FileCase>,
}

fn file_case(name: &'static str, plaintext: &[u8], chunk_size: u32) -> FileCase {
    let mut rng = Recorder::new(&format!("file_stream/{name}"));
    let (ct, descriptor): (Vec<u8>, FileDescriptor) =
        encrypt_file_with_chunk_size(&mut rng, plaintext, "text/plain", "hello.txt", chunk_size)
            .expect("encrypt");
    let [file_id, key, prefix] = [&rng.draws[0], &rng.draws[1], &rng.draws[2]];
    assert_eq!(descriptor.file_id.0.as_slice(), file_id.as_slice());
    assert_eq!(descriptor.nonce_prefix.as_slice(), prefix.as_slice());
    assert_eq!(
        decrypt_file(&descriptor, &ct).expect("decrypt").as_slice(),
        plaintext
    );
    assert_eq!(descriptor.ct_sha256, <[u8; 32]>::from(Sha256::digest(&ct)));

    // Independent per-chunk AES-GCM with the documented nonce layout.
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
    let count = descriptor.chunk_count();
    let mut rest = ct.as_slice();
    let mut chunks = Vec::new();
    for index in 0..count as u32 {
        let last = u64::from(index) + 1 == count;
        let start = index as usize * chunk_size as usize;
        let pt_len = plaintext
            .len()
            .saturating_sub(start)
            .min(chunk_size as usize);
        let (chunk, tail) = rest.split_at(pt_len + 16);
        rest = tail;
        let mut nonce = prefix.clone();
        nonce.extend_from_slice(&index.to_be_bytes());
        nonce.push(u8::from(last));
        let opened = cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: chunk,
                    aad: b"securechat/v1/file-chunk",
                },
            )
            .expect("chunk opens");
        assert_eq!(opened, plaintext[start..start + pt_len]);
        chunks.push(ChunkVector {
            index,
            last,
            nonce_hex: hex::encode(&nonce),
            ct: b64u(chunk),
        });
    }
    assert!(rest.is_empty());
    FileCase {
        name,
        chunk_size,
        plaintext: String::from_utf8(plaintext.to_vec()).expect("text"),
        file_id: b64u(file_id),
        key: b64u(key),
        nonce_prefix: b64u(prefix),
        aad: "securechat/v1/file-chunk",
        chunks,
        ct_sha256: b64u(descriptor.ct_sha256),
        mime: "text/plain",
        file_name: "hello.txt",
    }
}

#[test]
fn file_stream_vectors() {
    let text: String = "The quick brown fox jumps over the lazy dog. ".repeat(5);
    let cases = vec![
        file_case("multi-chunk", text.as_bytes(), 64),
        file_case("exact-multiple", &text.as_bytes()[..128], 64),
        file_case("empty", b"", 64),
        file_case("default-chunk-size", text.as_bytes(), 65_536),
    ];
    assert_eq!(cases[0].chunks.len(), 4);
    assert_eq!(cases[1].chunks.len(), 2);
    assert_eq!(cases[2].chunks.len(), 1);
    pin(
        "file_stream.json",
        &FileStreamFile {
            description: "File STREAM: AES-256-GCM per chunk, nonce = prefix7 || u32be(index) || \
                          last_flag, aad = \"securechat/v1/file-chunk\". Draws: file_id (16), key \
                          (32), nonce_prefix (7). ct_sha256 = SHA-256 of all chunks concatenated.",
            cases,
        },
    );
}

// --- keyfile.json ---------------------------------------------------------------------------

#[derive(Serialize)]
struct KeyFileVector {
    description: &'static str,
    user_id: String,
    ik_seed: String,
    enc_keys: Vec<(String, String, i64, &'static str)>,
    passphrase: &'static str,
    passphrase_nfd: &'static str,
    salt: String,
    nonce: String,
    iterations: u32,
    aad: String,
    kdf_key: String,
    plaintext: String,
    file: String,
}

#[test]
fn keyfile_vector() {
    let [alice, ..] = users();
    let mut seeds = seeded("keyfile/keys");
    let retired_sk = draw::<32>(&mut seeds);
    let contents = KeyFileContents {
        user_id: alice.id,
        identity: IdentityKeyPair::from_seed(&alice.ik_seed),
        enc_keys: vec![
            StoredEncryptionKey {
                key: EncryptionKeyPair::from_secret_bytes(&retired_sk),
                created_at_ms: CREATED_AT - 86_400_000,
                status: KeyStatus::Retired,
            },
            StoredEncryptionKey {
                key: EncryptionKeyPair::from_secret_bytes(&alice.ek_sk),
                created_at_ms: CREATED_AT,
                status: KeyStatus::Active,
            },
        ],
    };
    const PASSPHRASE: &str = "Crème brûlée: correct horse battery staple";
    const PASSPHRASE_NFD: &str = "Cre\u{300}me bru\u{302}le\u{301}e: correct horse battery staple";

    let mut rng = Recorder::new("keyfile");
    let file = export_key_file(&mut rng, &contents, PASSPHRASE, CREATED_AT).expect("export");
    let salt: [u8; 16] = rng.draws[0].clone().try_into().expect("salt");
    let nonce: [u8; 12] = rng.draws[1].clone().try_into().expect("nonce");

    // Independent: PBKDF2 and AES-GCM with the documented AAD.
    let mut kdf_key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(
        PASSPHRASE.as_bytes(),
        &salt,
        DEFAULT_ITERATIONS,
        &mut kdf_key,
    );
    let aad = key_file_aad(
        &alice.id,
        &alice.ik.public(),
        DEFAULT_ITERATIONS,
        &salt,
        &nonce,
    );
    assert_eq!(
        aad,
        format!(
            "securechat-keyfile|v1|{}|{}|PBKDF2-HMAC-SHA256|600000|{}|AES-256-GCM|{}",
            user_id_text(&alice.id),
            b64u(alice.ik.public().to_bytes()),
            b64u(salt),
            b64u(nonce)
        )
    );
    let json: serde_json::Value = serde_json::from_str(&file).expect("json");
    let ct = unb64(json["ct"].as_str().expect("ct"));
    let plaintext = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&kdf_key))
        .decrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &ct,
                aad: aad.as_bytes(),
            },
        )
        .expect("key file decrypts");

    // The decomposed spelling of the passphrase opens it too (NFC normalisation).
    let imported = import_key_file(file.as_bytes(), PASSPHRASE_NFD).expect("import");
    assert_eq!(imported.identity.public(), alice.ik.public());
    assert_eq!(imported.enc_keys.len(), 2);
    assert_eq!(imported.enc_keys[1].key.public(), alice.ek.public());

    pin(
        "keyfile.json",
        &KeyFileVector {
            description: "Key file: kdf_key = PBKDF2-HMAC-SHA256(NFC(passphrase), salt, 600000, \
                          32); AES-256-GCM(kdf_key, nonce, aad, plaintext) = ct. Draws: salt (16), \
                          nonce (12). enc_keys are [key_id, sk, created_at, status]. \
                          passphrase_nfd must open the file too.",
            user_id: user_id_text(&alice.id),
            ik_seed: b64u(alice.ik_seed),
            enc_keys: contents
                .enc_keys
                .iter()
                .map(|k| {
                    (
                        b64u(k.key.public().key_id()),
                        b64u(k.key.secret_bytes().as_ref()),
                        k.created_at_ms,
                        k.status.as_str(),
                    )
                })
                .collect(),
            passphrase: PASSPHRASE,
            passphrase_nfd: PASSPHRASE_NFD,
            salt: b64u(salt),
            nonce: b64u(nonce),
            iterations: DEFAULT_ITERATIONS,
            aad,
            kdf_key: b64u(kdf_key),
            plaintext: String::from_utf8(plaintext).expect("UTF-8"),
            file,
        },
    );
}

// --- fingerprint.json -----------------------------------------------------------------------

#[derive(Serialize)]
struct PartyVector {
    user_id: String,
    ik: String,
    key_bytes_hex: String,
    fingerprint_hex: String,
    digits: String,
    short_key_id: String,
}

#[derive(Serialize)]
struct LibsignalVector {
    note: &'static str,
    iterations: u32,
    alice_key_bytes_hex: &'static str,
    alice_stable_id: &'static str,
    bob_key_bytes_hex: &'static str,
    bob_stable_id: &'static str,
    alice_fingerprint_prefix_hex: &'static str,
    bob_fingerprint_prefix_hex: &'static str,
    display: &'static str,
}

#[derive(Serialize)]
struct FingerprintFile {
    description: &'static str,
    version_hex: &'static str,
    iterations: u32,
    alice: PartyVector,
    bob: PartyVector,
    safety_number: String,
    grouped: String,
    scannable_hex: String,
    libsignal: LibsignalVector,
}

#[test]
fn fingerprint_vectors() {
    let [alice, bob, _] = users();
    let party = |user: &User| {
        let ik = user.ik.public();
        let mut key_bytes = vec![0xED];
        key_bytes.extend_from_slice(&ik.to_bytes());
        let fingerprint = user_fingerprint(&user.id, &ik);
        assert_eq!(
            fingerprint,
            numeric_fingerprint(&key_bytes, user_id_text(&user.id).as_bytes(), 5200)
        );
        PartyVector {
            user_id: user_id_text(&user.id),
            ik: b64u(ik.to_bytes()),
            key_bytes_hex: hex::encode(&key_bytes),
            fingerprint_hex: hex::encode(fingerprint),
            digits: fingerprint_digits(&fingerprint),
            short_key_id: short_key_id(&ik),
        }
    };
    let number = safety_number(&alice.id, &alice.ik.public(), &bob.id, &bob.ik.public());
    assert_eq!(
        number,
        safety_number(&bob.id, &bob.ik.public(), &alice.id, &alice.ik.public())
    );
    let (a, b) = (party(&alice), party(&bob));
    let expected = if a.digits <= b.digits {
        a.digits.clone() + &b.digits
    } else {
        b.digits.clone() + &a.digits
    };
    assert_eq!(number.digits(), expected);
    assert_eq!(
        hex::encode(&Sha256::digest(alice.ik.public().to_bytes())[..8]),
        a.short_key_id
    );

    let libsignal = LibsignalVector {
        note: "libsignal rust/protocol/src/fingerprint.rs fingerprint_test_v1: the same algorithm \
               with Signal's 0x05 || X25519 keys and phone numbers; checks the iteration and \
               digit encoding",
        iterations: 5200,
        alice_key_bytes_hex: "0506863bc66d02b40d27b8d49ca7c09e9239236f9d7d25d6fcca5ce13c7064d868",
        alice_stable_id: "+14152222222",
        bob_key_bytes_hex: "05f781b6fb32fed9ba1cf2de978d4d5da28dc34046ae814402b5c0dbd96fda907b",
        bob_stable_id: "+14153333333",
        alice_fingerprint_prefix_hex:
            "1e301a0353dce3dbe7684cb8336e85136cdc0ee96219494ada305d62a7bd61df",
        bob_fingerprint_prefix_hex:
            "d62cbf73a11592015b6b9f1682ac306fea3aaf3885b84d12bca631e9d4fb3a4d",
        display: "300354477692869396892869876765458257569162576843440918079131",
    };
    let la = numeric_fingerprint(
        &hex::decode(libsignal.alice_key_bytes_hex).expect("hex"),
        libsignal.alice_stable_id.as_bytes(),
        5200,
    );
    assert_eq!(
        hex::encode(&la[..32]),
        libsignal.alice_fingerprint_prefix_hex
    );

    pin(
        "fingerprint.json",
        &FingerprintFile {
            description: "Safety numbers (libsignal NumericFingerprint, version 0x0000, 5200 \
                          iterations) with key_bytes = 0xED || Ed25519 IK and stable_id = user id \
                          text. fingerprint_hex is the full 64-byte final hash; digits its first \
                          30 bytes as six 5-digit groups; safety_number the smaller digits first; \
                          scannable = 0x0000 || both 32-byte prefixes in the same order.",
            version_hex: "0000",
            iterations: 5200,
            grouped: number.grouped(),
            safety_number: number.digits().to_owned(),
            scannable_hex: hex::encode(number.scannable()),
            alice: a,
            bob: b,
            libsignal,
        },
    );
}

// --- group.json -----------------------------------------------------------------------------

#[derive(Serialize)]
struct GroupMemberVector {
    user_id: String,
    admin: bool,
}

#[derive(Serialize)]
struct GroupStep {
    /// What the change does, for readers.
    note: &'static str,
    /// The change's canonical JSON text (the signed bytes, as UTF-8).
    change: String,
    /// The transport form: `{"change": b64u(bytes), "sig": b64u(64)}`.
    signed: String,
    /// `SHA-256("securechat/v1/group-link\0" || lp(change) || sig)`, the next change's `prev`.
    link: String,
    /// The membership after this change, by user id.
    members: Vec<GroupMemberVector>,
}

#[derive(Serialize)]
struct GroupInvalid {
    name: &'static str,
    /// How many changes of `chain` come first (all valid).
    after: usize,
    /// The change that must be refused after them.
    signed: String,
    /// The error's text (CryptoError's Display).
    error: String,
}

#[derive(Serialize)]
struct GroupFile {
    description: &'static str,
    group_id: String,
    /// Mallory's identity key: not a member (a key the server could make).
    mallory: UserVector,
    users: Vec<UserVector>,
    chain: Vec<GroupStep>,
    invalid: Vec<GroupInvalid>,
}

#[test]
fn group_vectors() {
    use securechat_crypto::group::{Change, ChangeMember, GroupState, Op, SignedChange};

    let [alice, bob, carol] = users();
    let mut rng = seeded("group");
    let group_id = ConvId(uuid::Builder::from_random_bytes(draw::<16>(&mut rng)).into_uuid());
    let mallory_seed = draw::<32>(&mut rng);
    let mallory = User {
        name: "mallory",
        id: "0193650e-2c00-7000-8000-0000000a11e4"
            .parse()
            .expect("uuid"),
        ik_seed: mallory_seed,
        ik: IdentityKeyPair::from_seed(&mallory_seed),
        ek_sk: draw::<32>(&mut rng),
        ek: EncryptionKeyPair::from_secret_bytes(&[9; 32]),
    };
    let m = |u: &User, admin: bool| ChangeMember {
        user_id: u.id,
        ik: u.ik.public(),
        admin,
    };
    let make =
        |author: &User, state: Option<&GroupState>, op: Op, members: Vec<ChangeMember>| Change {
            group_id,
            seq: state.map_or(0, |s| s.seq() + 1),
            prev: state.map(GroupState::head),
            author: author.id,
            author_ik: author.ik.public(),
            at_ms: CREATED_AT + 1000 * state.map_or(0, |s| s.seq() as i64 + 1),
            op,
            members,
        };
    let sign = |author: &User, change: &Change| change.sign(&author.ik).expect("sign");

    let plan: Vec<(&'static str, &User, Op, Vec<ChangeMember>)> = vec![
        (
            "alice creates the group with bob",
            &alice,
            Op::Create,
            vec![m(&alice, true), m(&bob, false)],
        ),
        ("alice adds carol", &alice, Op::Add, vec![m(&carol, false)]),
        (
            "alice makes bob an admin",
            &alice,
            Op::Admin,
            vec![m(&bob, true)],
        ),
        (
            "bob removes carol",
            &bob,
            Op::Remove,
            vec![m(&carol, false)],
        ),
        ("alice leaves", &alice, Op::Leave, vec![m(&alice, true)]),
    ];
    let mut states: Vec<GroupState> = Vec::new();
    let mut chain: Vec<SignedChange> = Vec::new();
    let mut steps = Vec::new();
    for (note, author, op, members) in plan {
        let change = make(author, states.last(), op, members);
        let signed = sign(author, &change);
        let state = match states.last() {
            None => GroupState::genesis(&signed),
            Some(s) => s.apply(&signed),
        }
        .expect("a valid step");
        // Independently: the signature and the link, from the primitives.
        let mut input = b"securechat/v1/group-change\x00".to_vec();
        input.extend_from_slice(&signed.bytes);
        author
            .ik
            .public()
            .verify(&input, &signed.sig)
            .expect("ed25519");
        let mut link = b"securechat/v1/group-link\x00".to_vec();
        link.extend_from_slice(&(signed.bytes.len() as u32).to_be_bytes());
        link.extend_from_slice(&signed.bytes);
        link.extend_from_slice(&signed.sig);
        assert_eq!(<[u8; 32]>::from(Sha256::digest(&link)), signed.link());
        steps.push(GroupStep {
            note,
            change: String::from_utf8(signed.bytes.clone()).expect("utf8"),
            signed: signed.to_json(),
            link: b64u(signed.link()),
            members: state
                .members()
                .iter()
                .map(|(id, member)| GroupMemberVector {
                    user_id: user_id_text(id),
                    admin: member.admin,
                })
                .collect(),
        });
        states.push(state);
        chain.push(signed);
    }
    assert_eq!(GroupState::verify(&chain).expect("chain"), states[4]);

    let refusal = |name: &'static str, after: usize, signed: SignedChange| {
        let state = GroupState::verify(&chain[..after]).expect("prefix");
        let error = state.apply(&signed).expect_err(name).to_string();
        GroupInvalid {
            name,
            after,
            signed: signed.to_json(),
            error,
        }
    };
    let s1 = &states[0];
    let mut bad_sig = sign(
        &alice,
        &make(&alice, Some(s1), Op::Add, vec![m(&mallory, false)]),
    );
    bad_sig.sig[0] ^= 1;
    let mut claimed = make(&alice, Some(s1), Op::Add, vec![m(&mallory, false)]);
    claimed.author_ik = mallory.ik.public();
    let mut unlinked = make(&alice, Some(s1), Op::Add, vec![m(&mallory, false)]);
    unlinked.prev = Some(draw::<32>(&mut rng));
    let invalid = vec![
        refusal(
            "signed by a key that is not a member's (the server's)",
            1,
            sign(
                &mallory,
                &make(&mallory, Some(s1), Op::Add, vec![m(&mallory, false)]),
            ),
        ),
        refusal(
            "alice's name with mallory's key",
            1,
            sign(&mallory, &claimed),
        ),
        refusal("a signature that does not verify", 1, bad_sig),
        refusal(
            "by a member who is not an admin",
            1,
            sign(
                &bob,
                &make(&bob, Some(s1), Op::Add, vec![m(&mallory, false)]),
            ),
        ),
        refusal("not linked to the last change", 1, sign(&alice, &unlinked)),
        refusal("a replayed earlier change", 2, chain[1].clone()),
        refusal(
            "the last admin leaving while others stay",
            2,
            sign(
                &alice,
                &make(&alice, Some(&states[1]), Op::Leave, vec![m(&alice, true)]),
            ),
        ),
        refusal(
            "a member named with another key",
            3,
            sign(
                &bob,
                &make(
                    &bob,
                    Some(&states[2]),
                    Op::Remove,
                    vec![ChangeMember {
                        ik: mallory.ik.public(),
                        ..m(&carol, false)
                    }],
                ),
            ),
        ),
    ];

    pin(
        "group.json",
        &GroupFile {
            description: "Group membership chains (docs/PROTOCOL.md §17). Each step's `change` is \
                          the canonical JSON that is signed (Ed25519 over 'securechat/v1/group-change\\0' \
                          || change); `link` = SHA-256('securechat/v1/group-link\\0' || lp(change) || \
                          sig) is the next change's `prev`; `members` is the verified state after it. \
                          Each `invalid` case must be refused after the first `after` changes of the \
                          chain, with the error text given.",
            group_id: group_id.text(),
            mallory: mallory.vector(),
            users: [&alice, &bob, &carol].iter().map(|u| u.vector()).collect(),
            chain: steps,
            invalid,
        },
    );
}
