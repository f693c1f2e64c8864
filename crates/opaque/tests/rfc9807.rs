//! RFC 9807 (OPAQUE) Appendix C test vectors for the configuration securechat uses:
//! ristretto255-SHA512 OPRF, 3DH over ristretto255, SHA-512, HKDF-SHA512, HMAC-SHA512.
//!
//! The RFC's vectors use the Identity KSF and the context "OPAQUE-POC"; securechat uses
//! Argon2id and the context "securechat OPAQUE v1" (docs/PROTOCOL.md §18.1), so they are
//! reproduced here through opaque-ke's public API with a test-only suite that is
//! `securechat_opaque::Suite` with `Ksf = opaque_ke::ksf::Identity`, and the context and
//! identities each vector gives. Our own wire format and parameters are pinned separately by
//! `testdata/vectors/opaque.json` (tests/vectors.rs).
//!
//! Covered: Real Test Vector 1 (C.1.1, no identities, as securechat), Real Test Vector 2
//! (C.1.2, client "alice" and server "bob"), and Fake Test Vector 1 (C.2.1, the server's
//! answer for an unknown credential). Compared byte for byte: registration_request,
//! registration_response, registration_upload (and in it client_public_key and envelope),
//! KE1, KE2, KE3, export_key (at registration and at login), and session_key (on both sides).
//! Not compared, because opaque-ke's public API does not expose them (they are only
//! available under its own `#[cfg(test)]`): oprf_key, randomized_password, auth_key,
//! handshake_secret, server_mac_key and client_mac_key. They all feed KE2/KE3, the envelope
//! and the keys, so a wrong one would show there. Besides, the real vectors check that the
//! context is bound: finishing vector 1's KE2 with securechat's context is refused.
//! Nothing of these vectors was left out as irreproducible.
//!
//! The randomness is scripted: `Script` hands out the RFC's input values in exactly the order
//! and sizes opaque-ke 4.0.1 and voprf 0.5 draw them, and every test checks that the script
//! is used up, so a change in that order fails loudly:
//! - `ClientRegistration::start`: the OPRF blind, drawn as 64 bytes and reduced mod the group
//!   order (curve25519-dalek's `Scalar::random`), so `blind || 32 zero bytes`;
//! - `ClientRegistration::finish`: the envelope nonce (32);
//! - `ClientLogin::start`: the blind (64, as above), then the client's key share seed (32,
//!   turned into a key pair with DeriveDiffieHellmanKeyPair), then the client nonce (32);
//! - `ServerLogin::start`: first 64 bytes for the masking key of a fake record, drawn even when
//!   the real record is given (the choice is made in constant time; for a real record they are
//!   unused, here zeros; for the fake vector they are its masking_key), then the masking nonce
//!   (32), the server's key share seed (32) and the server nonce (32);
//! - `ClientLogin::finish`: nothing.
//!
//! The server's setup comes from `ServerSetup::deserialize` of oprf_seed (64) ||
//! server_private_key (32) || the public key of fake records (32): for the real vectors any
//! valid point (the server's public key), for the fake vector its client_public_key.
//!
//! The vectors below are the RFC's text (Appendix C.1.1, C.1.2 and C.2.1), unchanged (test
//! data, as also carried by facebook/opaque-ke in src/tests/rfc9807_vectors.rs); `parse`
//! reads the `name: hex` values, which wrap over several lines.

use std::collections::HashMap;

use opaque_ke::{
    ClientLogin, ClientLoginFinishParameters, ClientRegistration,
    ClientRegistrationFinishParameters, CredentialFinalization, CredentialRequest,
    CredentialResponse, Identifiers, RegistrationRequest, RegistrationResponse, RegistrationUpload,
    ServerLogin, ServerLoginParameters, ServerRegistration, ServerSetup,
};
use rand_core::{CryptoRng, RngCore};

/// securechat's suite with the RFC vectors' KSF.
struct RfcSuite;

impl opaque_ke::CipherSuite for RfcSuite {
    type OprfCs = <securechat_opaque::Suite as opaque_ke::CipherSuite>::OprfCs;
    type KeyExchange = <securechat_opaque::Suite as opaque_ke::CipherSuite>::KeyExchange;
    type Ksf = opaque_ke::ksf::Identity;
}

