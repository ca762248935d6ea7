//! `kafka-configs.sh`: describe and alter (IncrementalAlterConfigs) the dynamic configs of
//! topics, of a broker and the cluster-wide broker defaults.

use anyhow::{Result, anyhow, bail};
use kafka_protocol::messages::IncrementalAlterConfigsRequest;
use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};

use super::admin::{self, RESOURCE_BROKER, RESOURCE_TOPIC};
use super::args::{Opt, Parsed, flag, valued};
use super::client::{Client, sb};
use super::errors::{self, KafkaError};

const ABOUT: &str = "This tool helps to manipulate and describe entity config for a topic, client, user, broker, broker-logger, ip, client-metrics or group";

const OPTS: &[Opt] = &[
    valued(
        "add-config",
        "String",
        "Key Value pairs of configs to add. Square brackets can be used to group values which contain commas: 'k1=v1,k2=[v1,v2,v2],k3=v3'.",
    ),
    valued(
        "add-config-file",
        "String",
        "Path to a properties file with configs to add.",
    ),
    flag(
        "all",
        "List all configs for the given entity, including static configs if available.",
    ),
    flag("alter", "Alter the configuration for the entity."),
    valued(
        "bootstrap-server",
        "String: server to connect to",
        "The Kafka servers to connect to.",
    ),
    valued("broker", "String", "The broker's ID."),
    flag("broker-defaults", "The config defaults for all brokers."),
    valued(
        "command-config",
        "String: command config property file",
        "Property file containing configs to be passed to Admin Client.",
    ),
    valued("delete-config", "String", "config keys to remove 'k1,k2'"),
    flag("describe", "List configs for the given entity."),
    flag(
        "entity-default",
        "Default entity name for clients/users/brokers/ips (applies to corresponding entity type)",
    ),
    valued("entity-name", "String", "Name of entity (topic name/broker id)"),
    valued("entity-type", "String", "Type of entity (topics/brokers)"),
    super::HELP,
    valued("topic", "String", "The topic's name."),
    super::VERSION,
];

pub fn main(args: &[String]) -> i32 {
    let actions = "Command must include exactly one action: --describe, --alter";
    let parsed = match super::start_admin(OPTS, ABOUT, args, &["describe", "alter"], actions, check_args) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let result = super::admin_client(&parsed).and_then(|mut c| run(&mut c, &parsed));
    match result {
        Ok(()) => 0,
        Err(e) => {
            match e.downcast_ref::<KafkaError>() {
                // Refusals of the command itself print their message alone.
                None => eprintln!("{e:#}"),
                Some(k) => {
                    eprintln!("Error while executing config command with args '{}'", args.join(" "));
                    eprintln!("java.util.concurrent.ExecutionException: {}", k.qualified());
                    eprintln!("Caused by: {}", k.qualified());
                }
            }
            1
        }
    }
}

fn check_args(p: &Parsed) -> Result<(), String> {
    p.refuse("add-config-file", "give the configs with --add-config")?;
    entity(p).map(|_| ())
}

/// The entity: (resource type, names), an empty name meaning the cluster-wide default.
/// Without a name, `describe` covers every entity of the type (`None`).
fn entity(p: &Parsed) -> Result<(i8, Option<String>), String> {
    let (kind, name) = if let Some(t) = p.value("topic") {
        ("topics", Some(t.to_string()))
    } else if let Some(b) = p.value("broker") {
        ("brokers", Some(b.to_string()))
    } else if p.has("broker-defaults") {
        ("brokers", Some(String::new()))
    } else {
        let kind = p.value("entity-type").ok_or("--entity-type must be specified")?;
        let name = if p.has("entity-default") {
            Some(String::new())
        } else {
            p.value("entity-name").map(str::to_string)
        };
        (kind, name)
    };
    let resource = match kind {
        "topics" => RESOURCE_TOPIC,
        "brokers" => RESOURCE_BROKER,
        "users" | "clients" | "ips" | "broker-loggers" | "client-metrics" | "groups" => {
            return Err(format!(
                "--entity-type {kind} is not supported by this tool: topics and brokers are"
            ));
        }
        other => {
            return Err(format!(
                "Invalid entity type {other}, the entity type must be one of users, brokers, topics, clients, ips, broker-loggers, client-metrics, groups"
            ));
        }
    };
    if resource == RESOURCE_TOPIC && name.as_deref() == Some("") {
        return Err("The topic name can't be empty".into());
    }
    if resource == RESOURCE_BROKER
        && let Some(n) = name.as_deref().filter(|n| !n.is_empty())
        && n.parse::<i32>().is_err()
    {
        return Err(format!(
            "The entity name for brokers must be a valid integer broker id, but it is: {n}"
        ));
    }
    if p.has("alter") && name.is_none() {
        return Err(format!("An entity name must be specified with --alter of {kind}"));
    }
    Ok((resource, name))
}

fn run(client: &mut Client, p: &Parsed) -> Result<()> {
    let (resource, name) = entity(p).map_err(anyhow::Error::msg)?;
    if p.has("alter") {
        return alter(client, p, resource, &name.unwrap_or_default());
    }
    let names = match name {
        Some(n) => vec![n],
        None if resource == RESOURCE_TOPIC => admin::list_topics(client)?,
        None => {
            let mut ids: Vec<String> = client.nodes.keys().map(i32::to_string).collect();
            ids.push(String::new());
            ids
        }
    };
    for n in names {
        describe(client, resource, &n, p.has("all"))?;
    }
    Ok(())
}

