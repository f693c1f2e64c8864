//! The server's own backups (`--backup-dir DIR`): every day at `--backup-at` local time
//! (03:00 by default) into `DIR/securechat-backup-<UTC time>`, keeping the last
//! `--backup-keep` (7). In a cluster only the node holding the jobs lock takes it. Each run is
//! logged and exported: the last success time, duration and size, and a failure counter.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use chrono::{DateTime, Local, LocalResult, NaiveTime, TimeZone};

use securechat_server::jobs::Leadership;
use securechat_server::metrics::{
    BACKUP_DURATION, BACKUP_FAILURES, BACKUP_LAST_SUCCESS, BACKUP_SIZE,
};
use securechat_server::AppState;

use crate::error::BackupError;
use crate::manifest::{Manifest, MANIFEST};
use crate::{fsio, take, Source};

/// The names of scheduled backups inside `--backup-dir`.
pub const NAME_PREFIX: &str = "securechat-backup-";
/// The default time of day.
pub const DEFAULT_AT: TimeOfDay = TimeOfDay(match NaiveTime::from_hms_opt(3, 0, 0) {
    Some(t) => t,
    None => NaiveTime::MIN,
});
/// How many backups are kept by default.
pub const DEFAULT_KEEP: usize = 7;
/// Longest single sleep while waiting: a changed clock (or a suspended machine) is noticed
/// within it.
const WAKE: Duration = Duration::from_secs(60);

/// A local time of day, `HH:MM` (or `HH:MM:SS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeOfDay(pub NaiveTime);

impl FromStr for TimeOfDay {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        NaiveTime::parse_from_str(text.trim(), "%H:%M")
            .or_else(|_| NaiveTime::parse_from_str(text.trim(), "%H:%M:%S"))
            .map(Self)
            .map_err(|_| format!("{text:?} is not a time of day like 03:00 (HH:MM, 24-hour)"))
    }
}

impl std::fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.format("%H:%M:%S"))
    }
}

/// When and where the server takes its backups.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub dir: PathBuf,
    pub at: TimeOfDay,
    pub keep: usize,
}

/// The first time after `now` whose local time of day is `at` (a time a clock change skips is
/// taken an hour later; a repeated one the first time).
pub fn next_run<Tz: TimeZone>(now: &DateTime<Tz>, at: TimeOfDay) -> DateTime<Tz> {
    let zone = now.timezone();
    let mut day = now.date_naive();
    loop {
        let wall = day.and_time(at.0);
        let resolved = match zone.from_local_datetime(&wall) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t),
            LocalResult::None => zone
                .from_local_datetime(&(wall + chrono::Duration::hours(1)))
                .earliest(),
        };
        if let Some(t) = resolved.filter(|t| t > now) {
            return t;
        }
        match day.succ_opt() {
            Some(next) => day = next,
            None => return now.clone(),
        }
    }
}

/// Runs the schedule until the server begins to stop. A backup already copying its files
/// finishes in its blocking task (it writes into a hidden folder and renames it into place
/// only when complete, so a stop never leaves a folder that looks like a backup).
pub fn spawn(schedule: Schedule, source: Source, state: AppState) -> tokio::task::JoinHandle<()> {
    // Exported from the start, so that a failure shows as an increase from 0.
    metrics::counter!(BACKUP_FAILURES).increment(0);
    tokio::spawn(async move {
        let stop = state.lifecycle().stopping.clone();
        let mut leader = Leadership::default();
        loop {
            let next = next_run(&Local::now(), schedule.at);
            tracing::info!(
                at = %next.format("%Y-%m-%d %H:%M:%S %:z"),
                dir = %schedule.dir.display(),
                "next backup"
            );
            while let Ok(left) = (next - Local::now()).to_std() {
                if left.is_zero() {
                    break;
                }
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(left.min(WAKE)) => {}
                }
            }
            if !leader.leads(&state).await {
                tracing::info!(
                    "backup skipped on this node: another node holds the jobs lock and takes it"
                );
                continue;
            }
            tokio::select! {
                () = stop.cancelled() => {
                    tracing::warn!("backup abandoned: the server is stopping");
                    return;
                }
                _ = run_once(&schedule, &source) => {}
            }
        }
    })
}

