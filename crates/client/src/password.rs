//! Passwords with OPAQUE (docs/PROTOCOL.md §18): registration, login, proof of the current
//! password, change, account deletion and reset. The password never leaves this process,
//! except in the one fallback §18.6 allows: an account that has never logged in with OPAQUE,
//! on a server that still takes passwords, may log in with the password grant once, and is
//! then moved to OPAQUE.

use rand::rngs::OsRng;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;

use securechat_opaque::{client, OpaqueError};
use securechat_proto::auth::{
    DeleteAccountRequest, Password, RegisterRequest, RegisterResponse, ResetPasswordRequest,
    TokenRequest, OPAQUE_GRANT,
};
use securechat_proto::b64;
use securechat_proto::opaque::{
    ConfirmRequest, LoginStartRequest, LoginStartResponse, PasswordFinishRequest,
    PasswordStartRequest, RegisterStartRequest, RegistrationStartResponse, ResetStartRequest,
};

use crate::api::{check, Api, Session};
use crate::ClientError;

/// How a login went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginKind {
    /// With OPAQUE.
    Opaque,
    /// With the password grant (an account made with a password); `upgraded`: it was moved
    /// to OPAQUE at once.
    Password { upgraded: bool },
}

fn opaque_error(e: OpaqueError) -> ClientError {
    match e {
        OpaqueError::InvalidLogin => ClientError::WrongPassword,
        e => ClientError::Invalid(format!("OPAQUE: {e}")),
    }
}

fn decode(field: &str, value: &str) -> Result<Vec<u8>, ClientError> {
    b64::decode(value).map_err(|_| ClientError::Invalid(format!("{field} is not base64url")))
}

/// A proof of the current password.
enum Proof {
    Opaque {
        login_id: String,
        finalization: String,
    },
    Password(Password),
}

