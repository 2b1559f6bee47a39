//! `kontor` — the one binary: Financials, Sales and the integration.

mod bench;
mod demo;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "kontor",
    version,
    about = "Kontor: Financials, Sales and the integration between them"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// The synchronization benchmark: full sync vs one request per record vs a raw copy.
    Sync(bench::BenchArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Bench { what: BenchCommand::Sync(args) }) => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
                )
                .with_writer(std::io::stderr)
                .init();
            let json = args.json;
            let report = tokio::runtime::Runtime::new()?.block_on(bench::run(args))?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                report.print_table();
            }
        }
        None => {
            let data = demo::generate(&demo::Spec::DEMO);
            println!(
                "kontor: demo data set of {} records ready; services are being wired in",
                data.record_count()
            );
        }
    }
    Ok(())
}