// --- scripted randomness --------------------------------------------------------------------

/// A "random" generator that hands out pre-set bytes in order and panics when asked for more.
struct Script {
    bytes: Vec<u8>,
    used: usize,
}

impl Script {
    fn new(parts: &[&[u8]]) -> Self {
        Self {
            bytes: parts.concat(),
            used: 0,
        }
    }

    /// Checks that every scripted byte was drawn.
    fn assert_used_up(&self, step: &str) {
        assert_eq!(
            self.used,
            self.bytes.len(),
            "{step}: opaque-ke drew {} of the {} scripted bytes",
            self.used,
            self.bytes.len()
        );
    }
}

impl RngCore for Script {
    fn next_u32(&mut self) -> u32 {
        let mut bytes = [0u8; 4];
        self.fill_bytes(&mut bytes);
        u32::from_le_bytes(bytes)
    }

    fn next_u64(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        self.fill_bytes(&mut bytes);
        u64::from_le_bytes(bytes)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        let end = self.used + dest.len();
        assert!(
            end <= self.bytes.len(),
            "opaque-ke drew more than the {} scripted bytes",
            self.bytes.len()
        );
        dest.copy_from_slice(&self.bytes[self.used..end]);
        self.used = end;
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for Script {}

/// A scalar drawn by `Scalar::random` (64 bytes reduced wide): the blind, then zeros.
fn wide(blind: &[u8]) -> Vec<u8> {
    assert_eq!(blind.len(), 32);
    [blind, &[0u8; 32]].concat()
}

// --- the RFC's text -------------------------------------------------------------------------

/// The values of one vector, by name.
struct Vector(HashMap<String, Vec<u8>>);

impl Vector {
    fn get(&self, name: &str) -> &[u8] {
        self.0
            .get(name)
            .unwrap_or_else(|| panic!("the vector has no {name}"))
    }

    fn optional(&self, name: &str) -> Option<&[u8]> {
        self.0.get(name).map(Vec::as_slice)
    }
}

/// The values of the vector titled `... title` (its Context, input, intermediate and output
/// values; the other configuration lines are names, not hex).
fn parse(text: &str, title: &str) -> Vector {
    let mut hex_text: Vec<(String, String)> = Vec::new();
    let mut inside = false;
    let mut configuration = false;
    for line in text.lines() {
        if line.starts_with("C.") {
            if line.contains("Test Vector") {
                inside = line.ends_with(title);
            }
            configuration = line.ends_with("Configuration");
            continue;
        }
        let line = line.trim();
        if !inside || line.is_empty() {
            continue;
        }
        match line.split_once(": ") {
            Some((name, value)) => {
                if !configuration || name == "Context" {
                    hex_text.push((name.to_owned(), value.to_owned()));
                }
            }
            // A value wrapped onto the next line.
            None => hex_text
                .last_mut()
                .expect("a value to continue")
                .1
                .push_str(line),
        }
    }
    assert!(!hex_text.is_empty(), "no vector titled {title}");
    Vector(
        hex_text
            .into_iter()
            .map(|(name, value)| {
                let bytes = hex::decode(&value).unwrap_or_else(|_| panic!("{name} is not hex"));
                (name, bytes)
            })
            .collect(),
    )
}

/// Compares as hex, for readable failures.
#[track_caller]
fn same(step: &str, actual: &[u8], expected: &[u8]) {
    assert_eq!(hex::encode(actual), hex::encode(expected), "{step}");
}

fn identifiers(v: &Vector) -> Identifiers<'_> {
    Identifiers {
        client: v.optional("client_identity"),
        server: v.optional("server_identity"),
    }
}

/// The server's setup: oprf_seed || server_private_key || the public key of fake records.
fn server_setup(v: &Vector, fake_record_pk: &[u8]) -> ServerSetup<RfcSuite> {
    let bytes = [
        v.get("oprf_seed"),
        v.get("server_private_key"),
        fake_record_pk,
    ]
    .concat();
    let setup = ServerSetup::<RfcSuite>::deserialize(&bytes).expect("server setup");
    same(
        "server_public_key",
        &setup.keypair().public().serialize(),
        v.get("server_public_key"),
    );
    setup
}

/// Runs a real vector: registration, then login, every message compared.
fn real_vector(title: &str, expected_ids: (Option<&[u8]>, Option<&[u8]>)) {
    let v = parse(REAL_VECTORS, title);
    let context = v.get("Context");
    assert_eq!(context, b"OPAQUE-POC");
    let ids = identifiers(&v);
    assert_eq!((ids.client, ids.server), expected_ids);
    let password = v.get("password");
    let credential_identifier = v.get("credential_identifier");
    let setup = server_setup(&v, v.get("server_public_key"));

    // Registration.
    let mut rng = Script::new(&[&wide(v.get("blind_registration"))]);
    let reg_start = ClientRegistration::<RfcSuite>::start(&mut rng, password).expect("start");
    rng.assert_used_up("ClientRegistration::start");
    let request = reg_start.message.serialize();
    same(
        "registration_request",
        &request,
        v.get("registration_request"),
    );

    let reg_response = ServerRegistration::<RfcSuite>::start(
        &setup,
        RegistrationRequest::deserialize(&request).expect("request"),
        credential_identifier,
    )
    .expect("server registration")
    .message
    .serialize();
    same(
        "registration_response",
        &reg_response,
        v.get("registration_response"),
    );

    let mut rng = Script::new(&[v.get("envelope_nonce")]);
    let reg_finish = reg_start
        .state
        .finish(
            &mut rng,
            password,
            RegistrationResponse::deserialize(&reg_response).expect("response"),
            ClientRegistrationFinishParameters::new(ids, None),
        )
        .expect("registration finish");
    rng.assert_used_up("ClientRegistration::finish");
    let upload = reg_finish.message.serialize();
    same("registration_upload", &upload, v.get("registration_upload"));
    // The upload is client_public_key || masking_key || envelope.
    same(
        "client_public_key",
        &upload[..32],
        v.get("client_public_key"),
    );
    same("envelope", &upload[96..], v.get("envelope"));
    same(
        "export_key (registration)",
        &reg_finish.export_key,
        v.get("export_key"),
    );
    let record =
        ServerRegistration::finish(RegistrationUpload::deserialize(&upload).expect("upload"));

    // Login.
    let mut rng = Script::new(&[
        &wide(v.get("blind_login")),
        v.get("client_keyshare_seed"),
        v.get("client_nonce"),
    ]);
    let login_start = ClientLogin::<RfcSuite>::start(&mut rng, password).expect("login start");
    rng.assert_used_up("ClientLogin::start");
    let ke1 = login_start.message.serialize();
    same("KE1", &ke1, v.get("KE1"));

    let server_params = ServerLoginParameters {
        context: Some(context),
        identifiers: ids,
    };
    let mut rng = Script::new(&[
        // The unused masking key of a fake record (see the module docs).
        &[0u8; 64],
        v.get("masking_nonce"),
        v.get("server_keyshare_seed"),
        v.get("server_nonce"),
    ]);
    let server_start = ServerLogin::start(
        &mut rng,
        &setup,
        Some(record),
        CredentialRequest::deserialize(&ke1).expect("KE1"),
        credential_identifier,
        server_params.clone(),
    )
    .expect("server login start");
    rng.assert_used_up("ServerLogin::start");
    let ke2 = server_start.message.serialize();
    same("KE2", &ke2, v.get("KE2"));

    // The context is bound into the transcript: with securechat's, the server's MAC fails.
    let state = login_start.state.serialize();
    let other_context = ClientLogin::<RfcSuite>::deserialize(&state)
        .expect("state")
        .finish(
            &mut Script::new(&[]),
            password,
            CredentialResponse::deserialize(&ke2).expect("KE2"),
            ClientLoginFinishParameters::new(Some(securechat_opaque::suite::CONTEXT), ids, None),
        );
    assert!(
        matches!(
            other_context,
            Err(opaque_ke::errors::ProtocolError::InvalidLoginError)
        ),
        "another context must not verify"
    );

    let mut rng = Script::new(&[]);
    let login_finish = ClientLogin::<RfcSuite>::deserialize(&state)
        .expect("state")
        .finish(
            &mut rng,
            password,
            CredentialResponse::deserialize(&ke2).expect("KE2"),
            ClientLoginFinishParameters::new(Some(context), ids, None),
        )
        .expect("login finish");
    rng.assert_used_up("ClientLogin::finish");
    let ke3 = login_finish.message.serialize();
    same("KE3", &ke3, v.get("KE3"));
    same(
        "export_key (login)",
        &login_finish.export_key,
        v.get("export_key"),
    );
    same(
        "session_key (client)",
        &login_finish.session_key,
        v.get("session_key"),
    );

    let server_finish = server_start
        .state
        .finish(
            CredentialFinalization::deserialize(&ke3).expect("KE3"),
            server_params,
        )
        .expect("server login finish");
    same(
        "session_key (server)",
        &server_finish.session_key,
        v.get("session_key"),
    );
}

#[test]
fn real_test_vector_1_no_identities() {
    real_vector("Real Test Vector 1", (None, None));
}

#[test]
fn real_test_vector_2_with_identities() {
    real_vector("Real Test Vector 2", (Some(b"alice"), Some(b"bob")));
}

#[test]
fn fake_test_vector_1() {
    let v = parse(FAKE_VECTORS, "Fake Test Vector 1");
    let context = v.get("Context");
    // A fake record carries the setup's fake client public key.
    let setup = server_setup(&v, v.get("client_public_key"));
    let mut rng = Script::new(&[
        v.get("masking_key"),
        v.get("masking_nonce"),
        v.get("server_keyshare_seed"),
        v.get("server_nonce"),
    ]);
    let server_start = ServerLogin::start(
        &mut rng,
        &setup,
        None,
        CredentialRequest::<RfcSuite>::deserialize(v.get("KE1")).expect("KE1"),
        v.get("credential_identifier"),
        ServerLoginParameters {
            context: Some(context),
            identifiers: identifiers(&v),
        },
    )
    .expect("fake login start");
    rng.assert_used_up("ServerLogin::start (fake)");
    same("KE2", &server_start.message.serialize(), v.get("KE2"));
}

// --- RFC 9807, Appendix C (test data) ---------------------------------------------------------

const REAL_VECTORS: &str = r#"
C.1.  Real Test Vectors

C.1.1.  OPAQUE-3DH Real Test Vector 1

C.1.1.1.  Configuration

