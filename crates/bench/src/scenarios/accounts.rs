//! `register`, `login` and `hash`: the account scenarios (the paper's Fig. 4, Tables I–II).

use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use futures_util::stream::{self, StreamExt as _};
use tokio::sync::Barrier;

use crate::net::source;
use crate::nodes::round_robin;
use crate::plot::{svg, Series};
use crate::procinfo::Watcher;
use crate::progress::bar;
use crate::report::Report;
use crate::scenarios::Ctx;
use crate::stats::{Samples, Summary};
use crate::users::{register, register_with, Method};

/// Registration throughput at each concurrency level; `factor` registrations per unit of
/// concurrency (bounded).
pub async fn register_levels(ctx: &Ctx, levels: &[usize], factor: usize) -> anyhow::Result<Report> {
    let mut report = Report::new("register");
    report.note("each registration: client-side key generation, then the server's Argon2id hash and key checks");
    report.note("every client has its own loopback source address");
    let mut source_index = ctx.first_source;
    let mut throughput = Vec::new();
    let mut p95 = Vec::new();
    let watcher = Watcher::start(&ctx.pids);
    for &level in levels {
        let count = level * factor;
        let progress = Arc::new(bar(
            count as u64,
            &format!("register at concurrency {level}"),
        ));
        let started = Instant::now();
        let results: Vec<Result<Duration, ()>> = stream::iter(0..count)
            .map(|i| {
                let progress = progress.clone();
                let name = format!("{}r{level}x{i}", ctx.prefix);
                let src = source(source_index + i);
                let node = round_robin(source_index + i, ctx.nodes.len());
                async move {
                    let t = Instant::now();
                    let result = register(ctx.nodes.base(node), node, name, src)
                        .await
                        .map(|_| t.elapsed())
                        .map_err(|_| ());
                    progress.inc(1);
                    result
                }
            })
            .buffer_unordered(level)
            .collect()
            .await;
        progress.finish_and_clear();
        source_index += count;
        let mut samples = Samples::default();
        for r in results {
            match r {
                Ok(d) => samples.ok(d),
                Err(()) => samples.fail(),
            }
        }
        samples.elapsed = started.elapsed();
        let summary = Summary::of(&format!("concurrency {level}"), &samples);
        throughput.push((level as f64, summary.throughput_per_s));
        p95.push((level as f64, summary.p95_ms));
        report.rows.push(summary);
    }
    report.server = watcher.and_then(Watcher::finish);
    report.plot = Some(svg(
        "Registrations per second against concurrency (paper: Fig. 4)",
        "concurrent clients",
        "registrations / s",
        &[Series {
            name: "securechat".into(),
            points: throughput,
        }],
    ));
    report.steps = p95
        .into_iter()
        .map(|(c, p)| serde_json::json!({"concurrency": c, "p95_ms": p}))
        .collect();
    Ok(report)
}

/// `n` users log in at the same instant (after registering, untimed), with OPAQUE or with
/// the password grant (Argon2id on the server).
pub async fn login(ctx: &Ctx, n: usize, method: Method) -> anyhow::Result<Report> {
    let label = match method {
        Method::Opaque => "opaque",
        Method::Password => "password",
    };
    let mut report = Report::new(&format!("login {n} {label}"));
    report.note(format!(
        "{n} users registered first (not timed), then all log in at once"
    ));
    report.note(match method {
        Method::Opaque => "OPAQUE: the server's two steps are cheap; the Argon2id work is the client's (here the load tool's, on the same cores)",
        Method::Password => "password grant: the server checks each password with Argon2id",
    });
    let progress = Arc::new(bar(n as u64, "registering users (untimed)"));
    let users: Vec<_> = stream::iter(0..n)
        .map(|i| {
            let progress = progress.clone();
            let name = format!("{}l{i}", ctx.prefix);
            let src = source(ctx.first_source + i);
            let node = round_robin(i, ctx.nodes.len());
            let base = ctx.nodes.base(node).to_owned();
            async move {
                let u = register_with(&base, node, name, src, method).await;
                progress.inc(1);
                u
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    progress.finish_and_clear();
    let users: Vec<_> = users.into_iter().collect::<anyhow::Result<_>>()?;
    let barrier = Arc::new(Barrier::new(n));
    let watcher = Watcher::start(&ctx.pids);
    let started = Instant::now();
    let tasks: Vec<_> = users
        .into_iter()
        .map(|u| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let t = Instant::now();
                match method {
                    Method::Opaque => u
                        .api
                        .login_opaque(&u.username, &u.password)
                        .await
                        .map(|_| ()),
                    Method::Password => u
                        .api
                        .password_grant(&u.username, &u.password)
                        .await
                        .map(|_| ()),
                }
                .map(|()| t.elapsed())
            })
        })
        .collect();
    let mut samples = Samples::default();
    for task in tasks {
        match task.await {
            Ok(Ok(d)) => samples.ok(d),
            _ => samples.fail(),
        }
    }
    samples.elapsed = started.elapsed();
    report.server = watcher.and_then(Watcher::finish);
    if let Some(server) = &report.server {
        let per_login_ms = server.cpu_secs * 1000.0 / samples.latencies_ms.len().max(1) as f64;
        report.note(format!(
            "server CPU per login: {per_login_ms:.2} ms ({label})"
        ));
        report.count("server_cpu_ms_per_login", per_login_ms);
    }
    let summary = Summary::of(&format!("{n} concurrent logins ({label})"), &samples);
    let hash_ms = hash_time_ms(5)?;
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let bound = cores as f64 * 1000.0 / hash_ms;
    report.note(format!(
        "Argon2id (m=19 MiB, t=2, p=1) takes {hash_ms:.1} ms here: bound {bound:.1} logins/s on {cores} cores"
    ));
    report.count(
        "throughput_fraction_of_hash_bound",
        summary.throughput_per_s / bound,
    );
    report.rows.push(summary);
    Ok(report)
}

/// Mean time of one Argon2id hash at the server's parameters, in ms.
pub fn hash_time_ms(iterations: u32) -> anyhow::Result<f64> {
    let params = Params::new(19 * 1024, 2, 1, None).map_err(|e| anyhow::anyhow!("{e}"))?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon
        .hash_password(b"warm-up", &salt)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let started = Instant::now();
    for i in 0..iterations {
        argon
            .hash_password(format!("password {i}").as_bytes(), &salt)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(started.elapsed().as_secs_f64() * 1000.0 / f64::from(iterations.max(1)))
}

/// `hash`: the Argon2 bound.
pub fn hash(iterations: u32) -> anyhow::Result<Report> {
    let mut report = Report::new("hash");
    let ms = hash_time_ms(iterations)?;
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    report.note(format!(
        "one Argon2id hash (m=19 MiB, t=2, p=1): {ms:.2} ms (mean of {iterations})"
    ));
    report.note(format!(
        "bound: {cores} cores / {ms:.2} ms = {:.1} password checks per second",
        cores as f64 * 1000.0 / ms
    ));
    report.count("hash_ms", ms);
    report.count("bound_per_s", cores as f64 * 1000.0 / ms);
    Ok(report)
}
