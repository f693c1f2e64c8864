//! `securechat-bench`: reproduces the paper's evaluation against a running server and beats
//! it, and measures the store directly (`store-history`). Every scenario is bounded in count
//! and time, targets loopback only, and stops by itself.

mod net;
mod nodes;
mod plot;
mod procinfo;
mod progress;
mod report;
mod scenarios;
mod sealer;
mod stats;
mod users;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::nodes::{Nodes, Placement};
use crate::report::Report;
use crate::scenarios::{accounts, connections, group, messages, store_history, upload, Ctx};

/// Load tool for securechat (see docs/PERFORMANCE.md).
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// The server, on loopback: http://127.0.0.1:8080. Several nodes of one server (processes
    /// on one database): comma-separated or repeated; users are spread over them round robin.
    #[arg(
        long,
        global = true,
        value_delimiter = ',',
        default_value = "http://127.0.0.1:8080",
        env = "SECURECHAT_SERVER",
        value_name = "URL"
    )]
    server: Vec<String>,
    /// The server's pid: its RSS and CPU are read from /proc. Several nodes: every pid
    /// (comma-separated or repeated), summed.
    #[arg(long, global = true, value_delimiter = ',', value_name = "PID")]
    server_pid: Vec<u32>,
    /// With several servers: put every sender on another node than its recipient (burst,
    /// sustained, the connections probe, upload), so every message crosses nodes.
    #[arg(long, global = true)]
    cross_node: bool,
    /// Write the report as JSON.
    #[arg(long, global = true, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write the scenario's plot (SVG), where it has one.
    #[arg(long, global = true, value_name = "FILE")]
    plot: Option<PathBuf>,
    /// First loopback source address index (use different ones for runs against one server).
    #[arg(long, global = true, default_value_t = 0)]
    first_source: usize,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Registration throughput against concurrency (Fig. 4).
    Register {
        #[arg(long, value_delimiter = ',', default_value = "10,50,100,200,500")]
        levels: Vec<usize>,
        /// Registrations per level = factor × level.
        #[arg(long, default_value_t = 2)]
        factor: usize,
    },
    /// N concurrent logins (Tables I–II), with OPAQUE or the password grant.
    Login {
        #[arg(long, default_value_t = 100)]
        users: usize,
        /// opaque: RFC 9807 (the Argon2id work is the client's); password: the password
        /// grant (Argon2id on the server), for comparison.
        #[arg(long, value_enum, default_value = "opaque")]
        method: users::Method,
    },
    /// One Argon2id hash at the server's parameters, and the login bound it sets.
    Hash {
        #[arg(long, default_value_t = 20)]
        iterations: u32,
    },
    /// N concurrent encrypted uploads of S MiB, checked by download (Table III).
    Upload {
        #[arg(long, default_value_t = 200)]
        clients: usize,
        #[arg(long, default_value_t = 1.0)]
        size_mib: f64,
    },
    /// Senders × messages to one online receiver (Table IV).
    Burst {
        #[arg(long, default_value_t = 2)]
        senders: usize,
        #[arg(long, default_value_t = 4000)]
        messages: usize,
        /// Unacknowledged messages each sender allows itself (0: no limit, all at once).
        #[arg(long, default_value_t = 16)]
        window: usize,
    },
    /// Ramp authenticated WebSockets, probing latency (Fig. 9).
    Connections {
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "1000,2000,5000,10000,15000,19000"
        )]
        steps: Vec<usize>,
        /// Connections per user (the server's --max-connections-per-user must allow it).
        #[arg(long, default_value_t = 16)]
        per_user: usize,
        /// Probe messages per step.
        #[arg(long, default_value_t = 200)]
        probe: usize,
    },
    /// P pairs chatting at a total offered rate for T seconds.
    Sustained {
        #[arg(long, default_value_t = 50)]
        pairs: usize,
        #[arg(long, default_value_t = 5000.0)]
        rate: f64,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
    },
    /// One group of N members, all online, sending at a total rate for T seconds.
    Group {
        #[arg(long, default_value_t = 10)]
        members: usize,
        #[arg(long, default_value_t = 100.0)]
        rate: f64,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
    },
    /// The store alone (no server): fill it with messages, then time history pages and
    /// events_since.
    StoreHistory {
        /// sqlite://PATH or postgres://USER@127.0.0.1:5432/DATABASE (this machine only).
        #[arg(long, env = "SECURECHAT_BENCH_DATABASE_URL")]
        database_url: String,
        /// Messages the database should hold; those already stored by an earlier run count.
        #[arg(long, default_value_t = 1_000_000)]
        messages: u64,
        /// Conversations (two users each) the messages are spread over.
        #[arg(long, default_value_t = 1000)]
        pairs: usize,
        /// Messages per history page.
        #[arg(long, default_value_t = 50)]
        page: u32,
        /// History pages to time, and as many events_since calls.
        #[arg(long, default_value_t = 20_000)]
        queries: usize,
        /// Longest the fill may take (s); the queries then run on what is stored.
        #[arg(long, default_value_t = 1800.0)]
        fill_seconds: f64,
        /// Longest each kind of query may take (s).
        #[arg(long, default_value_t = 300.0)]
        query_seconds: f64,
    },
}