   OPRF: ristretto255-SHA512
   Hash: SHA512
   KSF: Identity
   KDF: HKDF-SHA512
   MAC: HMAC-SHA512
   Group: ristretto255
   Context: 4f50415155452d504f43
   Nh: 64
   Npk: 32
   Nsk: 32
   Nm: 64
   Nx: 64
   Nok: 32

C.1.1.2.  Input Values

   oprf_seed: f433d0227b0b9dd54f7c4422b600e764e47fb503f1f9a0f0a47c6606b0
   54a7fdc65347f1a08f277e22358bbabe26f823fca82c7848e9a75661f4ec5d5c1989e
   f
   credential_identifier: 31323334
   password: 436f7272656374486f72736542617474657279537461706c65
   envelope_nonce: ac13171b2f17bc2c74997f0fce1e1f35bec6b91fe2e12dbd323d2
   3ba7a38dfec
   masking_nonce: 38fe59af0df2c79f57b8780278f5ae47355fe1f817119041951c80
   f612fdfc6d
   server_private_key: 47451a85372f8b3537e249d7b54188091fb18edde78094b43
   e2ba42b5eb89f0d
   server_public_key: b2fe7af9f48cc502d016729d2fe25cdd433f2c4bc904660b2a
   382c9b79df1a78
   server_nonce: 71cd9960ecef2fe0d0f7494986fa3d8b2bb01963537e60efb13981e
   138e3d4a1
   client_nonce: da7e07376d6d6f034cfa9bb537d11b8c6b4238c334333d1f0aebb38
   0cae6a6cc
   client_keyshare_seed: 82850a697b42a505f5b68fcdafce8c31f0af2b581f063cf
   1091933541936304b
   server_keyshare_seed: 05a4f54206eef1ba2f615bc0aa285cb22f26d1153b5b40a
   1e85ff80da12f982f
   blind_registration: 76cfbfe758db884bebb33582331ba9f159720ca8784a2a070
   a265d9c2d6abe01
   blind_login: 6ecc102d2e7a7cf49617aad7bbe188556792d4acd60a1a8a8d2b65d4
   b0790308

C.1.1.3.  Intermediate Values

