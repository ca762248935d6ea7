//! `kafka-consumer-groups.sh --reset-offsets`, Kafka's `GroupOffsetsResetter`: the new
//! offsets of an inactive group's partitions by scenario, kept within each log, printed as a
//! plan and committed with `--execute`.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{Result, anyhow, bail};

use super::args::Parsed;
use super::client::{self, Client};
use super::consumer::{self, TopicPartition, log_end_offsets, offsets_at};
use super::describe_group::describe_group;
use super::errors::{self, KafkaError};

pub fn reset_offsets(client: &mut Client, p: &Parsed, groups: &[String]) -> Result<()> {
    let mut plans: Vec<(String, BTreeMap<TopicPartition, i64>)> = Vec::new();
    for g in groups {
        let state = match describe_group(client, g) {
            Ok(d) => d.state,
            Err(e)
                if e.downcast_ref::<KafkaError>()
                    .is_some_and(|k| k.code == errors::GROUP_ID_NOT_FOUND) =>
            {
                "Dead".into()
            }
            Err(e) => return Err(e),
        };
        if state != "Empty" && state != "Dead" {
            println!(
                "\nError: Assignments can only be reset if the group '{g}' is inactive, but the current state is {state}."
            );
            plans.push((g.clone(), BTreeMap::new()));
            continue;
        }
        let plan = plan_reset(client, p, g)?;
        if p.has("execute") && !plan.is_empty() {
            let conn = client.group_coordinator(g)?;
            consumer::commit_offsets(conn, g, -1, "", &plan, &BTreeMap::new())?;
        }
        plans.push((g.clone(), plan));
    }
    let mut out = std::io::stdout().lock();
    if !plans.is_empty() {
        write!(
            out,
            "\n{:<30} {:<30} {:<10} {:<15}",
            "GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"
        )?;
    }
    for (g, plan) in &plans {
        for ((t, part), o) in plan {
            write!(out, "\n{g:<30} {t:<30} {part:<10} {o:<15}")?;
        }
    }
    writeln!(out)?;
    Ok(())
}

/// The partitions `--topic` (`topic` or `topic:0,1`) or `--all-topics` name.
fn partitions_to_reset(client: &mut Client, p: &Parsed, group: &str) -> Result<Vec<TopicPartition>> {
    if p.has("all-topics") {
        return Ok(consumer::committed_offsets(client, group, None)?.into_keys().collect());
    }
    let mut out = Vec::new();
    let mut whole = Vec::new();
    for arg in p.values("topic") {
        match arg.split_once(':') {
            Some((t, parts)) => {
                for part in parts.split(',') {
                    let n = part
                        .parse::<i32>()
                        .map_err(|_| anyhow!("Invalid partition '{part}' specified in topic arg '{arg}''"))?;
                    out.push((t.to_string(), n));
                }
            }
            None => whole.push(arg.to_string()),
        }
    }
    if !whole.is_empty() {
        let layout = client::layout(client, &whole)?;
        if let Some((t, e)) = layout.errors.iter().next() {
            bail!("{}: topic {t}", e.qualified());
        }
        for t in &whole {
            out.extend((0..layout.partitions(t) as i32).map(|n| (t.clone(), n)));
        }
    }
    Ok(out)
}

