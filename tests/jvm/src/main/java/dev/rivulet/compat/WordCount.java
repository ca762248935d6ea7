package dev.rivulet.compat;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.LongDeserializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.Utils;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.processor.StateRestoreListener;

/**
 * Kafka Streams word count against a broker, with exact expected counts.
 *
 * <p>Usage: {@code WordCount BOOTSTRAP [at_least_once|exactly_once_v2] [LINES] [--kill N]}.
 *
 * <p>The corpus comes from a fixed seed, so the expected count of every word is known before
 * anything is produced. The topology is the classic one (split, re-key by word through a
 * repartition topic, count into a changelogged store, emit updates), which exercises the
 * broker the way Streams applications do: internal topic creation through the admin client,
 * a consumer group with Streams' own assignor, producers writing to three kinds of topic,
 * offset commits every few hundred milliseconds and, with exactly_once_v2, transactions.
 *
 * <p>The output topic is a changelog of counts: a word's count may appear several times
 * (and under at_least_once a retried batch may repeat an update), but the last value per
 * word must be the exact count.
 *
 * <p>With {@code --kill N} the topology runs in a child JVM instead, which is killed with
 * SIGKILL N times part-way through the stream and restarted each time with the same
 * application.id and state directory, as a crashed application is restarted; the last
 * instance runs to the end and is then stopped cleanly. Each restart fences the killed
 * instance's producers, aborts its open transactions and restores its store from the
 * committed changelog, so under exactly_once_v2 the committed output must read as if no
 * instance had ever died. The input is produced as the count advances, so that each kill
 * interrupts the reading of input as well as the counting. The child runs without a record
 * cache: every word occurrence emits one count update, in the transaction that commits the
 * offset of the record that caused it, so the committed updates of a word must read exactly
 * 1, 2, ..., n; a repeated or smaller value is a double count, a skipped one a lost update.
 * Under at_least_once a kill normally does cause double counts (final counts too high),
 * which this mode then reports as a failure: a control showing that it can tell.
 */
public final class WordCount {
    private static final long SEED = 20_240_917L;
    private static final Duration TIMEOUT = Duration.ofSeconds(120);
    private static final int COMMIT_INTERVAL_MS = 200;