impl Api {
    async fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let response = self.http.post(self.url(path)).json(body).send().await?;
        Ok(check(response).await?.json().await?)
    }

    async fn send_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        Ok(self
            .send(Method::POST, path, |r| r.json(body))
            .await?
            .json()
            .await?)
    }

    /// A new OPAQUE record for `password` (base64url): `start(registration_request)` gets
    /// the server's answer from whichever first step applies (registration, change, reset).
    async fn make_record(
        &self,
        password: &str,
        start: impl AsyncFnOnce(String) -> Result<RegistrationStartResponse, ClientError>,
    ) -> Result<String, ClientError> {
        let started =
            client::registration_start(&mut OsRng, password.as_bytes()).map_err(opaque_error)?;
        let answer = start(b64::encode(&started.message)).await?;
        let record = client::registration_finish(
            &mut OsRng,
            &started.state,
            password.as_bytes(),
            &decode("registration_response", &answer.registration_response)?,
        )
        .map_err(opaque_error)?;
        Ok(b64::encode(record))
    }

    /// Registers the account of `request` (made by `Keyring::registration`) with OPAQUE:
    /// the server never sees the password.
    pub async fn register(
        &self,
        mut request: RegisterRequest,
        password: &str,
    ) -> Result<RegisterResponse, ClientError> {
        let user_id = request.user_id;
        let record = self
            .make_record(password, async |registration_request| {
                self.post_json(
                    "/api/v1/auth/opaque/register/start",
                    &RegisterStartRequest {
                        user_id,
                        registration_request,
                    },
                )
                .await
            })
            .await?;
        request.password = None;
        request.opaque_record = Some(record);
        self.register_request(&request).await
    }

    /// Registers with the password itself (an account as older clients made them; kept for
    /// servers and tests of the move to OPAQUE).
    pub async fn register_with_password(
        &self,
        mut request: RegisterRequest,
        password: &str,
    ) -> Result<RegisterResponse, ClientError> {
        request.password = Some(Password(password.to_owned()));
        request.opaque_record = None;
        self.register_request(&request).await
    }

    /// A proof of the password, started and opened here: `Err(WrongPassword)` when the
    /// server's answer does not open.
    async fn opaque_proof(
        &self,
        password: &str,
        start: impl AsyncFnOnce(String) -> Result<LoginStartResponse, ClientError>,
    ) -> Result<(String, String), ClientError> {
        let started = client::login_start(&mut OsRng, password.as_bytes()).map_err(opaque_error)?;
        let answer = start(b64::encode(&started.message)).await?;
        let finalization = client::login_finish(
            &mut OsRng,
            &started.state,
            password.as_bytes(),
            &decode("credential_response", &answer.credential_response)?,
        )
        .map_err(opaque_error)?;
        Ok((answer.login_id, b64::encode(finalization)))
    }

    /// Logs in with OPAQUE only: the password never leaves this process.
    pub async fn login_opaque(&self, login: &str, password: &str) -> Result<Session, ClientError> {
        let (login_id, finalization) = self
            .opaque_proof(password, async |credential_request| {
                self.post_json(
                    "/api/v1/auth/opaque/login/start",
                    &LoginStartRequest {
                        username: login.to_owned(),
                        credential_request,
                    },
                )
                .await
            })
            .await?;
        self.token_answer(&TokenRequest {
            grant_type: OPAQUE_GRANT.to_owned(),
            login_id: Some(login_id),
            credential_finalization: Some(finalization),
            ..TokenRequest::default()
        })
        .await
        .map(|(session, _)| session)
    }

    /// Logs in: OPAQUE first; when the answer does not open and `password_fallback` allows
    /// it (the account never logged in with OPAQUE from here) and the server still takes
    /// passwords, the password grant, then the move to OPAQUE the server asks for.
    pub async fn login_with(
        &self,
        login: &str,
        password: &str,
        password_fallback: bool,
    ) -> Result<(Session, LoginKind), ClientError> {
        match self.login_opaque(login, password).await {
            Ok(session) => return Ok((session, LoginKind::Opaque)),
            Err(ClientError::WrongPassword) if password_fallback => {}
            Err(e) => return Err(e),
        }
        if !self.server_info().await?.password_logins.takes_passwords() {
            return Err(ClientError::WrongPassword);
        }
        let (session, opaque_upgrade) = self.password_grant(login, password).await?;
        if !opaque_upgrade {
            return Ok((session, LoginKind::Password { upgraded: false }));
        }
        let proof = Proof::Password(Password(password.to_owned()));
        self.set_record(password, &proof, true).await?;
        Ok((session, LoginKind::Password { upgraded: true }))
    }

    /// The password grant alone (the password is sent): the session, and whether the server
    /// asks for the move to OPAQUE. For accounts made with a password, and the load tool.
    pub async fn password_grant(
        &self,
        login: &str,
        password: &str,
    ) -> Result<(Session, bool), ClientError> {
        let (session, answer) = self
            .token_answer(&TokenRequest {
                grant_type: "password".to_owned(),
                username: Some(login.to_owned()),
                password: Some(Password(password.to_owned())),
                ..TokenRequest::default()
            })
            .await?;
        Ok((session, answer.opaque_upgrade))
    }

    /// Logs in with a username or email and password ([`Self::login_with`], the fallback
    /// allowed).
    pub async fn login(&self, login: &str, password: &str) -> Result<Session, ClientError> {
        Ok(self.login_with(login, password, true).await?.0)
    }

    /// Proves the signed-in account's current password: with OPAQUE, or (an account that
    /// did not log in with OPAQUE here, on a server that takes passwords) with the password.
    async fn proof(&self, password: &str) -> Result<Proof, ClientError> {
        let result = self
            .opaque_proof(password, async |credential_request| {
                self.send_json(
                    "/api/v1/auth/opaque/confirm",
                    &ConfirmRequest { credential_request },
                )
                .await
            })
            .await;
        match result {
            Ok((login_id, finalization)) => Ok(Proof::Opaque {
                login_id,
                finalization,
            }),
            Err(ClientError::WrongPassword)
                if !self.session().is_some_and(|s| s.opaque)
                    && self.server_info().await?.password_logins.takes_passwords() =>
            {
                Ok(Proof::Password(Password(password.to_owned())))
            }
            Err(e) => Err(e),
        }
    }

    /// Registers `password` as the signed-in account's new OPAQUE record.
    async fn set_record(
        &self,
        password: &str,
        proof: &Proof,
        upgrade: bool,
    ) -> Result<(), ClientError> {
        let (login_id, credential_finalization, current_password) = match proof {
            Proof::Opaque {
                login_id,
                finalization,
            } => (Some(login_id.clone()), Some(finalization.clone()), None),
            Proof::Password(current) => (None, None, Some(current.clone())),
        };
        let record = self
            .make_record(password, async |registration_request| {
                self.send_json(
                    "/api/v1/auth/opaque/password/start",
                    &PasswordStartRequest {
                        registration_request,
                        login_id: login_id.clone(),
                        credential_finalization: credential_finalization.clone(),
                        current_password: current_password.clone(),
                    },
                )
                .await
            })
            .await?;
        let body = PasswordFinishRequest {
            registration_record: record,
            login_id,
            credential_finalization,
            current_password,
            upgrade,
        };
        self.send(Method::POST, "/api/v1/auth/opaque/password/finish", |r| {
            r.json(&body)
        })
        .await?;
        if let Some(mut session) = self.session() {
            session.opaque = true;
            self.set_session(Some(session));
        }
        Ok(())
    }

    /// Changes the password (to an OPAQUE record); every other session is signed out.
    pub async fn change_password(&self, current: &str, new: &str) -> Result<(), ClientError> {
        let proof = self.proof(current).await?;
        self.set_record(new, &proof, false).await
    }

    /// Deletes this account (the password confirms it): every message it sent leaves both
    /// sides, its files go, every session ends.
    pub async fn delete_account(&self, password: &str) -> Result<(), ClientError> {
        let body = match self.proof(password).await? {
            Proof::Opaque {
                login_id,
                finalization,
            } => DeleteAccountRequest {
                password: None,
                login_id: Some(login_id),
                credential_finalization: Some(finalization),
            },
            Proof::Password(password) => DeleteAccountRequest {
                password: Some(password),
                login_id: None,
                credential_finalization: None,
            },
        };
        self.send(Method::DELETE, "/api/v1/me", |r| r.json(&body))
            .await?;
        self.set_session(None);
        Ok(())
    }

    /// Sets a new password (an OPAQUE record) with a one-time reset code (no session
    /// needed); every session of the account ends.
    pub async fn reset_password(&self, code: &str, new: &str) -> Result<(), ClientError> {
        let record = self
            .make_record(new, async |registration_request| {
                self.post_json(
                    "/api/v1/auth/opaque/reset/start",
                    &ResetStartRequest {
                        code: code.to_owned(),
                        registration_request,
                    },
                )
                .await
            })
            .await?;
        let body = ResetPasswordRequest {
            code: code.to_owned(),
            new_password: None,
            registration_record: Some(record),
        };
        let response = self
            .http
            .post(self.url("/api/v1/auth/password/reset"))
            .json(&body)
            .send()
            .await?;
        check(response).await?;
        Ok(())
    }
}
