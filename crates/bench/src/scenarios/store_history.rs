//! `store-history`: the store alone (no server), filled with many messages, then the latency
//! of the reads a client's scrolling and reconnecting cause: `history` pages and
//! `events_since`.
//!
//! Users `sh<i>` (two per conversation) are found again in a database filled by an earlier
//! run, and the messages they already hold count towards `--messages`, so a filled database
//! is reused: the fill is skipped (or only topped up).

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rand::Rng as _;
use sha2::{Digest as _, Sha256};

use securechat_bench::database::Location;
use securechat_bench::synth;
use securechat_proto::ids::UserId;
use securechat_store::model::NewMessage;
use securechat_store::Store;

use crate::report::Report;
use crate::stats::{Samples, Summary};

/// Messages per `append_messages` call while filling.
const FILL_BATCH: usize = 1000;
/// Bytes of each synthetic envelope (1.5 KiB, the size of a short text message's envelope).
const ENVELOPE_BYTES: usize = 1536;
/// Bytes hashed for the reference measurement of fixed CPU work (≈ 1.3 ms with SHA
/// instructions, about as long as a history page).
const REFERENCE_BYTES: usize = 2 * 1024 * 1024;
/// `events_since`'s scan limit, as the server's replay pages use.
const EVENTS_LIMIT: u32 = 200;

/// What to run.
pub struct Options {
    pub database_url: String,
    pub messages: u64,
    pub pairs: usize,
    pub page: u32,
    pub queries: usize,
    /// The fill stops after this long (the measurements then run on what is stored).
    pub fill_limit: Duration,
    /// Each measured kind of query stops after this long.
    pub query_limit: Duration,
}

/// One conversation: two users, each in this conversation only, so a user's stream is the
/// conversation and its length is the user's `last_seq`.
#[derive(Clone, Copy)]
struct Pair {
    a: UserId,
    b: UserId,
    /// Messages stored between them (each is one entry in both users' streams).
    stored: u64,
}

fn say(text: &str) {
    println!("{text}");
    let _ = std::io::stdout().flush();
}

pub async fn store_history(opts: &Options) -> anyhow::Result<Report> {
    let location = Location::parse(&opts.database_url)?;
    let mut report = Report::new("store-history");
    report.note(format!(
        "store opened directly ({}, no server): {}",
        location.backend(),
        location.describe()
    ));
    say(&format!("opening {}", location.describe()));
    let store = location.open().await?;

    let mut pairs = users(&*store, opts.pairs.max(1), &mut report).await?;
    let already: u64 = pairs.iter().map(|p| p.stored).sum();
    report.count("messages_found", already as f64);
    if already >= opts.messages {
        let text = format!(
            "the database already holds {already} messages between these {} pairs (≥ {} \
             asked): fill skipped",
            pairs.len(),
            opts.messages
        );
        say(&text);
        report.note(text);
        report.count("fill_messages", 0.0);
    } else {
        fill(&*store, &mut pairs, opts, already, &mut report).await?;
    }
    let stored: u64 = pairs.iter().map(|p| p.stored).sum();
    report.count("messages_in_store", stored as f64);
    report.count("pairs", pairs.len() as f64);
    report.count("page", f64::from(opts.page));

    measure(&*store, &pairs, opts, &mut report).await;
    store.close().await;
    Ok(report)
}

/// Finds the users `sh0`, `sh1`, … of an earlier run and creates the missing ones; returns
/// the pairs with the messages each holds already.
async fn users(store: &dyn Store, pairs: usize, report: &mut Report) -> anyhow::Result<Vec<Pair>> {
    let known: HashMap<String, UserId> = store
        .list_users()
        .await
        .context("listing users")?
        .into_iter()
        .map(|u| (u.username, u.id))
        .collect();
    let mut created = 0usize;
    let mut ids = Vec::with_capacity(2 * pairs);
    for i in 0..2 * pairs {
        let name = format!("sh{i}");
        let id = match known.get(&name) {
            Some(&id) => id,
            None => {
                created += 1;
                synth::create_user(store, &name)
                    .await
                    .with_context(|| format!("creating user {name}"))?
            }
        };
        ids.push(id);
    }
    let text = format!(
        "{} users in {pairs} pairs (sh0–sh{}): {} found, {created} created with random keys",
        2 * pairs,
        2 * pairs - 1,
        2 * pairs - created
    );
    say(&text);
    report.note(text);
    let mut out = Vec::with_capacity(pairs);
    for pair in ids.chunks_exact(2) {
        let (a, b) = (pair[0], pair[1]);
        let stored = store
            .last_seq(a)
            .await
            .context("reading a stream's length")?;
        out.push(Pair { a, b, stored });
    }
    Ok(out)
}

