//! `burst` (the paper's Table IV) and `sustained` (many pairs chatting).

use std::time::Duration;

use securechat_crypto::ids::ConvId;

use crate::procinfo::Watcher;
use crate::progress::bar;
use crate::report::Report;
use crate::scenarios::flows::{self, Flow, Outcome};
use crate::scenarios::Ctx;
use crate::sealer::{recipient_keys, seal_many};
use crate::stats::Summary;
use crate::users::{create, BenchUser};

fn account(ctx: &Ctx, report: &mut Report, label: &str, outcome: &Outcome) {
    report.rows.push(Summary::of(label, &outcome.latency));
    report.count("sent", outcome.sent as f64);
    report.count("acked", outcome.acked as f64);
    report.count("failed", outcome.failed as f64);
    report.count("delivered", outcome.delivered as f64);
    report.count("lost (sent - delivered)", outcome.lost() as f64);
    report.count("duplicated", outcome.duplicated as f64);
    report.count("out_of_order (per sender)", outcome.out_of_order as f64);
    let cpu_per_message = report
        .server
        .as_ref()
        .filter(|_| outcome.delivered > 0)
        .map(|s| s.cpu_secs * 1000.0 / outcome.delivered as f64);
    if let Some(ms) = cpu_per_message {
        report.count("server_cpu_ms_per_delivered", ms);
    }
    ctx.nodes.account(report);
}

/// Seals `count` messages for each (sender, receiver) pair, in parallel on blocking threads.
async fn prepare(
    users: &std::sync::Arc<Vec<BenchUser>>,
    pairs: &[(usize, usize)],
    count: usize,
    rate: Option<f64>,
    window: Option<usize>,
) -> anyhow::Result<Vec<Flow>> {
    let progress = bar(
        pairs.len() as u64,
        &format!("pre-sealing {} envelopes", pairs.len() * count),
    );
    let mut handles = Vec::new();
    for &(s, r) in pairs {
        let keys = recipient_keys(&users[s], users[r].id()).await?;
        let users = users.clone();
        handles.push(tokio::task::spawn_blocking(move || {
            let conv = ConvId::direct(&users[s].id(), &users[r].id());
            seal_many(&users[s], conv, &keys, count, 64).map(|messages| Flow {
                sender: s,
                receiver: r,
                messages,
                rate_per_s: rate,
                window,
            })
        }));
    }
    let mut flows = Vec::new();
    for h in handles {
        flows.push(h.await??);
        progress.inc(1);
    }
    progress.finish_and_clear();
    Ok(flows)
}

/// `senders` users each send `per_sender` messages to one online receiver, keeping at most
/// `window` unacknowledged (0: all at once).
pub async fn burst(
    ctx: &Ctx,
    senders: usize,
    per_sender: usize,
    window: usize,
) -> anyhow::Result<Report> {
    let mut report = Report::new("burst");
    let pace = if window == 0 {
        "writing as fast as they can, without waiting for acks".to_owned()
    } else {
        format!("each keeping at most {window} messages unacknowledged (as clients that wait for the server)")
    };
    report.note(format!(
        "{senders} senders × {per_sender} messages to one online receiver, {pace}"
    ));
    report.note("envelopes are sealed with the real crypto (HPKE wraps + Ed25519) before the timed phase; latency = send → arrival at the receiver");
    let pairs: Vec<(usize, usize)> = (1..=senders).map(|s| (s, 0)).collect();
    let placed = ctx.nodes.place(senders + 1, &pairs)?;
    let users =
        std::sync::Arc::new(create(&ctx.nodes, &ctx.prefix, &placed, ctx.first_source, 16).await?);
    let flows = prepare(
        &users,
        &pairs,
        per_sender,
        None,
        (window > 0).then_some(window),
    )
    .await?;
    let watcher = Watcher::start(&ctx.pids);
    let outcome = flows::run(ctx, &users, flows, Duration::from_secs(10)).await?;
    report.server = watcher.and_then(Watcher::finish);
    account(ctx, &mut report, "delivery latency", &outcome);
    Ok(report)
}

/// `pairs` pairs, each sender paced so that together they offer `rate` messages/s, for
/// `seconds`.
pub async fn sustained(ctx: &Ctx, pairs: usize, rate: f64, seconds: f64) -> anyhow::Result<Report> {
    let mut report = Report::new("sustained");
    let per_sender = ((rate * seconds) / pairs as f64).ceil() as usize;
    report.note(format!(
        "{pairs} pairs; offered load {rate:.0} msgs/s for {seconds:.0} s ({per_sender} messages per sender, paced)"
    ));
    report.note("every message is fsynced by the server before its ack; envelopes pre-sealed before the timed phase");
    let pair_list: Vec<(usize, usize)> = (0..pairs).map(|p| (2 * p, 2 * p + 1)).collect();
    let placed = ctx.nodes.place(pairs * 2, &pair_list)?;
    let users =
        std::sync::Arc::new(create(&ctx.nodes, &ctx.prefix, &placed, ctx.first_source, 16).await?);
    let flows = prepare(
        &users,
        &pair_list,
        per_sender,
        Some(rate / pairs as f64),
        None,
    )
    .await?;
    let watcher = Watcher::start(&ctx.pids);
    let outcome = flows::run(ctx, &users, flows, Duration::from_secs(10)).await?;
    report.server = watcher.and_then(Watcher::finish);
    account(ctx, &mut report, "delivery latency", &outcome);
    report.count(
        "delivered_per_s",
        outcome.delivered as f64 / outcome.latency.elapsed.as_secs_f64().max(1e-9),
    );
    Ok(report)
}
