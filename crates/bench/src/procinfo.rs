//! The servers' resource use, read from /proc when their pids are given (summed over them:
//! several nodes are measured as one service).

use std::time::Instant;

use serde::Serialize;

/// Resident memory and CPU time of a process.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Usage {
    pub rss_kib: u64,
    /// User + system CPU seconds since the process started.
    pub cpu_secs: f64,
}

/// Reads `/proc/<pid>/status` (VmRSS) and `/proc/<pid>/stat` (utime + stime).
pub fn usage(pid: u32) -> Option<Usage> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on Linux.
    Some(Usage {
        rss_kib,
        cpu_secs: (utime + stime) / 100.0,
    })
}

/// The sum of the usage of `pids`; `None` when there are none or one cannot be read.
pub fn total_usage(pids: &[u32]) -> Option<Usage> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().try_fold(
        Usage {
            rss_kib: 0,
            cpu_secs: 0.0,
        },
        |sum, &pid| {
            let u = usage(pid)?;
            Some(Usage {
                rss_kib: sum.rss_kib + u.rss_kib,
                cpu_secs: sum.cpu_secs + u.cpu_secs,
            })
        },
    )
}

/// Server usage over a measured phase (of all the processes watched, summed).
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    /// Server processes measured.
    pub processes: usize,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    pub rss_peak_kib: u64,
    /// Average CPU cores the server used during the phase.
    pub cpu_cores: f64,
    /// CPU seconds (user + system) the server used during the phase.
    pub cpu_secs: f64,
}

/// Watches processes during a phase, sampling their RSS every 100 ms for the peak.
pub struct Watcher {
    pids: Vec<u32>,
    start: Usage,
    started: Instant,
    peak: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Watcher {
    /// Starts watching `pids` (`None` when there are none, or one cannot be read).
    pub fn start(pids: &[u32]) -> Option<Self> {
        let start = total_usage(pids)?;
        let pids = pids.to_vec();
        let sampled = pids.clone();
        let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(start.rss_kib));
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let sampler_peak = peak.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    () = tokio::time::sleep(std::time::Duration::from_millis(100)) => {
                        if let Some(u) = total_usage(&sampled) {
                            sampler_peak.fetch_max(u.rss_kib, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                }
            }
        });
        Some(Self {
            pids,
            start,
            started: Instant::now(),
            peak,
            stop,
        })
    }

    pub fn finish(self) -> Option<Phase> {
        let _ = self.stop.send(true);
        let end = total_usage(&self.pids)?;
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        let cpu_secs = end.cpu_secs - self.start.cpu_secs;
        Some(Phase {
            processes: self.pids.len(),
            rss_before_kib: self.start.rss_kib,
            rss_after_kib: end.rss_kib,
            rss_peak_kib: self
                .peak
                .load(std::sync::atomic::Ordering::Relaxed)
                .max(end.rss_kib),
            cpu_cores: cpu_secs / secs,
            cpu_secs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_process() {
        let u = usage(std::process::id()).expect("own /proc entry");
        assert!(u.rss_kib > 0);
    }

    #[test]
    fn several_processes_are_summed() {
        let own = std::process::id();
        let one = total_usage(&[own]).expect("own usage");
        let twice = total_usage(&[own, own]).expect("summed");
        assert!(twice.rss_kib >= 2 * one.rss_kib - 1024, "{one:?} {twice:?}");
        assert!(twice.cpu_secs >= one.cpu_secs);
        assert!(total_usage(&[]).is_none());
        assert!(total_usage(&[own, u32::MAX]).is_none(), "no such process");
    }
}