   client_public_key: 76a845464c68a5d2f7e442436bb1424953b17d3e2e289ccbac
   cafb57ac5c3675
   auth_key: 6cd32316f18d72a9a927a83199fa030663a38ce0c11fbaef82aa9003773
   0494fc555c4d49506284516edd1628c27965b7555a4ebfed2223199f6c67966dde822
   randomized_password: aac48c25ab036e30750839d31d6e73007344cb1155289fb7
   d329beb932e9adeea73d5d5c22a0ce1952f8aba6d66007615cd1698d4ac85ef1fcf15
   0031d1435d9
   envelope: ac13171b2f17bc2c74997f0fce1e1f35bec6b91fe2e12dbd323d23ba7a3
   8dfec634b0f5b96109c198a8027da51854c35bee90d1e1c781806d07d49b76de6a28b
   8d9e9b6c93b9f8b64d16dddd9c5bfb5fea48ee8fd2f75012a8b308605cdd8ba5
   handshake_secret: 81263cb85a0cfa12450f0f388de4e92291ec4c7c7a0878b6245
   50ff528726332f1298fc6cc822a432c89504347c7a2ccd70316ae3da6a15e0399e6db
   3f7c1b12
   server_mac_key: 0d36b26cfe38f51f804f0a9361818f32ee1ce2a4e5578653b5271
   84af058d3b2d8075c296fd84d24677913d1baa109290cd81a13ed383f9091a3804e65
   298dfc
   client_mac_key: 91750adbac54a5e8e53b4c233cc8d369fe83b0de1b6a3cd85575e
   eb0bb01a6a90a086a2cf5fe75fff2a9379c30ba9049510a33b5b0b1444a88800fc3ee
   e2260d
   oprf_key: 5d4c6a8b7c7138182afb4345d1fae6a9f18a1744afbcc3854f8f5a2b4b4
   c6d05

C.1.1.4.  Output Values