/// Appends messages in batches of `FILL_BATCH` until `opts.messages` are stored (or the fill
/// time runs out), each between a random pair in a random direction.
async fn fill(
    store: &dyn Store,
    pairs: &mut [Pair],
    opts: &Options,
    already: u64,
    report: &mut Report,
) -> anyhow::Result<()> {
    let wanted = opts.messages - already;
    let text = format!(
        "filling: {wanted} messages ({already} already stored) through append_messages in \
         batches of {FILL_BATCH}, {ENVELOPE_BYTES}-byte synthetic envelopes, random pair and \
         direction each, time-ordered ids; at most {:.0} s",
        opts.fill_limit.as_secs_f64()
    );
    say(&text);
    report.note(text);
    let ends: Arc<Vec<(UserId, UserId)>> = Arc::new(pairs.iter().map(|p| (p.a, p.b)).collect());
    // The next batch is made on a blocking thread while the current one is appended.
    let make = |n: usize| {
        let ends = ends.clone();
        tokio::task::spawn_blocking(move || {
            let mut rng = rand::thread_rng();
            let mut chosen = Vec::with_capacity(n);
            let batch: Vec<NewMessage> = (0..n)
                .map(|_| {
                    let k = rng.gen_range(0..ends.len());
                    chosen.push(k);
                    let (a, b) = ends[k];
                    let (from, to) = if rng.gen_bool(0.5) { (a, b) } else { (b, a) };
                    synth::message(from, to, synth::envelope(ENVELOPE_BYTES), true)
                })
                .collect();
            (chosen, batch)
        })
    };
    let batch_len =
        |done: u64| usize::try_from((wanted - done).min(FILL_BATCH as u64)).unwrap_or(FILL_BATCH);
    let mut batches = Samples::default();
    let start = Instant::now();
    let mut done = 0u64;
    let mut next_report = wanted / 10;
    let mut next = Some(make(batch_len(0)));
    while let Some(pending) = next.take() {
        if start.elapsed() >= opts.fill_limit {
            let text = format!(
                "fill stopped by its time limit after {done} of {wanted} messages: the \
                 queries run on {} messages",
                already + done
            );
            say(&text);
            report.note(text);
            break;
        }
        let (chosen, batch) = pending.await.context("making a batch")?;
        let n = batch.len();
        if done + (n as u64) < wanted {
            next = Some(make(batch_len(done + n as u64)));
        }
        let t = Instant::now();
        store
            .append_messages(&batch)
            .await
            .context("appending a batch")?;
        batches.ok(t.elapsed());
        for k in chosen {
            pairs[k].stored += 1;
        }
        done += n as u64;
        if done >= next_report {
            let secs = start.elapsed().as_secs_f64();
            say(&format!(
                "  {done}/{wanted} messages in {secs:.0} s ({:.0} msgs/s)",
                done as f64 / secs
            ));
            next_report = done + wanted / 10;
        }
    }
    batches.elapsed = start.elapsed();
    let secs = batches.elapsed.as_secs_f64();
    let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
    let text = format!(
        "filled {done} messages in {secs:.1} s: {rate:.0} msgs/s, {:.1} MB/s of envelopes",
        rate * ENVELOPE_BYTES as f64 / 1e6
    );
    say(&text);
    report.note(text);
    report
        .rows
        .push(Summary::of(&format!("fill: append {FILL_BATCH}"), &batches));
    report.count("fill_messages", done as f64);
    report.count("fill_seconds", secs);
    report.count("fill_msgs_per_s", rate);
    Ok(())
}

/// A uniformly random seq in `1..=last`, or 1 for an empty stream.
fn random_seq(rng: &mut impl rand::Rng, last: u64) -> u64 {
    if last <= 1 {
        1
    } else {
        rng.gen_range(1..=last)
    }
}

