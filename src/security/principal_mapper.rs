//! Kafka's `ssl.principal.mapping.rules` (`SslPrincipalMapper`): comma-separated rules tried
//! in order on a client certificate's subject, each `DEFAULT` (the subject itself) or
//! `RULE:pattern/replacement/[LU]`, where the pattern must match the whole subject and the
//! replacement may name its groups as `$1`; `L` and `U` change the result's case. A subject
//! no rule matches is refused, as on Kafka.

use regex::Regex;

enum Rule {
    Default,
    Replace {
        whole: Regex,
        pattern: Regex,
        replacement: String,
        lower: bool,
        upper: bool,
    },
}

pub struct SslPrincipalMapper {
    rules: Vec<Rule>,
}

/// A rule as Kafka's grammar reads it: DEFAULT, or RULE: with slash-separated pattern and
/// replacement (a backslash escapes the next character), then an optional case flag.
const RULE_PATTERN: &str = r"(DEFAULT)|RULE:((?:\\.|[^\\/])*)/((?:\\.|[^\\/])*)/([LU]?).*?|(.*?)";

impl SslPrincipalMapper {
    pub fn from_rules(rules: &str) -> Result<SslPrincipalMapper, String> {
        let splitter = Regex::new(&format!(r"\s*({RULE_PATTERN})\s*(?:,\s*|$)")).map_err(|e| e.to_string())?;
        let parser = Regex::new(&format!("^(?:{RULE_PATTERN})")).map_err(|e| e.to_string())?;
        let mut parsed = Vec::new();
        for captures in splitter.captures_iter(rules.trim()) {
            let rule = captures.get(1).map_or("", |m| m.as_str());
            let Some(m) = parser.captures(rule) else {
                return Err(format!("Invalid rule: {rule}"));
            };
            let end = m.get(0).map_or(0, |g| g.end());
            if end != rule.len() {
                return Err(format!(
                    "Invalid rule: `{rule}`, unmatched substring: `{}`",
                    &rule[end..]
                ));
            }
            if m.get(1).is_some() {
                parsed.push(Rule::Default);
            } else if let (Some(pattern), Some(replacement)) = (m.get(2), m.get(3)) {
                let pattern = pattern.as_str();
                let compile = |p: &str| Regex::new(p).map_err(|e| format!("Invalid rule pattern {pattern}: {e}"));
                let flag = m.get(4).map_or("", |f| f.as_str());
                let whole = compile(&format!("^(?:{pattern})$"))?;
                let groups = whole.captures_len() - 1;
                parsed.push(Rule::Replace {
                    whole,
                    pattern: compile(pattern)?,
                    replacement: java_replacement(replacement.as_str(), groups),
                    lower: flag == "L",
                    upper: flag == "U",
                });
            }
        }
        Ok(SslPrincipalMapper { rules: parsed })
    }

    /// The principal name for a subject, or why none applies.
    pub fn name(&self, subject: &str) -> Result<String, String> {
        for rule in &self.rules {
            match rule {
                Rule::Default => return Ok(subject.to_string()),
                Rule::Replace {
                    whole,
                    pattern,
                    replacement,
                    lower,
                    upper,
                } if whole.is_match(subject) => {
                    let name = pattern.replace_all(subject, replacement.as_str()).into_owned();
                    return Ok(if *lower {
                        name.to_lowercase()
                    } else if *upper {
                        name.to_uppercase()
                    } else {
                        name
                    });
                }
                Rule::Replace { .. } => {}
            }
        }
        Err(format!("No rules apply to {subject}"))
    }
}

/// A Java `replaceAll` replacement in the regex crate's syntax: `$N` names group N, where a
/// number past the pattern's groups loses digits from the right until it names one (or is
/// literal text, as Kafka treats it); `\x` is a literal x; a literal `$` is doubled.
fn java_replacement(java: &str, groups: usize) -> String {
    let mut out = String::with_capacity(java.len() + 8);
    let mut chars = java.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(next) => out.push(next),
                None => {}
            },
            '$' if chars.peek().is_some_and(char::is_ascii_digit) => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                // The longest prefix of the digits that names a group is the reference.
                let mut used = digits.len();
                while used > 1 && digits[..used].parse::<usize>().is_ok_and(|n| n > groups) {
                    used -= 1;
                }
                let number: usize = digits[..used].parse().unwrap_or(usize::MAX);
                if number <= groups {
                    out.push_str(&format!("${{{number}}}"));
                } else {
                    out.push_str("$$");
                    out.push_str(&digits[..used]);
                }
                out.push_str(&digits[used..]);
            }
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kafka's documented examples.
    #[test]
    fn rules_map_subjects_as_kafka_does() {
        let mapper = SslPrincipalMapper::from_rules(
            r"RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U,DEFAULT",
        )
        .unwrap();
        assert_eq!(
            mapper.name("CN=kafka-server1,OU=ServiceUsers,O=Org,C=US").unwrap(),
            "kafka-server1"
        );
        assert_eq!(
            mapper
                .name("CN=Duke,OU=JavaSoft,O=Sun Microsystems,L=Cupertino,ST=CA,C=US")
                .unwrap(),
            "duke@javasoft"
        );
        assert_eq!(mapper.name("cn=duke,o=org").unwrap(), "DUKE");
        assert_eq!(mapper.name("OU=none").unwrap(), "OU=none");
        let strict = SslPrincipalMapper::from_rules("RULE:^CN=(.*)$/$1/").unwrap();
        assert!(strict.name("OU=x").unwrap_err().contains("No rules apply"));
        assert_eq!(
            SslPrincipalMapper::from_rules("DEFAULT")
                .unwrap()
                .name("CN=a,O=b")
                .unwrap(),
            "CN=a,O=b"
        );
    }

    #[test]
    fn bad_rules_are_refused() {
        assert!(SslPrincipalMapper::from_rules("RULE:^CN=(.*)$/$1/X").is_err());
        assert!(SslPrincipalMapper::from_rules("NOT A RULE").is_err());
        assert!(SslPrincipalMapper::from_rules("RULE:(/x/").is_err());
    }

    #[test]
    fn replacements_follow_java() {
        assert_eq!(java_replacement("$1@$2", 2), "${1}@${2}");
        assert_eq!(java_replacement("$12", 1), "${1}2");
        assert_eq!(java_replacement("$3", 1), "$$3");
        assert_eq!(java_replacement(r"a\$b", 1), "a$$b");
    }
}