   registration_request: 5059ff249eb1551b7ce4991f3336205bde44a105a032e74
   7d21bf382e75f7a71
   registration_response: 7408a268083e03abc7097fc05b587834539065e86fb0c7
   b6342fcf5e01e5b019b2fe7af9f48cc502d016729d2fe25cdd433f2c4bc904660b2a3
   82c9b79df1a78
   registration_upload: 76a845464c68a5d2f7e442436bb1424953b17d3e2e289ccb
   accafb57ac5c36751ac5844383c7708077dea41cbefe2fa15724f449e535dd7dd562e
   66f5ecfb95864eadddec9db5874959905117dad40a4524111849799281fefe3c51fa8
   2785c5ac13171b2f17bc2c74997f0fce1e1f35bec6b91fe2e12dbd323d23ba7a38dfe
   c634b0f5b96109c198a8027da51854c35bee90d1e1c781806d07d49b76de6a28b8d9e
   9b6c93b9f8b64d16dddd9c5bfb5fea48ee8fd2f75012a8b308605cdd8ba5
   KE1: c4dedb0ba6ed5d965d6f250fbe554cd45cba5dfcce3ce836e4aee778aa3cd44d
   da7e07376d6d6f034cfa9bb537d11b8c6b4238c334333d1f0aebb380cae6a6cc6e29b
   ee50701498605b2c085d7b241ca15ba5c32027dd21ba420b94ce60da326
   KE2: 7e308140890bcde30cbcea28b01ea1ecfbd077cff62c4def8efa075aabcbb471
   38fe59af0df2c79f57b8780278f5ae47355fe1f817119041951c80f612fdfc6dd6ec6
   0bcdb26dc455ddf3e718f1020490c192d70dfc7e403981179d8073d1146a4f9aa1ced
   4e4cd984c657eb3b54ced3848326f70331953d91b02535af44d9fedc80188ca46743c
   52786e0382f95ad85c08f6afcd1ccfbff95e2bdeb015b166c6b20b92f832cc6df01e0
   b86a7efd92c1c804ff865781fa93f2f20b446c8371b671cd9960ecef2fe0d0f749498
   6fa3d8b2bb01963537e60efb13981e138e3d4a1c4f62198a9d6fa9170c42c3c71f197
   1b29eb1d5d0bd733e40816c91f7912cc4a660c48dae03e57aaa38f3d0cffcfc21852e
   bc8b405d15bd6744945ba1a93438a162b6111699d98a16bb55b7bdddfe0fc5608b23d
   a246e7bd73b47369169c5c90
   KE3: 4455df4f810ac31a6748835888564b536e6da5d9944dfea9e34defb9575fe5e2
   661ef61d2ae3929bcf57e53d464113d364365eb7d1a57b629707ca48da18e442
   export_key: 1ef15b4fa99e8a852412450ab78713aad30d21fa6966c9b8c9fb3262a
   970dc62950d4dd4ed62598229b1b72794fc0335199d9f7fcc6eaedde92cc04870e63f
   16
   session_key: 42afde6f5aca0cfa5c163763fbad55e73a41db6b41bc87b8e7b62214
   a8eedc6731fa3cb857d657ab9b3764b89a84e91ebcb4785166fbb02cedfcbdfda215b
   96f

C.1.2.  OPAQUE-3DH Real Test Vector 2

C.1.2.1.  Configuration

