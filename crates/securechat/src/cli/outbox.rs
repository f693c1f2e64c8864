//! The WebSocket for one command: connect resuming after the saved stream position, catch up,
//! then send one frame and wait for the server to confirm it.

use std::time::Duration;

use securechat_client::{ClientError, Socket};
use securechat_proto::ws::{ClientFrame, ServerEvent, WsErrorCode};

use super::context::Client;
use super::errors::{session_gone, ws_code, LOG_IN_AGAIN};
use super::events::{self, is_connection_error, Handled};
use super::output::Printer;

/// How long the server has to confirm a frame (and to finish the replay).
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a connection could not be opened.
pub struct ConnectError {
    /// Retrying will not help (the session is gone).
    pub fatal: bool,
    pub error: anyhow::Error,
}

/// Opens an authenticated WebSocket resuming after the saved stream position (the access
/// token is refreshed first when it is about to expire).
pub async fn connect(client: &mut Client) -> Result<Socket, ConnectError> {
    let fail = |client: &Client, e: ClientError| ConnectError {
        // An untrusted certificate stays untrusted, and a server that does not speak this
        // client's protocol version will not on a retry.
        fatal: session_gone(&e)
            || matches!(e, ClientError::UntrustedCertificate(_))
            || matches!(
                e,
                ClientError::Ws {
                    code: WsErrorCode::UnsupportedProtocol,
                    ..
                }
            ),
        error: client.explain(e),
    };
    let token = match client.chat.api.access_token().await {
        Ok(token) => token,
        Err(e) => return Err(fail(client, e)),
    };
    let since = client.chat.state.last_seq;
    let api = &client.chat.api;
    match Socket::connect_trusting(api.base(), &token, since, api.trust()).await {
        Ok(socket) => Ok(socket),
        Err(e) => Err(fail(client, e)),
    }
}

/// What confirms a frame.
pub enum Confirm {
    /// `ack` of this message id.
    Ack(String),
    /// `deleted` of this message id.
    Deleted(String),
}

/// The server's confirmation.
pub enum Confirmed {
    Ack { ts: i64 },
    Deleted,
}

/// Waits between attempts while the server answers `unavailable` (nothing was stored, and
/// the same message id again is harmless): about half a minute in all.
const RETRY_DELAYS: [Duration; 5] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
    Duration::from_secs(16),
];

/// The server could not store the frame now; nothing was stored.
#[derive(Debug, thiserror::Error)]
#[error("the server cannot store anything right now (its database refuses writes, or it is restarting); nothing was stored, try again later")]
struct Unavailable;

/// An error frame, for the user.
fn refused(code: WsErrorCode, message: &str) -> anyhow::Error {
    match code {
        WsErrorCode::Unavailable => anyhow::Error::new(Unavailable),
        WsErrorCode::Unauthorized | WsErrorCode::SessionRevoked => anyhow::anyhow!(LOG_IN_AGAIN),
        WsErrorCode::UnknownRecipient => anyhow::anyhow!("the recipient does not exist"),
        WsErrorCode::NotFound => anyhow::anyhow!(
            "no such message of yours in this conversation (already deleted, expired, or sent \
             by the other side)"
        ),
        code => anyhow::anyhow!("the server refused: {message} ({})", ws_code(code)),
    }
}

/// Shows what arrived since the saved position, then sends `frame` (whose message id is
/// `reference`) and waits for `confirm`. Events that arrive live meanwhile are left for
/// `listen` (they come again in its replay).
pub async fn deliver(
    client: &mut Client,
    frame: &ClientFrame,
    reference: &str,
    confirm: &Confirm,
) -> anyhow::Result<Confirmed> {
    let mut delays = RETRY_DELAYS.iter();
    loop {
        let mut socket = connect(client).await.map_err(|e| e.error)?;
        let result = exchange(client, &mut socket, frame, reference, confirm).await;
        socket.close().await;
        match result {
            Err(e) if e.is::<Unavailable>() => match delays.next() {
                Some(delay) => {
                    eprintln!(
                        "(the server cannot store it right now; trying again in {} s)",
                        delay.as_secs()
                    );
                    tokio::time::sleep(*delay).await;
                }
                None => return Err(e),
            },
            other => return other,
        }
    }
}

async fn exchange(
    client: &mut Client,
    socket: &mut Socket,
    frame: &ClientFrame,
    reference: &str,
    confirm: &Confirm,
) -> anyhow::Result<Confirmed> {
    let printer = Printer {
        json: false,
        stderr: true,
        ids: false,
        arrows_for: Some(client.me()),
        profile_flag: client.ctx.profile_flag(),
    };
    let deadline = tokio::time::Instant::now() + CONFIRM_TIMEOUT;
    let lost = || {
        anyhow::anyhow!(
            "the connection to the server was lost before it confirmed; check with \
             `securechat history` before trying again"
        )
    };
    let timeout = || {
        anyhow::anyhow!(
            "the server did not confirm within {} s; check with `securechat history` before \
             trying again",
            CONFIRM_TIMEOUT.as_secs()
        )
    };

    // Catch up, showing what was missed (on standard error: standard output is the result).
    loop {
        let event = tokio::time::timeout_at(deadline, socket.next())
            .await
            .map_err(|_| timeout())?;
        let event = match event {
            None => return Err(lost()),
            Some(Err(e)) => return Err(client.explain(e)),
            Some(Ok(event)) => event,
        };
        match events::handle(client, event).await {
            Ok(Handled::Show(events::Item::CaughtUp { .. })) => break,
            Ok(Handled::Show(item)) => printer.print(&item),
            Ok(Handled::Nothing) => {}
            Ok(Handled::Other(ServerEvent::Error { code, message, .. })) => {
                return Err(refused(code, &message))
            }
            Ok(Handled::Other(_)) => {}
            Err(e) if is_connection_error(&e) => return Err(client.explain(e)),
            Err(e) => eprintln!("warning: {e}"),
        }
    }

    socket.send(frame).await.map_err(|e| client.explain(e))?;
    loop {
        let event = tokio::time::timeout_at(deadline, socket.next())
            .await
            .map_err(|_| timeout())?;
        let event = match event {
            None => return Err(lost()),
            Some(Err(e)) => return Err(client.explain(e)),
            Some(Ok(event)) => event,
        };
        match (event, confirm) {
            (ServerEvent::Ack { msg_id, ts, .. }, Confirm::Ack(id)) if msg_id == *id => {
                return Ok(Confirmed::Ack { ts });
            }
            (ServerEvent::Deleted { msg_id, .. }, Confirm::Deleted(id)) if msg_id == *id => {
                client.files.remove(&msg_id);
                return Ok(Confirmed::Deleted);
            }
            (
                ServerEvent::Error {
                    code,
                    message,
                    reference: Some(r),
                },
                _,
            ) if r != reference => {
                eprintln!(
                    "warning: the server refused message {r}: {message} ({})",
                    ws_code(code)
                );
            }
            // With one frame in flight, an error without a reference is about it (or ends
            // the connection).
            (ServerEvent::Error { code, message, .. }, _) => return Err(refused(code, &message)),
            _ => {}
        }
    }
}
