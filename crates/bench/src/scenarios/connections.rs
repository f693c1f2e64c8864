//! `connections`: ramp to N authenticated WebSockets, probing message latency at each step
//! (the paper's Fig. 9), with the server's memory per connection.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt as _};
use tokio::sync::watch;

use securechat_crypto::ids::ConvId;

use crate::net::{next_event, until_caught_up};
use crate::plot::{svg, Series};
use crate::procinfo::total_usage;
use crate::progress::bar;
use crate::report::Report;
use crate::scenarios::flows::{self, Flow};
use crate::scenarios::Ctx;
use crate::sealer::{recipient_keys, seal_many};
use crate::stats::{Samples, Summary};
use crate::users::{create, BenchUser};

/// Pause between a step's last connect and its probe.
const SETTLE: Duration = Duration::from_millis(1500);

/// Opens connections concurrently until `count` are open; each is held by a task reading it.
async fn open(
    ctx: &Ctx,
    users: &Arc<Vec<BenchUser>>,
    tokens: &Arc<Vec<String>>,
    range: std::ops::Range<usize>,
    per_user: usize,
    stop: &watch::Receiver<bool>,
) -> (Samples, Vec<tokio::task::JoinHandle<()>>) {
    let progress = Arc::new(bar(
        range.len() as u64,
        &format!("opening connections to {}", range.end),
    ));
    let started = Instant::now();
    let results: Vec<_> = stream::iter(range)
        .map(|i| {
            let users = users.clone();
            let tokens = tokens.clone();
            let progress = progress.clone();
            let mut stop = stop.clone();
            let nodes = &ctx.nodes;
            async move {
                let u = i / per_user;
                let t = Instant::now();
                let connected = async {
                    let mut ws = nodes
                        .ws_connect(users[u].node, users[u].src, &tokens[u], u64::MAX / 2)
                        .await?;
                    until_caught_up(&mut ws).await?;
                    anyhow::Ok(ws)
                }
                .await;
                progress.inc(1);
                connected.map(|mut ws| {
                    let latency = t.elapsed();
                    let holder = tokio::spawn(async move {
                        loop {
                            tokio::select! {
                                _ = stop.changed() => break,
                                e = next_event(&mut ws) => if !matches!(e, Ok(Some(_))) { break },
                            }
                        }
                    });
                    (latency, holder)
                })
            }
        })
        .buffer_unordered(200)
        .collect()
        .await;
    progress.finish_and_clear();
    let mut samples = Samples::default();
    let mut holders = Vec::new();
    for r in results {
        match r {
            Ok((latency, holder)) => {
                samples.ok(latency);
                holders.push(holder);
            }
            Err(_) => samples.fail(),
        }
    }
    samples.elapsed = started.elapsed();
    (samples, holders)
}