   OPRF: ristretto255-SHA512
   Hash: SHA512
   KSF: Identity
   KDF: HKDF-SHA512
   MAC: HMAC-SHA512
   Group: ristretto255
   Context: 4f50415155452d504f43
   Nh: 64
   Npk: 32
   Nsk: 32
   Nm: 64
   Nx: 64
   Nok: 32

C.1.2.2.  Input Values

   client_identity: 616c696365
   server_identity: 626f62
   oprf_seed: f433d0227b0b9dd54f7c4422b600e764e47fb503f1f9a0f0a47c6606b0
   54a7fdc65347f1a08f277e22358bbabe26f823fca82c7848e9a75661f4ec5d5c1989e
   f
   credential_identifier: 31323334
   password: 436f7272656374486f72736542617474657279537461706c65
   envelope_nonce: ac13171b2f17bc2c74997f0fce1e1f35bec6b91fe2e12dbd323d2
   3ba7a38dfec
   masking_nonce: 38fe59af0df2c79f57b8780278f5ae47355fe1f817119041951c80
   f612fdfc6d
   server_private_key: 47451a85372f8b3537e249d7b54188091fb18edde78094b43
   e2ba42b5eb89f0d
   server_public_key: b2fe7af9f48cc502d016729d2fe25cdd433f2c4bc904660b2a
   382c9b79df1a78
   server_nonce: 71cd9960ecef2fe0d0f7494986fa3d8b2bb01963537e60efb13981e
   138e3d4a1
   client_nonce: da7e07376d6d6f034cfa9bb537d11b8c6b4238c334333d1f0aebb38
   0cae6a6cc
   client_keyshare_seed: 82850a697b42a505f5b68fcdafce8c31f0af2b581f063cf
   1091933541936304b
   server_keyshare_seed: 05a4f54206eef1ba2f615bc0aa285cb22f26d1153b5b40a
   1e85ff80da12f982f
   blind_registration: 76cfbfe758db884bebb33582331ba9f159720ca8784a2a070
   a265d9c2d6abe01
   blind_login: 6ecc102d2e7a7cf49617aad7bbe188556792d4acd60a1a8a8d2b65d4
   b0790308

C.1.2.3.  Intermediate Values

