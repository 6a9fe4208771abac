//! The `daira` command.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use daira::analyze::Job;
use daira::progress::StderrProgress;
use daira::{DataConfig, discovery};
use graph_engine::import::{self, Format};
use graph_engine::log::hex;
use graph_engine::{Engine, LogReader, Progress, Verification};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// DAIRA: a culture engine for Egyptian creators and communities.
#[derive(Parser)]
#[command(name = "daira", version, about)]
struct Cli {
    /// The data directory.
    #[arg(long, global = true, env = "DAIRA_DATA", default_value = "daira-data")]
    data: PathBuf,
    /// Put the event log on PostgreSQL (a postgres:// URL) instead of the data directory.
    #[arg(long, global = true, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// With --database-url: the PostgreSQL schema (namespace) holding the log and the
    /// accounts, created if missing (default: the connection's search_path).
    #[arg(long, global = true, env = "DAIRA_PG_SCHEMA")]
    pg_schema: Option<String>,
    /// The server's key file (it signs data exports): keep it off the database server.
    /// Default: keys.json in the data directory, made with mode 0600 on first use.
    #[arg(long, global = true, env = "DAIRA_KEY_FILE")]
    key_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Import a file as one durable, all-or-nothing batch.
    Import {
        /// The file.
        file: PathBuf,
        /// The file's format.
        #[arg(long, value_enum)]
        format: FormatArg,
    },
    /// Counts per vertex and edge kind; the log's length and head hash.
    Stats {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Audit the event log.
    Audit {
        #[command(subcommand)]
        command: AuditCmd,
    },
    /// The economy's ledger on the data directory: the operator's issuance.
    Ledger {
        #[command(subcommand)]
        command: LedgerCmd,
    },
    /// End-to-end encrypted direct messages, through a running server (`daira serve`): this
    /// side seals and opens them; the server stores what it cannot read.
    Message {
        /// The server's GraphQL endpoint.
        #[arg(long, env = "DAIRA_SERVER", default_value = "http://127.0.0.1:8080/graphql", global = true)]
        server: String,
        /// A session token (from `login`; it may begin with `-`, as base64url does).
        #[arg(long, env = "DAIRA_TOKEN", global = true, allow_hyphen_values = true)]
        token: Option<String>,
        /// Your mask's handle.
        #[arg(long = "as", global = true)]
        as_handle: Option<String>,
        /// Your mask's key file (made by `daira message keys`; readable by you only).
        #[arg(long, global = true)]
        keys: Option<PathBuf>,
        #[command(subcommand)]
        command: MessageCmd,
    },
    /// Governance on the data directory (a reader: it runs beside a server).
    Governance {
        #[command(subcommand)]
        command: GovernanceCmd,
    },
    /// Synthetic communities with planted truth.
    Fixtures {
        #[command(subcommand)]
        command: FixturesCmd,
    },
    /// Run commands given as JSON lines on stdin, each acknowledged once durable.
    Exec,
    /// Generate the demo community into an empty data directory and show what it holds.
    Demo,
    /// Serve the GraphQL API (explorer at /graphql, /healthz, /metrics) until SIGTERM.
    Serve(ServeArgs),
    /// A user's data, whole, signed by the server's key (as exportMyData gives it): JSON
    /// `{document, signature, publicKey}` on stdout. A reader: it runs beside a server.
    ///
    /// With --format parquet --out DIR: the graph instead, as vertices.parquet and
    /// edges.parquet (kinds, weights, times, external ids) for analytics past one machine
    /// (benches/spark runs PageRank on them with Spark); only the edge kinds PageRank walks.
    Export {
        /// The account's login (the user's data, as JSON).
        #[arg(long)]
        login: Option<String>,
        /// What to write: the user's data as JSON (with --login), or the graph as Parquet.
        #[arg(long, value_enum, default_value = "json")]
        format: ExportFormat,
        /// With --format parquet: the folder to write (made if missing).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// With --database-url: create the log's and the accounts' schemas and tables as this
    /// connection's role (their owner), and, with --serve-role, the role `daira serve` should
    /// connect as: it may read and append events, never change or delete them.
    Migrate {
        /// The role to create (if missing) and grant: SELECT and INSERT on the events,
        /// SELECT, INSERT, UPDATE and DELETE on the accounts.
        #[arg(long)]
        serve_role: Option<String>,
    },
    /// The replicas of a PostgreSQL log (`serve --replica-id`): where each listens, how far
    /// it has applied the log and its lag behind the head, which one computes epochs, and when
    /// each was last heard from (a replica says so every second; one silent for 5 s is down).
    Replicas {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Search worlds, works and public masks (Arabic, Egyptian dialect, Arabizi, English).
    Search {
        /// The query.
        query: String,
        /// Only this kind.
        #[arg(long, value_enum)]
        kind: Option<KindArg>,
        /// Only this world (its id, or its id in the imported file).
        #[arg(long)]
        world: Option<String>,
        /// Only this language.
        #[arg(long, value_enum)]
        lang: Option<LangArg>,
        /// How many hits (1..=100).
        #[arg(long, default_value_t = 10)]
        limit: usize,
        /// Print a JSON array of hits: id, kind, title, score.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild the search index from the log (it is derived data; search keeps it up to date).
    Reindex,
    /// Run a reputation job on an edge file, no server or data directory needed.
    Analyze {
        /// The job.
        #[arg(value_enum)]
        job: Job,
        /// The edge file.
        #[arg(long)]
        edges: PathBuf,
        /// The file's format.
        #[arg(long, value_enum)]
        format: FormatArg,
        /// Trust seeds: one original id per line (trust and contribution).
        #[arg(long)]
        seeds: Option<PathBuf>,
        /// Write rows here (.csv or .json) instead of CSV on stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print each stage's time and the process's peak memory on stderr.
        #[arg(long)]
        verbose: bool,
    },
}

/// An import file's format.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum FormatArg {
    /// `src dst [time]` per line (SNAP edge lists): follows between masks.
    Snap,
    /// `src,dst,rating[,time]` per line (bitcoin-OTC style): ratings −10..=10.
    SnapSigned,
    /// A header naming src,dst and optionally kind,weight,time.
    Csv,
    /// DAIRA's JSONL: vertices with properties, and edges.
    Jsonl,
}

impl From<FormatArg> for Format {
    fn from(format: FormatArg) -> Format {
        match format {
            FormatArg::Snap => Format::Snap,
            FormatArg::SnapSigned => Format::SnapSigned,
            FormatArg::Csv => Format::Csv,
            FormatArg::Jsonl => Format::Jsonl,
        }
    }
}

/// What to search.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum KindArg {
    /// Worlds.
    World,
    /// Works.
    Work,
    /// Public masks.
    Mask,
    /// Governance proposals.
    Proposal,
}

/// A language of the text.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum LangArg {
    /// Arabic script (standard or Egyptian).
    Ar,
    /// English.
    En,
    /// Arabizi: Arabic in Latin letters and digits.
    Arabizi,
}

/// A synthetic community's size.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum SizeArg {
    /// A few dozen members, for tests.
    Tiny,
    /// The demo community.
    Demo,
    /// A large community, for benchmarks.
    Large,
}

