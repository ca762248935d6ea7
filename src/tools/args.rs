//! Command-line options the way Kafka's tools read them (jopt-simple): `--name value`,
//! `--name=value`, a long option abbreviated to any unambiguous prefix, repeated options
//! collected in order. Errors print jopt-simple's wording on stderr.

use std::collections::HashMap;
use std::fmt::Write as _;

/// One option a tool accepts.
pub struct Opt {
    pub name: &'static str,
    /// Takes a value (`--topic NAME`) rather than being a flag (`--list`).
    pub value: Option<&'static str>,
    /// The value may be left out (jopt-simple's optional argument): a following argument
    /// that is not an option is taken, else the value is empty.
    pub optional: bool,
    pub help: &'static str,
}

pub const fn flag(name: &'static str, help: &'static str) -> Opt {
    Opt {
        name,
        value: None,
        optional: false,
        help,
    }
}

pub const fn valued(name: &'static str, value: &'static str, help: &'static str) -> Opt {
    Opt {
        name,
        value: Some(value),
        optional: false,
        help,
    }
}

pub const fn optional(name: &'static str, value: &'static str, help: &'static str) -> Opt {
    Opt {
        name,
        value: Some(value),
        optional: true,
        help,
    }
}

/// The options given, by their full name.
#[derive(Debug, Default)]
pub struct Parsed {
    values: HashMap<&'static str, Vec<String>>,
}

impl Parsed {
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// The last value given for `name`.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values.get(name).and_then(|v| v.last()).map(String::as_str)
    }

    /// Every value given for `name`, in order.
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.values
            .get(name)
            .map(|v| v.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// The value of `name` as a number; `Err` carries jopt-simple's conversion message.
    pub fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, String> {
        match self.value(name) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| format!("Cannot parse argument '{v}' of option {name}")),
        }
    }

    /// Refuses an option this tool knows but does not implement; `why` says what to do instead.
    pub fn refuse(&self, name: &str, why: &str) -> Result<(), String> {
        if self.has(name) {
            Err(format!("Option --{name} is not supported by this tool: {why}"))
        } else {
            Ok(())
        }
    }
}

/// Parses `args` against `opts`. Positional arguments are refused: none of the tools take any.
pub fn parse(opts: &[Opt], args: &[String]) -> Result<Parsed, String> {
    let mut parsed = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        let Some(body) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            return Err(format!("Found non-option argument '{arg}'"));
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let opt = lookup(opts, name)?;
        let value = match (opt.value, inline) {
            (None, None) => String::new(),
            (None, Some(_)) => return Err(format!("Option {} does not take an argument", opt.name)),
            (Some(_), Some(v)) => v,
            (Some(_), None) if opt.optional => match args.get(i) {
                Some(v) if !v.starts_with('-') => {
                    i += 1;
                    v.clone()
                }
                _ => String::new(),
            },
            (Some(_), None) => {
                let Some(v) = args.get(i) else {
                    return Err(format!("Option {} requires an argument", opt.name));
                };
                i += 1;
                v.clone()
            }
        };
        parsed.values.entry(opt.name).or_default().push(value);
    }
    Ok(parsed)
}

/// The option named exactly `name`, else the only one it abbreviates.
fn lookup<'a>(opts: &'a [Opt], name: &str) -> Result<&'a Opt, String> {
    if let Some(o) = opts.iter().find(|o| o.name == name) {
        return Ok(o);
    }
    let mut candidates = opts.iter().filter(|o| !name.is_empty() && o.name.starts_with(name));
    match (candidates.next(), candidates.next()) {
        (Some(o), None) => Ok(o),
        (Some(_), Some(_)) => Err(format!("Option '{name}' is ambiguous")),
        _ => Err(format!("{name} is not a recognized option")),
    }
}

/// The option table as the Java tools print it under their usage line.
pub fn usage(opts: &[Opt]) -> String {
    let mut out = String::from(
        "Option                                   Description\n------                                   -----------\n",
    );
    for o in opts {
        let left = match o.value {
            Some(v) => format!("--{} <{v}>", o.name),
            None => format!("--{}", o.name),
        };
        let _ = writeln!(out, "{left:<40} {}", o.help);
    }
    out
}

/// Properties given as `key=value` (`--property`, `--producer-property`, `--config`).
pub fn key_values<'a>(option: &str, items: impl IntoIterator<Item = &'a str>) -> Result<Vec<(String, String)>, String> {
    items
        .into_iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| format!("Invalid {option} '{kv}': expected key=value"))
        })
        .collect()
}

/// A Java properties file: `key=value` or `key: value` lines, `#` and `!` comments.
pub fn properties_file(path: &str) -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("Cannot read {path}: {e}"))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .filter_map(|l| {
            let cut = l.find(['=', ':'])?;
            Some((l[..cut].trim().to_string(), l[cut + 1..].trim().to_string()))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTS: &[Opt] = &[
        valued("bootstrap-server", "server", ""),
        valued("topic", "topic", ""),
        flag("list", ""),
        flag("list-all", ""),
    ];

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn values_abbreviations_and_errors() {
        let p = parse(
            OPTS,
            &args(&["--bootstrap", "h:1", "--topic=a", "--topic", "b", "--list"]),
        )
        .unwrap();
        assert_eq!(p.value("bootstrap-server"), Some("h:1"));
        assert_eq!(p.values("topic"), vec!["a", "b"]);
        assert!(p.has("list") && !p.has("list-all"));
        assert_eq!(
            parse(OPTS, &args(&["--foo"])).unwrap_err(),
            "foo is not a recognized option"
        );
        assert_eq!(parse(OPTS, &args(&["--li"])).unwrap_err(), "Option 'li' is ambiguous");
        assert!(parse(OPTS, &args(&["--topic"])).is_err());
    }
}