pub async fn connections(
    ctx: &Ctx,
    steps: &[usize],
    per_user: usize,
    probe: usize,
) -> anyhow::Result<Report> {
    let target = steps.iter().copied().max().unwrap_or(0);
    let mut report = Report::new("connections");
    report.note(format!(
        "ramp to {target} authenticated WebSockets ({per_user} per user, each user from its own loopback address)"
    ));
    report.note(format!(
        "at each step, {} s after its last connect, a probe pair (online throughout) exchanges {probe} messages at 100/s; latency = send → arrival",
        SETTLE.as_secs_f64()
    ));
    let user_count = target.div_ceil(per_user) + 2;
    let (probe_s, probe_r) = (user_count - 2, user_count - 1);
    let placed = ctx.nodes.place(user_count, &[(probe_s, probe_r)])?;
    let users = Arc::new(create(&ctx.nodes, &ctx.prefix, &placed, ctx.first_source, 16).await?);
    let mut tokens = Vec::with_capacity(users.len());
    for u in users.iter() {
        tokens.push(u.token().await?);
    }
    let tokens = Arc::new(tokens);
    let probe_keys = recipient_keys(&users[probe_s], users[probe_r].id()).await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    // The probe users stay online for the whole ramp (one idle socket each), like steady
    // users in the paper's figure: the probe then measures message latency with N sockets
    // open, not the presence fan-out of its own users coming online at every step (that cost
    // shows in the connect rate instead).
    let mut anchors = Vec::new();
    for p in [probe_s, probe_r] {
        let mut ws = ctx
            .nodes
            .ws_connect(users[p].node, users[p].src, &tokens[p], u64::MAX / 2)
            .await?;
        until_caught_up(&mut ws).await?;
        let mut stop = stop_rx.clone();
        anchors.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    e = next_event(&mut ws) => if !matches!(e, Ok(Some(_))) { break },
                }
            }
        }));
    }
    let baseline = total_usage(&ctx.pids);
    let mut open_count = 0;
    let mut holders = Vec::new();
    let mut p50 = Vec::new();
    let mut p99 = Vec::new();
    let mut connect = Samples::default();
    for &step in steps {
        let (samples, mut held) =
            open(ctx, &users, &tokens, open_count..step, per_user, &stop_rx).await;
        let rate = Summary::of("", &samples).throughput_per_s;
        open_count = step;
        holders.append(&mut held);
        connect.merge(samples.clone());
        connect.elapsed += samples.elapsed;
        // The server announces presence changes every 0.5 s: let the step's last changes go
        // out, so the probe measures the steady state at `step` connections.
        tokio::time::sleep(SETTLE).await;
        let rss = total_usage(&ctx.pids).map(|u| u.rss_kib);
        let users_for_probe = users.clone();
        let keys = probe_keys.clone();
        let messages = tokio::task::spawn_blocking(move || {
            let (from, to) = (&users_for_probe[probe_s], &users_for_probe[probe_r]);
            seal_many(from, ConvId::direct(&from.id(), &to.id()), &keys, probe, 64)
        })
        .await??;
        let outcome = flows::run(
            ctx,
            &users,
            vec![Flow {
                sender: probe_s,
                receiver: probe_r,
                messages,
                rate_per_s: Some(100.0),
                window: None,
            }],
            Duration::from_secs(5),
        )
        .await?;
        let summary = Summary::of(&format!("probe at {step} conns"), &outcome.latency);
        p50.push((step as f64, summary.p50_ms));
        p99.push((step as f64, summary.p99_ms));
        let per_conn = match (baseline, rss) {
            (Some(b), Some(r)) if step > 0 => {
                Some((r.saturating_sub(b.rss_kib)) as f64 / step as f64)
            }
            _ => None,
        };
        report.steps.push(serde_json::json!({
            "connections": step,
            "open_ok": holders.len(),
            "connect_failures": samples.failures,
            "connects_per_s": rate,
            "server_rss_kib": rss,
            "server_rss_per_connection_kib": per_conn,
            "probe_p50_ms": summary.p50_ms,
            "probe_p99_ms": summary.p99_ms,
            "probe_lost": outcome.lost(),
        }));
        report.rows.push(summary);
    }
    let _ = stop_tx.send(true);
    for h in holders.into_iter().chain(anchors) {
        let _ = h.await;
    }
    report
        .rows
        .push(Summary::of("connect (auth + caught_up)", &connect));
    if let (Some(first), Some(last)) = (p99.first(), p99.last()) {
        report.count("probe_p99_ratio_last_to_first", last.1 / first.1.max(1e-9));
    }
    report.count("connect_failures", connect.failures as f64);
    ctx.nodes.account(&mut report);
    report.plot = Some(svg(
        "Message latency against open connections (paper: Fig. 9)",
        "open WebSocket connections",
        "probe latency (ms)",
        &[
            Series {
                name: "p50".into(),
                points: p50,
            },
            Series {
                name: "p99".into(),
                points: p99,
            },
        ],
    ));
    Ok(report)
}
