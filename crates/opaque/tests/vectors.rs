//! Known-answer vectors for securechat's OPAQUE (docs/PROTOCOL.md §18):
//! `testdata/vectors/opaque.json`.
//!
//! The test runs every step of a registration and a login through `securechat_opaque`, each
//! client step and the server's login step with its own ChaCha20 generator seeded with a
//! listed 32-byte seed, `SHA-256("securechat/v1 test vectors/opaque/" || name || "/" || step)`
//! (`ChaCha20Rng::from_seed`), exactly as the browser's WebAssembly module takes one seed per
//! step. It then
//! - writes the file when it is missing or `SECURECHAT_REGEN_VECTORS=1`;
//! - otherwise requires the file to be byte-identical, so any change of the suite, the KSF
//!   parameters, the context or the server's setup derivation fails here until the vectors
//!   are regenerated on purpose (and the JavaScript side follows);
//! - and replays every case from the file itself, as a JavaScript test would.
//!
//! Along the way it checks that the login completes (the server accepts the finalization),
//! that a tampered finalization and a wrong password are refused, and that the fake answer
//! for an unknown account looks like a real one.
//!
//! Conventions: `password`, `wrong_password` and `context` are UTF-8 text, every other binary
//! member is base64url without padding.

use std::path::PathBuf;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand_chacha::rand_core::SeedableRng as _;
use rand_chacha::ChaCha20Rng;
use securechat_opaque::server::Setup;
use securechat_opaque::{client, server, sizes, suite, OpaqueError};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

// --- plumbing -------------------------------------------------------------------------------

const FILE: &str = "opaque.json";

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
                     If the protocol change is intended (every stored OPAQUE record would stop \
                     working), rerun with SECURECHAT_REGEN_VECTORS=1, review the diff and \
                     update docs/PROTOCOL.md §18 and the JavaScript client.",
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

/// The seed of one step: `SHA-256("securechat/v1 test vectors/opaque/" || name || "/" || step)`.
fn seed(name: &str, step: &str) -> [u8; 32] {
    Sha256::digest(format!("securechat/v1 test vectors/opaque/{name}/{step}")).into()
}

fn rng(seed: &[u8]) -> ChaCha20Rng {
    ChaCha20Rng::from_seed(seed.try_into().expect("a seed is 32 bytes"))
}

fn b64u(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).expect("base64url")
}

/// A UUID's text as its 16 bytes.
fn uuid_bytes(text: &str) -> Vec<u8> {
    let bytes = hex::decode(text.replace('-', "")).expect("uuid hex");
    assert_eq!(bytes.len(), 16, "{text}");
    bytes
}

// --- the file -------------------------------------------------------------------------------

#[derive(Serialize)]
struct KsfVector {
    algorithm: &'static str,
    version: u32,
    memory_kib: u32,
    iterations: u32,
    lanes: u32,
    salt: &'static str,
    output_bytes: u32,
}

#[derive(Serialize)]
struct ServerSetupVector {
    token_secret: String,
    public_key: String,
}

#[derive(Serialize)]
struct Case {
    name: &'static str,
    token_secret: String,
    credential_identifier: String,
    password: &'static str,
    registration_start_seed: String,
    registration_request: String,
    registration_response: String,
    registration_finish_seed: String,
    registration_record: String,
    login_start_seed: String,
    credential_request: String,
    server_login_seed: String,
    credential_response: String,
    login_finish_seed: String,
    credential_finalization: String,
    wrong_password: &'static str,
}

#[derive(Serialize)]
struct UnknownUserCase {
    name: &'static str,
    token_secret: String,
    credential_identifier: String,
    password: &'static str,
    login_start_seed: String,
    credential_request: String,
    server_login_seed: String,
    credential_response: String,
}

#[derive(Serialize)]
struct OpaqueFile {
    description: &'static str,
    ksf: KsfVector,
    context: String,
    server_setup: ServerSetupVector,
    cases: Vec<Case>,
    unknown_user: UnknownUserCase,
}

