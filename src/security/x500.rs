//! The subject of a client's X.509 certificate as Java's `X500Principal.getName()` prints it
//! (RFC 2253: last RDN first, `,` between RDNs, `+` inside one, known attribute keywords,
//! other attributes as dotted OIDs with `#`-hex values), which is what Kafka's
//! `ssl.principal.mapping.rules` DEFAULT turns into a principal name.

/// One DER element: its tag, its contents, and the whole element with its header.
pub(super) type Element<'a> = (u8, &'a [u8], &'a [u8]);

/// The first DER element of `input`, and what follows it.
pub(super) fn element(input: &[u8]) -> Option<(Element<'_>, &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    let header = input.len() - rest.len();
    Some(((tag, &rest[..len], &input[..header + len]), &rest[len..]))
}

pub(super) fn elements(mut input: &[u8]) -> Option<Vec<Element<'_>>> {
    let mut out = Vec::new();
    while !input.is_empty() {
        let (e, rest) = element(input)?;
        out.push(e);
        input = rest;
    }
    Some(out)
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;

pub(super) fn oid_string(bytes: &[u8]) -> Option<String> {
    let (&first, rest) = bytes.split_first()?;
    let mut parts = vec![
        u64::from(first / 40).min(2),
        u64::from(first) - 40 * u64::from(first / 40).min(2),
    ];
    let mut value = 0u64;
    for &b in rest {
        value = value.checked_mul(128)? | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            parts.push(value);
            value = 0;
        }
    }
    Some(parts.iter().map(u64::to_string).collect::<Vec<_>>().join("."))
}

/// The keywords Java's RFC 2253 form uses; every other attribute is printed by OID.
fn keyword(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.9" => "STREET",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

pub(super) fn string_value(tag: u8, bytes: &[u8]) -> Option<String> {
    match tag {
        // UTF8String, PrintableString, IA5String
        0x0c | 0x13 | 0x16 => String::from_utf8(bytes.to_vec()).ok(),
        // TeletexString, read as Latin-1 as Java does
        0x14 => Some(bytes.iter().map(|&b| char::from(b)).collect()),
        // BMPString
        0x1e if bytes.len().is_multiple_of(2) => String::from_utf16(
            &bytes
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect::<Vec<_>>(),
        )
        .ok(),
        _ => None,
    }
}

/// RFC 2253's escaping of an attribute value.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A DER certificate's issuer and subject names, each a whole DER element; `None` if it does
/// not parse.
pub fn issuer_and_subject(certificate: &[u8]) -> Option<(&[u8], &[u8])> {
    let ((tag, cert, _), _) = element(certificate)?;
    if tag != SEQUENCE {
        return None;
    }
    let ((tag, tbs, _), _) = element(cert)?;
    if tag != SEQUENCE {
        return None;
    }
    let fields = elements(tbs)?;
    // version [0] is optional; then serial, signature, issuer, validity, subject.
    let skip = usize::from(fields.first()?.0 == 0xa0);
    let (SEQUENCE, _, issuer) = *fields.get(skip + 2)? else {
        return None;
    };
    let (SEQUENCE, _, subject) = *fields.get(skip + 4)? else {
        return None;
    };
    Some((issuer, subject))
}

/// The subject of a DER certificate in RFC 2253 form; `None` if it does not parse.
pub fn subject_name(certificate: &[u8]) -> Option<String> {
    let (_, subject) = issuer_and_subject(certificate)?;
    let ((_, subject, _), _) = element(subject)?;
    let mut rdns = Vec::new();
    for (tag, rdn, _) in elements(subject)? {
        if tag != SET {
            return None;
        }
        let mut attributes = Vec::new();
        for (tag, atv, _) in elements(rdn)? {
            if tag != SEQUENCE {
                return None;
            }
            let parts = elements(atv)?;
            let [(OID, oid, _), (value_tag, value, whole)] = parts[..] else {
                return None;
            };
            let oid = oid_string(oid)?;
            attributes.push(match (keyword(&oid), string_value(value_tag, value)) {
                (Some(k), Some(v)) => format!("{k}={}", escape(&v)),
                (k, _) => format!("{}=#{}", k.map(str::to_string).unwrap_or(oid), hex(whole)),
            });
        }
        rdns.push(attributes.join("+"));
    }
    rdns.reverse();
    Some(rdns.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_input_is_none_not_a_panic() {
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
            &[0x30, 0x03, 0x30, 0x01],
        ] {
            assert_eq!(subject_name(bad), None);
        }
    }

    #[test]
    fn values_are_escaped_as_rfc2253_says() {
        assert_eq!(escape("a,b+c"), "a\\,b\\+c");
        assert_eq!(escape(" #x "), "\\ #x\\ ");
        assert_eq!(
            oid_string(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d]).as_deref(),
            Some("1.2.840.113549")
        );
    }
}
