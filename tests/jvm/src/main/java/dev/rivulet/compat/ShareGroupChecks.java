package dev.rivulet.compat;

import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicIdPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Share groups (KIP-932) through Kafka 4.1's {@link KafkaShareConsumer} with explicit
 * acknowledgement: each check prints {@code PASS name} or {@code FAIL name: what differs},
 * then a summary line; the exit status is non-zero if any check failed.
 *
 * <pre>
 *   ShareGroupChecks BOOTSTRAP
 *       three consumers share a one-partition topic of 30,000 records, each record accepted
 *       exactly once; a consumer SIGKILLed while it holds records has them redelivered to
 *       another, at the latest once their acquisition lock runs out (Kafka 4.1 releases them
 *       as soon as it sees the connection close)
 *   ShareGroupChecks --before-restart BOOTSTRAP TOPIC GROUP STATE_FILE
 *       accepts part of a topic's records and writes their values to STATE_FILE
 *   ShareGroupChecks --after-restart BOOTSTRAP TOPIC GROUP STATE_FILE
 *       (the broker restarted in between) reads the rest: nothing accepted comes back, and
 *       everything else does
 *   ShareGroupChecks --hold BOOTSTRAP TOPIC GROUP
 *       polls until it acquires records, prints HOLDING offset,... and then keeps them,
 *       never acknowledging, until it is killed
 * </pre>
 *
 * <p>A share group starts reading a partition at its end (share.auto.offset.reset latest)
 * when a member first fetches it, so each check first produces warm-up records, one at a
 * time, until a member has received one: what is produced after that is all delivered.
 *
 * <p>Apache Kafka 4.1 (share.version=1) is the reference: every check passes against it. The
 * redelivery check waits for the broker's record lock duration
 * (group.share.record.lock.duration.ms, 30 s by default) plus a margin.
 */
public final class ShareGroupChecks extends CheckRunner {
    private static final int RECORDS = 30_000;
    private static final int RESTART_RECORDS = 2_000;
    private static final Duration READ_TIMEOUT = Duration.ofSeconds(120);
    /** Kafka's largest default lock (30 s) plus heartbeat and fetch slack. */
    private static final Duration REDELIVERY_TIMEOUT = Duration.ofSeconds(75);
    private static final String WARMUP = "warmup-";

    private final String bootstrap;
    private final Admin admin;
    private final List<String> topics = new ArrayList<>();
    private final String suffix = UUID.randomUUID().toString().substring(0, 8);

    /** --after-restart: TOPIC, GROUP and STATE_FILE; null for the main checks. */
    private final String[] restart;

