//! `listen`: print the stream (what was missed, then live), reconnecting with backoff and
//! jitter, keeping the access token fresh on the open socket, and saving the position as it
//! goes. A live event that skips a `seq` is not taken: the connection is made again, resuming
//! from the last contiguous one, and the server replays what was missed.

use std::time::Duration;

use securechat_client::backoff::random_jitter;
use securechat_client::stream::{self, Step};
use securechat_client::{now_ms, Backoff, Socket};
use securechat_proto::ws::{ClientFrame, ServerEvent, WsErrorCode};
use tokio::sync::watch;
use tokio::time::Instant;

use super::context::{Client, Context};
use super::errors::{session_gone, ws_code, LOG_IN_AGAIN};
use super::events::{self, Handled, Item};
use super::outbox::connect;
use super::output::Printer;
use super::ListenArgs;

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Longest wait before resuming after a gap (jitter only: the server is fine, but every
/// listener that saw the same gap should not come back at the same instant).
const GAP_JITTER: Duration = Duration::from_millis(250);
/// How long a goodbye to the server may take.
const CLOSE_TIMEOUT: Duration = Duration::from_millis(500);
/// How often the position is saved while events arrive.
const SAVE_EVERY: Duration = Duration::from_secs(5);
/// Re-authenticate this long before the access token expires (the client library refreshes
/// tokens with less than a minute left).
const REAUTH_BEFORE_MS: i64 = 45_000;
/// Fewest time between two re-authentications.
const MIN_REAUTH_GAP: Duration = Duration::from_secs(5);

/// How a connection ended.
enum End {
    /// `--once` or `--count` is satisfied.
    Done,
    /// Ctrl-C or SIGTERM.
    Stopped,
    /// The connection broke: reconnect.
    Lost(String),
    /// A live event skipped a `seq`: resume from the last contiguous one.
    Gap { held: u64, got: u64 },
}

/// A receiver that turns true on Ctrl-C or SIGTERM.
fn stop_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        crate::signals::terminated().await;
        let _ = tx.send(true);
    });
    rx
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

pub async fn listen(args: ListenArgs) -> anyhow::Result<()> {
    let mut client = Context::new(&args.opts)?.client()?;
    let printer = Printer {
        json: args.json,
        stderr: false,
        ids: args.ids,
        arrows_for: Some(client.me()),
        profile_flag: client.ctx.profile_flag(),
    };
    let result = run(&mut client, &args, &printer).await;
    client.finish(result)
}

async fn run(client: &mut Client, args: &ListenArgs, printer: &Printer) -> anyhow::Result<()> {
    let mut stop = stop_signal();
    let mut shown = 0u64;
    if args.count == Some(0) {
        return Ok(());
    }
    let mut backoff = Backoff::new(FIRST_BACKOFF, MAX_BACKOFF);
    let mut connected_before = false;
    loop {
        let connected = tokio::select! {
            () = stopped(&mut stop) => return Ok(()),
            c = connect(client) => c,
        };
        let reason = match connected {
            Ok(mut socket) => {
                connected_before = true;
                backoff.reset();
                let end = follow(client, &mut socket, args, printer, &mut shown, &mut stop).await;
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.close()).await;
                match end? {
                    End::Done | End::Stopped => return Ok(()),
                    End::Lost(reason) => reason,
                    End::Gap { held, got } => {
                        client.save()?;
                        eprintln!(
                            "missed events {} to {} (got {got}); resuming from {held}",
                            held + 1,
                            got - 1
                        );
                        tokio::select! {
                            () = stopped(&mut stop) => return Ok(()),
                            () = tokio::time::sleep(random_jitter(GAP_JITTER)) => {}
                        }
                        continue;
                    }
                }
            }
            // A wrong URL or a server that is down is said at once, not retried forever.
            Err(e) if e.fatal || !connected_before => return Err(e.error),
            Err(e) => format!("{:#}", e.error),
        };
        client.save()?;
        let delay = backoff.next_delay();
        eprintln!(
            "connection lost ({reason}); reconnecting in {:.1} s",
            delay.as_secs_f64()
        );
        tokio::select! {
            () = stopped(&mut stop) => return Ok(()),
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// When to re-authenticate the socket with a fresh access token.
fn reauth_deadline(client: &Client) -> Instant {
    let expires = client
        .chat
        .api
        .session()
        .map_or(i64::MAX, |s| s.access_expires_at);
    let wait_ms = expires
        .saturating_sub(REAUTH_BEFORE_MS)
        .saturating_sub(now_ms());
    let wait = Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0)).max(MIN_REAUTH_GAP);
    Instant::now() + wait
}

