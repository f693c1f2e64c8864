//! The client's steps: registration (two messages) and login (two messages). The states
//! between steps are byte strings, so that the WebAssembly module can hand them to
//! JavaScript and back.

use opaque_ke::{
    ClientLogin, ClientLoginFinishParameters, ClientRegistration,
    ClientRegistrationFinishParameters, CredentialResponse, Identifiers, RegistrationResponse,
};
use rand_core::{CryptoRng, RngCore};

use crate::suite::{ksf, Suite, CONTEXT};
use crate::OpaqueError;

/// The first step's output: what to keep, and what to send.
pub struct Started {
    /// The client's state, kept until the answer comes (secret: it holds the blind).
    pub state: Vec<u8>,
    /// The message for the server.
    pub message: Vec<u8>,
}

/// Registration, step 1: blinds the password.
pub fn registration_start<R: RngCore + CryptoRng>(
    rng: &mut R,
    password: &[u8],
) -> Result<Started, OpaqueError> {
    let started = ClientRegistration::<Suite>::start(rng, password)
        .map_err(OpaqueError::from_protocol("password"))?;
    Ok(Started {
        state: started.state.serialize().to_vec(),
        message: started.message.serialize().to_vec(),
    })
}

/// Registration, step 2: from the server's answer, the record to upload.
pub fn registration_finish<R: RngCore + CryptoRng>(
    rng: &mut R,
    state: &[u8],
    password: &[u8],
    response: &[u8],
) -> Result<Vec<u8>, OpaqueError> {
    let state = ClientRegistration::<Suite>::deserialize(state)
        .map_err(OpaqueError::from_protocol("registration state"))?;
    let response = RegistrationResponse::<Suite>::deserialize(response)
        .map_err(OpaqueError::from_protocol("registration response"))?;
    let ksf = ksf()?;
    let finished = state
        .finish(
            rng,
            password,
            response,
            ClientRegistrationFinishParameters::new(Identifiers::default(), Some(&ksf)),
        )
        .map_err(OpaqueError::from_protocol("registration response"))?;
    Ok(finished.message.serialize().to_vec())
}

/// Login, step 1: blinds the password and starts the key exchange.
pub fn login_start<R: RngCore + CryptoRng>(
    rng: &mut R,
    password: &[u8],
) -> Result<Started, OpaqueError> {
    let started = ClientLogin::<Suite>::start(rng, password)
        .map_err(OpaqueError::from_protocol("password"))?;
    Ok(Started {
        state: started.state.serialize().to_vec(),
        message: started.message.serialize().to_vec(),
    })
}

/// Login, step 2: opens the server's answer with the password, which authenticates the
/// server, and returns the finalization that authenticates the client.
/// [`OpaqueError::InvalidLogin`] means a wrong password or an unknown account.
pub fn login_finish<R: RngCore + CryptoRng>(
    rng: &mut R,
    state: &[u8],
    password: &[u8],
    response: &[u8],
) -> Result<Vec<u8>, OpaqueError> {
    let state = ClientLogin::<Suite>::deserialize(state)
        .map_err(OpaqueError::from_protocol("login state"))?;
    let response = CredentialResponse::<Suite>::deserialize(response)
        .map_err(OpaqueError::from_protocol("credential response"))?;
    let ksf = ksf()?;
    let finished = state
        .finish(
            rng,
            password,
            response,
            ClientLoginFinishParameters::new(Some(CONTEXT), Identifiers::default(), Some(&ksf)),
        )
        .map_err(OpaqueError::from_protocol("credential response"))?;
    Ok(finished.message.serialize().to_vec())
}
