use super::*;
use std::path::Path;
use std::process::Command;

/// Runs keytool or openssl; a missing tool fails the test (CI installs Java and OpenSSL).
fn run(dir: &Path, program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} is needed to make test stores (install a JDK and OpenSSL): {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// In `dir`: ca.pem, and broker.pem + broker.key (PKCS#8) signed by it.
fn make_pki(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "keystore test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    leaf.distinguished_name.push(DnType::CommonName, "broker");
    let leaf_cert = leaf.signed_by(&key, &Issuer::new(ca, ca_key)).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("broker.pem"), leaf_cert.pem()).unwrap();
    std::fs::write(dir.join("broker.key"), key.serialize_pem()).unwrap();
    (ca_cert.der().to_vec(), leaf_cert.der().to_vec())
}

fn export_pkcs12(dir: &Path, out: &str, password: &str, extra: &[&str]) -> Vec<u8> {
    let pass = format!("pass:{password}");
    let mut args = vec![
        "pkcs12",
        "-export",
        "-in",
        "broker.pem",
        "-inkey",
        "broker.key",
        "-certfile",
        "ca.pem",
        "-name",
        "broker",
        "-out",
        out,
        "-passout",
        &pass,
    ];
    args.extend(extra);
    run(dir, "openssl", &args);
    std::fs::read(dir.join(out)).unwrap()
}

fn assert_matches(entry: (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), leaf: &[u8], ca: &[u8]) {
    let (chain, key) = entry;
    assert_eq!(chain.iter().map(|c| c.to_vec()).collect::<Vec<_>>(), [leaf, ca]);
    let provider = rustls::crypto::ring::default_provider();
    rustls::sign::CertifiedKey::from_der(chain, key, &provider).expect("the key is the certificate's");
}

#[test]
fn pkcs12_keystores_from_openssl_and_keytool() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, leaf) = make_pki(dir.path());
    // OpenSSL 3's default (PBES2 with AES-256-CBC, SHA-256 MAC) and its legacy one (3DES
    // key, RC2-40 certificates, SHA-1 MAC), which Java 8 and OpenSSL 1.1 write.
    for (file, extra) in [("aes.p12", &[][..]), ("legacy.p12", &["-legacy"][..])] {
        let p12 = export_pkcs12(dir.path(), file, "store-pw", extra);
        assert_matches(key_entry(&p12, "store-pw", "store-pw").unwrap(), &leaf, &ca);
        let wrong = key_entry(&p12, "wrong", "wrong").err().unwrap();
        assert!(wrong.contains("integrity check failed"), "{wrong}");
        // The MAC passes but the key is encrypted with the store password.
        let wrong = key_entry(&p12, "store-pw", "other").err().unwrap();
        assert!(wrong.contains("cannot recover the private key broker"), "{wrong}");
        // As a truststore, an OpenSSL keystore trusts only its key entry's leaf: its CA
        // certificate has no trusted-certificate attribute.
        let trusted = trusted_certificates(&p12, Some("store-pw")).unwrap();
        assert_eq!(
            trusted.iter().map(|c| c.to_vec()).collect::<Vec<_>>(),
            [leaf.as_slice()]
        );
    }
    // keytool's own PKCS12 (Java 17: PBES2 with AES-256, HMAC-SHA256).
    run(
        dir.path(),
        "keytool",
        &[
            "-importkeystore",
            "-srckeystore",
            "aes.p12",
            "-srcstoretype",
            "PKCS12",
            "-srcstorepass",
            "store-pw",
            "-destkeystore",
            "java.p12",
            "-deststoretype",
            "PKCS12",
            "-deststorepass",
            "java-pw",
            "-noprompt",
        ],
    );
    let p12 = std::fs::read(dir.path().join("java.p12")).unwrap();
    assert_matches(key_entry(&p12, "java-pw", "java-pw").unwrap(), &leaf, &ca);
}

