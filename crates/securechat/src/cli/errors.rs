//! Client errors said the way a user can act on them.

use securechat_client::ClientError;
use securechat_crypto::CryptoError;
use securechat_proto::ws::WsErrorCode;

/// What to do when the session is no longer accepted.
pub const LOG_IN_AGAIN: &str =
    "the server no longer accepts your session (expired or revoked): log in again with \
     `securechat login --username NAME`";

/// Turns a client error into a message for the user talking to `server`.
pub fn explain(error: ClientError, server: &str) -> anyhow::Error {
    match error {
        ClientError::Transport(detail) => anyhow::anyhow!(
            "cannot reach the server at {server} ({detail}); is it running, and is --server right?"
        ),
        ClientError::UntrustedCertificate(detail) => anyhow::anyhow!(
            "the server at {server}: certificate not trusted ({detail}); pass --ca-cert FILE \
             (or set SECURECHAT_CA_CERT) with the certificate authority that signed it, if you \
             trust it"
        ),
        ClientError::Http { status: 401, .. } => anyhow::anyhow!(LOG_IN_AGAIN),
        // Only the refresh grant fails this way once logged in.
        ClientError::Http { code, .. } if code == "invalid_grant" => anyhow::anyhow!(LOG_IN_AGAIN),
        ClientError::Http {
            status: 429,
            message,
            ..
        } => anyhow::anyhow!("too many attempts, wait and try again ({message})"),
        ClientError::Http {
            status,
            code,
            message,
        } => {
            if message.is_empty() {
                anyhow::anyhow!("the server refused the request ({status} {code})")
            } else {
                anyhow::anyhow!("the server refused: {message} ({code})")
            }
        }
        ClientError::Ws {
            code: WsErrorCode::Unauthorized | WsErrorCode::SessionRevoked,
            ..
        } => anyhow::anyhow!(LOG_IN_AGAIN),
        ClientError::Ws { code, message } => {
            anyhow::anyhow!("the server refused: {message} ({})", ws_code(code))
        }
        ClientError::NotLoggedIn => anyhow::anyhow!("not logged in"),
        ClientError::Crypto(CryptoError::IdentityKeyChanged) => anyhow::anyhow!(
            "SECURITY WARNING: this user's identity key is not the one you saw before. Their \
             account may have been reset, or someone may be impersonating them. Nothing was \
             sent or opened; check with them over another channel"
        ),
        ClientError::Crypto(e) => anyhow::anyhow!("{e}"),
        other => anyhow::anyhow!(other),
    }
}

/// Whether the error means the session is gone (retrying will not help).
pub fn session_gone(error: &ClientError) -> bool {
    match error {
        ClientError::NotLoggedIn => true,
        ClientError::Http { status, code, .. } => *status == 401 || code == "invalid_grant",
        ClientError::Ws { code, .. } => {
            matches!(
                code,
                WsErrorCode::Unauthorized | WsErrorCode::SessionRevoked
            )
        }
        _ => false,
    }
}

/// A WebSocket error code's wire name.
pub fn ws_code(code: WsErrorCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{code:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_to_do() {
        let down = explain(ClientError::Transport("refused".into()), "http://x:1").to_string();
        assert!(
            down.contains("cannot reach the server at http://x:1"),
            "{down}"
        );
        let untrusted = explain(
            ClientError::UntrustedCertificate("invalid peer certificate: UnknownIssuer".into()),
            "https://x:1",
        )
        .to_string();
        assert!(
            untrusted.contains("certificate not trusted (invalid peer certificate: UnknownIssuer); pass --ca-cert FILE")
                && !untrusted.contains("is it running"),
            "{untrusted}"
        );
        let expired = explain(
            ClientError::Http {
                status: 400,
                code: "invalid_grant".into(),
                message: String::new(),
            },
            "http://x:1",
        )
        .to_string();
        assert!(expired.contains("log in again"), "{expired}");
        let ws = explain(
            ClientError::Ws {
                code: WsErrorCode::UnknownRecipient,
                message: "the recipient does not exist".into(),
            },
            "http://x:1",
        )
        .to_string();
        assert_eq!(
            ws,
            "the server refused: the recipient does not exist (unknown_recipient)"
        );
    }
}