/// Follows one connection until it ends.
async fn follow(
    client: &mut Client,
    socket: &mut Socket,
    args: &ListenArgs,
    printer: &Printer,
    shown: &mut u64,
    stop: &mut watch::Receiver<bool>,
) -> anyhow::Result<End> {
    let mut reauth_at = reauth_deadline(client);
    let mut save = tokio::time::interval_at(Instant::now() + SAVE_EVERY, SAVE_EVERY);
    let mut dirty = false;
    // Replay first (it may leave numbers out); after `caught_up`, live events come in order.
    let mut live = false;
    loop {
        tokio::select! {
            () = stopped(stop) => return Ok(End::Stopped),
            () = tokio::time::sleep_until(reauth_at) => {
                match client.chat.api.access_token().await {
                    Ok(token) => {
                        let frame = ClientFrame::Auth {
                            token,
                            since: None,
                            // Only the first frame's version counts.
                            protocol: None,
                        };
                        if let Err(e) = socket.send(&frame).await {
                            return Ok(End::Lost(e.to_string()));
                        }
                    }
                    Err(e) if session_gone(&e) => return Err(client.explain(e)),
                    // The server may be briefly unreachable: try again shortly.
                    Err(_) => {}
                }
                reauth_at = reauth_deadline(client);
            }
            _ = save.tick() => {
                if dirty {
                    client.save()?;
                    dirty = false;
                }
            }
            event = socket.next() => {
                let event = match event {
                    None => return Ok(End::Lost("closed by the server".to_owned())),
                    Some(Err(e)) => return Ok(End::Lost(e.to_string())),
                    Some(Ok(event)) => event,
                };
                if live {
                    if let Some(seq) = stream::stream_seq(&event) {
                        if let Step::Gap { held, got } = stream::step(client.chat.state.last_seq, seq) {
                            return Ok(End::Gap { held, got });
                        }
                    }
                }
                let handled = match events::handle(client, event).await {
                    Ok(handled) => handled,
                    Err(e) if session_gone(&e) => return Err(client.explain(e)),
                    Err(e) => return Ok(End::Lost(format!("{:#}", client.explain(e)))),
                };
                match handled {
                    Handled::Show(item) => {
                        dirty = true;
                        printer.print(&item);
                        if item.is_message() {
                            *shown += 1;
                            if args.count.is_some_and(|n| *shown >= n) {
                                return Ok(End::Done);
                            }
                        }
                        if let Item::CaughtUp { .. } = item {
                            live = true;
                            if args.once {
                                return Ok(End::Done);
                            }
                            if !args.json {
                                eprintln!("(up to date; waiting for messages, Ctrl-C to stop)");
                            }
                        }
                    }
                    Handled::Nothing => dirty = true,
                    Handled::Other(ServerEvent::Error { code, message, .. }) => match code {
                        WsErrorCode::Unauthorized | WsErrorCode::SessionRevoked => {
                            return Err(anyhow::anyhow!(LOG_IN_AGAIN));
                        }
                        WsErrorCode::TokenExpired
                        | WsErrorCode::SlowReader
                        | WsErrorCode::TooManyConnections
                        | WsErrorCode::AuthTimeout
                        | WsErrorCode::AuthRequired
                        | WsErrorCode::Internal => {
                            return Ok(End::Lost(format!("{message} ({})", ws_code(code))));
                        }
                        _ => eprintln!("warning: the server said: {message} ({})", ws_code(code)),
                    },
                    Handled::Other(_) => {}
                }
            }
        }
    }
}