   client_public_key: 76a845464c68a5d2f7e442436bb1424953b17d3e2e289ccbac
   cafb57ac5c3675
   auth_key: 6cd32316f18d72a9a927a83199fa030663a38ce0c11fbaef82aa9003773
   0494fc555c4d49506284516edd1628c27965b7555a4ebfed2223199f6c67966dde822
   randomized_password: aac48c25ab036e30750839d31d6e73007344cb1155289fb7
   d329beb932e9adeea73d5d5c22a0ce1952f8aba6d66007615cd1698d4ac85ef1fcf15
   0031d1435d9
   envelope: ac13171b2f17bc2c74997f0fce1e1f35bec6b91fe2e12dbd323d23ba7a3
   8dfec1ac902dc5589e9a5f0de56ad685ea8486210ef41449cd4d8712828913c5d2b68
   0b2b3af4a26c765cff329bfb66d38ecf1d6cfa9e7a73c222c6efe0d9520f7d7c
   handshake_secret: 5e723bed1e5276de2503419eba9da61ead573109c4012268323
   98c7e08155b885bfe7bc93451f9d887a0c1d0c19233e40a8e47b347a9ac3907f94032
   a4cff64f
   server_mac_key: dad66bb9251073d17a13f8e5500f36e5998e3cde520ca0738e708
   5af62fd97812eb79a745c94d0bf8a6ac17f980cf435504cf64041eeb6bb237796d2c7
   f81e9a
   client_mac_key: f816fe2914f7c5b29852385615d7c7f31ac122adf202d7ccd4976
   06d7aabd48930323d1d02b1cc9ecd456c4de6f46c7950becb18bffd921dd5876381b5
   486ffe
   oprf_key: 5d4c6a8b7c7138182afb4345d1fae6a9f18a1744afbcc3854f8f5a2b4b4
   c6d05

C.1.2.4.  Output Values

   registration_request: 5059ff249eb1551b7ce4991f3336205bde44a105a032e74
   7d21bf382e75f7a71
   registration_response: 7408a268083e03abc7097fc05b587834539065e86fb0c7
   b6342fcf5e01e5b019b2fe7af9f48cc502d016729d2fe25cdd433f2c4bc904660b2a3
   82c9b79df1a78
   registration_upload: 76a845464c68a5d2f7e442436bb1424953b17d3e2e289ccb
   accafb57ac5c36751ac5844383c7708077dea41cbefe2fa15724f449e535dd7dd562e
   66f5ecfb95864eadddec9db5874959905117dad40a4524111849799281fefe3c51fa8
   2785c5ac13171b2f17bc2c74997f0fce1e1f35bec6b91fe2e12dbd323d23ba7a38dfe
   c1ac902dc5589e9a5f0de56ad685ea8486210ef41449cd4d8712828913c5d2b680b2b
   3af4a26c765cff329bfb66d38ecf1d6cfa9e7a73c222c6efe0d9520f7d7c
   KE1: c4dedb0ba6ed5d965d6f250fbe554cd45cba5dfcce3ce836e4aee778aa3cd44d
   da7e07376d6d6f034cfa9bb537d11b8c6b4238c334333d1f0aebb380cae6a6cc6e29b
   ee50701498605b2c085d7b241ca15ba5c32027dd21ba420b94ce60da326
   KE2: 7e308140890bcde30cbcea28b01ea1ecfbd077cff62c4def8efa075aabcbb471
   38fe59af0df2c79f57b8780278f5ae47355fe1f817119041951c80f612fdfc6dd6ec6
   0bcdb26dc455ddf3e718f1020490c192d70dfc7e403981179d8073d1146a4f9aa1ced
   4e4cd984c657eb3b54ced3848326f70331953d91b02535af44d9fea502150b67fe367
   95dd8914f164e49f81c7688a38928372134b7dccd50e09f8fed9518b7b2f94835b3c4
   fe4c8475e7513f20eb97ff0568a39caee3fd6251876f71cd9960ecef2fe0d0f749498
   6fa3d8b2bb01963537e60efb13981e138e3d4a1c4f62198a9d6fa9170c42c3c71f197
   1b29eb1d5d0bd733e40816c91f7912cc4a292371e7809a9031743e943fb3b56f51de9
   03552fc91fba4e7419029951c3970b2e2f0a9dea218d22e9e4e0000855bb6421aa361
   0d6fc0f4033a6517030d4341
   KE3: 7a026de1d6126905736c3f6d92463a08d209833eb793e46d0f7f15b3e0f62c76
   43763c02bbc6b8d3d15b63250cae98171e9260f1ffa789750f534ac11a0176d5
   export_key: 1ef15b4fa99e8a852412450ab78713aad30d21fa6966c9b8c9fb3262a
   970dc62950d4dd4ed62598229b1b72794fc0335199d9f7fcc6eaedde92cc04870e63f
   16
   session_key: ae7951123ab5befc27e62e63f52cf472d6236cb386c968cc47b7e34f
   866aa4bc7638356a73cfce92becf39d6a7d32a1861f12130e824241fe6cab34fbd471
   a57
"#;

const FAKE_VECTORS: &str = r#"
C.2.  Fake Test Vectors

C.2.1.  OPAQUE-3DH Fake Test Vector 1

C.2.1.1.  Configuration