    private ShareGroupChecks(String bootstrap, String[] restart) {
        this.bootstrap = bootstrap;
        // The restart topic stays for share_check.sh's tool checks, which delete it.
        this.restart = restart;
        this.admin = adminClient(bootstrap, "share-checks-admin");
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 5 && args[0].equals("--before-restart")) {
            System.exit(beforeRestart(args[1], args[2], args[3], Path.of(args[4])));
        }
        if (args.length == 5 && args[0].equals("--after-restart")) {
            new ShareGroupChecks(args[1], new String[] {args[2], args[3], args[4]})
                .runAndExit("share groups after restart");
        }
        if (args.length == 4 && args[0].equals("--hold")) {
            hold(args[1], args[2], args[3]);
            return;
        }
        if (args.length != 1) {
            System.err.println("usage: ShareGroupChecks BOOTSTRAP | --before-restart|--after-restart BOOTSTRAP TOPIC GROUP STATE_FILE | --hold BOOTSTRAP TOPIC GROUP");
            System.exit(2);
        }
        new ShareGroupChecks(args[0], null).runAndExit("share groups");
    }

    @Override
    void runAll() {
        if (restart != null) {
            check("restart loses no acknowledgement",
                () -> afterRestart(bootstrap, restart[0], restart[1], Path.of(restart[2])));
            return;
        }
        check("three consumers share 30000 records, each accepted once", this::threeConsumers);
        check("a SIGKILLed consumer's records are redelivered after the lock", this::killedConsumer);
    }

    @Override
    void close() {
        deleteTopicsAndClose(admin, topics);
    }

    private String newTopic(String name) throws Exception {
        String topic = name + "-" + suffix;
        get(admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all());
        topics.add(topic);
        return topic;
    }

    static KafkaShareConsumer<String, String> shareConsumer(String bootstrap, String group, String clientId) {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        props.put(ConsumerConfig.CLIENT_ID_CONFIG, clientId);
        props.put("share.acknowledgement.mode", "explicit");
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        return new KafkaShareConsumer<>(props);
    }

    static KafkaProducer<String, String> producer(String bootstrap) {
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        return new KafkaProducer<>(props);
    }

    /** Produces warm-up records one at a time until {@code received} is set. */
    static void warmUp(KafkaProducer<String, String> producer, String topic, AtomicBoolean received) throws Exception {
        long deadline = System.nanoTime() + READ_TIMEOUT.toNanos();
        for (int i = 0; !received.get(); i++) {
            expect(System.nanoTime() < deadline, "no member received a warm-up record within %s", READ_TIMEOUT);
            producer.send(new ProducerRecord<>(topic, WARMUP + i)).get(CALL_TIMEOUT_S, TimeUnit.SECONDS);
            Thread.sleep(300);
        }
    }

    /**
     * Accepts every record of one poll and commits; returns the values accepted, or none if
     * the broker refused the acknowledgement (a lock lost meanwhile: the record comes again).
     */
    static List<String> acceptAll(KafkaShareConsumer<String, String> consumer, ConsumerRecords<String, String> records) {
        List<String> values = new ArrayList<>();
        for (ConsumerRecord<String, String> r : records) {
            consumer.acknowledge(r, AcknowledgeType.ACCEPT);
            values.add(r.value());
        }
        if (values.isEmpty()) {
            return values;
        }
        Map<TopicIdPartition, Optional<KafkaException>> result = consumer.commitSync(Duration.ofSeconds(CALL_TIMEOUT_S));
        for (Optional<KafkaException> e : result.values()) {
            if (e.isPresent()) {
                return List.of();
            }
        }
        return values;
    }

    private void threeConsumers() throws Exception {
        String topic = newTopic("share-three");
        String group = "share-three-" + suffix;
        AtomicBoolean warm = new AtomicBoolean();
        AtomicBoolean stop = new AtomicBoolean();
        Map<String, Integer> acceptedBy = new ConcurrentHashMap<>();
        Map<String, Integer> timesAccepted = new ConcurrentHashMap<>();
        AtomicInteger accepted = new AtomicInteger();
        List<Thread> threads = new ArrayList<>();
        List<Throwable> errors = Collections.synchronizedList(new ArrayList<>());
        for (int c = 0; c < 3; c++) {
            String name = "share-consumer-" + c;
            Thread t = new Thread(() -> {
                try (KafkaShareConsumer<String, String> consumer = shareConsumer(bootstrap, group, name)) {
                    consumer.subscribe(List.of(topic));
                    while (!stop.get()) {
                        ConsumerRecords<String, String> records = consumer.poll(Duration.ofMillis(200));
                        if (!records.isEmpty()) {
                            warm.set(true);
                        }
                        for (String v : acceptAll(consumer, records)) {
                            if (v.startsWith(WARMUP)) {
                                continue;
                            }
                            timesAccepted.merge(v, 1, Integer::sum);
                            acceptedBy.merge(name, 1, Integer::sum);
                            accepted.incrementAndGet();
                        }
                    }
                } catch (Throwable e) {
                    errors.add(e);
                }
            }, name);
            t.start();
            threads.add(t);
        }
        try (KafkaProducer<String, String> producer = producer(bootstrap)) {
            warmUp(producer, topic, warm);
            for (int i = 0; i < RECORDS; i++) {
                producer.send(new ProducerRecord<>(topic, "record-" + i));
            }
            producer.flush();
            long deadline = System.nanoTime() + READ_TIMEOUT.toNanos();
            while (accepted.get() < RECORDS && System.nanoTime() < deadline && errors.isEmpty()) {
                Thread.sleep(200);
            }
            // Anything accepted twice would show up in a short while more.
            Thread.sleep(2000);
        } finally {
            stop.set(true);
            for (Thread t : threads) {
                t.join(TimeUnit.SECONDS.toMillis(30));
            }
        }
        expect(errors.isEmpty(), "a consumer failed: %s", errors.isEmpty() ? "" : describe(errors.get(0)));
        expectEqual(RECORDS, timesAccepted.size(), "distinct records accepted");
        for (int i = 0; i < RECORDS; i++) {
            Integer n = timesAccepted.get("record-" + i);
            expect(n != null && n == 1, "record-%d accepted %s times", i, n);
        }
        expectEqual(3, acceptedBy.size(), "consumers that accepted records (" + acceptedBy + ")");
    }

    private void killedConsumer() throws Exception {
        String topic = newTopic("share-kill");
        String group = "share-kill-" + suffix;
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder(java, "-Xmx256m", "-XX:+UseSerialGC",
            "-cp", System.getProperty("java.class.path"), ShareGroupChecks.class.getName(),
            "--hold", bootstrap, topic, group);
        pb.redirectError(ProcessBuilder.Redirect.DISCARD);
        Process child = pb.start();
        Set<Long> held = new TreeSet<>();
        try (KafkaProducer<String, String> producer = producer(bootstrap)) {
            AtomicBoolean holding = new AtomicBoolean();
            Thread reader = new Thread(() -> {
                try (BufferedReader out = new BufferedReader(
                        new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String line; (line = out.readLine()) != null; ) {
                        if (line.startsWith("HOLDING ")) {
                            for (String o : line.substring(8).split(",")) {
                                synchronized (held) {
                                    held.add(Long.parseLong(o));
                                }
                            }
                            holding.set(true);
                        }
                    }
                } catch (Exception e) {
                    // The child was killed.
                }
            });
            reader.start();
            warmUp(producer, topic, holding);
        } finally {
            child.destroyForcibly(); // SIGKILL: no leave, no release; only the lock expires.
            child.waitFor(10, TimeUnit.SECONDS);
        }
        expect(!held.isEmpty(), "the killed consumer held no records");
        Set<Long> redelivered = new HashSet<>();
        try (KafkaShareConsumer<String, String> consumer = shareConsumer(bootstrap, group, "share-after-kill")) {
            consumer.subscribe(List.of(topic));
            long deadline = System.nanoTime() + REDELIVERY_TIMEOUT.toNanos();
            while (!redelivered.containsAll(held) && System.nanoTime() < deadline) {
                ConsumerRecords<String, String> records = consumer.poll(Duration.ofMillis(500));
                for (ConsumerRecord<String, String> r : records) {
                    redelivered.add(r.offset());
                }
                acceptAll(consumer, records);
            }
        }
        expect(redelivered.containsAll(held), "held %s, redelivered only %s within %s", held, redelivered, REDELIVERY_TIMEOUT);
    }

    /** Child process: acquire records and keep them until killed. */
    private static void hold(String bootstrap, String topic, String group) throws Exception {
        KafkaShareConsumer<String, String> consumer = shareConsumer(bootstrap, group, "share-holder");
        consumer.subscribe(List.of(topic));
        while (true) {
            ConsumerRecords<String, String> records = consumer.poll(Duration.ofMillis(500));
            if (!records.isEmpty()) {
                List<String> offsets = new ArrayList<>();
                for (ConsumerRecord<String, String> r : records) {
                    offsets.add(Long.toString(r.offset()));
                }
                System.out.println("HOLDING " + String.join(",", offsets));
                System.out.flush();
                // Never acknowledge, never poll again: the records stay acquired.
                Thread.sleep(Long.MAX_VALUE);
            }
        }
    }

    private static int beforeRestart(String bootstrap, String topic, String group, Path state) throws Exception {
        try (Admin admin = adminClient(bootstrap, "share-restart-admin")) {
            get(admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all());
        }
        Set<String> accepted = new TreeSet<>();
        AtomicBoolean warm = new AtomicBoolean();
        try (KafkaShareConsumer<String, String> consumer = shareConsumer(bootstrap, group, "share-before");
             KafkaProducer<String, String> producer = producer(bootstrap)) {
            consumer.subscribe(List.of(topic));
            Thread warming = new Thread(() -> {
                try {
                    warmUp(producer, topic, warm);
                } catch (Exception e) {
                    warm.set(true);
                }
            });
            warming.start();
            long deadline = System.nanoTime() + READ_TIMEOUT.toNanos();
            while (!warm.get() && System.nanoTime() < deadline) {
                ConsumerRecords<String, String> records = consumer.poll(Duration.ofMillis(200));
                if (!records.isEmpty()) {
                    acceptAll(consumer, records);
                    warm.set(true);
                }
            }
            warming.join();
            for (int i = 0; i < RESTART_RECORDS; i++) {
                producer.send(new ProducerRecord<>(topic, "restart-" + i));
            }
            producer.flush();
            // Accept about half, then close: what the consumer still holds is released.
            while (accepted.size() < RESTART_RECORDS / 2 && System.nanoTime() < deadline) {
                for (String v : acceptAll(consumer, consumer.poll(Duration.ofMillis(500)))) {
                    if (!v.startsWith(WARMUP)) {
                        accepted.add(v);
                    }
                }
            }
        }
        Files.write(state, accepted, StandardCharsets.UTF_8);
        System.out.println("accepted " + accepted.size() + " of " + RESTART_RECORDS + " records before the restart");
        return accepted.size() >= RESTART_RECORDS / 2 ? 0 : 1;
    }

    private static void afterRestart(String bootstrap, String topic, String group, Path state) throws Exception {
        Set<String> before = new HashSet<>(Files.readAllLines(state, StandardCharsets.UTF_8));
        Set<String> wanted = new TreeSet<>();
        for (int i = 0; i < RESTART_RECORDS; i++) {
            if (!before.contains("restart-" + i)) {
                wanted.add("restart-" + i);
            }
        }
        Set<String> got = new HashSet<>();
        List<String> again = new ArrayList<>();
        try (KafkaShareConsumer<String, String> consumer = shareConsumer(bootstrap, group, "share-after")) {
            consumer.subscribe(List.of(topic));
            long deadline = System.nanoTime() + READ_TIMEOUT.toNanos();
            long quietUntil = Long.MAX_VALUE;
            // Read until everything expected came, then a little longer for anything extra.
            while (System.nanoTime() < Math.min(deadline, quietUntil)) {
                for (String v : acceptAll(consumer, consumer.poll(Duration.ofMillis(500)))) {
                    if (before.contains(v)) {
                        again.add(v);
                    }
                    got.add(v);
                }
                if (got.containsAll(wanted) && quietUntil == Long.MAX_VALUE) {
                    quietUntil = System.nanoTime() + TimeUnit.SECONDS.toNanos(3);
                }
            }
        }
        expect(again.isEmpty(), "%d records accepted before the restart came again, e.g. %s", again.size(),
            again.isEmpty() ? "" : again.get(0));
        Set<String> missing = new TreeSet<>(wanted);
        missing.removeAll(got);
        expect(missing.isEmpty(), "%d records not accepted before the restart never came, e.g. %s", missing.size(),
            missing.isEmpty() ? "" : missing.iterator().next());
        new File(state.toString()).delete();
    }
}
