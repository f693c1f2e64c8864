//! The server's steps. The server's setup (OPRF seed and key-exchange key pair) is derived
//! from the token secret, so that it is backed up with it and shared by every node.

use hkdf::Hkdf;
use opaque_ke::{
    CredentialFinalization, CredentialRequest, RegistrationRequest, RegistrationUpload,
    ServerLogin, ServerLoginParameters, ServerRegistration, ServerSetup,
};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, RngCore};
use sha2::Sha512;

use crate::suite::{Suite, CONTEXT};
use crate::OpaqueError;

/// The HKDF label under which the setup is derived from the token secret.
const SETUP_LABEL: &[u8] = b"securechat OPAQUE server setup v1";

/// The server's long-term OPAQUE secrets.
pub struct Setup(ServerSetup<Suite>);

impl Setup {
    /// Derived from the token secret: the same secret gives the same setup on every node
    /// and after a restore. Pinned by a vector: a change here would lock every account out.
    pub fn from_token_secret(secret: &[u8]) -> Self {
        let mut seed = [0u8; 32];
        // 32 bytes is far below HKDF-SHA512's limit, so expand cannot fail.
        let _ = Hkdf::<Sha512>::new(None, secret).expand(SETUP_LABEL, &mut seed);
        Self(ServerSetup::<Suite>::new(&mut ChaCha20Rng::from_seed(seed)))
    }

    /// The server's static public key (what clients may pin), 32 bytes.
    pub fn public_key(&self) -> Vec<u8> {
        self.0.keypair().public().serialize().to_vec()
    }
}

/// Registration: evaluates the blinded password for `credential_id` (the account's id).
pub fn registration_response(
    setup: &Setup,
    request: &[u8],
    credential_id: &[u8],
) -> Result<Vec<u8>, OpaqueError> {
    let request = RegistrationRequest::<Suite>::deserialize(request)
        .map_err(OpaqueError::from_protocol("registration request"))?;
    let started = ServerRegistration::<Suite>::start(&setup.0, request, credential_id)
        .map_err(OpaqueError::from_protocol("registration request"))?;
    Ok(started.message.serialize().to_vec())
}

/// Checks an uploaded record and returns it as stored (192 bytes).
pub fn record(upload: &[u8]) -> Result<Vec<u8>, OpaqueError> {
    let upload = RegistrationUpload::<Suite>::deserialize(upload)
        .map_err(OpaqueError::from_protocol("registration record"))?;
    Ok(ServerRegistration::<Suite>::finish(upload)
        .serialize()
        .to_vec())
}

/// Login, step 1: the answer to a credential request, and the state to keep until the
/// finalization. With no record (an unknown account, or one that has no OPAQUE record) the
/// answer is a fake one that no password opens, indistinguishable from a real one and the
/// same for the same `credential_id` every time.
pub fn login_start<R: RngCore + CryptoRng>(
    rng: &mut R,
    setup: &Setup,
    record: Option<&[u8]>,
    request: &[u8],
    credential_id: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), OpaqueError> {
    let record = match record {
        Some(bytes) => Some(
            ServerRegistration::<Suite>::deserialize(bytes)
                .map_err(OpaqueError::from_protocol("stored record"))?,
        ),
        None => None,
    };
    let request = CredentialRequest::<Suite>::deserialize(request)
        .map_err(OpaqueError::from_protocol("credential request"))?;
    let started = ServerLogin::start(
        rng,
        &setup.0,
        record,
        request,
        credential_id,
        ServerLoginParameters {
            context: Some(CONTEXT),
            ..Default::default()
        },
    )
    .map_err(OpaqueError::from_protocol("credential request"))?;
    Ok((
        started.state.serialize().to_vec(),
        started.message.serialize().to_vec(),
    ))
}

/// Login, step 2: checks the client's finalization against the kept state.
pub fn login_finish(state: &[u8], finalization: &[u8]) -> Result<(), OpaqueError> {
    let state = ServerLogin::<Suite>::deserialize(state)
        .map_err(OpaqueError::from_protocol("login state"))?;
    let finalization = CredentialFinalization::<Suite>::deserialize(finalization)
        .map_err(OpaqueError::from_protocol("credential finalization"))?;
    state
        .finish(
            finalization,
            ServerLoginParameters {
                context: Some(CONTEXT),
                ..Default::default()
            },
        )
        .map_err(OpaqueError::from_protocol("credential finalization"))?;
    Ok(())
}
