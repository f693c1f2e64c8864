//! WAL checkpoints on their own connection, off the commit path.
//!
//! SQLite's automatic checkpoint runs inside whichever commit crosses the threshold (64 MiB of
//! WAL here), so one message batch in a few thousand waited while the whole WAL was copied
//! into the database file and fsynced. This task runs a PASSIVE checkpoint every 100 ms on its
//! own connection, copying frames into the database while the writer keeps appending. The
//! writer keeps its automatic checkpoint, which now finds nearly every frame copied already:
//! it finishes the little that is left, and only a checkpoint that completes lets the next
//! transaction start the WAL over (a background checkpoint alone never catches a writer that
//! never pauses, and a WAL that only grows makes every page lookup slower).

use std::sync::Arc;
use std::time::Duration;

use sqlx::SqlitePool;
use tokio::task::JoinHandle;

/// How often the WAL is checkpointed. Each checkpoint ends with an fsync of the database
/// file, which delays the commits' WAL fsyncs on the same disk: many small checkpoints kept
/// the 5 000 msgs/s p99 at 11–17 ms where 250 ms gave 16–22 ms and 1 s 24–31 ms.
pub(crate) const INTERVAL: Duration = Duration::from_millis(100);

/// The running checkpoint task; it stops when the store is closed or the last handle drops.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    task: JoinHandle<()>,
    pool: SqlitePool,
}

impl Checkpointer {
    pub(crate) fn start(pool: SqlitePool) -> Arc<Self> {
        let connection = pool.clone();
        let task = tokio::spawn(async move {
            let pool = connection;
            let mut tick = tokio::time::interval(INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // Ten checkpoints a second: a lasting failure is logged when it starts and when it
            // ends, not at every tick.
            let mut failing = false;
            loop {
                tick.tick().await;
                match sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&pool)
                    .await
                {
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!(error = %e, "WAL checkpoints are failing; retrying");
                    }
                    Ok(_) if failing => {
                        failing = false;
                        tracing::info!("WAL checkpoints work again");
                    }
                    _ => {}
                }
            }
        });
        Arc::new(Self { task, pool })
    }

    /// Stops the task and closes its connection (a checkpoint in progress finishes first).
    pub(crate) async fn stop(&self) {
        self.task.abort();
        self.pool.close().await;
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
