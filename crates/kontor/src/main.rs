//! `kontor` — the one binary: Financials, Sales and the integration.
//!
//! | command | what |
//! |---|---|
//! | `kontor up` | everything in one process on SQLite under `./kontor-data` (see [`up`]) |
//! | `kontor financials serve --db … --listen …` | the Financials API (and the integration's JSON API) |
//! | `kontor sales serve --db … --listen …` | the Sales (Dataverse-shaped) API |
//! | `kontor worker --db … --data …` | integration workers on a shared database (credentials sealed in it) |
//! | `kontor setup --financials URL --sales URL …` | connection setup against running services |
//! | `kontor sync full [--wait]`, `sync status`, `sync now [MAPPING]` | full and incremental synchronization |
//! | `kontor couple MAPPING …`, `kontor uncouple MAPPING …` | couplings by hand or by matching |
//! | `kontor bench sync --records N` | the synchronization benchmark (built with `--features bench`) |
//! | `kontor bench soak --minutes M --rate R` | the soak benchmark: changes on both sides, lag and RSS (`--features bench`) |
//! | `kontor bench pages --customers N` | the web client's page latency (built with `--features bench`) |

/// mimalloc rather than the system allocator: every request builds and drops many small JSON maps
/// and strings, and glibc's malloc spent a quarter of the synchronization benchmark's CPU on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "bench")]
mod bench;
mod config;
mod demo;
mod integration_cli;
mod listen;
mod private;
mod serve;
mod stack;
mod telemetry;
mod up;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "kontor",
    version,
    about = "Kontor: Financials, Sales and the integration between them"
)]
struct Cli {
    /// A TOML file of settings: each flag's key is named beside it (`[config: …]`, a dotted
    /// key is a table's: `sales.url` is `url` under `[sales]`). Order: the defaults < this file
    /// < the environment variables < the flags.
    #[arg(long, global = true, env = "KONTOR_CONFIG", value_name = "PATH")]
    config: Option<std::path::PathBuf>,
    /// How log lines are written to stderr: `text` (for people; colours only on a terminal) or
    /// `json` (one JSON object a line, for machines). `RUST_LOG` sets the levels.
    /// [env: KONTOR_LOG_FORMAT] [config: log_format] [default: text]
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Financials, Sales and the integration in one process, with demo data on first start.
    Up(up::UpArgs),
    /// The Financials service.
    Financials {
        #[command(subcommand)]
        what: ServeCommand,
    },
    /// The Sales service.
    Sales {
        #[command(subcommand)]
        what: SalesCommand,
    },
    /// Integration workers on a shared (PostgreSQL) database.
    Worker(serve::WorkerArgs),
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
    /// The integration's command line (`setup`, `sync`, `couple`, `uncouple`): a client of
    /// Financials' `/integration/v1` routes.
    #[command(flatten)]
    Integration(integration_cli::Command),
}

#[derive(Debug, Subcommand)]
enum ServeCommand {
    /// Serve the API.
    Serve(serve::ServeArgs),
}

#[derive(Debug, Subcommand)]
enum SalesCommand {
    /// Serve the API.
    Serve(serve::SalesServeArgs),
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// The synchronization benchmark: full sync vs one request per record vs a raw copy.
    #[cfg(feature = "bench")]
    Sync(bench::BenchArgs),
    /// The web client's latency: every page on a company with N customers (p50/p95/p99/max).
    #[cfg(feature = "bench")]
    Pages(bench::pages::PagesArgs),
    /// The synchronization benchmark (this binary was built without it: see the message).
    #[cfg(not(feature = "bench"))]
    Sync {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        args: Vec<String>,
    },
    /// The soak benchmark: R changes a second on each side for M minutes; lag and RSS.
    #[cfg(feature = "bench")]
    Soak(bench::soak::SoakArgs),
    /// The soak benchmark (this binary was built without it: see the message).
    #[cfg(not(feature = "bench"))]
    Soak {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        args: Vec<String>,
    },
}

/// Logs to stderr at `default` level unless `RUST_LOG` says otherwise, as `format` says; no
/// colour codes when stderr is not a terminal.
fn init_tracing(format: LogFormat, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => {
            builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init()
        }
    }
}