    /** First argument of the child JVM of the kill mode: run the topology, nothing else. */
    private static final String TOPOLOGY_ONLY = "--topology-only";
    /** A child's log line about a restored store, as the parent reads it back. */
    private static final Pattern RESTORED_LINE = Pattern.compile("^\\S+ restored (\\d+) records of .*");
    /** Kill mode: the longest wait for the next committed count update while counts are still
     *  missing, restarts included (a JVM start, the dead members' session timeout, restoring
     *  the store from the changelog). */
    private static final Duration STALL_TIMEOUT = Duration.ofSeconds(120);
    /** Kill mode: once every count is complete, how long no further update may arrive before
     *  the last instance is stopped; an update after the exact count would be a double count. */
    private static final Duration QUIET_PERIOD = Duration.ofSeconds(3);
    /** Kill mode: how long the last instance may take to commit, leave the group and exit. */
    private static final Duration CLEAN_STOP_TIMEOUT = Duration.ofSeconds(60);
    /** The child's own bound, should its parent neither stop nor kill it. */
    private static final Duration CHILD_MAX_LIFETIME = Duration.ofMinutes(30);
    /** Kafka's default group.min.session.timeout.ms: the consumers of a killed instance stay
     *  in the group this long, and the next instance's first rebalance waits for them to go. */
    private static final int CHILD_SESSION_TIMEOUT_MS = 6_000;

    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals(TOPOLOGY_ONLY)) {
            runTopologyOnly(Arrays.copyOfRange(args, 1, args.length));
            return;
        }
        List<String> positional = new ArrayList<>();
        int kills = 0;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--kill") && i + 1 < args.length && args[i + 1].matches("[0-9]{1,4}")) {
                kills = Integer.parseInt(args[++i]);
            } else {
                positional.add(args[i]);
            }
        }
        if (positional.isEmpty() || positional.size() > 3) {
            System.err.println("usage: WordCount BOOTSTRAP [at_least_once|exactly_once_v2] [LINES] [--kill N]");
            System.exit(2);
        }
        String bootstrap = positional.get(0);
        String guarantee = positional.size() > 1 ? positional.get(1) : StreamsConfig.AT_LEAST_ONCE;
        int lines = positional.size() > 2 ? Integer.parseInt(positional.get(2)) : 20_000;
        if (!guarantee.equals(StreamsConfig.AT_LEAST_ONCE) && !guarantee.equals(StreamsConfig.EXACTLY_ONCE_V2)) {
            System.err.println("processing guarantee must be at_least_once or exactly_once_v2, not " + guarantee);
            System.exit(2);
        }
        WordCount check = new WordCount(bootstrap, guarantee, lines);
        boolean ok = kills > 0 ? check.runWithKills(kills) : check.run();
        System.exit(ok ? 0 : 1);
    }

    private final String bootstrap;
    private final String guarantee;
    private final int lines;
    private final String run = UUID.randomUUID().toString().substring(0, 8);
    private final String input;
    private final String output;
    private final String applicationId;

    private WordCount(String bootstrap, String guarantee, int lines) {
        this.bootstrap = bootstrap;
        this.guarantee = guarantee;
        this.lines = lines;
        this.input = "wordcount-input-" + run;
        this.output = "wordcount-output-" + run;
        this.applicationId = "wordcount-" + guarantee.replace('_', '-') + "-" + run;
    }

    /** A vocabulary whose words are used with very different frequencies (a Zipf-like skew),
     *  so some keys get thousands of updates and others a handful. */
    private static List<String> vocabulary() {
        String[] syllables = {"ka", "fe", "ri", "vo", "lu", "ne", "so", "ta", "mi", "do", "qua", "zen"};
        List<String> words = new ArrayList<>();
        for (int i = 0; i < syllables.length; i++) {
            for (int j = 0; j < syllables.length; j++) {
                words.add(syllables[i] + syllables[j]);
                words.add(syllables[j] + syllables[i] + "n");
            }
        }
        return words.stream().distinct().sorted().collect(Collectors.toList());
    }

    private static List<String> corpus(int lines, Map<String, Long> expected) {
        List<String> vocabulary = vocabulary();
        Random random = new Random(SEED);
        List<String> out = new ArrayList<>(lines);
        for (int i = 0; i < lines; i++) {
            int n = 1 + random.nextInt(12);
            StringBuilder line = new StringBuilder();
            for (int w = 0; w < n; w++) {
                // Squaring a uniform variable skews towards the start of the vocabulary.
                double u = random.nextDouble();
                String word = vocabulary.get((int) (u * u * vocabulary.size()));
                if (w > 0) {
                    // Varying separators: the topology must split on any run of whitespace.
                    line.append(random.nextInt(10) == 0 ? "  " : " ");
                }
                // Upper-case variants count as the same word after lower-casing.
                line.append(random.nextInt(20) == 0 ? word.toUpperCase() : word);
                expected.merge(word, 1L, Long::sum);
            }
            out.add(line.toString());
        }
        return out;
    }

    private static Topology topology(String input, String output) {
        StreamsBuilder builder = new StreamsBuilder();
        builder.stream(input, Consumed.with(Serdes.String(), Serdes.String()))
            .flatMapValues(line -> Arrays.asList(line.toLowerCase().trim().split("\\s+")))
            .groupBy((key, word) -> word, Grouped.with("words", Serdes.String(), Serdes.String()))
            .count(Materialized.as("counts"))
            .toStream()
            .to(output, Produced.with(Serdes.String(), Serdes.Long()));
        return builder.build();
    }

    private static Properties streamsProperties(String bootstrap, String guarantee, String applicationId,
                                                Path stateDir) {
        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, applicationId);
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee);
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, COMMIT_INTERVAL_MS);
        props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 2);
        props.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        props.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
        return props;
    }

    private Properties adminProperties() {
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30_000);
        return props;
    }

    private KafkaConsumer<String, Long> outputConsumer(IsolationLevel isolation) {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, LongDeserializer.class);
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation.toString().toLowerCase());
        KafkaConsumer<String, Long> consumer = new KafkaConsumer<>(props);
        List<TopicPartition> partitions = outputPartitions();
        consumer.assign(partitions);
        consumer.seekToBeginning(partitions);
        return consumer;
    }

    private List<TopicPartition> outputPartitions() {
        return List.of(new TopicPartition(output, 0), new TopicPartition(output, 1), new TopicPartition(output, 2));
    }

    private void createTopics() throws Exception {
        try (Admin admin = Admin.create(adminProperties())) {
            admin.createTopics(List.of(
                    new NewTopic(input, 3, (short) 1),
                    new NewTopic(output, 3, (short) 1)))
                .all().get(30, TimeUnit.SECONDS);
        }
    }

    private KafkaProducer<String, String> inputProducer() {
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        return new KafkaProducer<>(props);
    }

    /** Sends lines FROM (inclusive) to UNTIL (exclusive) of the corpus; returns UNTIL. */
    private int produce(KafkaProducer<String, String> producer, List<String> corpus, int from, int until) {
        for (int i = from; i < until; i++) {
            producer.send(new ProducerRecord<>(input, "line-" + i, corpus.get(i)));
        }
        return until;
    }

    private boolean run() throws Exception {
        long started = System.nanoTime();
        Map<String, Long> expected = new TreeMap<>();
        List<String> corpus = corpus(lines, expected);
        long totalWords = expected.values().stream().mapToLong(Long::longValue).sum();
        String label = "streams word count (" + guarantee + ")";

        createTopics();
        try (KafkaProducer<String, String> producer = inputProducer()) {
            produce(producer, corpus, 0, corpus.size());
            producer.flush();
        }
        long produced = System.nanoTime();

        Path stateDir = Files.createTempDirectory("wordcount-state-");
        AtomicReference<Throwable> streamsError = new AtomicReference<>();
        KafkaStreams streams = new KafkaStreams(topology(input, output),
            streamsProperties(bootstrap, guarantee, applicationId, stateDir));
        streams.setUncaughtExceptionHandler(e -> {
            streamsError.compareAndSet(null, e);
            return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        Map<String, Long> latest = new HashMap<>();
        long updates = 0;
        boolean done = false;
        try {
            streams.start();
            // Under exactly-once only committed counts may be seen; aborted ones would be a bug.
            IsolationLevel isolation = guarantee.equals(StreamsConfig.AT_LEAST_ONCE)
                ? IsolationLevel.READ_UNCOMMITTED : IsolationLevel.READ_COMMITTED;
            try (KafkaConsumer<String, Long> consumer = outputConsumer(isolation)) {
                long deadline = System.nanoTime() + TIMEOUT.toNanos();
                while (!done && System.nanoTime() < deadline) {
                    if (streamsError.get() != null || streams.state() == KafkaStreams.State.ERROR
                            || streams.state() == KafkaStreams.State.PENDING_ERROR) {
                        break;
                    }
                    for (ConsumerRecord<String, Long> record : consumer.poll(Duration.ofMillis(500))) {
                        latest.put(record.key(), record.value());
                        updates++;
                    }
                    done = latest.equals(expected);
                }
            }
        } finally {
            streams.close(Duration.ofSeconds(30));
            // The state directory is this run's alone: removing it is the whole clean-up.
            Utils.delete(stateDir.toFile());
        }
        double seconds = (System.nanoTime() - started) / 1e9;
        double streamSeconds = (System.nanoTime() - produced) / 1e9;

        if (done) {
            System.out.printf("PASS %s: %d words, %d lines (%d distinct words, %d count updates read; "
                    + "%.1f s, %.1f s after producing)%n",
                label, totalWords, lines, expected.size(), updates, seconds, streamSeconds);
            deleteTopics();
            return true;
        }
        List<String> mismatches = mismatches(expected, latest);
        String reason = streamsError.get() != null
            ? "streams failed: " + oneLine(streamsError.get())
            : "timed out after " + TIMEOUT.toSeconds() + " s, streams state " + streams.state();
        System.out.printf("FAIL %s: %s; %d of %d words differ, %d count updates read; first: %s%n",
            label, reason, mismatches.size(), expected.size(), updates, first(mismatches, 10));
        return false;
    }

    // -------------------------------------------------------------------------------------
    // Kill mode

    /** What was committed when an instance was killed, to show that the kill landed mid-stream. */
    private record KillPoint(int instance, double secondsAfterStart, double secondsToFirstUpdate,
                             double secondsIntoStream, int producedLines, long committedInputLines,
                             long committedUpdates, String openOutputOffsets, long restoredRecords,
                             int exitStatus) {
    }

    private boolean runWithKills(int kills) throws Exception {
        long started = System.nanoTime();
        Map<String, Long> expected = new TreeMap<>();
        List<String> corpus = corpus(lines, expected);
        long totalWords = expected.values().stream().mapToLong(Long::longValue).sum();
        String label = "streams word count (" + guarantee + ", SIGKILLed " + kills + " times)";
        // The input is produced as the count advances, this many lines ahead of the lines
        // counted so far, rather than all at once: splitting lines is much faster than counting
        // words, so with the whole corpus there from the start every input offset would be
        // committed before the first kill. This way each kill also interrupts transactions that
        // consume input and write the repartition topic, and there is input still to come.
        int inputLead = Math.max(1, lines / (2 * (kills + 1)));

        createTopics();
        long streamStarted = System.nanoTime();
        System.out.printf("%s: %d lines (%d words), produced up to %d lines ahead of the count; %d instances, "
                + "the first %d killed with SIGKILL once %s of the count updates are committed%n",
            label, lines, totalWords, inputLead, kills + 1, kills, killFractions(kills));

        // One state directory for every instance, as a restarted application has: it keeps the
        // Streams process id (hence the transactional ids that fence the killed instance's
        // producers) and the store files and checkpoints the next instance restores from.
        Path workDir = Files.createTempDirectory("wordcount-kill-");
        Path stateDir = workDir.resolve("state");
        CountSequences sequences = new CountSequences(expected);
        List<KillPoint> killPoints = new ArrayList<>();
        String failure = null;
        long abortedUpdates = -1;
        Process child = null;
        try (Admin admin = Admin.create(adminProperties());
             KafkaProducer<String, String> producer = inputProducer();
             KafkaConsumer<String, Long> consumer = outputConsumer(IsolationLevel.READ_COMMITTED)) {
            int produced = produce(producer, corpus, 0, Math.min(lines, inputLead));
            for (int instance = 1; instance <= kills + 1 && failure == null; instance++) {
                boolean last = instance == kills + 1;
                // Kill k is due once k/(kills+1) of the updates are committed: the kills are
                // spread over the stream whatever the broker's speed, and each instance has
                // committed work of its own before it dies.
                long killThreshold = totalWords * instance / (kills + 1);
                Path log = workDir.resolve("instance-" + instance + ".log");
                child = startInstance(stateDir, log);
                long instanceStarted = System.nanoTime();
                long updatesAtStart = sequences.updates();
                long lastUpdate = instanceStarted;
                long firstUpdate = -1;
                long killAt = -1;
                while (true) {
                    int read = sequences.read(consumer.poll(Duration.ofMillis(100)));
                    long now = System.nanoTime();
                    if (read > 0) {
                        lastUpdate = now;
                        if (firstUpdate < 0) {
                            firstUpdate = now;
                        }
                    }
                    long countedLines = sequences.updates() * lines / totalWords;
                    produced = produce(producer, corpus, produced,
                        (int) Math.max(produced, Math.min(lines, countedLines + inputLead)));
                    if (!child.isAlive()) {
                        failure = "instance " + instance + " exited by itself with status " + child.exitValue();
                        printTail(log);
                        break;
                    }
                    if (now - lastUpdate > STALL_TIMEOUT.toNanos()) {
                        failure = "instance " + instance + " committed no count update for "
                            + STALL_TIMEOUT.toSeconds() + " s (" + sequences.updates() + " of " + totalWords
                            + " committed)";
                        printTail(log);
                        break;
                    }
                    if (!last) {
                        if (killAt < 0 && sequences.updates() > updatesAtStart
                                && sequences.updates() >= killThreshold) {
                            // A random delay of up to two commit intervals puts the kill at a
                            // random point of a transaction rather than just after a commit.
                            killAt = now + TimeUnit.MILLISECONDS.toNanos(
                                ThreadLocalRandom.current().nextInt(2 * COMMIT_INTERVAL_MS));
                        }
                        if (killAt >= 0 && now >= killAt) {
                            // Measured just before the kill; the instance keeps working meanwhile.
                            long committedInput = committedInputLines(admin);
                            String openOutput = offsetsInOpenTransactions(admin);
                            long killed = System.nanoTime();
                            // destroyForcibly is SIGKILL on Unix; the exit status (128 + 9)
                            // shows it.
                            child.destroyForcibly();
                            boolean gone = child.waitFor(30, TimeUnit.SECONDS);
                            // What the killed instance committed, so that the next instance's
                            // first update read is its own.
                            readToEnd(consumer, sequences, Duration.ofSeconds(30));
                            KillPoint point = new KillPoint(instance, (killed - instanceStarted) / 1e9,
                                (firstUpdate - instanceStarted) / 1e9, (killed - streamStarted) / 1e9, produced,
                                committedInput, sequences.updates(), openOutput, restoredRecords(log),
                                gone ? child.exitValue() : -1);
                            killPoints.add(point);
                            printKill(point, kills, totalWords);
                            if (!gone) {
                                failure = "instance " + instance + " outlived SIGKILL by 30 s";
                            } else if (point.committedUpdates() >= totalWords) {
                                failure = "kill " + instance + " came after every count update was committed, "
                                    + "not mid-stream";
                            }
                            break;
                        }
                    } else if (sequences.allReached() && now - lastUpdate >= QUIET_PERIOD.toNanos()) {
                        // A closed standard input asks the child to close Streams cleanly.
                        child.getOutputStream().close();
                        if (!child.waitFor(CLEAN_STOP_TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
                            failure = "the last instance did not stop within " + CLEAN_STOP_TIMEOUT.toSeconds()
                                + " s of being asked";
                            printTail(log);
                        } else if (child.exitValue() != 0) {
                            failure = "the last instance stopped with status " + child.exitValue();
                            printTail(log);
                        } else {
                            System.out.printf("  instance %d (the last) ran %.1f s (it restored %d store records "
                                    + "from the changelog, its first committed update after %.1f s) and stopped "
                                    + "cleanly%n", instance, (System.nanoTime() - instanceStarted) / 1e9,
                                restoredRecords(log), (firstUpdate - instanceStarted) / 1e9);
                        }
                        break;
                    }
                }
            }
            // Judge everything committed, a clean stop's last transaction included.
            if (!readToEnd(consumer, sequences, Duration.ofSeconds(30)) && failure == null) {
                failure = "the committed output could not be read to its end within 30 s";
            }
            long everyUpdate = countRecords(IsolationLevel.READ_UNCOMMITTED, Duration.ofSeconds(60));
            abortedUpdates = everyUpdate < 0 ? -1 : everyUpdate - sequences.updates();
        } finally {
            if (child != null && child.isAlive()) {
                child.destroyForcibly();
                child.waitFor(30, TimeUnit.SECONDS);
            }
        }
        double seconds = (System.nanoTime() - started) / 1e9;

        List<String> mismatches = mismatches(expected, sequences.latest());
        if (failure == null && sequences.outOfSequence() == 0 && mismatches.isEmpty()) {
            String killedAt = killPoints.stream()
                .map(p -> String.format("%.0f%%", 100.0 * p.committedUpdates() / totalWords))
                .collect(Collectors.joining(", "));
            System.out.printf("PASS %s: %d words, %d lines (%d distinct words); every word's committed counts "
                    + "went 1, 2, ... up to its exact count (%d updates, none repeated or skipped); killed with "
                    + "%s of the updates committed, %d updates aborted; %.1f s%n",
                label, totalWords, lines, expected.size(), sequences.updates(), killedAt, abortedUpdates, seconds);
            Utils.delete(workDir.toFile());
            deleteTopics();
            return true;
        }
        String reason = failure != null ? failure
            : sequences.outOfSequence() > 0 ? "counts out of sequence" : "final counts differ";
        System.out.printf("FAIL %s: %s; %d count updates out of sequence, first: %s; %d of %d words end wrong, "
                + "first: %s; %d committed updates read, %d aborted; %.1f s; instance logs in %s%n",
            label, reason, sequences.outOfSequence(), first(sequences.firstOutOfSequence(), 5),
            mismatches.size(), expected.size(), first(mismatches, 5), sequences.updates(), abortedUpdates,
            seconds, workDir);
        return false;
    }

    private static String killFractions(int kills) {
        List<String> fractions = new ArrayList<>();
        for (int k = 1; k <= kills; k++) {
            fractions.add(String.format("%.0f%%", 100.0 * k / (kills + 1)));
        }
        return String.join(", ", fractions);
    }

    private void printKill(KillPoint p, int kills, long totalWords) {
        System.out.printf("  kill %d of %d: instance %d killed %.1f s after it started (it restored %d store records "
                + "from the changelog, its first committed update after %.1f s), %.1f s into the stream, exit status "
                + "%d; committed by then: %d of %d input lines (%d produced so far), %d of %d count updates "
                + "(%.0f%%); output offsets in open transactions: %s%n",
            p.instance(), kills, p.instance(), p.secondsAfterStart(), p.restoredRecords(), p.secondsToFirstUpdate(),
            p.secondsIntoStream(), p.exitStatus(), p.committedInputLines(), lines, p.producedLines(),
            p.committedUpdates(), totalWords, 100.0 * p.committedUpdates() / totalWords, p.openOutputOffsets());
    }

    /** Starts an instance of the topology in a child JVM with this JVM's options (run_java.sh's
     *  heap bound, collector and JAVA_OPTS), its output going to LOG. */
    private Process startInstance(Path stateDir, Path log) throws IOException {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(WordCount.class.getName());
        command.addAll(List.of(TOPOLOGY_ONLY, bootstrap, guarantee, applicationId, input, output,
            stateDir.toString()));
        // Standard input stays a pipe from this JVM: the child stops cleanly when it closes,
        // which is also what happens should this JVM die first.
        return new ProcessBuilder(command)
            .redirectErrorStream(true)
            .redirectOutput(log.toFile())
            .start();
    }

    /** The sum of the group's committed offsets on the input topic: input lines whose words
     *  are committed to the repartition topic. */
    private long committedInputLines(Admin admin) {
        try {
            Map<TopicPartition, OffsetAndMetadata> offsets = admin.listConsumerGroupOffsets(applicationId)
                .partitionsToOffsetAndMetadata().get(10, TimeUnit.SECONDS);
            return offsets.entrySet().stream()
                .filter(e -> e.getKey().topic().equals(input) && e.getValue() != null)
                .mapToLong(e -> e.getValue().offset())
                .sum();
        } catch (Exception e) {
            System.out.println("  note: could not list the group's committed offsets: " + oneLine(e));
            return -1;
        }
    }

    /** How far the output's high watermarks are ahead of its last stable offsets: records of
     *  transactions not yet committed or aborted. The next instance aborts those the kill
     *  leaves open; one whose commit was already asked for still commits. */
    private String offsetsInOpenTransactions(Admin admin) {
        try {
            Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
            for (TopicPartition tp : outputPartitions()) {
                latest.put(tp, OffsetSpec.latest());
            }
            // The stable offsets first: both only grow, so the difference cannot come out negative.
            Map<TopicPartition, ListOffsetsResultInfo> stable = admin.listOffsets(latest,
                new ListOffsetsOptions(IsolationLevel.READ_COMMITTED)).all().get(10, TimeUnit.SECONDS);
            Map<TopicPartition, ListOffsetsResultInfo> high = admin.listOffsets(latest,
                new ListOffsetsOptions(IsolationLevel.READ_UNCOMMITTED)).all().get(10, TimeUnit.SECONDS);
            long open = 0;
            for (TopicPartition tp : outputPartitions()) {
                open += high.get(tp).offset() - stable.get(tp).offset();
            }
            return Long.toString(open);
        } catch (Exception e) {
            return "unknown (" + oneLine(e) + ")";
        }
    }

    private static boolean readToEnd(KafkaConsumer<String, Long> consumer, CountSequences sequences,
                                     Duration timeout) {
        // For a read_committed consumer the end offsets are the last stable offsets.
        Map<TopicPartition, Long> end = consumer.endOffsets(consumer.assignment(), Duration.ofSeconds(15));
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (end.entrySet().stream().allMatch(e -> consumer.position(e.getKey()) >= e.getValue())) {
                return true;
            }
            sequences.read(consumer.poll(Duration.ofMillis(200)));
        }
        return false;
    }

    /** Every data record of the output, aborted ones included for read_uncommitted. */
    private long countRecords(IsolationLevel isolation, Duration timeout) {
        try (KafkaConsumer<String, Long> consumer = outputConsumer(isolation)) {
            Map<TopicPartition, Long> end = consumer.endOffsets(consumer.assignment(), Duration.ofSeconds(15));
            long deadline = System.nanoTime() + timeout.toNanos();
            long count = 0;
            while (System.nanoTime() < deadline) {
                if (end.entrySet().stream().allMatch(e -> consumer.position(e.getKey()) >= e.getValue())) {
                    return count;
                }
                count += consumer.poll(Duration.ofMillis(200)).count();
            }
            System.out.println("  note: the output could not be read to its end with " + isolation);
            return -1;
        }
    }

    /**
     * Each word's committed count updates in the order read. Without a record cache every
     * occurrence of a word emits one update, so exactly-once means each word's updates read
     * 1, 2, 3, ...: a repeat or a step back is a double count after a restart, a jump an
     * update lost. (The records of one word share a partition, so their order is the order in
     * which the counting task wrote them.)
     */
    private static final class CountSequences {
        private final Map<String, Long> expected;
        private final Map<String, Long> latest = new HashMap<>();
        private final List<String> firstOutOfSequence = new ArrayList<>();
        private long updates;
        private long outOfSequence;

        CountSequences(Map<String, Long> expected) {
            this.expected = expected;
        }

        int read(ConsumerRecords<String, Long> records) {
            for (ConsumerRecord<String, Long> record : records) {
                long previous = latest.getOrDefault(record.key(), 0L);
                if (record.value() == null || record.value() != previous + 1) {
                    outOfSequence++;
                    if (firstOutOfSequence.size() < 10) {
                        firstOutOfSequence.add(record.key() + " " + previous + " then " + record.value() + " at "
                            + record.topic() + "-" + record.partition() + "@" + record.offset());
                    }
                }
                latest.put(record.key(), record.value() == null ? 0L : record.value());
                updates++;
            }
            return records.count();
        }

        boolean allReached() {
            return expected.entrySet().stream().allMatch(e -> latest.getOrDefault(e.getKey(), 0L) >= e.getValue());
        }

        long updates() {
            return updates;
        }

        long outOfSequence() {
            return outOfSequence;
        }

        List<String> firstOutOfSequence() {
            return firstOutOfSequence;
        }

        Map<String, Long> latest() {
            return latest;
        }
    }

    /**
     * The child JVM of the kill mode: {@code --topology-only BOOTSTRAP GUARANTEE APPLICATION_ID
     * INPUT OUTPUT STATE_DIR}. Runs the topology until its standard input closes, then closes
     * Streams cleanly and exits 0; exits non-zero should Streams fail. Logs its state changes
     * on standard output.
     */
    private static void runTopologyOnly(String[] args) throws Exception {
        if (args.length != 6) {
            System.err.println("usage: WordCount " + TOPOLOGY_ONLY
                + " BOOTSTRAP GUARANTEE APPLICATION_ID INPUT OUTPUT STATE_DIR");
            System.exit(2);
        }
        Properties props = streamsProperties(args[0], args[1], args[2], Path.of(args[5]));
        // Each count update is sent as it happens, in the transaction of the input that caused
        // it, rather than merged in a cache until the commit: a kill then always lands among
        // output records of an open transaction, and each word's updates can be checked one
        // by one.
        props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        props.put(StreamsConfig.mainConsumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG),
            CHILD_SESSION_TIMEOUT_MS);
        props.put(StreamsConfig.mainConsumerPrefix(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG),
            CHILD_SESSION_TIMEOUT_MS / 4);

        KafkaStreams streams = new KafkaStreams(topology(args[3], args[4]), props);
        AtomicReference<Throwable> streamsError = new AtomicReference<>();
        streams.setStateListener((now, before) -> childLog("state " + before + " -> " + now));
        // The parent reports these lines: after a kill the store is brought back to its
        // committed state from the changelog.
        streams.setGlobalStateRestoreListener(new StateRestoreListener() {
            @Override
            public void onRestoreStart(TopicPartition partition, String store, long from, long to) {
            }

            @Override
            public void onBatchRestored(TopicPartition partition, String store, long end, long count) {
            }

            @Override
            public void onRestoreEnd(TopicPartition partition, String store, long total) {
                childLog("restored " + total + " records of " + store + " from " + partition);
            }
        });
        streams.setUncaughtExceptionHandler(e -> {
            streamsError.compareAndSet(null, e);
            childLog("stream thread failed: " + oneLine(e));
            return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        CountDownLatch stopRequested = new CountDownLatch(1);
        Thread stdinWatcher = new Thread(() -> {
            try {
                while (System.in.read() >= 0) {
                    // Nothing is sent on standard input; only its end matters.
                }
            } catch (IOException e) {
                // A broken pipe means the same as its end.
            }
            stopRequested.countDown();
        }, "stdin-watcher");
        stdinWatcher.setDaemon(true);

        childLog("pid " + ProcessHandle.current().pid() + ", starting " + args[2]);
        streams.start();
        stdinWatcher.start();
        long deadline = System.nanoTime() + CHILD_MAX_LIFETIME.toNanos();
        int status = 0;
        while (!stopRequested.await(200, TimeUnit.MILLISECONDS)) {
            KafkaStreams.State state = streams.state();
            if (streamsError.get() != null || state == KafkaStreams.State.ERROR
                    || state == KafkaStreams.State.PENDING_ERROR || state == KafkaStreams.State.NOT_RUNNING) {
                childLog("streams failed, state " + state);
                status = 1;
                break;
            }
            if (System.nanoTime() > deadline) {
                childLog("not stopped after " + CHILD_MAX_LIFETIME.toMinutes() + " min, giving up");
                status = 3;
                break;
            }
        }
        if (status == 0) {
            childLog("standard input closed, closing streams");
        }
        boolean closed = streams.close(Duration.ofSeconds(30));
        childLog(closed ? "closed" : "close timed out");
        System.exit(status != 0 ? status : closed ? 0 : 4);
    }

    private static void childLog(String message) {
        System.out.println(LocalTime.now() + " " + message);
        System.out.flush();
    }

    /** The store records an instance has restored so far, from its log. */
    private static long restoredRecords(Path log) {
        try {
            long total = 0;
            for (String line : Files.readAllLines(log, StandardCharsets.UTF_8)) {
                Matcher m = RESTORED_LINE.matcher(line);
                if (m.matches()) {
                    total += Long.parseLong(m.group(1));
                }
            }
            return total;
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    private static void printTail(Path log) {
        try {
            List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
            System.err.println("last lines of " + log + ":");
            for (String line : lines.subList(Math.max(0, lines.size() - 30), lines.size())) {
                System.err.println("  " + line);
            }
        } catch (IOException e) {
            System.err.println("could not read " + log + ": " + e.getMessage());
        }
    }

    // -------------------------------------------------------------------------------------

    private static List<String> mismatches(Map<String, Long> expected, Map<String, Long> latest) {
        List<String> mismatches = new ArrayList<>();
        for (Map.Entry<String, Long> e : expected.entrySet()) {
            Long got = latest.get(e.getKey());
            if (!e.getValue().equals(got)) {
                mismatches.add(e.getKey() + "=" + got + " (expected " + e.getValue() + ")");
            }
        }
        for (String word : latest.keySet()) {
            if (!expected.containsKey(word)) {
                mismatches.add(word + "=" + latest.get(word) + " (not in the corpus)");
            }
        }
        mismatches.sort(Comparator.naturalOrder());
        return mismatches;
    }

    private static String first(List<String> items, int n) {
        return items.isEmpty() ? "none" : String.join(", ", items.subList(0, Math.min(n, items.size())));
    }

    private static String oneLine(Throwable t) {
        StringBuilder b = new StringBuilder();
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (b.length() > 0) {
                b.append(" <- ");
            }
            b.append(c.getClass().getSimpleName()).append(": ").append(c.getMessage());
            if (c.getCause() == c) {
                break;
            }
        }
        return b.toString().replace('\n', ' ');
    }

    /** Best effort: leaves the broker as it was found, apart from the group's offsets. */
    private void deleteTopics() {
        Properties adminProps = new Properties();
        adminProps.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        try (Admin admin = Admin.create(adminProps)) {
            List<String> topics = new ArrayList<>(List.of(input, output));
            for (String name : admin.listTopics().names().get(15, TimeUnit.SECONDS)) {
                if (name.startsWith(applicationId + "-")) {
                    topics.add(name);
                }
            }
            admin.deleteTopics(topics).all().get(15, TimeUnit.SECONDS);
        } catch (Exception e) {
            System.err.println("note: could not delete the word count topics: " + oneLine(e));
        }
    }
}