fn describe(client: &mut Client, resource: i8, name: &str, all: bool) -> Result<()> {
    let entries = match admin::describe_configs(client, resource, name, true) {
        Ok(e) => e,
        Err(e)
            if resource == RESOURCE_TOPIC
                && e.downcast_ref::<KafkaError>()
                    .is_some_and(|k| k.code == errors::UNKNOWN_TOPIC_OR_PARTITION) =>
        {
            println!("The topic '{name}' doesn't exist and doesn't have dynamic config.");
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let wanted = match (resource, name.is_empty()) {
        (RESOURCE_TOPIC, _) => admin::SOURCE_DYNAMIC_TOPIC,
        (_, true) => admin::SOURCE_DYNAMIC_DEFAULT_BROKER,
        (_, false) => admin::SOURCE_DYNAMIC_BROKER,
    };
    let which = if all { "All" } else { "Dynamic" };
    if name.is_empty() {
        println!("Default configs for brokers in the cluster are:");
    } else {
        let kind = if resource == RESOURCE_TOPIC { "topic" } else { "broker" };
        println!("{which} configs for {kind} {name} are:");
    }
    let mut shown: Vec<_> = entries.into_iter().filter(|e| all || e.source == wanted).collect();
    shown.sort_by(|a, b| a.name.cmp(&b.name));
    for e in shown {
        let synonyms: Vec<String> = e
            .synonyms
            .iter()
            .map(|(n, v, s)| format!("{}:{n}={}", admin::source_name(*s), v.as_deref().unwrap_or("null")))
            .collect();
        println!(
            "  {}={} sensitive={} synonyms={{{}}}",
            e.name,
            e.value.as_deref().unwrap_or("null"),
            e.sensitive,
            synonyms.join(", ")
        );
    }
    Ok(())
}

/// `k1=v1,k2=[a,b]`: commas inside brackets belong to the value, the brackets go.
pub fn parse_add_config(s: &str) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    let mut depth = 0;
    let mut current = String::new();
    for c in s.chars().chain(std::iter::once(',')) {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                if !current.is_empty() {
                    pairs.push(std::mem::take(&mut current));
                }
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    pairs
        .into_iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.trim().to_string(), v.trim().replace(['[', ']'], ""))),
            _ => Err(anyhow!(
                "requirement failed: Invalid entity config: all configs to be added must be in the format \"key=val\" or  \"key=[val1,val2]\" to group values which contain commas."
            )),
        })
        .collect()
}

fn alter(client: &mut Client, p: &Parsed, resource: i8, name: &str) -> Result<()> {
    let add = p
        .values("add-config")
        .into_iter()
        .map(parse_add_config)
        .collect::<Result<Vec<_>>>()?
        .concat();
    let delete: Vec<String> = p
        .values("delete-config")
        .iter()
        .flat_map(|d| d.split(','))
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .collect();
    if add.is_empty() && delete.is_empty() {
        bail!("At least one of --add-config, --add-config-file, or --delete-config must be specified with --alter");
    }
    // As the Java tool does, deleting a key that is not set is refused before any change.
    if !delete.is_empty() {
        let current = admin::describe_configs(client, resource, name, false)?;
        let missing: Vec<&String> = delete
            .iter()
            .filter(|k| {
                !current.iter().any(|c| {
                    &c.name == *k && c.source != admin::SOURCE_DEFAULT && c.source != admin::SOURCE_STATIC_BROKER
                })
            })
            .collect();
        if !missing.is_empty() {
            let list: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
            bail!("Invalid config(s): {}", list.join(","));
        }
    }
    let mut configs: Vec<AlterableConfig> = add
        .iter()
        .map(|(k, v)| {
            AlterableConfig::default()
                .with_name(sb(k))
                .with_config_operation(0)
                .with_value(Some(sb(v)))
        })
        .collect();
    configs.extend(delete.iter().map(|k| {
        AlterableConfig::default()
            .with_name(sb(k))
            .with_config_operation(1)
            .with_value(None)
    }));
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(resource)
            .with_resource_name(sb(name))
            .with_configs(configs),
    ]);
    let conn = match name.parse::<i32>() {
        Ok(id) if resource == RESOURCE_BROKER => client.node(id)?,
        _ => client.any(),
    };
    let response = conn.call(&request)?;
    for r in response.responses {
        KafkaError::check(r.error_code, r.error_message.as_deref())?;
    }
    match (resource, name.is_empty()) {
        (RESOURCE_TOPIC, _) => println!("Completed updating config for topic {name}."),
        (_, true) => println!("Completed updating default config for brokers in the cluster."),
        (_, false) => println!("Completed updating config for broker {name}."),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn add_config_keeps_bracketed_commas() {
        let parsed = super::parse_add_config("cleanup.policy=[compact,delete],max.message.bytes=65536").unwrap();
        assert_eq!(
            parsed,
            vec![
                ("cleanup.policy".to_string(), "compact,delete".to_string()),
                ("max.message.bytes".to_string(), "65536".to_string())
            ]
        );
        assert!(super::parse_add_config("foo").is_err());
    }
}
