//! Kafka's command-line tools, without a JVM. The `rivulet` binary answers as a tool when it
//! is called by the tool's name (`kafka-topics.sh`, `kafka-topics`, through a symlink) or as
//! `rivulet topics ...`. The tools are clients of the wire protocol only (they use nothing of
//! the broker), so they work against any Kafka-protocol broker, and print what the Java tools
//! print.

pub mod admin;
pub mod args;
pub mod client;
pub mod configs;
pub mod console_consumer;
pub mod console_producer;
pub mod consumer;
pub mod consumer_groups;
pub mod delete_records;
pub mod describe_group;
pub mod errors;
pub mod get_offsets;
pub mod group;
pub mod perf_test;
pub mod producer;
pub mod records;
pub mod reset_offsets;
pub mod topics;

use std::sync::atomic::{AtomicBool, Ordering};

use args::{Opt, Parsed};

/// A tool's entry point: its arguments (without the program name), its exit status.
type Main = fn(&[String]) -> i32;

/// The tools by their short name; `kafka-<name>.sh`, `kafka-<name>` and `rivulet <name>`
/// all reach them.
pub const TOOLS: &[(&str, Main)] = &[
    ("topics", topics::main),
    ("console-producer", console_producer::main),
    ("console-consumer", console_consumer::main),
    ("consumer-groups", consumer_groups::main),
    ("configs", configs::main),
    ("get-offsets", get_offsets::main),
    ("delete-records", delete_records::main),
    ("producer-perf-test", perf_test::producer_main),
    ("consumer-perf-test", perf_test::consumer_main),
];

/// The tool called for: by the program's own name, else by the first argument. `None`
/// when the command line is not a tool's (the broker's own commands).
pub fn dispatch(argv: &[String]) -> Option<i32> {
    let program = argv.first().map(|p| p.rsplit('/').next().unwrap_or(p)).unwrap_or("");
    if let Some(tool) = find(program) {
        return Some(tool(&argv[1..]));
    }
    let tool = find(argv.get(1)?)?;
    Some(tool(&argv[2..]))
}

fn find(name: &str) -> Option<Main> {
    let short = name.strip_suffix(".sh").unwrap_or(name);
    let short = short.strip_prefix("kafka-").unwrap_or(short);
    TOOLS.iter().find(|(n, _)| *n == short).map(|(_, m)| *m)
}

/// Parses a tool's command line; on an error prints it with the option table, as
/// jopt-simple does, and gives the exit status.
pub fn parse_or_usage(opts: &[Opt], args: &[String], about: &str) -> Result<Parsed, i32> {
    let parsed = match args::parse(opts, args) {
        Ok(p) => p,
        Err(e) => return Err(usage_error(opts, about, &e)),
    };
    if parsed.has("help") || args.is_empty() {
        println!("{about}");
        print!("{}", args::usage(opts));
        return Err(if parsed.has("help") { 0 } else { 1 });
    }
    if parsed.has("version") {
        println!("{} (rivulet)", env!("CARGO_PKG_VERSION"));
        return Err(0);
    }
    Ok(parsed)
}

/// Prints `message` and the option table on stderr; the exit status of a usage error.
pub fn usage_error(opts: &[Opt], about: &str, message: &str) -> i32 {
    eprintln!("{message}");
    eprintln!("{about}");
    eprint!("{}", args::usage(opts));
    1
}

/// `--bootstrap-server`, which every tool requires (jopt-simple's wording when missing).
pub fn bootstrap<'a>(parsed: &'a Parsed, opts: &[Opt], about: &str) -> Result<&'a str, i32> {
    parsed
        .value("bootstrap-server")
        .ok_or_else(|| usage_error(opts, about, "Missing required argument \"[bootstrap-server]\""))
}

/// A tool's options parsed, with `--bootstrap-server` present; else the exit status of a
/// usage error.
pub fn start_tool(opts: &[Opt], about: &str, args: &[String]) -> Result<Parsed, i32> {
    let parsed = parse_or_usage(opts, args, about)?;
    bootstrap(&parsed, opts, about)?;
    Ok(parsed)
}

/// The start every admin tool shares: its options parsed, exactly one of `actions` given
/// (else `actions_message`), `--bootstrap-server` present, `check` passed. Gives the options
/// or the exit status of a usage error.
pub fn start_admin(
    opts: &[Opt],
    about: &str,
    args: &[String],
    actions: &[&str],
    actions_message: &str,
    check: fn(&Parsed) -> Result<(), String>,
) -> Result<Parsed, i32> {
    let parsed = parse_or_usage(opts, args, about)?;
    if actions.iter().filter(|a| parsed.has(a)).count() != 1 {
        return Err(usage_error(opts, about, actions_message));
    }
    bootstrap(&parsed, opts, about)?;
    check(&parsed).map_err(|e| usage_error(opts, about, &e))?;
    Ok(parsed)
}

/// The admin client of a tool started by [`start_admin`].
pub fn admin_client(parsed: &Parsed) -> anyhow::Result<client::Client> {
    command_config(parsed, "command-config").map_err(anyhow::Error::msg)?;
    client::Client::connect(parsed.value("bootstrap-server").unwrap_or_default(), "adminclient-1")
}

/// `--command-config`: the client properties this implementation can honour. Security
/// settings (SASL, TLS) are refused, since the client speaks plaintext only.
pub fn command_config(parsed: &Parsed, option: &str) -> Result<Vec<(String, String)>, String> {
    let Some(path) = parsed.value(option) else {
        return Ok(Vec::new());
    };
    let props = args::properties_file(path)?;
    for (k, v) in &props {
        let plain = k == "security.protocol" && v.eq_ignore_ascii_case("PLAINTEXT");
        if !plain && (k.starts_with("security.") || k.starts_with("sasl.") || k.starts_with("ssl.")) {
            return Err(format!(
                "{path}: {k} is not supported: these tools connect with PLAINTEXT only"
            ));
        }
    }
    Ok(props)
}

/// The options every tool takes.
pub const HELP: Opt = args::flag("help", "Print usage information.");
pub const VERSION: Opt = args::flag("version", "Display Kafka version.");

/// Java's `Pattern.matches` of a topic list option (`IncludeList`): commas separate
/// alternatives, spaces and surrounding quotes are dropped, the whole name must match.
pub fn include_list(raw: &str) -> Result<regex::Regex, String> {
    let cleaned = raw
        .trim()
        .replace(',', "|")
        .replace(' ', "")
        .trim_start_matches(['"', '\''])
        .trim_end_matches(['"', '\''])
        .to_string();
    regex::Regex::new(&format!("^(?:{cleaned})$")).map_err(|e| format!("{raw} is an invalid regex: {e}"))
}

/// Set by SIGINT or SIGTERM: a long-running tool stops as the Java tools' shutdown hooks
/// stop them (a consumer commits and leaves its group, a producer sends what it read).
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

pub fn install_stop_handler() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
}

pub fn stopped() -> bool {
    STOP.load(Ordering::SeqCst)
}