const DESCRIPTION: &str = "securechat OPAQUE (RFC 9807; docs/PROTOCOL.md §18): ristretto255 \
     OPRF, 3DH over ristretto255 with SHA-512, Argon2id as KSF (ksf), no identities, context as \
     given. server_setup pins Setup::from_token_secret(token_secret) by its public key. Every \
     *_seed is 32 bytes seeding a ChaCha20 generator (rand_chacha ChaCha20Rng::from_seed) used \
     for that one step only: registration_start(password) -> registration_request; the server \
     answers registration_response for credential_identifier; registration_finish(password, \
     registration_response) -> registration_record (uploaded and stored as is); \
     login_start(password) -> credential_request; the server's login_start with \
     server_login_seed and the record -> credential_response; login_finish(password, \
     credential_response) -> credential_finalization, which the server accepts. login_finish \
     with wrong_password on the same response fails (wrong username or password). \
     unknown_user: the server's fake credential_response for a credential_identifier with no \
     record, which no password opens. password texts are used as their UTF-8 bytes.";

/// A registration and a login for one account, checked along the way.
fn case(
    setup: &Setup,
    token_secret: &[u8],
    name: &'static str,
    user_id: &str,
    password: &'static str,
    wrong_password: &'static str,
) -> Case {
    let credential_id = uuid_bytes(user_id);
    let pw = password.as_bytes();
    let seeds = [
        "registration_start",
        "registration_finish",
        "login_start",
        "server_login",
        "login_finish",
    ]
    .map(|step| seed(name, step));
    let [reg_start_seed, reg_finish_seed, login_start_seed, server_login_seed, login_finish_seed] =
        seeds;

    let reg = client::registration_start(&mut rng(&reg_start_seed), pw).expect("registration");
    let reg_response =
        server::registration_response(setup, &reg.message, &credential_id).expect("response");
    let upload =
        client::registration_finish(&mut rng(&reg_finish_seed), &reg.state, pw, &reg_response)
            .expect("registration finish");
    let record = server::record(&upload).expect("record");
    assert_eq!(record, upload, "the stored record is the upload as is");

    let login = client::login_start(&mut rng(&login_start_seed), pw).expect("login start");
    let (server_state, response) = server::login_start(
        &mut rng(&server_login_seed),
        setup,
        Some(&record),
        &login.message,
        &credential_id,
    )
    .expect("server login start");
    let finalization =
        client::login_finish(&mut rng(&login_finish_seed), &login.state, pw, &response)
            .expect("the right password opens the response");

    // A flipped bit anywhere in the finalization is refused, the real one accepted.
    for i in [0, sizes::CREDENTIAL_FINALIZATION - 1] {
        let mut tampered = finalization.clone();
        tampered[i] ^= 0x01;
        assert_eq!(
            server::login_finish(&server_state, &tampered),
            Err(OpaqueError::InvalidLogin),
            "{name}: tampered finalization (byte {i})"
        );
    }
    server::login_finish(&server_state, &finalization).expect("the server accepts the login");

    assert_eq!(
        client::login_finish(
            &mut rng(&login_finish_seed),
            &login.state,
            wrong_password.as_bytes(),
            &response
        ),
        Err(OpaqueError::InvalidLogin),
        "{name}: wrong password"
    );

    assert_eq!(reg.message.len(), sizes::REGISTRATION_REQUEST);
    assert_eq!(reg_response.len(), sizes::REGISTRATION_RESPONSE);
    assert_eq!(record.len(), sizes::REGISTRATION_RECORD);
    assert_eq!(login.message.len(), sizes::CREDENTIAL_REQUEST);
    assert_eq!(response.len(), sizes::CREDENTIAL_RESPONSE);
    assert_eq!(finalization.len(), sizes::CREDENTIAL_FINALIZATION);
    // The registration response ends with the server's public key.
    assert_eq!(reg_response[32..], setup.public_key());

    Case {
        name,
        token_secret: b64u(token_secret),
        credential_identifier: b64u(&credential_id),
        password,
        registration_start_seed: b64u(reg_start_seed),
        registration_request: b64u(&reg.message),
        registration_response: b64u(&reg_response),
        registration_finish_seed: b64u(reg_finish_seed),
        registration_record: b64u(&record),
        login_start_seed: b64u(login_start_seed),
        credential_request: b64u(&login.message),
        server_login_seed: b64u(server_login_seed),
        credential_response: b64u(&response),
        login_finish_seed: b64u(login_finish_seed),
        credential_finalization: b64u(&finalization),
        wrong_password,
    }
}

