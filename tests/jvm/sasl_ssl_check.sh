#!/usr/bin/env bash
# Clients over SASL_SSL with SCRAM-SHA-512: kcat, confluent-kafka, kafka-python and Kafka's
# Java console producer and consumer each round-trip records, and each is refused with a
# wrong password (kcat with PLAIN when its librdkafka is too old for Kafka 4's SCRAM, see
# below). The Java console clients also round-trip records with OAUTHBEARER: an unsecured
# token on the SASL_SSL listener, and on a second SASL_SSL listener (OAUTH) a JWT signed with
# an RSA key whose JWKS is a file (Kafka's OAuthBearerValidatorCallbackHandler), where tokens
# signed by another key or for another audience are refused. The same settings (Kafka's
# keys) start either broker:
#
#   sasl_ssl_check.sh rivulet BINARY   the rivulet binary, with a PLAINTEXT and a SASL_SSL
#                                      listener on free loopback ports
#   sasl_ssl_check.sh kafka            Apache Kafka 4.1 from kafka.sh, likewise
#
# A test CA and the broker's certificate are made with openssl; the SCRAM user is created
# with kafka-configs over the PLAINTEXT listener, as on Kafka. Prints one PASS/FAIL line
# per check, then `sasl-ssl: N passed, M failed`; exits non-zero if a check failed.
#
# Environment: PY   a python with confluent-kafka and kafka-python (default python3)
# No -e: a tool that fails is a failed check (tool sets RC), not the end of the run.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=check_lib.sh
source "$HERE/check_lib.sh"
declare -A KNOWN_GAPS=()

BROKER="${1:?usage: sasl_ssl_check.sh rivulet BINARY | kafka}"
BINARY="${2:-}"
[[ "$BROKER" == kafka || ( "$BROKER" == rivulet && -x "$BINARY" ) ]] \
    || { echo "usage: sasl_ssl_check.sh rivulet BINARY | kafka" >&2; exit 2; }
PY="${PY:-python3}"