impl From<SizeArg> for fixtures::Size {
    fn from(size: SizeArg) -> fixtures::Size {
        match size {
            SizeArg::Tiny => fixtures::Size::Tiny,
            SizeArg::Demo => fixtures::Size::Demo,
            SizeArg::Large => fixtures::Size::Large,
        }
    }
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Where to listen.
    #[arg(long, env = "DAIRA_LISTEN", default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
    /// Serve /healthz and /metrics here instead of beside the API (e.g. 127.0.0.1:9090, an
    /// address only operators reach).
    #[arg(long, env = "DAIRA_ADMIN_LISTEN")]
    admin_listen: Option<std::net::SocketAddr>,
    /// Keep the rate limits in this Redis (redis://host:port/db), shared by every replica, so
    /// that a client spreading requests over replicas meets one allowance (under the
    /// PostgreSQL schema's name, or `daira`). Without it each process limits on its own.
    #[arg(long, env = "DAIRA_REDIS_URL")]
    redis_url: Option<String>,
    /// Run as replica N (1 to 1023) of a PostgreSQL log that other `daira serve` processes
    /// append to as well: ids are made as node N, the log is followed (LISTEN/NOTIFY wakes it),
    /// and a commit another replica got ahead of is decided again. Needs --database-url
    /// postgres://… and the replicas' one key file (--key-file).
    #[arg(long, env = "DAIRA_REPLICA_ID", value_parser = clap::value_parser!(u16).range(1..1024))]
    replica_id: Option<u16>,
    /// Load the demo community first when the data directory is empty.
    #[arg(long)]
    demo: bool,
    /// Requests per second allowed per client IP (0: no limit).
    #[arg(long, default_value_t = 200.0)]
    rate_per_ip: f64,
    /// Requests per second allowed per session token (0: no limit).
    #[arg(long, default_value_t = 50.0)]
    rate_per_token: f64,
    /// How long a request's headers may take to arrive, in milliseconds (slow clients are cut).
    #[arg(long, default_value_t = 10_000)]
    header_timeout_ms: u64,
    /// The most connections open at once (WebSockets included: at most as many of them).
    #[arg(long, default_value_t = 10_000)]
    connections_max: usize,
    /// The most connections open at once from one address (IPv6: one /64).
    #[arg(long, default_value_t = 256)]
    connections_per_ip: usize,
    /// The most WebSockets open at once from one address (IPv6: one /64).
    #[arg(long, default_value_t = 64)]
    websockets_per_ip: usize,
    /// The most WebSockets open at once for one account.
    #[arg(long, default_value_t = 32)]
    websockets_per_user: usize,
    /// Events committed before a new score epoch is computed.
    #[arg(long, default_value_t = reputation::DEFAULT_MIN_EVENTS)]
    epoch_events: u64,
    /// The least time between two score epochs, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    epoch_interval_ms: u64,
    /// How long a session lasts, in seconds.
    #[arg(long, default_value_t = 30 * 24 * 3600)]
    session_ttl_secs: u64,
    /// How long one request may run, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    request_timeout_ms: u64,
    /// How long the handles of an erased account stay held before others may take them, in
    /// seconds (default 30 days, so that nobody can pass for an erased mask at once).
    #[arg(long, default_value_t = 30 * 24 * 3600)]
    handle_cooling_off_secs: u64,
    /// The platform's fee on sales, in basis points (250 = 2.5%; at most 2000).
    #[arg(long, default_value_t = schema::economy::FEE_BP_DEFAULT, value_parser = clap::value_parser!(u16).range(0..=2000))]
    fee_bp: u16,
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Recompute the hash chain from the log alone; exit 1 at the first bad record.
    Verify,
    /// Recompute a kept epoch from the log (replayed through its cut) and compare every score
    /// with the kept one, bit for bit; exit 1 when anything differs. Runs beside a server.
    Recompute {
        /// The epoch's number (default: the newest kept).
        #[arg(long)]
        epoch: Option<u64>,
    },
}