/// The fake answer for an account with no record.
fn unknown_user(setup: &Setup, token_secret: &[u8]) -> UnknownUserCase {
    const NAME: &str = "unknown_user";
    const PASSWORD: &str = "correct horse battery staple";
    let credential_id = b"unknown:nobody";
    let login_start_seed = seed(NAME, "login_start");
    let server_login_seed = seed(NAME, "server_login");
    let login =
        client::login_start(&mut rng(&login_start_seed), PASSWORD.as_bytes()).expect("login start");
    let (_, response) = server::login_start(
        &mut rng(&server_login_seed),
        setup,
        None,
        &login.message,
        credential_id,
    )
    .expect("fake response");
    assert_eq!(response.len(), sizes::CREDENTIAL_RESPONSE);
    assert_eq!(
        client::login_finish(
            &mut rng(&seed(NAME, "login_finish")),
            &login.state,
            PASSWORD.as_bytes(),
            &response
        ),
        Err(OpaqueError::InvalidLogin),
        "no password opens the fake response"
    );
    UnknownUserCase {
        name: NAME,
        token_secret: b64u(token_secret),
        credential_identifier: b64u(credential_id),
        password: PASSWORD,
        login_start_seed: b64u(login_start_seed),
        credential_request: b64u(&login.message),
        server_login_seed: b64u(server_login_seed),
        credential_response: b64u(&response),
    }
}

fn generate() -> OpaqueFile {
    let token_secret = seed("server", "token_secret");
    let setup = Setup::from_token_secret(&token_secret);
    let cases = vec![
        case(
            &setup,
            &token_secret,
            "ascii",
            // Alice's user id (docs/PROTOCOL.md §13.1).
            "0193650e-2c00-7a11-8ce0-a11ce0000001",
            "correct horse battery staple",
            "correct horse battery stapler",
        ),
        case(
            &setup,
            &token_secret,
            "non_ascii",
            // Bob's user id.
            "0193650e-2c00-7b0b-8b0b-b0b000000002",
            "Crème brûlée, 密碼 и пароль 🔐",
            "Crème brûlée, 密碼 и пароль 🔓",
        ),
    ];
    let real_response_len = unb64(&cases[0].credential_response).len();
    let unknown = unknown_user(&setup, &token_secret);
    assert_eq!(
        unb64(&unknown.credential_response).len(),
        real_response_len,
        "a fake response is as long as a real one"
    );
    OpaqueFile {
        description: DESCRIPTION,
        ksf: KsfVector {
            algorithm: "argon2id",
            version: 19,
            memory_kib: suite::KSF_MEMORY_KIB,
            iterations: suite::KSF_ITERATIONS,
            lanes: suite::KSF_LANES,
            salt: "16 zero bytes",
            output_bytes: 64,
        },
        context: String::from_utf8(suite::CONTEXT.to_vec()).expect("the context is text"),
        server_setup: ServerSetupVector {
            token_secret: b64u(token_secret),
            public_key: b64u(setup.public_key()),
        },
        cases,
        unknown_user: unknown,
    }
}

// --- replay from the file, as a JavaScript test would ----------------------------------------

fn text<'a>(value: &'a serde_json::Value, member: &str) -> &'a str {
    value[member]
        .as_str()
        .unwrap_or_else(|| panic!("member {member} is missing or not a string"))
}

fn bytes(value: &serde_json::Value, member: &str) -> Vec<u8> {
    unb64(text(value, member))
}