#[test]
fn jks_keystores_with_their_own_key_password() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, leaf) = make_pki(dir.path());
    export_pkcs12(dir.path(), "src.p12", "src-pw", &[]);
    run(
        dir.path(),
        "keytool",
        &[
            "-importkeystore",
            "-srckeystore",
            "src.p12",
            "-srcstoretype",
            "PKCS12",
            "-srcstorepass",
            "src-pw",
            "-destkeystore",
            "broker.jks",
            "-deststoretype",
            "JKS",
            "-deststorepass",
            "store-pw",
            "-destkeypass",
            "key-pw",
            "-noprompt",
        ],
    );
    let jks = std::fs::read(dir.path().join("broker.jks")).unwrap();
    assert_matches(key_entry(&jks, "store-pw", "key-pw").unwrap(), &leaf, &ca);
    let wrong = key_entry(&jks, "store-pw", "store-pw").err().unwrap();
    assert!(wrong.contains("key password"), "{wrong}");
    let wrong = key_entry(&jks, "wrong", "key-pw").err().unwrap();
    assert!(wrong.contains("integrity check failed"), "{wrong}");

    // A second key entry: refused, naming both.
    run(
        dir.path(),
        "keytool",
        &[
            "-genkeypair",
            "-alias",
            "other",
            "-keyalg",
            "EC",
            "-dname",
            "CN=other",
            "-keystore",
            "broker.jks",
            "-storepass",
            "store-pw",
            "-keypass",
            "key-pw",
        ],
    );
    let jks = std::fs::read(dir.path().join("broker.jks")).unwrap();
    let two = key_entry(&jks, "store-pw", "key-pw").err().unwrap();
    assert!(two.contains("2 private key entries") && two.contains("other"), "{two}");
}

#[test]
fn truststores_trust_their_certificate_entries() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, _) = make_pki(dir.path());
    for (file, ty) in [("trust.jks", "JKS"), ("trust.p12", "PKCS12")] {
        run(
            dir.path(),
            "keytool",
            &[
                "-importcert",
                "-noprompt",
                "-alias",
                "ca",
                "-file",
                "ca.pem",
                "-keystore",
                file,
                "-storetype",
                ty,
                "-storepass",
                "trust-pw",
            ],
        );
        let store = std::fs::read(dir.path().join(file)).unwrap();
        let trusted = trusted_certificates(&store, Some("trust-pw")).unwrap();
        assert_eq!(
            trusted.iter().map(|c| c.to_vec()).collect::<Vec<_>>(),
            [ca.as_slice()],
            "{file}"
        );
        let wrong = trusted_certificates(&store, Some("wrong")).err().unwrap();
        assert!(wrong.contains("integrity check failed"), "{file}: {wrong}");
        // Without a password: JKS without its integrity check; PKCS12's certificates are
        // encrypted, so nothing is trusted (as on Java).
        let without = trusted_certificates(&store, None);
        if ty == "JKS" {
            assert_eq!(without.unwrap().len(), 1);
        } else {
            assert!(without.err().unwrap().contains("set ssl.truststore.password"));
        }
        // A keystore is no truststore and the reverse.
        assert!(
            key_entry(&store, "trust-pw", "trust-pw")
                .err()
                .unwrap()
                .contains("no private key entry")
        );
    }
    // A certificate without Java's trusted attribute is not trusted, as on Java.
    run(
        dir.path(),
        "openssl",
        &[
            "pkcs12", "-export", "-nokeys", "-in", "ca.pem", "-out", "bare.p12", "-passout", "pass:pw",
        ],
    );
    let bare = std::fs::read(dir.path().join("bare.p12")).unwrap();
    let refused = trusted_certificates(&bare, Some("pw")).err().unwrap();
    assert!(refused.contains("no trusted certificate entry"), "{refused}");
}

#[test]
fn corrupt_stores_are_refused_without_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    make_pki(dir.path());
    let p12 = export_pkcs12(dir.path(), "broker.p12", "secret", &[]);
    run(
        dir.path(),
        "keytool",
        &[
            "-importkeystore",
            "-srckeystore",
            "broker.p12",
            "-srcstoretype",
            "PKCS12",
            "-srcstorepass",
            "secret",
            "-destkeystore",
            "broker.jks",
            "-deststoretype",
            "JKS",
            "-deststorepass",
            "secret",
            "-noprompt",
        ],
    );
    let jks = std::fs::read(dir.path().join("broker.jks")).unwrap();
    assert!(
        key_entry(b"-----BEGIN CERTIFICATE-----", "secret", "secret")
            .err()
            .unwrap()
            .contains("neither")
    );
    assert!(key_entry(&[], "secret", "secret").is_err());
    for store in [&p12, &jks] {
        for len in (0..store.len()).step_by(7) {
            let _ = key_entry(&store[..len], "secret", "secret").err().unwrap();
            let _ = trusted_certificates(&store[..len], None);
        }
        let mut rng = 0x1234_5678_9abc_def0u64;
        for _ in 0..300 {
            let mut bad = store.clone();
            for _ in 0..3 {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let at = (rng as usize) % bad.len();
                bad[at] = (rng >> 32) as u8;
            }
            // Without a password nothing is checked before the entries are parsed.
            let _ = trusted_certificates(&bad, None);
            let _ = key_entry(&bad, "secret", "secret");
        }
    }
}