/// The queries, one at a time (latency without queueing): history pages of random pairs from
/// either side, alternately from the newest message (`before` = None) and from a random
/// place in the stream; then `events_since` from a random place.
async fn measure(store: &dyn Store, pairs: &[Pair], opts: &Options, report: &mut Report) {
    let text = format!(
        "measuring, one query at a time: {} history pages of {} (half from the newest \
         message, half before a random seq; each followed by a last_seq for reference), then \
         {} events_since(random seq, {EVENTS_LIMIT}); each kind at most {:.0} s",
        opts.queries,
        opts.page,
        opts.queries,
        opts.query_limit.as_secs_f64()
    );
    say(&text);
    report.note(text);
    let mut rng = rand::thread_rng();
    let mut newest = Samples::default();
    let mut mid = Samples::default();
    let mut rows_returned = 0u64;
    let mut unexpected_pages = 0u64;
    let mut reference = Samples::default();
    let mut point = Samples::default();
    let work = vec![0x5au8; REFERENCE_BYTES];
    let start = Instant::now();
    for q in 0..opts.queries {
        if q % 10 == 0 {
            let t = Instant::now();
            std::hint::black_box(Sha256::digest(std::hint::black_box(&work)));
            reference.ok(t.elapsed());
        }
        if start.elapsed() >= opts.query_limit {
            report.note(format!(
                "history stopped by its time limit after {q} queries"
            ));
            break;
        }
        let pair = pairs[rng.gen_range(0..pairs.len())];
        let (user, peer) = if rng.gen_bool(0.5) {
            (pair.a, pair.b)
        } else {
            (pair.b, pair.a)
        };
        let before = (q % 2 == 1).then(|| random_seq(&mut rng, pair.stored));
        let t = Instant::now();
        let page = store
            .history(user, peer, before, opts.page, synth::now_ms())
            .await;
        let latency = t.elapsed();
        let samples = if before.is_some() {
            &mut mid
        } else {
            &mut newest
        };
        match page {
            Ok(page) => {
                samples.ok(latency);
                rows_returned += page.len() as u64;
                // The user's stream holds only this conversation's messages, so the page must
                // be the seqs just before `before` (or the newest), newest first, and full
                // unless the conversation has fewer messages before it.
                let newest = before.map_or(pair.stored, |b| b - 1);
                let expected = newest.min(u64::from(opts.page));
                let seqs = page.iter().map(|m| m.seq);
                if page.len() as u64 != expected || !seqs.eq((0..expected).map(|i| newest - i)) {
                    unexpected_pages += 1;
                }
            }
            Err(_) => samples.fail(),
        }
        let t = Instant::now();
        match store.last_seq(user).await {
            Ok(_) => point.ok(t.elapsed()),
            Err(_) => point.fail(),
        }
    }
    let elapsed = start.elapsed();
    let mut all = newest.clone();
    all.merge(mid.clone());
    all.elapsed = elapsed;
    reference.elapsed = elapsed;
    point.elapsed = elapsed;
    newest.elapsed = elapsed;
    mid.elapsed = elapsed;

    let mut events = Samples::default();
    let mut events_returned = 0u64;
    let start = Instant::now();
    for q in 0..opts.queries {
        if start.elapsed() >= opts.query_limit {
            report.note(format!(
                "events_since stopped by its time limit after {q} queries"
            ));
            break;
        }
        let pair = pairs[rng.gen_range(0..pairs.len())];
        let user = if rng.gen_bool(0.5) { pair.a } else { pair.b };
        let since = random_seq(&mut rng, pair.stored) - 1;
        let t = Instant::now();
        match store
            .events_since(user, since, EVENTS_LIMIT, synth::now_ms())
            .await
        {
            Ok(page) => {
                events.ok(t.elapsed());
                events_returned += page.events.len() as u64;
            }
            Err(_) => events.fail(),
        }
    }
    events.elapsed = start.elapsed();

    let all = Summary::of("history (all)", &all);
    report.count("history_p99_ms", all.p99_ms);
    report.count("history_rows_returned", rows_returned as f64);
    report.count("history_unexpected_pages", unexpected_pages as f64);
    report.count("events_returned", events_returned as f64);
    report.note(format!(
        "target history p99 ≤ 5 ms: {} ({:.2} ms)",
        if all.p99_ms <= 5.0 { "met" } else { "missed" },
        all.p99_ms
    ));
    report
        .rows
        .push(Summary::of("history, before = None", &newest));
    report
        .rows
        .push(Summary::of("history, before = random", &mid));
    report.rows.push(all);
    report.rows.push(Summary::of(
        &format!("events_since, limit {EVENTS_LIMIT}"),
        &events,
    ));
    let point = Summary::of("reference: last_seq", &point);
    let reference = Summary::of("reference: fixed CPU work", &reference);
    report.note(format!(
        "references, for what the machine adds (other processes, scheduling) rather than the \
         store: last_seq (a one-row read, one round trip) after each history page, p50 {:.2} \
         ms, p99 {:.2} ms; SHA-256 of {} KiB in this process every 10th page, p50 {:.2} ms, \
         p99 {:.2} ms",
        point.p50_ms,
        point.p99_ms,
        REFERENCE_BYTES / 1024,
        reference.p50_ms,
        reference.p99_ms
    ));
    report.rows.push(point);
    report.rows.push(reference);
}
