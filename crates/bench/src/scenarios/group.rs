//! `group`: one group of N members, all online, each sending at its share of a total rate.
//! Every message is sealed for all N members (the real HPKE wraps), sent to the server, and
//! counted at every member that receives it: messages/s delivered to all members, latency
//! from send to the last member's copy, and server CPU per delivered copy.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use securechat_crypto::envelope::RecipientKey;
use securechat_crypto::group::{Change, ChangeMember, Op};
use securechat_crypto::ids::ConvId;
use securechat_proto::b64;
use securechat_proto::groups::SignedGroupChange;
use securechat_proto::ws::ServerEvent;

use crate::procinfo::Watcher;
use crate::progress::bar;
use crate::report::Report;
use crate::scenarios::Ctx;
use crate::sealer::{header_ids, recipient_keys, seal_many};
use crate::stats::{Samples, Summary};
use crate::users::{create, BenchUser};

/// The largest group (PROTOCOL.md §17.1).
const MAX_MEMBERS: usize = 256;

/// Creates the group: user 0 signs the first change naming everyone.
async fn create_group(users: &[BenchUser]) -> anyhow::Result<Uuid> {
    let group = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
    let creator = &users[0];
    let change = Change {
        group_id: ConvId(group),
        seq: 0,
        prev: None,
        author: creator.id(),
        author_ik: creator.keys.identity().public(),
        at_ms: securechat_client::now_ms(),
        op: Op::Create,
        members: users
            .iter()
            .enumerate()
            .map(|(i, u)| ChangeMember {
                user_id: u.id(),
                ik: u.keys.identity().public(),
                admin: i == 0,
            })
            .collect(),
    };
    let signed = change.sign(creator.keys.identity())?;
    creator
        .api
        .post_group_change(
            group,
            &SignedGroupChange {
                change: b64::encode(&signed.bytes),
                sig: b64::encode(signed.sig),
            },
        )
        .await
        .context("creating the group")?;
    Ok(group)
}

/// What every member's reader records.
struct Tally {
    t0: Instant,
    /// Send time (ns after t0, +1) and copies received so far, by msg_id.
    messages: HashMap<String, (AtomicU64, AtomicU64)>,
    /// Send → each member's copy.
    each: Mutex<Samples>,
    /// Send → the last member's copy.
    last: Mutex<Samples>,
    copies: AtomicU64,
    complete: AtomicU64,
    acked: AtomicU64,
    failed: AtomicU64,
}