/// Takes one backup into the schedule's folder, exports and logs the outcome, and removes
/// the backups beyond the newest `keep`.
pub async fn run_once(schedule: &Schedule, source: &Source) -> Result<Manifest, BackupError> {
    let started = Instant::now();
    let result = async {
        fsio::create_private_dir(&schedule.dir)?;
        let out = fresh_name(&schedule.dir);
        let manifest = take(source, &out).await?;
        Ok::<_, BackupError>((out, manifest))
    }
    .await;
    match result {
        Ok((out, manifest)) => {
            let seconds = started.elapsed().as_secs_f64();
            #[allow(clippy::cast_precision_loss)]
            {
                metrics::gauge!(BACKUP_LAST_SUCCESS)
                    .set(chrono::Utc::now().timestamp_millis() as f64 / 1000.0);
                metrics::gauge!(BACKUP_SIZE).set(manifest.total_bytes() as f64);
            }
            metrics::gauge!(BACKUP_DURATION).set(seconds);
            tracing::info!(
                dir = %out.display(),
                bytes = manifest.total_bytes(),
                seconds,
                messages = manifest.messages(),
                files = manifest.files.count,
                "backup written"
            );
            let dir = schedule.dir.clone();
            let keep = schedule.keep;
            let pruned = tokio::task::spawn_blocking(move || prune(&dir, keep)).await;
            match pruned {
                Ok(Ok(_removed)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "could not remove old backups"),
                Err(e) => tracing::warn!(error = %e, "removing old backups stopped short"),
            }
            Ok(manifest)
        }
        Err(e) => {
            metrics::counter!(BACKUP_FAILURES).increment(1);
            tracing::error!(dir = %schedule.dir.display(), error = %e, "backup failed");
            Err(e)
        }
    }
}

/// `DIR/securechat-backup-<UTC time>`, with a counter if that is taken.
fn fresh_name(dir: &Path) -> PathBuf {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let mut out = dir.join(format!("{NAME_PREFIX}{stamp}"));
    let mut n = 1;
    while out.exists() {
        out = dir.join(format!("{NAME_PREFIX}{stamp}-{n}"));
        n += 1;
    }
    out
}

/// Removes the complete backups in `dir` beyond the newest `keep`, and partial folders an
/// interrupted run left more than a day ago; returns what it removed.
pub fn prune(dir: &Path, keep: usize) -> Result<Vec<PathBuf>, BackupError> {
    fsio::remove_stale(dir, &format!(".{NAME_PREFIX}"));
    let mut complete: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(BackupError::io("cannot read the folder", dir))?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(NAME_PREFIX))
        .map(|e| e.path())
        .filter(|p| p.join(MANIFEST).is_file())
        .collect();
    complete.sort();
    let excess = complete.len().saturating_sub(keep);
    let mut removed = Vec::new();
    for old in complete.into_iter().take(excess) {
        std::fs::remove_dir_all(&old).map_err(BackupError::io("cannot remove", &old))?;
        tracing::info!(dir = %old.display(), "old backup removed");
        removed.push(old);
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, Utc};

    fn at(text: &str) -> TimeOfDay {
        text.parse().expect("a time of day")
    }

    #[test]
    fn times_of_day_are_read_as_written() {
        assert_eq!(at("03:00"), DEFAULT_AT);
        assert_eq!(at("23:59:30").to_string(), "23:59:30");
        assert!("24:00".parse::<TimeOfDay>().is_err());
        assert!("3am".parse::<TimeOfDay>().is_err());
    }

    #[test]
    fn the_next_run_is_today_if_still_ahead_else_tomorrow() {
        let zone = FixedOffset::east_opt(2 * 3600).expect("offset");
        let now = zone
            .with_ymd_and_hms(2026, 3, 14, 2, 59, 59)
            .single()
            .expect("time");
        let next = next_run(&now, DEFAULT_AT);
        assert_eq!(next.to_rfc3339(), "2026-03-14T03:00:00+02:00");
        let next = next_run(&next, DEFAULT_AT);
        assert_eq!(next.to_rfc3339(), "2026-03-15T03:00:00+02:00");
        let late = Utc
            .with_ymd_and_hms(2026, 12, 31, 23, 0, 0)
            .single()
            .expect("time");
        assert_eq!(
            next_run(&late, at("22:30")).to_rfc3339(),
            "2027-01-01T22:30:00+00:00"
        );
    }

    #[test]
    fn only_the_newest_complete_backups_are_kept() {
        let dir = tempfile::tempdir().expect("dir");
        for stamp in ["20260101T030000Z", "20260102T030000Z", "20260103T030000Z"] {
            let backup = dir.path().join(format!("{NAME_PREFIX}{stamp}"));
            std::fs::create_dir(&backup).expect("mkdir");
            std::fs::write(backup.join(MANIFEST), "{}").expect("manifest");
        }
        // Not a backup of ours, and a partial one: both left alone.
        std::fs::create_dir(dir.path().join("keep-me")).expect("mkdir");
        std::fs::create_dir(dir.path().join(format!("{NAME_PREFIX}20260104T030000Z")))
            .expect("mkdir");
        let removed = prune(dir.path(), 2).expect("prune");
        assert_eq!(
            removed,
            vec![dir.path().join(format!("{NAME_PREFIX}20260101T030000Z"))]
        );
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("read")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "keep-me",
                "securechat-backup-20260102T030000Z",
                "securechat-backup-20260103T030000Z",
                "securechat-backup-20260104T030000Z"
            ]
        );
    }
}