/// Replays every step from the seeds and inputs listed in the file and compares each output.
fn replay(file: &serde_json::Value) {
    assert_eq!(text(file, "context").as_bytes(), suite::CONTEXT);
    let setup_vector = &file["server_setup"];
    let setup = Setup::from_token_secret(&bytes(setup_vector, "token_secret"));
    assert_eq!(setup.public_key(), bytes(setup_vector, "public_key"));

    let cases = file["cases"].as_array().expect("cases");
    assert!(!cases.is_empty());
    for case in cases {
        let name = text(case, "name");
        let setup = Setup::from_token_secret(&bytes(case, "token_secret"));
        let credential_id = bytes(case, "credential_identifier");
        let pw = text(case, "password").as_bytes();
        let reg = client::registration_start(&mut rng(&bytes(case, "registration_start_seed")), pw)
            .expect("registration");
        assert_eq!(reg.message, bytes(case, "registration_request"), "{name}");
        let reg_response =
            server::registration_response(&setup, &reg.message, &credential_id).expect("response");
        assert_eq!(reg_response, bytes(case, "registration_response"), "{name}");
        let record = client::registration_finish(
            &mut rng(&bytes(case, "registration_finish_seed")),
            &reg.state,
            pw,
            &reg_response,
        )
        .expect("registration finish");
        assert_eq!(record, bytes(case, "registration_record"), "{name}");

        let login = client::login_start(&mut rng(&bytes(case, "login_start_seed")), pw)
            .expect("login start");
        assert_eq!(login.message, bytes(case, "credential_request"), "{name}");
        let (server_state, response) = server::login_start(
            &mut rng(&bytes(case, "server_login_seed")),
            &setup,
            Some(&record),
            &login.message,
            &credential_id,
        )
        .expect("server login start");
        assert_eq!(response, bytes(case, "credential_response"), "{name}");
        let login_finish_seed = bytes(case, "login_finish_seed");
        let finalization =
            client::login_finish(&mut rng(&login_finish_seed), &login.state, pw, &response)
                .expect("login finish");
        assert_eq!(
            finalization,
            bytes(case, "credential_finalization"),
            "{name}"
        );
        server::login_finish(&server_state, &finalization).expect("accepted");
        assert_eq!(
            client::login_finish(
                &mut rng(&login_finish_seed),
                &login.state,
                text(case, "wrong_password").as_bytes(),
                &response,
            ),
            Err(OpaqueError::InvalidLogin),
            "{name}: wrong password"
        );
    }

    let unknown = &file["unknown_user"];
    let setup = Setup::from_token_secret(&bytes(unknown, "token_secret"));
    let login = client::login_start(
        &mut rng(&bytes(unknown, "login_start_seed")),
        text(unknown, "password").as_bytes(),
    )
    .expect("login start");
    assert_eq!(login.message, bytes(unknown, "credential_request"));
    let (_, response) = server::login_start(
        &mut rng(&bytes(unknown, "server_login_seed")),
        &setup,
        None,
        &login.message,
        &bytes(unknown, "credential_identifier"),
    )
    .expect("fake response");
    assert_eq!(response, bytes(unknown, "credential_response"));
}

#[test]
fn opaque_vectors() {
    let generated = generate();
    pin(FILE, &generated);
    let on_disk = std::fs::read_to_string(vectors_dir().join(FILE)).expect("read opaque.json");
    replay(&serde_json::from_str(&on_disk).expect("opaque.json parses"));
}

#[test]
fn seeds_are_independent_per_step() {
    // Another seed for the same step gives another message (the generator is really used),
    // and the same seed the same message (nothing else random goes in).
    let a = client::login_start(&mut rng(&seed("x", "a")), b"pw").expect("start");
    let b = client::login_start(&mut rng(&seed("x", "b")), b"pw").expect("start");
    let a2 = client::login_start(&mut rng(&seed("x", "a")), b"pw").expect("start");
    assert_ne!(a.message, b.message);
    assert_eq!(a.message, a2.message);
    assert_eq!(a.state, a2.state);
}