/// A scenario against the server `ctx` names.
async fn against_server(ctx: &Ctx, scenario: Scenario) -> anyhow::Result<Report> {
    Ok(match scenario {
        Scenario::Register { levels, factor } => {
            accounts::register_levels(ctx, &levels, factor.max(1)).await?
        }
        Scenario::Login { users, method } => accounts::login(ctx, users, method).await?,
        Scenario::Hash { iterations } => accounts::hash(iterations.max(1))?,
        Scenario::Upload { clients, size_mib } => upload::upload(ctx, clients, size_mib).await?,
        Scenario::Burst {
            senders,
            messages,
            window,
        } => messages::burst(ctx, senders, messages, window).await?,
        Scenario::Connections {
            steps,
            per_user,
            probe,
        } => connections::connections(ctx, &steps, per_user.max(1), probe.max(1)).await?,
        Scenario::Sustained {
            pairs,
            rate,
            seconds,
        } => {
            messages::sustained(ctx, pairs.max(1), rate.max(1.0), seconds.clamp(1.0, 600.0)).await?
        }
        Scenario::Group {
            members,
            rate,
            seconds,
        } => group::group(ctx, members, rate.max(0.1), seconds.clamp(1.0, 600.0)).await?,
        Scenario::StoreHistory { .. } => anyhow::bail!("store-history runs without a server"),
    })
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let Cli {
        server,
        server_pid,
        cross_node,
        json,
        plot,
        first_source,
        scenario,
    } = cli;
    let report = match scenario {
        Scenario::StoreHistory {
            database_url,
            messages,
            pairs,
            page,
            queries,
            fill_seconds,
            query_seconds,
        } => {
            store_history::store_history(&store_history::Options {
                database_url,
                messages,
                pairs: pairs.max(1),
                page: page.max(1),
                queries,
                fill_limit: Duration::from_secs_f64(fill_seconds.clamp(1.0, 86_400.0)),
                query_limit: Duration::from_secs_f64(query_seconds.clamp(1.0, 3_600.0)),
            })
            .await?
        }
        other => {
            let placement = if cross_node {
                Placement::CrossNode
            } else {
                Placement::RoundRobin
            };
            let ctx = Ctx {
                nodes: Nodes::parse(&server, placement)?,
                pids: server_pid,
                prefix: users::run_prefix(),
                first_source,
            };
            against_server(&ctx, other).await?
        }
    };
    print!("{}", report.render());
    if let Some(path) = &json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let (Some(path), Some(svg)) = (&plot, &report.plot) {
        std::fs::write(path, svg).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(cli))
}