start_checks sasl-ssl-check 127.0.0.1:0
BROKER_PID=""
KAFKA_DIR=""
cleanup() {
    if [[ -n "$BROKER_PID" ]]; then kill -TERM "$BROKER_PID" 2>/dev/null || true; wait "$BROKER_PID" 2>/dev/null || true; fi
    if [[ -n "$KAFKA_DIR" ]]; then "$KAFKA" stop-kafka "$KAFKA_DIR" >/dev/null 2>&1 || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------------
# A CA and the broker's certificate for 127.0.0.1; the key is unencrypted PKCS#8, which
# both brokers read from a PEM keystore.
make_certs() {
    (
        cd "$WORK" \
            && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
                -subj "/CN=Rivulet SASL_SSL check CA" \
            && openssl req -newkey rsa:2048 -nodes -keyout broker.key -out broker.csr -subj "/CN=localhost" \
            && printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >san.ext \
            && openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out broker.crt \
                -days 2 -extfile san.ext \
            && cat broker.key broker.crt ca.pem >broker.pem
    ) >"$WORK/openssl.log" 2>&1
}
make_certs || { cat "$WORK/openssl.log"; echo "FAIL making the test CA with openssl"; exit 1; }

# The identity provider of the OAUTH listener: an RSA key, its JWKS, and signed JWTs that
# the Java clients read from a file (sasl.oauthbearer.token.endpoint.url=file:...).
# make_jwt KEY AUDIENCE: a token for alice, RS256-signed by KEY under the kid idp-1.
make_jwt() {
    python3 - "$@" <<'PY'
import base64, json, subprocess, sys, time
key, audience = sys.argv[1], sys.argv[2]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
now = int(time.time())
header = {"alg": "RS256", "typ": "JWT", "kid": "idp-1"}
claims = {"sub": "alice", "aud": audience, "iss": "https://idp.example", "iat": now,
          "exp": now + 3600, "scope": "kafka"}
message = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=message.encode(),
                           capture_output=True, check=True).stdout
print(message + "." + b64(signature))
PY
}
make_idp() {
    (
        cd "$WORK" \
            && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out idp.key \
            && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out impostor.key \
            && modulus="$(openssl rsa -in idp.key -noout -modulus | cut -d= -f2)" \
            && python3 -c 'import base64, json, sys
n = bytes.fromhex(sys.argv[1])
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
print(json.dumps({"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "idp-1", "n": b64(n), "e": "AQAB"}]}))' \
                "$modulus" >jwks.json \
            && make_jwt idp.key kafka >signed.jwt \
            && make_jwt impostor.key kafka >impostor.jwt \
            && make_jwt idp.key billing >audience.jwt
    ) >"$WORK/idp.log" 2>&1
}
make_idp || { cat "$WORK/idp.log"; echo "FAIL making the test identity provider's key and tokens"; exit 1; }
# Kafka 4 reads an OAuth URL only if the JVM system property lists it, on the broker (the
# JWKS) as on the clients (the tokens); Rivulet trusts its configuration.
TOKEN_URLS=""
for jwt in signed impostor audience; do TOKEN_URLS+=",file://$WORK/$jwt.jwt"; done
export KAFKA_OPTS="-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls=file://$WORK/jwks.json$TOKEN_URLS"

PORT="$(free_port)"
SPORT="$(free_port)"
while [[ "$SPORT" == "$PORT" ]]; do SPORT="$(free_port)"; done
OPORT="$(free_port)"
while [[ "$OPORT" == "$PORT" || "$OPORT" == "$SPORT" ]]; do OPORT="$(free_port)"; done
PLAIN_BOOTSTRAP="127.0.0.1:$PORT"
SASL_BOOTSTRAP="127.0.0.1:$SPORT"
OAUTH_BOOTSTRAP="127.0.0.1:$OPORT"

# The same security settings for both brokers, under Kafka's names.
SECURITY="ssl.keystore.type=PEM
ssl.keystore.location=$WORK/broker.pem
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN,OAUTHBEARER
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub=\"broker\";
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice=\"alice-secret\";
listener.name.oauth.sasl.enabled.mechanisms=OAUTHBEARER
listener.name.oauth.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;
listener.name.oauth.oauthbearer.sasl.server.callback.handler.class=org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler
listener.name.oauth.sasl.oauthbearer.jwks.endpoint.url=file://$WORK/jwks.json
listener.name.oauth.sasl.oauthbearer.expected.audience=kafka
listener.name.oauth.sasl.oauthbearer.expected.issuer=https://idp.example"

EXTRA_LISTENER="OAUTH:SASL_SSL:$OPORT" start_secured_broker "$BROKER" "$BINARY" "$PORT" SASL_SSL "$SPORT" "$SECURITY"
echo "$BROKER: PLAINTEXT on $PLAIN_BOOTSTRAP, SASL_SSL on $SASL_BOOTSTRAP, OAUTH (SASL_SSL, signed tokens) on $OAUTH_BOOTSTRAP"

# ---------------------------------------------------------------------------------------
client_config() {
    cat <<EOF2
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="$1";
ssl.truststore.type=PEM
ssl.truststore.location=$WORK/ca.pem
EOF2
}
client_config alice-secret >"$WORK/client.properties"
client_config not-the-password >"$WORK/wrong.properties"
cat >"$WORK/oauth.properties" <<EOF2
security.protocol=SASL_SSL
sasl.mechanism=OAUTHBEARER
sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="alice";
ssl.truststore.type=PEM
ssl.truststore.location=$WORK/ca.pem
EOF2

BOOTSTRAP="$PLAIN_BOOTSTRAP"
tool kafka-configs --alter --add-config 'SCRAM-SHA-512=[iterations=8192,password=alice-secret]' \
    --entity-type users --entity-name alice
same "kafka-configs --add-config SCRAM-SHA-512" "Completed updating config for user alice." "$(out)"
tool kafka-configs --describe --entity-type users --entity-name alice
same "kafka-configs --describe users" "SCRAM credential configs for user-principal 'alice' are SCRAM-SHA-512=iterations=8192" "$(out)"

BOOTSTRAP="$SASL_BOOTSTRAP"
# Kafka applies a credential through its metadata log a moment after answering: the first
# login is retried for a while on both brokers.
for _ in $(seq 1 30); do
    tool kafka-topics --command-config "$WORK/client.properties" --create --topic sasl-java --partitions 1
    [[ $RC -eq 0 ]] && break
    sleep 1
done
same "kafka-topics --create over SASL_SSL" "Created topic sasl-java." "$(out)"

tool_in $'java 1\njava 2\njava 3\n' kafka-console-producer --topic sasl-java --producer.config "$WORK/client.properties"
same "console producer over SASL_SSL" "0" "$RC"
tool kafka-console-consumer --topic sasl-java --from-beginning --max-messages 3 --timeout-ms 30000 \
    --consumer.config "$WORK/client.properties"
same "console consumer over SASL_SSL" $'java 1\njava 2\njava 3' "$(out)"

tool_in $'never\n' kafka-console-producer --topic sasl-java --producer.config "$WORK/wrong.properties" \
    --producer-property max.block.ms=10000
# The console producer reports the refusal and exits 0, on Kafka as on Rivulet.
if grep -q "SaslAuthenticationException: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512" "$ERR"; then
    pass "console producer with a wrong password is refused"
else
    fail "console producer with a wrong password is refused" "exit $RC, $(errline)"
fi

# OAUTHBEARER with an unsecured token, which Kafka's default validator accepts.
tool_in "$(seq 1 6 | sed 's/^/oauth /')"$'\n' kafka-console-producer --topic sasl-java \
    --producer.config "$WORK/oauth.properties" --producer-property max.block.ms=15000
same "console producer with OAUTHBEARER" "0" "$RC"
tool kafka-console-consumer --topic sasl-java --from-beginning --max-messages 9 --timeout-ms 30000 \
    --consumer.config "$WORK/oauth.properties"
same "console consumer with OAUTHBEARER" $'java 1\njava 2\njava 3\noauth 1\noauth 2\noauth 3\noauth 4\noauth 5\noauth 6' "$(out)"

# OAUTHBEARER with signed tokens on the OAUTH listener; the topic is made over PLAINTEXT.
signed_config() {
    cat <<EOF2
security.protocol=SASL_SSL
sasl.mechanism=OAUTHBEARER
sasl.login.callback.handler.class=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler
sasl.oauthbearer.token.endpoint.url=file://$WORK/$1.jwt
sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;
ssl.truststore.type=PEM
ssl.truststore.location=$WORK/ca.pem
EOF2
}
for jwt in signed impostor audience; do signed_config "$jwt" >"$WORK/$jwt.properties"; done
BOOTSTRAP="$PLAIN_BOOTSTRAP"
tool kafka-topics --create --topic signed-java --partitions 1
same "kafka-topics --create signed-java" "Created topic signed-java." "$(out)"
BOOTSTRAP="$OAUTH_BOOTSTRAP"
tool_in $'signed 1\nsigned 2\nsigned 3\n' kafka-console-producer --topic signed-java \
    --producer.config "$WORK/signed.properties" --producer-property max.block.ms=15000
if [[ $RC -eq 0 ]] && ! grep -q "SaslAuthenticationException" "$ERR"; then
    pass "console producer with a signed OAUTHBEARER token (file: JWKS)"
else
    fail "console producer with a signed OAUTHBEARER token (file: JWKS)" "exit $RC, $(errline)"
fi
tool kafka-console-consumer --topic signed-java --from-beginning --max-messages 3 --timeout-ms 30000 \
    --consumer.config "$WORK/signed.properties"
same "console consumer with a signed OAUTHBEARER token (file: JWKS)" $'signed 1\nsigned 2\nsigned 3' "$(out)"
for refused in "impostor:signed by another key" "audience:for another audience"; do
    tool_in $'never\n' kafka-console-producer --topic signed-java \
        --producer.config "$WORK/${refused%%:*}.properties" --producer-property max.block.ms=10000
    if grep -q "SaslAuthenticationException" "$ERR"; then
        pass "a token ${refused#*:} is refused"
    else
        fail "a token ${refused#*:} is refused" "exit $RC, $(errline)"
    fi
done
BOOTSTRAP="$SASL_BOOTSTRAP"

# kcat: librdkafka before 2.6.1 repeats its nonce in SCRAM's final message, which Kafka 4
# refuses (CVE-2024-56128), and so does Rivulet. With such a librdkafka (Debian 12's kcat
# links 2.0.2) the check is that SCRAM is refused on both brokers, and the round trip runs
# over SASL_SSL with PLAIN; with a newer one, over SCRAM-SHA-512.
KCAT=(kcat -b "$SASL_BOOTSTRAP" -X broker.address.family=v4 -X security.protocol=SASL_SSL
    -X sasl.username=alice -X "ssl.ca.location=$WORK/ca.pem")
RDKAFKA="$(kcat -V 2>&1 | grep -oE 'librdkafka [0-9.]+' | head -n 1 | awk '{print $2}')"
if [[ "$(printf '%s\n2.6.1\n' "$RDKAFKA" | sort -V | head -n 1)" == 2.6.1 ]]; then
    KCAT_MECHANISM=SCRAM-SHA-512
else
    KCAT_MECHANISM=PLAIN
    if timeout 60 "${KCAT[@]}" -X sasl.mechanisms=SCRAM-SHA-512 -X sasl.password=alice-secret -L -m 10 >"$OUT" 2>"$ERR"; then
        fail "kcat (librdkafka $RDKAFKA) SCRAM-SHA-512 is refused as on Kafka 4" "metadata was served"
    elif grep -q "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512" "$ERR"; then
        pass "kcat (librdkafka $RDKAFKA) SCRAM-SHA-512 is refused as on Kafka 4"
    else
        fail "kcat (librdkafka $RDKAFKA) SCRAM-SHA-512 is refused as on Kafka 4" "$(head -n 2 "$ERR")"
    fi
fi
KCAT+=(-X "sasl.mechanisms=$KCAT_MECHANISM")
seq 1 500 | sed 's/^/kcat /' >"$WORK/kcat-in.txt"
if timeout 60 "${KCAT[@]}" -X sasl.password=alice-secret -P -t sasl-kcat -X acks=all -l "$WORK/kcat-in.txt" 2>"$ERR"; then
    timeout 60 "${KCAT[@]}" -X sasl.password=alice-secret -C -t sasl-kcat -o beginning -e -q >"$WORK/kcat-out.txt" 2>"$ERR" || true
    same "kcat round trip over SASL_SSL ($KCAT_MECHANISM)" "$(cat "$WORK/kcat-in.txt")" "$(cat "$WORK/kcat-out.txt")"
else
    fail "kcat round trip over SASL_SSL ($KCAT_MECHANISM)" "produce failed: $(head -n 2 "$ERR")"
fi
if timeout 60 "${KCAT[@]}" -X sasl.password=wrong -L -m 10 >"$OUT" 2>"$ERR"; then
    fail "kcat with a wrong password is refused ($KCAT_MECHANISM)" "metadata was served"
elif grep -q "Authentication failed" "$ERR"; then
    pass "kcat with a wrong password is refused ($KCAT_MECHANISM)"
else
    fail "kcat with a wrong password is refused ($KCAT_MECHANISM)" "$(head -n 2 "$ERR")"
fi

while IFS= read -r line; do
    case "$line" in
        "PASS "*) pass "${line#PASS }" ;;
        "FAIL "*) name="${line#FAIL }"; fail "${name%%: *}" "${name#*: }" ;;
        *) echo "$line" ;;
    esac
