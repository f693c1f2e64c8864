//! How the server stops (SIGTERM, Ctrl-C): in order, so that no frame already taken goes
//! unanswered and nothing is written after the store closes.
//!
//! 1. `stopping`: new WebSockets are refused and open ones stop reading frames; the HTTP
//!    listener stops accepting and lets open requests finish.
//! 2. The delivery pipeline is flushed: every frame taken before is stored (or refused) and
//!    its ack or error is queued for its connection.
//! 3. `drained`: each WebSocket sends what is queued for it and closes with 1012
//!    ("service restart"); clients reconnect and resume from their last `seq`.
//! 4. `tasks`: the delivery worker, fan-out and presence tasks end; then the store closes.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The shutdown signals and the open WebSocket tasks.
#[derive(Debug, Clone, Default)]
pub struct Lifecycle {
    pub stopping: CancellationToken,
    pub drained: CancellationToken,
    pub tasks: CancellationToken,
    pub sockets: TaskTracker,
}

/// How long open WebSockets get to flush and close before the store closes anyway.
pub const SOCKET_GRACE: Duration = Duration::from_secs(10);
