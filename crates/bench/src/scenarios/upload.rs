//! `upload`: N concurrent encrypted uploads of S MiB (the paper's Table III), each checked by
//! downloading it back.

use std::sync::Arc;
use std::time::Instant;

use futures_util::stream::{self, StreamExt as _};
use sha2::{Digest as _, Sha256};
use tokio::sync::Barrier;

use securechat_crypto::file_stream::encrypt_file;

use crate::procinfo::Watcher;
use crate::progress::bar;
use crate::report::Report;
use crate::scenarios::Ctx;
use crate::stats::{Samples, Summary};
use crate::users::create;

pub async fn upload(ctx: &Ctx, clients: usize, size_mib: f64) -> anyhow::Result<Report> {
    let mut report = Report::new(&format!("upload {clients} × {size_mib} MiB"));
    let size = (size_mib * 1024.0 * 1024.0) as usize;
    report.note(format!(
        "{clients} users upload at once to one recipient; files encrypted (chunked AES-256-GCM) before the timed phase"
    ));
    let uploads: Vec<(usize, usize)> = (1..=clients).map(|c| (c, 0)).collect();
    let placed = ctx.nodes.place(clients + 1, &uploads)?;
    let users = Arc::new(create(&ctx.nodes, &ctx.prefix, &placed, ctx.first_source, 16).await?);
    let progress = bar(clients as u64, "encrypting files (untimed)");
    let mut files = Vec::with_capacity(clients);
    for _ in 0..clients {
        let plain: Vec<u8> = (0..size).map(|_| rand::random::<u8>()).collect();
        let (ct, _) = encrypt_file(
            &mut rand::rngs::OsRng,
            &plain,
            "application/octet-stream",
            "bench.bin",
        )?;
        let digest: [u8; 32] = Sha256::digest(&ct).into();
        files.push((ct, digest));
        progress.inc(1);
    }
    progress.finish_and_clear();
    let recipient = users[0].id();
    let barrier = Arc::new(Barrier::new(clients));
    let watcher = Watcher::start(&ctx.pids);
    let started = Instant::now();
    let tasks: Vec<_> = files
        .into_iter()
        .enumerate()
        .map(|(i, (ct, digest))| {
            let users = users.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let t = Instant::now();
                let uploaded = users[i + 1].api.upload(recipient, ct).await;
                uploaded.map(|u| (t.elapsed(), u.file_id, digest))
            })
        })
        .collect();
    let mut samples = Samples::default();
    let mut stored = Vec::new();
    for task in tasks {
        match task.await {
            Ok(Ok((latency, id, digest))) => {
                samples.ok(latency);
                stored.push((id, digest));
            }
            _ => samples.fail(),
        }
    }
    samples.elapsed = started.elapsed();
    report.server = watcher.and_then(Watcher::finish);
    report.rows.push(Summary::of("upload", &samples));
    let checks: Vec<bool> = stream::iter(stored)
        .map(|(id, digest)| {
            let users = users.clone();
            async move {
                match users[0].api.download(&id).await {
                    Ok(bytes) => <[u8; 32]>::from(Sha256::digest(&bytes)) == digest,
                    Err(_) => false,
                }
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    report.count(
        "downloaded_identical",
        checks.iter().filter(|ok| **ok).count() as f64,
    );
    report.count(
        "download_mismatch",
        checks.iter().filter(|ok| !**ok).count() as f64,
    );
    if let Some(server) = &report.server {
        report.count(
            "server_memory_growth_mib",
            server.rss_peak_kib.saturating_sub(server.rss_before_kib) as f64 / 1024.0,
        );
    }
    Ok(report)
}