#[derive(Subcommand)]
enum LedgerCmd {
    /// Issue money to masks, with a reason (the operator's act, logged; run it while no
    /// server holds the data directory). Running it again with the same reason issues nothing
    /// twice.
    Issue {
        /// The mask's handle.
        #[arg(long, requires = "amount", conflicts_with = "file")]
        to: Option<String>,
        /// The amount in EGP, at most two decimals ("100.00").
        #[arg(long, requires = "to")]
        amount: Option<String>,
        /// A file of HANDLE,AMOUNT lines instead (blank lines and # comments skipped).
        #[arg(long, required_unless_present = "to")]
        file: Option<PathBuf>,
        /// Why (logged with the issuance).
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
enum MessageCmd {
    /// Make the mask's keys (or top up its one-time pre-keys) and publish them.
    Keys,
    /// Seal a message to a mask's published keys and send it.
    Send {
        /// The receiving mask's handle.
        #[arg(long)]
        to: String,
        /// The message.
        text: String,
    },
    /// Open and print the messages with a mask (or in every conversation).
    Read {
        /// The other mask's handle (default: every conversation).
        #[arg(long)]
        with: Option<String>,
    },
}

#[derive(Subcommand)]
enum GovernanceCmd {
    /// Recount a proposal from the log: a closed one from the log as it stood just before it
    /// closed (exit 1 if the recount differs from the result recorded then), an open one now.
    /// Prints the result as JSON: the same bytes on every recount.
    Tally {
        /// The proposal: its id (16 hex digits, as `daira exec` prints it) or its global id from the API.
        proposal: String,
    },
}

#[derive(Subcommand)]
enum FixturesCmd {
    /// Write a community as JSONL (and its planted truth beside it, as FILE.truth.json).
    Generate {
        /// How large a community.
        #[arg(long, value_enum, default_value_t = SizeArg::Demo)]
        size: SizeArg,
        /// Seed of the generator (same seed, same bytes).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write an R-MAT graph (Graph500 parameters, ids permuted) as a SNAP edge list.
    Rmat {
        /// 2^SCALE vertices.
        #[arg(long, default_value_t = 16)]
        scale: u32,
        /// Edges per vertex.
        #[arg(long, default_value_t = 16)]
        edge_factor: u64,
        /// Seed of the generator.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    daira::logging::init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let config =
        DataConfig { data: cli.data, database_url: cli.database_url, pg_schema: cli.pg_schema, key_file: cli.key_file };
    match cli.command {
        Cmd::Import { file, format } => import_file(&config, &file, format.into()).await?,
        Cmd::Stats { json } => {
            let engine = open_read_only(&config, &StderrProgress::new()).await?;
            let graph = engine.read();
            if json {
                println!("{}", serde_json::to_string_pretty(&daira::stats::stats_json(&graph))?);
            } else {
                print!("{}", daira::stats::stats_text(&graph));
            }
        }
        Cmd::Audit { command: AuditCmd::Recompute { epoch } } => {
            return daira::recompute::recompute(&config, epoch).await;
        }
        Cmd::Audit { command: AuditCmd::Verify } => {
            let log = config.engine().open_log().await?;
            let verdict = graph_engine::log::verify(&log).await?;
            match verdict {
                Verification::Intact { head } => {
                    println!("log intact: {} events, head {}", head.seq, hex(&head.hash));
                }
                Verification::Broken { seq, reason } => {
                    println!("log broken at sequence {seq}: {reason}");
                    return Ok(ExitCode::FAILURE);
                }
            }
            // The ledger's invariants, on the graph replayed from the log (sealed transfers
            // opened with the server's key).
            let engine = open_read_only(&config, &StderrProgress::new()).await?;
            let audit = daira::ledger::audit(&engine.read());
            println!("state hash {}", hex(&engine.read().state_hash()));
            engine.shutdown().await;
            match audit {
                Ok(summary) => println!("{summary}"),
                Err(e) => {
                    println!("ledger broken: {e}");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        Cmd::Fixtures { command: FixturesCmd::Generate { size, seed, out } } => {
            generate(size.into(), seed, &out)?;
        }
        Cmd::Fixtures { command: FixturesCmd::Rmat { scale, edge_factor, seed, out } } => {
            if !(1..=30).contains(&scale) || !(1..=64).contains(&edge_factor) {
                bail!("--scale must be 1..=30 and --edge-factor 1..=64");
            }
            let (src, dst) = fixtures::rmat(scale, edge_factor, seed);
            let file = std::fs::File::create(&out).with_context(|| format!("creating {}", out.display()))?;
            let mut writer = std::io::BufWriter::with_capacity(1 << 20, file);
            let comment =
                format!("R-MAT scale {scale} edge factor {edge_factor} seed {seed} (a=.57 b=.19 c=.19, ids permuted)");
            fixtures::write_snap(&mut writer, &src, &dst, &comment)?;
            writer.flush()?;
            println!("wrote {} edges to {}", src.len(), out.display());
        }
        Cmd::Exec => exec(&config).await?,
        Cmd::Message { server, token, as_handle, keys, command } => {
            let handle = as_handle.context("--as HANDLE: the mask you act as")?;
            let keys = keys.context("--keys FILE: your mask's key file")?;
            let session =
                daira::message::Session { client: daira_client::Client::new(&server, token)?, handle: handle.clone() };
            // Blocking HTTP off the runtime's workers.
            let shown = tokio::task::spawn_blocking(move || -> Result<String> {
                Ok(match command {
                    MessageCmd::Keys => {
                        let left = daira::message::keys(&session, &keys)?;
                        format!("published the keys of @{handle} ({left} one-time pre-keys on the server)")
                    }
                    MessageCmd::Send { to, text } => {
                        let id = daira::message::send(&session, &keys, &to, &text)?;
                        format!("sent {id}")
                    }
                    MessageCmd::Read { with } => daira::message::read(&session, &keys, with.as_deref())?
                        .into_iter()
                        .map(|m| match m.text {
                            Ok(text) => format!("{} @{}: {text}", m.sent_at, m.from),
                            Err(why) => format!("{} @{}: ({why})", m.sent_at, m.from),
                        })
                        .collect::<Vec<_>>()
                        .join("\n"),
                })
            })
            .await??;
            println!("{shown}");
        }
        Cmd::Ledger { command: LedgerCmd::Issue { to, amount, file, reason } } => {
            let grants = match (to, amount, file) {
                (Some(to), Some(amount), _) => {
                    let amount = schema::ledger::parse_egp(&amount).map_err(|e| anyhow::anyhow!("--amount: {e}"))?;
                    let handle = to.trim_start_matches('@').to_owned();
                    vec![daira::ledger::Grant { handle, amount, origin: "--to".into() }]
                }
                (_, _, Some(file)) => {
                    let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
                    daira::ledger::parse_grants(&text, &file.display().to_string()).map_err(|e| anyhow::anyhow!(e))?
                }
                _ => bail!("give --to HANDLE --amount EGP, or --file FILE"),
            };
            if reason.trim().is_empty() {
                bail!("--reason: say why the money is issued (it is logged)");
            }
            let engine = open(&config).await?;
            let result = daira::ledger::issue(&engine, &grants, reason.trim()).await;
            engine.shutdown().await;
            let report = result?;
            println!(
                "issued {} EGP in {} grants ({} already issued by an earlier run with this reason)",
                schema::ledger::format_egp(report.piastres),
                report.issued,
                report.already
            );
        }
        Cmd::Governance { command: GovernanceCmd::Tally { proposal } } => {
            return daira::governance::tally(&config, &proposal).await;
        }
        Cmd::Analyze { job, edges, format, seeds, out, verbose } => {
            let request = daira::analyze::Request { job, edges, format: format.into(), seeds, out, verbose };
            daira::analyze::run(&request)?;
        }
        Cmd::Demo => {
            load_demo(&config).await?;
            let engine = open(&config).await?;
            print!("{}", daira::stats::stats_text(&engine.read()));
            engine.shutdown().await;
        }
        Cmd::Serve(args) => serve(&config, args).await?,
        Cmd::Export { login, format, out } => match (format, login, out) {
            (ExportFormat::Parquet, _, Some(out)) => export_parquet(&config, &out).await?,
            (ExportFormat::Parquet, _, None) => anyhow::bail!("--format parquet needs --out DIR"),
            (ExportFormat::Json, _, Some(_)) => {
                anyhow::bail!("--out is for --format parquet (a user's export goes to stdout)")
            }
            (ExportFormat::Json, Some(login), None) => export(&config, &login).await?,
            (ExportFormat::Json, None, _) => {
                anyhow::bail!("a user's export needs --login (or --format parquet --out DIR)")
            }
        },
        Cmd::Migrate { serve_role } => migrate(&config, serve_role.as_deref()).await?,
        Cmd::Replicas { json } => replicas(&config, json).await?,
        Cmd::Reindex => {
            let progress = StderrProgress::new();
            let engine = open_read_only(&config, &progress).await?;
            let dir = discovery::index_dir(&config.data);
            let index = search::SearchIndex::open(&dir, search::WriterOptions::default()).map_err(|e| match e {
                search::Error::Busy => {
                    anyhow::anyhow!("a running daira process writes {}; stop it first", dir.display())
                }
                e => e.into(),
            })?;
            let started = std::time::Instant::now();
            let documents = discovery::rebuild(&engine.read(), &index, &progress)?;
            let position = engine.read().position();
            println!(
                "indexed {documents} documents in {:.2} s at log position {} ({})",
                started.elapsed().as_secs_f64(),
                position.seq,
                hex(&position.hash)
            );
        }
        Cmd::Search { query, kind, world, lang, limit, json } => {
            search_command(&config, SearchArgs { query, kind, world, lang, limit, json }).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn open(config: &DataConfig) -> Result<Engine> {
    let progress = StderrProgress::new();
    Engine::open(&config.engine(), &progress).await.with_context(|| format!("opening {}", config.data.display()))
}

/// Opens the engine without a writer: for commands that only read, beside a running writer.
async fn open_read_only(config: &DataConfig, progress: &dyn Progress) -> Result<Engine> {
    let mut engine_config = config.engine();
    engine_config.read_only = true;
    Engine::open(&engine_config, progress).await.with_context(|| format!("opening {}", config.data.display()))
}

async fn import_file(config: &DataConfig, file: &std::path::Path, format: Format) -> Result<()> {
    let engine = open(config).await?;
    let progress = StderrProgress::new();
    let parsed = {
        let graph = engine.read();
        import::parse_file(file, format, &graph, &|n| engine.new_ids(n), &progress)?
    };
    let (batch, report, explain) = parsed.into_parts();
    eprintln!(
        "parsed {} lines: {} new vertices, {} existing, {} edges ({} duplicates merged, {} self-loops skipped)",
        report.lines, report.vertices_new, report.vertices_existing, report.edges, report.duplicates, report.self_loops
    );
    progress.update("commit", 0, report.edges);
    let receipt = match engine.execute(schema::Command::Import(batch)).await {
        Ok(receipt) => receipt,
        Err(graph_engine::Error::Rejected(rejection)) => bail!(explain.explain(rejection)),
        Err(e) => return Err(e.into()),
    };
    progress.update("commit", report.edges, report.edges);
    let index = discovery::open_index(&discovery::index_dir(&config.data))?;
    discovery::catch_up(&engine, &index, &progress).await?;
    println!(
        "imported {}: {} vertices, {} edges as events {}..={} (head {})",
        file.display(),
        report.vertices_new,
        report.edges,
        receipt.first_seq,
        receipt.last_seq,
        hex(&receipt.hash)
    );
    engine.shutdown().await;
    Ok(())
}

fn generate(size: fixtures::Size, seed: u64, out: &std::path::Path) -> Result<()> {
    let file = std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut writer = std::io::BufWriter::new(file);
    let truth = fixtures::generate(size, seed, &mut writer).with_context(|| format!("writing {}", out.display()))?;
    writer.flush()?;
    let truth_path = PathBuf::from(format!("{}.truth.json", out.display()));
    std::fs::write(&truth_path, serde_json::to_vec_pretty(&truth)?)
        .with_context(|| format!("writing {}", truth_path.display()))?;
    println!("wrote {} and {}", out.display(), truth_path.display());
    Ok(())
}

/// The most commands `daira exec` has in flight (submitted, not yet acknowledged).
const EXEC_IN_FLIGHT_MAX: usize = graph_engine::WRITE_QUEUE_MAX / 2;

async fn exec(config: &DataConfig) -> Result<()> {
    let engine = open(config).await?;
    // The rules judge privileges and REPUTATION weights by the latest epoch a server kept.
    reputation::Epochs::open_for(&engine, &config.data.join("epochs"), 1).await?;
    // Lines are read on their own thread; commands are submitted in line order as they come
    // (so a script that pipes many lines gets group commits), and answered in line order, each
    // once durable. A script that waits for each answer before writing the next line sees
    // exactly one command at a time.
    let (lines_tx, mut lines) = tokio::sync::mpsc::channel::<std::io::Result<String>>(EXEC_IN_FLIGHT_MAX);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            if lines_tx.blocking_send(line).is_err() {
                return;
            }
        }
    });
    type Answer = std::pin::Pin<Box<dyn Future<Output = String> + Send>>;
    let mut in_flight: std::collections::VecDeque<Answer> = std::collections::VecDeque::new();
    let mut stdout = std::io::stdout().lock();
    let mut n = 0usize;
    let mut open_input = true;
    let (mut answered, mut acknowledged) = (0u64, 0u64);
    let mut started: Option<std::time::Instant> = None;
    loop {
        // Take what has arrived, without waiting while answers are due.
        while open_input && in_flight.len() < EXEC_IN_FLIGHT_MAX {
            let next = if in_flight.is_empty() {
                lines.recv().await
            } else {
                match lines.try_recv() {
                    Ok(line) => Some(line),
                    Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
                    Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => None,
                }
            };
            let Some(line) = next else {
                open_input = false;
                break;
            };
            let line = line?;
            n += 1;
            if line.trim().is_empty() {
                continue;
            }
            started.get_or_insert_with(std::time::Instant::now);
            let line_no = n;
            let answer: Answer = match daira::exec::parse_line(&line, &engine) {
                Err(e) => Box::pin(std::future::ready(format!("error line={line_no}: {e}"))),
                Ok(parsed) => match engine.submit(parsed.command) {
                    Err(e) => Box::pin(std::future::ready(format!("error line={line_no}: {e}"))),
                    Ok(receipt) => {
                        let created = parsed.created.map(|id| format!(" id={id}")).unwrap_or_default();
                        Box::pin(async move {
                            match receipt.await {
                                Ok(r) => format!("ok seq={} hash={}{created}", r.last_seq, hex(&r.hash)),
                                Err(graph_engine::Error::Rejected(r)) => format!("rejected line={line_no}: {r}"),
                                Err(e) => format!("error line={line_no}: {e}"),
                            }
                        })
                    }
                },
            };
            in_flight.push_back(answer);
        }
        let Some(front) = in_flight.pop_front() else {
            if open_input {
                continue;
            }
            break;
        };
        let answer = front.await;
        answered += 1;
        acknowledged += u64::from(answer.starts_with("ok "));
        writeln!(stdout, "{answer}")?;
        stdout.flush()?;
    }
    stdout.flush()?;
    if let Some(started) = started {
        // What the commands alone took, beside what the whole process took (open and replay).
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "exec: {answered} commands, {acknowledged} acknowledged, {} refused or bad, in {secs:.3} s ({:.0}/s)",
            answered - acknowledged,
            answered as f64 / secs.max(1e-9)
        );
    }
    engine.shutdown().await;
    Ok(())
}

async fn serve(config: &DataConfig, args: ServeArgs) -> Result<()> {
    if args.demo {
        load_demo(config).await?;
    }
    let limits = api::http::Limits {
        per_ip_per_sec: args.rate_per_ip,
        per_token_per_sec: args.rate_per_token,
        request_timeout: std::time::Duration::from_millis(args.request_timeout_ms.max(1)),
        websockets_per_ip: args.websockets_per_ip.max(1),
        websockets_per_user: args.websockets_per_user.max(1),
        websockets_max: args.connections_max.max(1) as u64,
        ..api::http::Limits::default()
    };
    let mut engine = config.engine();
    if let Some(id) = args.replica_id {
        let postgres = config
            .database_url
            .as_deref()
            .is_some_and(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"));
        if !postgres {
            anyhow::bail!("--replica-id needs --database-url postgres://…: replicas share one PostgreSQL log");
        }
        engine.node = id;
        engine.follow = true;
    }
    let serve = api::ServeConfig {
        engine,
        listen: args.listen,
        admin_listen: args.admin_listen,
        key_file: config.key_file.clone(),
        limits,
        connections: api::listen::ConnectionLimits {
            header_timeout: std::time::Duration::from_millis(args.header_timeout_ms.max(1)),
            connections_max: args.connections_max.max(1),
            connections_per_ip: args.connections_per_ip.max(1),
        },
        epochs: reputation::RecomputePolicy {
            min_events: args.epoch_events.max(1),
            min_interval: std::time::Duration::from_millis(args.epoch_interval_ms),
            ..reputation::RecomputePolicy::default()
        },
        session_ttl: std::time::Duration::from_secs(args.session_ttl_secs.max(1)),
        handle_cooling_off: std::time::Duration::from_secs(args.handle_cooling_off_secs),
        fee_bp: args.fee_bp,
        redis_url: args.redis_url,
    };
    api::serve(serve, &StderrProgress::new(), |addr, admin| {
        if let Some(admin) = admin {
            println!("admin on http://{admin}/metrics");
        }
        println!("listening on http://{addr}/graphql");
        let _ = std::io::stdout().flush();
    })
    .await
}

/// What `daira export` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ExportFormat {
    /// A user's data, signed (with --login).
    Json,
    /// The graph, as Parquet files (with --out).
    Parquet,
}

/// `daira export --format parquet --out DIR`: the graph for Spark and friends.
async fn export_parquet(config: &DataConfig, out: &std::path::Path) -> Result<()> {
    let engine = open_read_only(config, &StderrProgress::new()).await?;
    let started = std::time::Instant::now();
    let written = {
        let graph = engine.read();
        daira::parquet_export::export(&graph, out)?
    };
    engine.shutdown().await;
    eprintln!(
        "wrote {} vertices and {} edges to {} in {:.2} s",
        written.vertices,
        written.edges,
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `daira export --login`: what exportMyData gives the user, for an operator.
async fn export(config: &DataConfig, login: &str) -> Result<()> {
    // A reader: it runs beside a server that holds the data directory, as `stats` does.
    let engine = open_read_only(config, &StderrProgress::new()).await?;
    let auth = api::auth::AuthStore::open(
        &config.data,
        config.database_url.as_deref(),
        config.pg_schema.as_deref(),
        std::time::Duration::from_secs(3600),
    )
    .await
    .context("opening the account store")?;
    let Some(user) = auth.user_of_login(login).await? else { anyhow::bail!("no account has the login {login:?}") };
    let key_file = config.key_file.clone().unwrap_or_else(|| config.data.join(api::keys::DEFAULT_FILE));
    let keys = api::keys::Keys::load(&key_file, &auth).await?;
    let ids = api::ids::GlobalIds::new(keys.id_key());
    let login = auth.login_of(user).await?.unwrap_or_default();
    let signed = {
        let graph = engine.read();
        api::export::signed(&graph, &ids, &keys, &login, user).map_err(anyhow::Error::msg)?
    };
    engine.shutdown().await;
    let out =
        serde_json::json!({"document": signed.document, "signature": signed.signature, "publicKey": signed.public_key});
    println!("{out}");
    Ok(())
}

/// `daira migrate`: the PostgreSQL schemas, tables and server role.
/// `daira replicas`: the replicas table beside the log's head.
async fn replicas(config: &DataConfig, json: bool) -> Result<()> {
    let Some(url) =
        config.database_url.as_deref().filter(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"))
    else {
        anyhow::bail!("replicas share a PostgreSQL log: give --database-url postgres://… (and --pg-schema)");
    };
    let head = LogReader::head(&config.engine().open_log().await?).await?.seq;
    let seen = api::replica::list(url, config.pg_schema.as_deref()).await.context("reading the replicas table")?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let up = |s: &api::replica::Seen| now - s.seen_ms < 5_000;
    if json {
        let rows: Vec<serde_json::Value> = seen
            .iter()
            .map(|s| {
                serde_json::json!({
                    "id": s.id, "listen": s.listen, "applied_seq": s.applied_seq,
                    "lag": head.saturating_sub(s.applied_seq), "leader": s.leader && up(s),
                    "up": up(s), "seen_ms_ago": now - s.seen_ms, "started_ms": s.started_ms,
                })
            })
            .collect();
        println!("{}", serde_json::json!({"log_head": head, "replicas": rows}));
        return Ok(());
    }
    println!("log head {head}");
    println!(
        "{:>4}  {:<22} {:>12} {:>8}  {:<6} {:<5} {:>10}",
        "id", "listen", "applied", "lag", "epochs", "up", "seen"
    );
    for s in &seen {
        println!(
            "{:>4}  {:<22} {:>12} {:>8}  {:<6} {:<5} {:>9.1}s",
            s.id,
            s.listen,
            s.applied_seq,
            head.saturating_sub(s.applied_seq),
            if s.leader && up(s) { "leads" } else { "" },
            if up(s) { "yes" } else { "no" },
            (now - s.seen_ms) as f64 / 1e3
        );
    }
    Ok(())
}

async fn migrate(config: &DataConfig, serve_role: Option<&str>) -> Result<()> {
    let Some(url) =
        config.database_url.as_deref().filter(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"))
    else {
        println!(
            "nothing to migrate: a SQLite data directory makes its tables on first use (migrate is for --database-url postgres://…)"
        );
        return Ok(());
    };
    let schema = config.pg_schema.as_deref();
    graph_engine::log::migrate_postgres(url, schema, serve_role).await.context("the log's schema")?;
    api::auth::migrate_postgres(url, schema, serve_role).await.context("the accounts' schema")?;
    println!(
        "migrated: the log in {}, the accounts in {}{}",
        schema.unwrap_or("the search_path"),
        api::auth::accounts_schema(schema),
        serve_role
            .map(|r| format!("; role {r} may read and append events, and read and change accounts"))
            .unwrap_or_default()
    );
    Ok(())
}

/// Generates and imports the demo community into an empty data directory.
async fn load_demo(config: &DataConfig) -> Result<()> {
    let fresh = {
        let log = config.engine().open_log().await?;
        log.head().await?.seq == 0
    };
    if fresh {
        std::fs::create_dir_all(&config.data)?;
        let path = config.data.join("demo.jsonl");
        generate(fixtures::Size::Demo, 1, &path)?;
        import_file(config, &path, Format::Jsonl).await?;
        // Its first epoch (kept for the server), then its governance, judged by that epoch.
        let engine = open(config).await?;
        let (epochs, _) = reputation::Epochs::open(&config.data.join("epochs"), reputation::DEFAULT_EPOCHS_KEPT)?;
        reputation::compute_now(&engine, &epochs, &reputation::RecomputePolicy::default())?;
        daira::demo::govern(&engine).await?;
        daira::demo::trade(&engine).await?;
        daira::demo::talk(&engine).await?;
        engine.shutdown().await;
        eprintln!(
            "the demo's first world has rules, proposals of every method, delegations, cases and a jury's verdict; \
             its members have balances, and its works are listed and traded; its worlds have threads"
        );
    } else {
        eprintln!("{} already holds data: using it", config.data.display());
    }
    Ok(())
}

/// `daira search`'s arguments.
struct SearchArgs {
    query: String,
    kind: Option<KindArg>,
    world: Option<String>,
    lang: Option<LangArg>,
    limit: usize,
    json: bool,
}

async fn search_command(config: &DataConfig, args: SearchArgs) -> Result<()> {
    let SearchArgs { query, kind, world, lang, limit, json } = args;
    let mut request = search::Request::new(query);
    request.limit = limit;
    request.kind = kind.map(|k| match k {
        KindArg::World => search::DocKind::World,
        KindArg::Work => search::DocKind::Work,
        KindArg::Mask => search::DocKind::Mask,
        KindArg::Proposal => search::DocKind::Proposal,
    });
    request.lang = lang.map(|l| match l {
        LangArg::Ar => search::Lang::Ar,
        LangArg::En => search::Lang::En,
        LangArg::Arabizi => search::Lang::Arabizi,
    });
    let progress = StderrProgress::new();
    let engine = open_read_only(config, &progress).await?;
    if let Some(w) = world {
        let graph = engine.read();
        let v = graph
            .index_of_external(&w)
            .or_else(|| w.parse::<schema::Id>().ok().and_then(|id| graph.index_of(id)))
            .filter(|&v| graph.kind_at(v) == schema::VertexKind::World)
            .with_context(|| format!("--world {w:?}: no such world"))?;
        request.world = Some(graph.id_at(v));
    }
    let index = discovery::open_index(&discovery::index_dir(&config.data))?;
    if discovery::catch_up(&engine, &index, &progress).await? == discovery::CatchUp::Behind {
        eprintln!("note: the search index is behind the log; the process that writes it is catching up");
    }
    let priors = discovery::priors_now(&engine.read())?;
    let hits = index.search(&request, &priors, &search::Blend::default())?;
    let id_of = |hit: &search::Hit| hit.external.clone().unwrap_or_else(|| hit.id.to_string());
    if json {
        let rows: Vec<serde_json::Value> = hits
            .iter()
            .map(|h| serde_json::json!({"id": id_of(h), "kind": h.kind.as_str(), "title": h.title, "score": h.score}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else if hits.is_empty() {
        println!("no hits");
    } else {
        for (rank, h) in hits.iter().enumerate() {
            println!("{:>3}. {:<5} {:<18} {:.3}  {}", rank + 1, h.kind.as_str(), id_of(h), h.score, h.title);
        }
    }
    Ok(())
}
