//! The message engine shared by `burst`, `sustained` and the connection probe: senders push
//! pre-sealed envelopes over their WebSockets (paced or as fast as they can), receivers
//! record when each arrives. Every message is accounted for: delivered once, duplicated, or
//! lost.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use securechat_proto::ws::ServerEvent;

use crate::net::{next_event, until_caught_up};
use crate::scenarios::Ctx;
use crate::sealer::{header_ids, Prepared};
use crate::stats::Samples;
use crate::users::BenchUser;

/// One sender → receiver stream of prepared messages.
pub struct Flow {
    pub sender: usize,
    pub receiver: usize,
    pub messages: Vec<Prepared>,
    /// Messages per second, or as fast as possible.
    pub rate_per_s: Option<f64>,
    /// At most this many sent but not yet acknowledged (like clients that wait for the
    /// server), or unlimited.
    pub window: Option<usize>,
}

/// What happened to every message.
#[derive(Debug, Default)]
pub struct Outcome {
    pub sent: u64,
    pub acked: u64,
    /// Refused with an error frame.
    pub failed: u64,
    /// Arrived at the receiver (first time).
    pub delivered: u64,
    pub duplicated: u64,
    /// Arrived before an earlier message of the same sender.
    pub out_of_order: u64,
    pub latency: Samples,
}

impl Outcome {
    /// Messages sent but never delivered.
    pub fn lost(&self) -> u64 {
        self.sent - self.delivered
    }
}

struct Shared {
    t0: Instant,
    /// Nanoseconds after t0 + 1 when sent (0: not sent yet), by global index.
    sent_at: Vec<AtomicU64>,
    deliveries: Vec<AtomicU8>,
    /// Global index and flow of each msg_id.
    index: HashMap<String, (usize, usize)>,
}