fn plan_reset(client: &mut Client, p: &Parsed, group: &str) -> Result<BTreeMap<TopicPartition, i64>> {
    let parts = partitions_to_reset(client, p, group)?;
    if parts.is_empty() {
        return Ok(BTreeMap::new());
    }
    let fixed = |ts: i64, client: &mut Client, what: &str| -> Result<BTreeMap<TopicPartition, i64>> {
        offsets_at(client, &parts, ts)?
            .into_iter()
            .map(|((t, n), o)| {
                o.map(|o| ((t.clone(), n), o))
                    .ok_or_else(|| anyhow!("Error getting {what} offset of topic partition: {t}-{n}"))
            })
            .collect()
    };
    if p.has("to-earliest") {
        return fixed(consumer::EARLIEST, client, "starting");
    }
    if p.has("to-latest") {
        return fixed(consumer::LATEST, client, "ending");
    }
    let by_time = |ts: i64, client: &mut Client| -> Result<BTreeMap<TopicPartition, i64>> {
        let found = offsets_at(client, &parts, ts)?;
        let ends = log_end_offsets(client, parts.clone())?;
        let mut plan = BTreeMap::new();
        for tp in &parts {
            match found.get(tp).copied().flatten() {
                Some(o) => plan.insert(tp.clone(), o),
                None => {
                    println!(
                        "\nWarn: Partition {} from topic {} is empty. Falling back to latest known offset.",
                        tp.1, tp.0
                    );
                    plan.insert(tp.clone(), ends.get(tp).copied().unwrap_or(0))
                }
            };
        }
        Ok(plan)
    };
    if let Some(dt) = p.value("to-datetime") {
        return by_time(parse_datetime(dt)?, client);
    }
    if let Some(d) = p.value("by-duration") {
        let ms = parse_duration_ms(d).ok_or_else(|| anyhow!("Text cannot be parsed to a Duration: {d}"))?;
        return by_time(super::producer::now_ms() - ms, client);
    }
    let requested: BTreeMap<TopicPartition, i64> = if let Some(o) = p.value("to-offset") {
        let o: i64 = o.trim().parse()?;
        parts.iter().map(|tp| (tp.clone(), o)).collect()
    } else {
        let current = consumer::committed_offsets(client, group, None)?;
        let shift: i64 = if p.has("to-current") {
            0
        } else {
            p.value("shift-by").unwrap_or("0").trim().parse()?
        };
        let mut m = BTreeMap::new();
        for tp in &parts {
            let Some(c) = current.get(tp) else {
                bail!(
                    "Cannot shift offset for partition {}-{} since there is no current committed offset",
                    tp.0,
                    tp.1
                );
            };
            m.insert(tp.clone(), c + shift);
        }
        m
    };
    // Kept within the log, as the Java tool does, with its warnings.
    let starts = fixed(consumer::EARLIEST, client, "starting")?;
    let ends = fixed(consumer::LATEST, client, "ending")?;
    Ok(requested
        .into_iter()
        .map(|(tp, o)| {
            let (start, end) = (starts[&tp], ends[&tp]);
            let name = format!("{}-{}", tp.0, tp.1);
            let o = if o > end {
                eprintln!("WARN New offset ({o}) is higher than latest offset for topic partition {name}. Value will be set to {end}");
                end
            } else if o < start {
                eprintln!("WARN New offset ({o}) is lower than earliest offset for topic partition {name}. Value will be set to {start}");
                start
            } else {
                o
            };
            (tp, o)
        })
        .collect())
}

/// Kafka's `Utils.getDateTime`: `YYYY-MM-DDTHH:mm:SS[.sss][Z|±HH:mm|±HHmm]`, local time
/// without a zone.
pub fn parse_datetime(s: &str) -> Result<i64> {
    let re =
        regex::Regex::new(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?(Z|[+-]\d{2}:?\d{2})?$")
            .expect("valid regex");
    let c = re.captures(s).ok_or_else(|| {
        anyhow!("Error parsing timestamp. It does not contain a 'T' according to ISO8601 format: {s}")
    })?;
    let n = |i: usize| c.get(i).map_or(0, |m| m.as_str().parse::<i64>().unwrap_or(0));
    let (y, mo, d) = (n(1), n(2), n(3));
    // Days from the civil date (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (mo + if mo > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let millis = c
        .get(7)
        .map_or(0, |m| format!("{:0<3}", m.as_str()).parse::<i64>().unwrap_or(0));
    let local = ((days * 24 + n(4)) * 60 + n(5)) * 60 + n(6);
    let offset_s = match c.get(8).map(|m| m.as_str()) {
        Some("Z") => 0,
        Some(z) => {
            let digits: String = z[1..].chars().filter(char::is_ascii_digit).collect();
            let (h, m) = (digits[..2].parse::<i64>()?, digits[2..].parse::<i64>()?);
            let sign = if z.starts_with('-') { -1 } else { 1 };
            sign * (h * 3600 + m * 60)
        }
        None => local_offset_seconds(local),
    };
    Ok((local - offset_s) * 1000 + millis)
}

/// This machine's UTC offset at (about) the given local time.
fn local_offset_seconds(local: i64) -> i64 {
    let t = local as libc::time_t;
    // SAFETY: localtime_r writes only into the tm we pass.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return 0;
        }
        tm.tm_gmtoff
    }
}

/// An ISO-8601 duration (`PnDTnHnMnS`) in milliseconds.
fn parse_duration_ms(s: &str) -> Option<i64> {
    let re =
        regex::Regex::new(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$").expect("valid regex");
    let c = re.captures(s)?;
    let n = |i: usize| c.get(i).map_or(0.0, |m| m.as_str().parse::<f64>().unwrap_or(0.0));
    Some(((n(1) * 86400.0 + n(2) * 3600.0 + n(3) * 60.0 + n(4)) * 1000.0) as i64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn datetimes_parse_as_kafka_reads_them() {
        assert_eq!(
            super::parse_datetime("2020-01-01T00:00:00.000Z").unwrap(),
            1_577_836_800_000
        );
        assert_eq!(
            super::parse_datetime("2020-01-01T01:00:00.5+01:00").unwrap(),
            1_577_836_800_500
        );
        assert_eq!(super::parse_duration_ms("PT1H30M"), Some(5_400_000));
    }
}