/// `members` users in one group, all online, together sending `rate` messages/s for
/// `seconds`.
pub async fn group(ctx: &Ctx, members: usize, rate: f64, seconds: f64) -> anyhow::Result<Report> {
    if !(2..=MAX_MEMBERS).contains(&members) {
        bail!("a group has 2 to {MAX_MEMBERS} members");
    }
    let mut report = Report::new("group");
    let total = (rate * seconds).ceil() as usize;
    let per_sender = total.div_ceil(members);
    report.note(format!(
        "one group of {members} members, all online; {rate:.0} messages/s in all for {seconds:.0} s ({per_sender} per member, paced), each delivered to the other {} members",
        members - 1
    ));
    report.note("envelopes sealed for every member (real HPKE wraps + Ed25519) before the timed phase; latency = send → the last member's copy");
    let placed = ctx.nodes.place(members, &[])?;
    let users = Arc::new(create(&ctx.nodes, &ctx.prefix, &placed, ctx.first_source, 16).await?);
    let group = create_group(&users).await?;

    // Every member's keys, fetched and verified once.
    let progress = bar(members as u64, "fetching members' keys");
    let mut keys: Vec<Vec<RecipientKey>> = Vec::with_capacity(members);
    for user in users.iter() {
        keys.push(recipient_keys(&users[0], user.id()).await?);
        progress.inc(1);
    }
    progress.finish_and_clear();
    let keys = Arc::new(keys);
    let progress = bar(
        members as u64,
        &format!("pre-sealing {} group envelopes", per_sender * members),
    );
    let mut handles = Vec::new();
    for s in 0..members {
        let (users, keys) = (users.clone(), keys.clone());
        handles.push(tokio::task::spawn_blocking(move || {
            let others: Vec<RecipientKey> = keys
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != s)
                .flat_map(|(_, k)| k.iter().cloned())
                .collect();
            seal_many(&users[s], ConvId(group), &others, per_sender, 64)
        }));
    }
    let mut prepared = Vec::with_capacity(members);
    for h in handles {
        prepared.push(h.await??);
        progress.inc(1);
    }
    progress.finish_and_clear();
    let envelope_bytes = prepared
        .first()
        .and_then(|p| p.first())
        .map_or(0, |p| p.frame.len());

    let tally = Arc::new(Tally {
        t0: Instant::now(),
        messages: prepared
            .iter()
            .flatten()
            .map(|p| (p.msg_id.clone(), (AtomicU64::new(0), AtomicU64::new(0))))
            .collect(),
        each: Mutex::new(Samples::default()),
        last: Mutex::new(Samples::default()),
        copies: AtomicU64::new(0),
        complete: AtomicU64::new(0),
        acked: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let others = (members - 1) as u64;
    let mut sockets = Vec::with_capacity(members);
    let progress = bar(members as u64, "connecting members");
    for user in users.iter() {
        let mut ws = ctx
            .nodes
            .ws_connect(user.node, user.src, &user.token().await?, u64::MAX / 2)
            .await?;
        crate::net::until_caught_up(&mut ws).await?;
        sockets.push(ws);
        progress.inc(1);
    }
    progress.finish_and_clear();

    let watcher = Watcher::start(&ctx.pids);
    let start = Instant::now();
    let mut senders = Vec::new();
    let mut readers = Vec::new();
    for (ws, messages) in sockets.into_iter().zip(prepared) {
        let (mut sink, mut stream) = ws.split();
        let (seen, mut stop) = (tally.clone(), stop_rx.clone());
        readers.push(tokio::spawn(async move {
            let tally = seen;
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
                        tally.acked.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(ServerEvent::Error { .. }) => {
                        tally.failed.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(ServerEvent::Message { envelope, .. }) => {
                        let now = tally.t0.elapsed().as_nanos() as u64 + 1;
                        let Some((id, _)) = header_ids(&envelope) else {
                            continue;
                        };
                        let Some((sent, copies)) = tally.messages.get(&id) else {
                            continue;
                        };
                        let sent = sent.load(Ordering::Relaxed);
                        let n = copies.fetch_add(1, Ordering::Relaxed) + 1;
                        tally.copies.fetch_add(1, Ordering::Relaxed);
                        let latency = Duration::from_nanos(now.saturating_sub(sent));
                        if let Ok(mut each) = tally.each.lock() {
                            each.ok(latency);
                        }
                        if n == others {
                            tally.complete.fetch_add(1, Ordering::Relaxed);
                            if let Ok(mut last) = tally.last.lock() {
                                last.ok(latency);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }));
        let (timing, per_member_rate) = (tally.clone(), rate / members as f64);
        senders.push(tokio::spawn(async move {
            let tally = timing;
            let offset = rand::random::<f64>() / per_member_rate;
            for (k, p) in messages.into_iter().enumerate() {
                let due = start + Duration::from_secs_f64(offset + k as f64 / per_member_rate);
                tokio::time::sleep_until(due.into()).await;
                if let Some((sent, _)) = tally.messages.get(&p.msg_id) {
                    sent.store(tally.t0.elapsed().as_nanos() as u64 + 1, Ordering::Relaxed);
                }
                if sink.send(Message::text(p.frame)).await.is_err() {
                    break;
                }
            }
            sink
        }));
    }
    let mut sinks = Vec::new();
    for task in senders {
        sinks.push(task.await?);
    }
    let sent = (per_sender * members) as u64;
    // Drain: until every copy arrived, or 10 s without progress.
    let mut last = (0, Instant::now());
    while tally.complete.load(Ordering::Relaxed) < sent
        && last.1.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let copies = tally.copies.load(Ordering::Relaxed);
        if copies > last.0 {
            last = (copies, Instant::now());
        }
    }
    let elapsed = start.elapsed().saturating_sub(last.1.elapsed());
    let _ = stop_tx.send(true);
    for task in readers {
        task.await?;
    }
    for mut sink in sinks {
        let _ = sink.close().await;
    }
    report.server = watcher.and_then(Watcher::finish);

    let copies = tally.copies.load(Ordering::Relaxed);
    let complete = tally.complete.load(Ordering::Relaxed);
    if let Ok(last) = tally.last.lock() {
        report.rows.push(Summary::of("send → last member", &last));
    }
    if let Ok(each) = tally.each.lock() {
        report.rows.push(Summary::of("send → each member", &each));
    }
    report.count("members", members as f64);
    report.count("sent", sent as f64);
    report.count("acked", tally.acked.load(Ordering::Relaxed) as f64);
    report.count("failed", tally.failed.load(Ordering::Relaxed) as f64);
    report.count("delivered to every member", complete as f64);
    report.count("copies delivered", copies as f64);
    report.count("copies expected", (sent * others) as f64);
    report.count("send frame bytes", envelope_bytes as f64);
    let secs = elapsed.as_secs_f64().max(1e-9);
    report.count("messages_to_all_per_s", complete as f64 / secs);
    report.count("copies_per_s", copies as f64 / secs);
    if let Some(server) = report.server.as_ref().filter(|_| copies > 0) {
        report.count(
            "server_cpu_us_per_copy",
            server.cpu_secs * 1e6 / copies as f64,
        );
    }
    ctx.nodes.account(&mut report);
    Ok(report)
}