done < <(timeout 300 "$PY" "$HERE/../compat/sasl_ssl_roundtrip.py" "$SASL_BOOTSTRAP" "$WORK/ca.pem" alice alice-secret 2>"$WORK/python.err" || true)
[[ $PASSED -ge 17 ]] || fail "python clients" "the python checks did not all run"


# ---------------------------------------------------------------------------------------
# Java stores: the broker started again (fresh data) with an SSL listener whose keystore is
# PKCS12 (the same key and chain, exported by openssl) and whose truststore is JKS (keytool),
# with client certificates required. Kafka's Java console clients trust the broker through a
# JKS truststore and present a client certificate from a PKCS12 keystore; a client without
# one is refused. The client certificate has an extension, so it is X.509 v3: Rivulet's
# verifier (webpki) refuses v1 certificates, which Java accepts.
java_store_checks() {
    local stores="$WORK/java-stores"
    mkdir -p "$stores"
    (
        cd "$stores" \
            && openssl pkcs12 -export -in "$WORK/broker.crt" -inkey "$WORK/broker.key" -certfile "$WORK/ca.pem" \
                -name broker -out broker.p12 -passout pass:store-secret \
            && openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj "/CN=alice" \
            && printf 'extendedKeyUsage=clientAuth\n' >client.ext \
            && openssl x509 -req -in client.csr -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial \
                -out client.crt -days 2 -extfile client.ext \
            && openssl pkcs12 -export -in client.crt -inkey client.key -name alice -out client.p12 \
                -passout pass:client-secret \
            && keytool -importcert -noprompt -alias ca -file "$WORK/ca.pem" -keystore truststore.jks \
                -storetype JKS -storepass trust-secret
    ) >"$stores/make.log" 2>&1 || { fail "Java stores made with openssl and keytool" "$(tail -n 3 "$stores/make.log")"; return; }

    if [[ -n "$BROKER_PID" ]]; then
        kill -TERM "$BROKER_PID" 2>/dev/null; wait "$BROKER_PID" 2>/dev/null; BROKER_PID=""
        rm -rf "$WORK/data"
    fi
    if [[ -n "$KAFKA_DIR" ]]; then
        "$KAFKA" stop-kafka "$KAFKA_DIR" >/dev/null 2>&1; rm -rf "$KAFKA_DIR"; KAFKA_DIR=""
    fi
    local port sport
    port="$(free_port)"
    sport="$(free_port)"
    while [[ "$sport" == "$port" ]]; do sport="$(free_port)"; done
    start_secured_broker "$BROKER" "$BINARY" "$port" SSL "$sport" "ssl.keystore.type=PKCS12
ssl.keystore.location=$stores/broker.p12
ssl.keystore.password=store-secret
ssl.truststore.type=JKS
ssl.truststore.location=$stores/truststore.jks
ssl.truststore.password=trust-secret
ssl.client.auth=required"

    cat >"$stores/ssl.properties" <<EOF2
security.protocol=SSL
ssl.truststore.type=JKS
ssl.truststore.location=$stores/truststore.jks
ssl.truststore.password=trust-secret
ssl.keystore.type=PKCS12
ssl.keystore.location=$stores/client.p12
ssl.keystore.password=client-secret
EOF2
    head -n 4 "$stores/ssl.properties" >"$stores/no-certificate.properties"
    printf 'default.api.timeout.ms=15000\nrequest.timeout.ms=10000\n' >>"$stores/no-certificate.properties"

    BOOTSTRAP="127.0.0.1:$sport"
    tool kafka-topics --command-config "$stores/ssl.properties" --create --topic ssl-java --partitions 1
    same "kafka-topics --create over SSL (PKCS12 keystore, JKS truststore)" "Created topic ssl-java." "$(out)"
    tool_in $'ssl 1\nssl 2\nssl 3\n' kafka-console-producer --topic ssl-java --producer.config "$stores/ssl.properties"
    same "console producer over SSL with a PKCS12 client certificate" "0" "$RC"
    tool kafka-console-consumer --topic ssl-java --from-beginning --max-messages 3 --timeout-ms 30000 \
        --consumer.config "$stores/ssl.properties"
    same "console consumer over SSL with a PKCS12 client certificate" $'ssl 1\nssl 2\nssl 3' "$(out)"
    tool kafka-topics --command-config "$stores/no-certificate.properties" --list
    if [[ $RC -ne 0 ]] && grep -q "SslAuthenticationException" "$ERR"; then
        pass "kafka-topics without a client certificate is refused (ssl.client.auth=required)"
    else
        fail "kafka-topics without a client certificate is refused (ssl.client.auth=required)" \
            "exit $RC, $(out | head -n 1) $(errline)"
    fi
}
java_store_checks

finish_checks sasl-ssl
