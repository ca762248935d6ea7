//! `kafka-get-offsets.sh`: `topic:partition:offset` for the partitions a filter selects, at
//! the latest, earliest, max-timestamp or a given time.

use std::collections::BTreeSet;

use anyhow::{Result, bail};

use super::args::{Opt, Parsed, flag, valued};
use super::client::{self, Client};
use super::consumer;

const ABOUT: &str = "An interactive shell for getting topic-partition offsets.";

const OPTS: &[Opt] = &[
    valued(
        "bootstrap-server",
        "String: HOST1:PORT1,...,HOST3:PORT3",
        "REQUIRED. The server(s) to connect to in the form HOST1:PORT1,HOST2:PORT2.",
    ),
    valued(
        "broker-list",
        "String: HOST1:PORT1,...,HOST3:PORT3",
        "DEPRECATED, use --bootstrap-server instead; ignored if --bootstrap-server is specified.",
    ),
    valued(
        "command-config",
        "String: config file",
        "Property file containing configs to be passed to Admin Client.",
    ),
    flag(
        "exclude-internal-topics",
        "By default, internal topics are included. If specified, internal topics are excluded.",
    ),
    super::HELP,
    valued(
        "partitions",
        "String: partition ids",
        "Comma separated list of partition ids to get the offsets for. If not present, all partitions of the authorized topics are queried.",
    ),
    valued(
        "time",
        "String: <timestamp> / -1 or latest / -2 or earliest / -3 or max-timestamp",
        "timestamp of the offsets before that. (default: latest)",
    ),
    valued(
        "topic",
        "String: topic",
        "The topic to get the offsets for. It also accepts a regular expression.",
    ),
    valued(
        "topic-partitions",
        "String: topic1:1,topic2:0-3,topic3,topic4:5-,topic5:-3",
        "Comma separated list of topic-partition patterns to get the offsets for.",
    ),
    super::VERSION,
];

/// A partition filter: `N`, `N-M` (M excluded), `N-` or `-M`.
#[derive(Debug, Clone)]
enum PartitionFilter {
    One(i32),
    Range(i32, i32),
}

impl PartitionFilter {
    fn parse(s: &str) -> Result<PartitionFilter, String> {
        let bad = || format!("Invalid partition range: '{s}'");
        match s.split_once('-') {
            None => s.trim().parse().map(PartitionFilter::One).map_err(|_| bad()),
            Some((a, b)) => {
                let lo = if a.is_empty() {
                    0
                } else {
                    a.trim().parse().map_err(|_| bad())?
                };
                let hi = if b.is_empty() {
                    i32::MAX
                } else {
                    b.trim().parse().map_err(|_| bad())?
                };
                Ok(PartitionFilter::Range(lo, hi))
            }
        }
    }

    fn matches(&self, p: i32) -> bool {
        match *self {
            PartitionFilter::One(n) => p == n,
            PartitionFilter::Range(lo, hi) => p >= lo && p < hi,
        }
    }
}

/// A topic pattern (regex, none for all topics) with partition filters (none for all).
type Selector = (Option<regex::Regex>, Vec<PartitionFilter>);

fn selectors(p: &Parsed) -> Result<Vec<Selector>, String> {
    if let Some(tp) = p.value("topic-partitions") {
        if p.has("topic") || p.has("partitions") {
            return Err("Option topic-partitions cannot be used with --topic or --partitions".into());
        }
        return tp
            .split(',')
            .map(|item| {
                let (topic, parts) = match item.split_once(':') {
                    Some((t, ps)) => (t, vec![PartitionFilter::parse(ps)?]),
                    None => (item, Vec::new()),
                };
                let re = if topic.is_empty() {
                    None
                } else {
                    Some(super::include_list(topic)?)
                };
                Ok((re, parts))
            })
            .collect();
    }
    let re = p.value("topic").map(super::include_list).transpose()?;
    let parts = match p.value("partitions") {
        Some(list) => list.split(',').map(PartitionFilter::parse).collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    Ok(vec![(re, parts)])
}

fn time(p: &Parsed) -> Result<i64, String> {
    match p.value("time").unwrap_or("latest") {
        "latest" => Ok(consumer::LATEST),
        "earliest" => Ok(consumer::EARLIEST),
        "max-timestamp" => Ok(consumer::MAX_TIMESTAMP),
        t => t.trim().parse().map_err(|_| {
            format!("Malformed time argument {t}. Please use -1 or latest / -2 or earliest / -3 or max-timestamp, or a specified long format timestamp")
        }),
    }
}

pub fn main(args: &[String]) -> i32 {
    let parsed = match super::parse_or_usage(OPTS, args, ABOUT) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let Some(bootstrap) = parsed.value("bootstrap-server").or(parsed.value("broker-list")) else {
        return super::usage_error(OPTS, ABOUT, "Missing required argument \"[bootstrap-server]\"");
    };
    let settings = selectors(&parsed).and_then(|s| Ok((s, time(&parsed)?)));
    let (selectors, time) = match settings {
        Ok(s) => s,
        Err(e) => return super::usage_error(OPTS, ABOUT, &e),
    };
    let result = super::command_config(&parsed, "command-config")
        .map_err(anyhow::Error::msg)
        .and_then(|_| Client::connect(bootstrap, "admin-1"))
        .and_then(|mut c| run(&mut c, &selectors, time, parsed.has("exclude-internal-topics")));
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("Error occurred: {e:#}");
            1
        }
    }
}

fn run(client: &mut Client, selectors: &[Selector], time: i64, exclude_internal: bool) -> Result<()> {
    let topics: Vec<String> = super::admin::list_topics(client)?
        .into_iter()
        .filter(|t| !(exclude_internal && super::admin::is_internal(t)))
        .collect();
    let layout = client::layout(client, &topics)?;
    let mut chosen = BTreeSet::new();
    for t in &topics {
        for part in 0..layout.partitions(t) as i32 {
            let selected = selectors.iter().any(|(re, parts)| {
                re.as_ref().is_none_or(|r| r.is_match(t)) && (parts.is_empty() || parts.iter().any(|f| f.matches(part)))
            });
            if selected {
                chosen.insert((t.clone(), part));
            }
        }
    }
    if chosen.is_empty() {
        bail!("Could not match any topic-partitions with the specified filters");
    }
    let queries: Vec<_> = chosen.iter().map(|(t, p)| (t.clone(), *p, time)).collect();
    let offsets = consumer::list_offsets(client, &layout, consumer::READ_UNCOMMITTED, &queries)?;
    for ((t, p), r) in offsets {
        // A time after every record finds no offset; such partitions are left out.
        match r {
            Ok((offset, _)) if offset >= 0 => println!("{t}:{p}:{offset}"),
            Ok(_) => {}
            Err(e) => bail!("{}", e.qualified()),
        }
    }
    Ok(())
}