   OPRF: ristretto255-SHA512
   Hash: SHA512
   KSF: Identity
   KDF: HKDF-SHA512
   MAC: HMAC-SHA512
   Group: ristretto255
   Context: 4f50415155452d504f43
   Nh: 64
   Npk: 32
   Nsk: 32
   Nm: 64
   Nx: 64
   Nok: 32

C.2.1.2.  Input Values

   client_identity: 616c696365
   server_identity: 626f62
   oprf_seed: 743fc168d1f826ad43738933e5adb23da6fb95f95a1b069f0daa0522d0
   a78b617f701fc6aa46d3e7981e70de7765dfcd6b1e13e3369a582eb8dc456b10aa53b
   0
   credential_identifier: 31323334
   masking_nonce: 9c035896a043e70f897d87180c543e7a063b83c1bb728fbd189c61
   9e27b6e5a6
   client_private_key: 2b98980aa95ab53a0f39f0291903d2fdf04b00c167f081416
   9922df873002409
   client_public_key: 84f43f9492e19c22d8bdaa4447cc3d4db1cdb5427a9f852c47
   07921212c36251
   server_private_key: c788585ae8b5ba2942b693b849be0c0426384e41977c18d2e
   81fbe30fd7c9f06
   server_public_key: 825f832667480f08b0c9069da5083ac4d0e9ee31b49c4e0310
   031fea04d52966
   server_nonce: 1e10f6eeab2a7a420bf09da9b27a4639645622c46358de9cf7ae813
   055ae2d12
   client_keyshare_seed: a270dc715dc2b4612bc7864312a05c3e9788ee1bad1f276
   d1e15bdeb4c355e94
   server_keyshare_seed: 360b0937f47d45f6123a4d8f0d0c0814b6120d840ebb8bc
   5b4f6b62df07f78c2
   masking_key: 39ebd51f0e39a07a1c2d2431995b0399bca9996c5d10014d6ebab445
   3dc10ce5cef38ed3df6e56bfff40c2d8dd4671c2b4cf63c3d54860f31fe40220d690b
   b71
   KE1: b0a26dcaca2230b8f5e4b1bcab9c84b586140221bb8b2848486874b0be448905
   42d4e61ed3f8d64cdd3b9d153343eca15b9b0d5e388232793c6376bd2d9cfd0ab641d
   7f20a245a09f1d4dbb6e301661af7f352beb0791d055e48d3645232f77f

C.2.1.3.  Output Values

   KE2: 928f79ad8df21963e91411b9f55165ba833dea918f441db967cdc09521d22925
   9c035896a043e70f897d87180c543e7a063b83c1bb728fbd189c619e27b6e5a632b5a
   b1bff96636144faa4f9f9afaac75dd88ea99cf5175902ae3f3b2195693f165f11929b
   a510a5978e64dcdabecbd7ee1e4380ce270e58fea58e6462d92964a1aaef72698bca1
   c673baeb04cc2bf7de5f3c2f5553464552d3a0f7698a9ca7f9c5e70c6cb1f706b2f17
   5ab9d04bbd13926e816b6811a50b4aafa9799d5ed7971e10f6eeab2a7a420bf09da9b
   27a4639645622c46358de9cf7ae813055ae2d1298251c5ba55f6b0b2d58d9ff0c88fe
   4176484be62a96db6e2a8c4d431bd1bf27fe6c1d0537603835217d42ebf7b25819827
   32e74892fd28211b31ed33863f0beaf75ba6f59474c0aaf9d78a60a9b2f4cd24d7ab5
   4131b3c8efa192df6b72db4c
"#;