impl Cli {
    /// The flags given, each with the setting it sets (see [`config`]).
    fn flags(&self) -> config::Flags {
        let mut f = config::Flags::default();
        f.set("log_format", "--log-format", self.log_format);
        match &self.command {
            Command::Up(args) => args.flags(&mut f),
            Command::Financials { what: ServeCommand::Serve(args) } => {
                args.flags(&mut f, serve::Side::Financials)
            }
            Command::Sales { what: SalesCommand::Serve(args) } => args.flags(&mut f),
            Command::Worker(args) => args.flags(&mut f),
            Command::Integration(cmd) => cmd.flags(&mut f),
            Command::Bench { .. } => {}
        }
        f
    }
}

fn main() -> anyhow::Result<()> {
    // Every file this process creates (databases, keys, credentials) is its owner's only.
    private::restrict_umask();
    let cli = Cli::parse();
    // Every setting is checked before anything starts; a wrong one names its source.
    let settings = match config::load(cli.config.as_deref(), cli.flags()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("Error: {e}");
            std::process::exit(2);
        }
    };
    let log_format = settings.log_format.unwrap_or(LogFormat::Text);
    let init_tracing = |default: &str| init_tracing(log_format, default);
    let rt = tokio::runtime::Runtime::new()?;
    match cli.command {
        Command::Up(args) => {
            // What the integration does (and every failed run) is seen by default.
            init_tracing("info");
            rt.block_on(up::run(args, settings))
        }
        Command::Financials { what: ServeCommand::Serve(_) } => {
            init_tracing("info");
            rt.block_on(serve::financials_serve(settings))
        }
        Command::Sales { what: SalesCommand::Serve(_) } => {
            init_tracing("info");
            rt.block_on(serve::sales_serve(settings))
        }
        Command::Worker(_) => {
            init_tracing("info");
            rt.block_on(serve::worker(settings))
        }
        #[cfg(not(feature = "bench"))]
        Command::Bench { what: BenchCommand::Sync { .. } } => anyhow::bail!(
            "this kontor was built without the benchmark: run it with \
             `cargo run --release -p kontor --features bench -- bench sync …`"
        ),
        #[cfg(feature = "bench")]
        Command::Bench { what: BenchCommand::Sync(args) } => {
            init_tracing("warn");
            let json = args.json;
            let report = rt.block_on(bench::run(args))?;
            if json {
                eprint!("{}", report.table());
                println!("{}", serde_json::to_string(&report)?);
            } else {
                report.print_table();
            }
            Ok(())
        }
        #[cfg(not(feature = "bench"))]
        Command::Bench { what: BenchCommand::Soak { .. } } => anyhow::bail!(
            "this kontor was built without the benchmark: run it with \
             `cargo run --release -p kontor --features bench -- bench soak …`"
        ),
        #[cfg(feature = "bench")]
        Command::Bench { what: BenchCommand::Soak(args) } => {
            init_tracing("warn");
            let json = args.json;
            let report = rt.block_on(bench::soak::run(args))?;
            if json {
                eprint!("{}", report.table());
                println!("{}", serde_json::to_string(&report)?);
            } else {
                print!("{}", report.table());
            }
            Ok(())
        }
        #[cfg(feature = "bench")]
        Command::Bench { what: BenchCommand::Pages(args) } => {
            init_tracing("warn");
            let json = args.json;
            let report = rt.block_on(bench::pages::run(args))?;
            if json {
                eprint!("{}", report.table());
                println!("{}", serde_json::to_string(&report)?);
            } else {
                print!("{}", report.table());
            }
            Ok(())
        }
        Command::Integration(cmd) => {
            init_tracing("warn");
            rt.block_on(integration_cli::run(cmd, settings))
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory as _, Parser as _};

    use super::{Cli, LogFormat};

    #[test]
    fn the_log_format_is_a_global_flag_left_to_the_settings_when_not_given() {
        Cli::command().debug_assert();
        // (arguments, the flag's value — None when not given —, or None when refused)
        let cases: [(&[&str], Option<Option<LogFormat>>); 5] = [
            (&["kontor", "up"], Some(None)),
            (&["kontor", "--log-format", "json", "up"], Some(Some(LogFormat::Json))),
            (&["kontor", "up", "--log-format", "json"], Some(Some(LogFormat::Json))),
            (&["kontor", "sync", "status", "--log-format", "text"], Some(Some(LogFormat::Text))),
            (&["kontor", "--log-format", "xml", "up"], None),
        ];
        for (args, expected) in cases {
            let got = Cli::try_parse_from(args).ok().map(|c| c.log_format);
            assert_eq!(got, expected, "{args:?}");
        }
    }
}
