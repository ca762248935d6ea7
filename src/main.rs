//! The `rivulet` command line.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rivulet::config::BrokerConfig;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "rivulet",
    version,
    about = "A single-node, Kafka-compatible event-log broker",
    after_help = TOOLS_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The tools are dispatched before clap sees the command line; this only tells of them.
const TOOLS_HELP: &str = "Kafka's command-line tools: rivulet TOOL [ARGS], or the binary called as kafka-TOOL.sh:
  topics, console-producer, console-consumer, consumer-groups, configs, get-offsets,
  delete-records, producer-perf-test, consumer-perf-test";

#[derive(Subcommand)]
enum Command {
    /// Run the broker.
    Serve(ServeArgs),
    /// List the Kafka tool names this binary answers as (`kafka-topics`, ...), one a line,
    /// for installing links to it.
    Tools,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// TOML file of Kafka config keys (dotted keys may nest as tables).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on (Kafka: listeners). Port 0 picks a free port.
    #[arg(long, value_name = "HOST:PORT")]
    listen: Option<String>,
    /// Address clients are told to connect to (Kafka: advertised.listeners); defaults to the listen address.
    #[arg(long, value_name = "HOST:PORT")]
    advertise: Option<String>,
    /// Data directory (Kafka: log.dirs).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Set a config key; may be repeated.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Log level or filter (overridden by RUST_LOG).
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    log_level: String,
}

/// Defaults, then the file, then `--set`, then `RIVULET_*` variables, then the dedicated flags.
fn load_config(args: &ServeArgs) -> Result<BrokerConfig, String> {
    let mut config = BrokerConfig::default();
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        config
            .merge_toml(&text)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    for kv in &args.set {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("--set expects KEY=VALUE, got '{kv}'"))?;
        config.set(k.trim(), v).map_err(|e| e.to_string())?;
    }
    config.merge_env(std::env::vars()).map_err(|e| e.to_string())?;
    if let Some(listen) = &args.listen {
        config.set("listeners", listen).map_err(|e| e.to_string())?;
    }
    if let Some(advertise) = &args.advertise {
        config
            .set("advertised.listeners", advertise)
            .map_err(|e| e.to_string())?;
    }
    if let Some(dir) = &args.data_dir {
        config
            .set("log.dirs", &dir.display().to_string())
            .map_err(|e| e.to_string())?;
    }
    // Refuse malformed addresses at start rather than at bind time.
    config.listen_addr().map_err(|e| e.to_string())?;
    config.advertised().map_err(|e| e.to_string())?;
    Ok(config)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot watch SIGTERM");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("received SIGTERM"),
        _ = tokio::signal::ctrl_c() => tracing::info!("received SIGINT"),
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    if let Some(status) = rivulet::tools::dispatch(&argv) {
        return ExitCode::from(u8::try_from(status).unwrap_or(1));
    }
    let cli = Cli::parse();
    let args = match cli.command {
        Command::Serve(args) => args,
        Command::Tools => {
            for (name, _) in rivulet::tools::TOOLS {
                println!("kafka-{name}");
            }
            return ExitCode::SUCCESS;
        }
    };
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&args.log_level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let config = match load_config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rivulet: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rivulet: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(rivulet::broker::run(config, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("rivulet: {e:#}");
            ExitCode::FAILURE
        }
    }
}
