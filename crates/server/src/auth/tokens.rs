//! Access tokens (JWT, HS256 pinned, `typ: at+jwt`) and opaque refresh tokens.

use std::time::Duration;

use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use securechat_proto::b64;
use securechat_proto::ids::{SessionId, UserId};

/// The JWT `typ` header of access tokens (RFC 9068).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: UserId,
    pub sid: SessionId,
    pub iat: i64,
    /// Not before: the issue time; validated.
    pub nbf: i64,
    pub exp: i64,
    pub jti: Uuid,
}

/// Why an access token was refused. Never shown to clients in detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is invalid")]
    Invalid,
}

/// An access token could not be signed (a bug: HS256 over these claims should not fail).
#[derive(Debug, thiserror::Error)]
#[error("could not sign an access token: {0}")]
pub struct IssueError(#[from] jsonwebtoken::errors::Error);

/// The key id of a signing secret: the first 8 bytes of its SHA-256, in hex. Tokens carry it
/// in the `kid` header; a token with another or no `kid` was not signed with this secret.
pub fn key_id(secret: &[u8]) -> String {
    hex::encode(&Sha256::digest(secret)[..8])
}

/// Signs and verifies access tokens.
pub struct TokenKeys {
    kid: String,
    /// Keys the derivation of a refresh token's successor (see [`TokenKeys::refresh_successor`]).
    successor_key: Vec<u8>,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    access_ttl: Duration,
}

impl TokenKeys {
    /// Keys from the HMAC secret; `issuer` is both `iss` and `aud`.
    pub fn new(secret: &[u8], issuer: &str, access_ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[issuer]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        // Only this server verifies its tokens, so there is no clock skew to allow for.
        validation.leeway = 0;
        Self {
            kid: key_id(secret),
            successor_key: secret.to_vec(),
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: issuer.to_owned(),
            access_ttl,
        }
    }

    /// Access-token lifetime in seconds (`expires_in`).
    pub fn access_ttl_secs(&self) -> u64 {
        self.access_ttl.as_secs()
    }

    /// Issues an access token for a session, at `now_secs`.
    pub fn issue(
        &self,
        user: UserId,
        session: SessionId,
        now_secs: i64,
    ) -> Result<String, IssueError> {
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.issuer.clone(),
            sub: user,
            sid: session,
            iat: now_secs,
            nbf: now_secs,
            exp: now_secs + i64::try_from(self.access_ttl.as_secs()).unwrap_or(i64::MAX / 2),
            jti: Uuid::now_v7(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(ACCESS_TOKEN_TYP.to_owned());
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(&header, &claims, &self.encoding)?)
    }

    /// Verifies signature (HS256 only), `typ`, `kid`, `iss`, `aud`, `nbf` and `exp`.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        if data.header.typ.as_deref() != Some(ACCESS_TOKEN_TYP)
            || data.header.kid.as_deref() != Some(self.kid.as_str())
        {
            return Err(TokenError::Invalid);
        }
        Ok(data.claims)
    }
}

impl TokenKeys {
    /// The token a refresh token is rotated to, and its stored hash: HMAC-SHA-256 of the
    /// presented token under the signing secret. Deterministic, so a second refresh with the
    /// same token inside the grace window gets the same successor without the server storing
    /// any token in clear; unpredictable without the secret.
    pub fn refresh_successor(
        &self,
        presented: &str,
    ) -> Result<(String, [u8; 32]), hmac::digest::InvalidLength> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.successor_key)?;
        mac.update(b"securechat refresh successor v1\0");
        mac.update(presented.as_bytes());
        let token = b64::encode(mac.finalize().into_bytes());
        let hash = hash_refresh_token(&token);
        Ok((token, hash))
    }
}

/// A fresh opaque refresh token (256 random bits, base64url) and its SHA-256 for storage.
pub fn new_refresh_token() -> (String, [u8; 32]) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = b64::encode(bytes);
    let hash = hash_refresh_token(&token);
    (token, hash)
}

/// The stored form of a refresh token.
pub fn hash_refresh_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}