/// Runs the flows; stops when everything sent was delivered or after `drain` without
/// progress once sending is done.
pub async fn run(
    ctx: &Ctx,
    users: &[BenchUser],
    flows: Vec<Flow>,
    drain: Duration,
) -> anyhow::Result<Outcome> {
    let mut index = HashMap::new();
    let mut global = 0;
    for (f, flow) in flows.iter().enumerate() {
        for p in &flow.messages {
            index.insert(p.msg_id.clone(), (global, f));
            global += 1;
        }
    }
    let shared = Arc::new(Shared {
        t0: Instant::now(),
        sent_at: (0..global).map(|_| AtomicU64::new(0)).collect(),
        deliveries: (0..global).map(|_| AtomicU8::new(0)).collect(),
        index,
    });
    let (stop_tx, stop_rx) = watch::channel(false);

    // Receivers first, caught up, so nothing is replayed into the measurement.
    let mut receivers: Vec<usize> = flows.iter().map(|f| f.receiver).collect();
    receivers.sort_unstable();
    receivers.dedup();
    let mut receiver_tasks = Vec::new();
    for r in receivers {
        let user = &users[r];
        let mut ws = ctx
            .nodes
            .ws_connect(user.node, user.src, &user.token().await?, u64::MAX / 2)
            .await?;
        until_caught_up(&mut ws).await?;
        let shared = shared.clone();
        let mut stop = stop_rx.clone();
        let flows_n = flows.len();
        receiver_tasks.push(tokio::spawn(async move {
            let mut latency = Samples::default();
            let (mut delivered, mut duplicated, mut out_of_order) = (0u64, 0u64, 0u64);
            let mut last_ctr = vec![0u64; flows_n];
            loop {
                let event = tokio::select! {
                    _ = stop.changed() => break,
                    e = next_event(&mut ws) => e,
                };
                let Ok(Some(ServerEvent::Message { envelope, .. })) = event else {
                    if matches!(event, Ok(None) | Err(_)) {
                        break;
                    }
                    continue;
                };
                let now = shared.t0.elapsed().as_nanos() as u64 + 1;
                let Some((id, ctr)) = header_ids(&envelope) else {
                    continue;
                };
                let Some(&(i, f)) = shared.index.get(&id) else {
                    continue;
                };
                if shared.deliveries[i].fetch_add(1, Ordering::Relaxed) > 0 {
                    duplicated += 1;
                    continue;
                }
                delivered += 1;
                if ctr < last_ctr[f] {
                    out_of_order += 1;
                }
                last_ctr[f] = last_ctr[f].max(ctr);
                let sent = shared.sent_at[i].load(Ordering::Relaxed);
                if sent > 0 {
                    latency.ok(Duration::from_nanos(now.saturating_sub(sent)));
                }
            }
            (latency, delivered, duplicated, out_of_order)
        }));
    }

    let acked = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let sent_total = Arc::new(AtomicU64::new(0));
    let mut sender_tasks = Vec::new();
    let mut ack_tasks = Vec::new();
    let start = Instant::now();
    for flow in flows {
        let user = &users[flow.sender];
        let ws = ctx
            .nodes
            .ws_connect(user.node, user.src, &user.token().await?, u64::MAX / 2)
            .await?;
        let (mut sink, mut stream) = ws.split();
        let (acked, failed) = (acked.clone(), failed.clone());
        let mut stop = stop_rx.clone();
        let window = flow
            .window
            .map(|w| Arc::new(tokio::sync::Semaphore::new(w.max(1))));
        let ack_window = window.clone();
        ack_tasks.push(tokio::spawn(async move {
            loop {
                let message = tokio::select! {
                    _ = stop.changed() => break,
                    m = stream.next() => m,
                };
                let Some(Ok(Message::Text(text))) = message else {
                    if matches!(message, None | Some(Err(_))) {
                        break;
                    }
                    continue;
                };
                match serde_json::from_str::<ServerEvent>(text.as_str()) {
                    Ok(ServerEvent::Ack { .. }) => {
                        acked.fetch_add(1, Ordering::Relaxed);
                        if let Some(w) = &ack_window {
                            w.add_permits(1);
                        }
                    }
                    Ok(ServerEvent::Error { .. }) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        if let Some(w) = &ack_window {
                            w.add_permits(1);
                        }
                    }
                    _ => {}
                }
            }
        }));
        let shared = shared.clone();
        let sent_total = sent_total.clone();
        sender_tasks.push(tokio::spawn(async move {
            for (k, p) in flow.messages.into_iter().enumerate() {
                if let Some(rate) = flow.rate_per_s {
                    let due = start + Duration::from_secs_f64(k as f64 / rate);
                    tokio::time::sleep_until(due.into()).await;
                }
                if let Some(w) = &window {
                    match w.acquire().await {
                        Ok(permit) => permit.forget(),
                        Err(_) => break,
                    }
                }
                let Some(&(i, _)) = shared.index.get(&p.msg_id) else {
                    continue;
                };
                shared.sent_at[i]
                    .store(shared.t0.elapsed().as_nanos() as u64 + 1, Ordering::Relaxed);
                if sink.send(Message::text(p.frame)).await.is_err() {
                    shared.sent_at[i].store(0, Ordering::Relaxed);
                    break;
                }
                sent_total.fetch_add(1, Ordering::Relaxed);
            }
            sink
        }));
    }
    let mut sinks = Vec::new();
    for task in sender_tasks {
        sinks.push(task.await?);
    }
    let send_done = start.elapsed();
    // Drain: wait while deliveries still progress.
    let sent = sent_total.load(Ordering::Relaxed);
    let delivered_now = || {
        shared
            .deliveries
            .iter()
            .filter(|d| d.load(Ordering::Relaxed) > 0)
            .count() as u64
    };
    let mut last = delivered_now();
    let mut idle = Instant::now();
    let mut last_progress = send_done;
    while (last < sent || acked.load(Ordering::Relaxed) + failed.load(Ordering::Relaxed) < sent)
        && idle.elapsed() < drain
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let now = delivered_now();
        if now > last {
            last = now;
            idle = Instant::now();
            last_progress = start.elapsed();
        }
    }
    let _ = stop_tx.send(true);
    let mut outcome = Outcome {
        sent,
        acked: 0,
        failed: 0,
        ..Outcome::default()
    };
    for task in receiver_tasks {
        let (latency, delivered, duplicated, out_of_order) = task.await?;
        outcome.latency.merge(latency);
        outcome.delivered += delivered;
        outcome.duplicated += duplicated;
        outcome.out_of_order += out_of_order;
    }
    for task in ack_tasks {
        task.await?;
    }
    for mut sink in sinks {
        let _ = sink.close().await;
    }
    outcome.acked = acked.load(Ordering::Relaxed);
    outcome.failed = failed.load(Ordering::Relaxed);
    // Throughput is over the time from the first send to the last delivery seen.
    outcome.latency.elapsed = last_progress;
    Ok(outcome)
}
