package dev.rivulet.compat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.ListTransactionsOptions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.admin.TransactionState;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InvalidTxnTimeoutException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.TransactionalIdNotFoundException;
import org.apache.kafka.common.protocol.Errors;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Kafka transactions through the Java producer, consumer and admin client: each check prints
 * {@code PASS name} or {@code FAIL name: what differs}, then a summary line; the exit status
 * is non-zero if any check failed.
 *
 * <pre>
 *   TransactionChecks BOOTSTRAP
 *       every check below
 *   TransactionChecks --hang BOOTSTRAP TOPIC PARTITION TRANSACTIONAL_ID RECORDS
 *       begins a transaction (transaction.timeout.ms 600000), writes RECORDS records to the
 *       partition, prints START_OFFSET=offset of the first one and halts the JVM, so that
 *       neither a commit nor an abort is ever sent: a transaction left open for the
 *       kafka-transactions tool to find and abort (txn_tools_check.sh)
 *   TransactionChecks --fence BOOTSTRAP TRANSACTIONAL_ID
 *       initTransactions with that transactional id, then a clean close: the coordinator
 *       aborts whatever transaction the id still has open
 * </pre>
 *
 * <p>Apache Kafka 4.1 (one combined broker and controller, default settings) is the
 * reference: every check passes against it. Kafka's transaction coordinator answers EndTxn
 * once the decision is logged and writes the markers afterwards, so whatever depends on the
 * markers (the LSO, a completed state, committed offsets) is polled for a few seconds.
 *
 * <p>The broker aborts a transaction its producer abandoned only when its periodic scan for
 * expired transactions runs ({@code transaction.abort.timed.out.transaction.cleanup.interval.ms},
 * 10 s by default): that check waits for up to the transaction timeout plus that interval
 * plus a margin, and opens its transaction first of all so that the other checks run during
 * the wait. A broker started with a shorter interval passes it sooner.
 */
public final class TransactionChecks extends CheckRunner {
    /** How long a consumer may take to read to a given offset. */
    private static final Duration READ_TIMEOUT = Duration.ofSeconds(20);
    /** How long a consumer that must stop short of the offsets it is asked for keeps trying. */
    private static final Duration READ_SHORT = Duration.ofSeconds(3);

    /** Kafka's transaction.max.timeout.ms default: initTransactions asking for more is refused. */
    private static final int BROKER_MAX_TRANSACTION_TIMEOUT_MS = 900_000;
    /** Timeout of the transaction that is left open for the broker to abort. */
    private static final int ABANDONED_TIMEOUT_MS = 3_000;
    /** Kafka's default transaction.abort.timed.out.transaction.cleanup.interval.ms. */
    private static final int BROKER_ABORT_SCAN_INTERVAL_MS = 10_000;
    /** Timeout of the transactions the other checks keep open (never reached). */
    private static final int CHECK_TIMEOUT_MS = 60_000;
    /** Timeout of the --hang transaction: far beyond any run of txn_tools_check.sh. */
    private static final int HANGING_TIMEOUT_MS = 600_000;

    public static void main(String[] args) throws Exception {
        if (args.length == 6 && args[0].equals("--hang")) {
            hang(args[1], args[2], Integer.parseInt(args[3]), args[4], Integer.parseInt(args[5]));
            return;
        }
        if (args.length == 3 && args[0].equals("--fence")) {
            fence(args[1], args[2]);
            return;
        }
        if (args.length != 1) {
            System.err.println("usage: TransactionChecks BOOTSTRAP\n"
                + "       TransactionChecks --hang BOOTSTRAP TOPIC PARTITION TRANSACTIONAL_ID RECORDS\n"
                + "       TransactionChecks --fence BOOTSTRAP TRANSACTIONAL_ID");
            System.exit(2);
        }
        new TransactionChecks(args[0]).runAndExit("transactions");
    }

    // ------------------------------------------------------------------------------------
    // Expected errors

    /** Runs a client call that must fail with this error, wherever in the cause chain the
     *  client puts it (the producer throws some errors as they are, others wrapped). */
    private static void expectThrows(Class<? extends Throwable> error, String what, Body body) throws Exception {
        try {
            body.run();
        } catch (Throwable t) {
            for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
                if (error.isInstance(c)) {
                    return;
                }
            }
            throw new CheckFailed(what + ": expected " + error.getSimpleName() + ", got " + describe(t));
        }
        throw new CheckFailed(what + ": expected " + error.getSimpleName() + ", succeeded");
    }

    // ------------------------------------------------------------------------------------
    // Clients

    private static Properties producerConfig(String bootstrap, String transactionalId, int transactionTimeoutMs) {
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
        props.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, transactionTimeoutMs);
        props.put(ProducerConfig.CLIENT_ID_CONFIG, transactionalId);
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        // Bounds every blocking producer call (initTransactions, commitTransaction, ...).
        props.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 15_000);
        props.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 15_000);
        props.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 30_000);
        return props;
    }

    private final List<KafkaProducer<String, String>> producers = new ArrayList<>();

    private KafkaProducer<String, String> producer(String transactionalId, int transactionTimeoutMs) {
        KafkaProducer<String, String> p =
            new KafkaProducer<>(producerConfig(bootstrap, transactionalId, transactionTimeoutMs));
        producers.add(p);
        return p;
    }

    private Properties consumerConfig(IsolationLevel isolation, String group) {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation.toString());
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
        props.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) TimeUnit.SECONDS.toMillis(CALL_TIMEOUT_S));
        props.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, (int) TimeUnit.SECONDS.toMillis(CALL_TIMEOUT_S));
        if (group != null) {
            props.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        }
        return props;
    }

    /** What a consumer read from the start of some partitions: the records as
     *  "partition@offset=value", its positions, and the end offsets it sees (the LSO for
     *  read_committed, the high watermark for read_uncommitted). */
    record Read(List<String> records, Map<TopicPartition, Long> positions, Map<TopicPartition, Long> endOffsets) {
        List<String> values() {
            return records.stream().map(r -> r.substring(r.indexOf('=') + 1)).collect(Collectors.toList());
        }
    }

    /** A consumer without a group reads the partitions from their start until its position
     *  reaches the given offset in each, or the time is up. */
    private Read read(IsolationLevel isolation, Map<TopicPartition, Long> until, Duration within) {
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(consumerConfig(isolation, null))) {
            consumer.assign(until.keySet());
            consumer.seekToBeginning(until.keySet());
            // Records of each partition in the order read; partitions kept apart since the
            // consumer interleaves them as its fetches return.
            Map<TopicPartition, List<String>> byPartition = new LinkedHashMap<>();
            until.keySet().stream().sorted((a, b) -> Integer.compare(a.partition(), b.partition()))
                .forEach(tp -> byPartition.put(tp, new ArrayList<>()));
            Map<TopicPartition, Long> positions = new HashMap<>();
            long deadline = System.nanoTime() + within.toNanos();
            while (true) {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                    byPartition.get(new TopicPartition(r.topic(), r.partition()))
                        .add(r.partition() + "@" + r.offset() + "=" + r.value());
                }
                boolean reached = true;
                for (Map.Entry<TopicPartition, Long> e : until.entrySet()) {
                    long position = consumer.position(e.getKey());
                    positions.put(e.getKey(), position);
                    reached &= position >= e.getValue();
                }
                if (reached || System.nanoTime() > deadline) {
                    break;
                }
            }
            List<String> records = byPartition.values().stream().flatMap(List::stream).collect(Collectors.toList());
            return new Read(records, positions, consumer.endOffsets(until.keySet()));
        }
    }

    private Read read(IsolationLevel isolation, TopicPartition tp, long until) {
        return read(isolation, Map.of(tp, until), READ_TIMEOUT);
    }

    private long endOffset(TopicPartition tp, IsolationLevel isolation) throws Exception {
        return get(admin.listOffsets(Map.of(tp, OffsetSpec.latest()), new ListOffsetsOptions(isolation))
            .partitionResult(tp)).offset();
    }

    private long highWatermark(TopicPartition tp) throws Exception {
        return endOffset(tp, IsolationLevel.READ_UNCOMMITTED);
    }

    private long lastStableOffset(TopicPartition tp) throws Exception {
        return endOffset(tp, IsolationLevel.READ_COMMITTED);
    }

    /** Waits for the LSO to reach the high watermark (no transaction open on the partition,
     *  every marker written); returns the high watermark. */
    private long awaitStable(TopicPartition tp) throws Exception {
        long[] offsets = eventually(() -> new long[] {lastStableOffset(tp), highWatermark(tp)}, o -> o[0] == o[1]);
        expectEqual(offsets[1], offsets[0], "LSO of " + tp + " (expected the high watermark)");
        return offsets[1];
    }

    /** Sends and waits for the acknowledgement of each, returning their offsets. */
    private static List<Long> send(KafkaProducer<String, String> producer, TopicPartition tp, String... values)
            throws Exception {
        List<Long> offsets = new ArrayList<>();
        for (String value : values) {
            RecordMetadata m = producer.send(new ProducerRecord<>(tp.topic(), tp.partition(), "k-" + value, value))
                .get(30, TimeUnit.SECONDS);
            offsets.add(m.offset());
        }
        return offsets;
    }

    private static String[] values(String prefix, int count) {
        String[] out = new String[count];
        for (int i = 0; i < count; i++) {
            out[i] = prefix + "-" + i;
        }
        return out;
    }

    private TransactionDescription describeTransaction(String transactionalId) throws Exception {
        return get(admin.describeTransactions(List.of(transactionalId)).description(transactionalId));
    }

    /** Waits for the coordinator to reach the state; returns the last description read. */
    private TransactionDescription awaitState(String transactionalId, TransactionState state) throws Exception {
        TransactionDescription d = eventually(() -> describeTransaction(transactionalId), x -> x.state() == state);
        expectEqual(state, d.state(), "state of " + transactionalId);
        return d;
    }

    private Collection<TransactionListing> listTransactions(ListTransactionsOptions options) throws Exception {
        return get(admin.listTransactions(options).all());
    }

    private static Optional<TransactionListing> listing(Collection<TransactionListing> listings, String transactionalId) {
        return listings.stream().filter(l -> l.transactionalId().equals(transactionalId)).findFirst();
    }

    private List<ProducerState> openTransactions(TopicPartition tp) throws Exception {
        return get(admin.describeProducers(List.of(tp)).partitionResult(tp)).activeProducers().stream()
            .filter(p -> p.currentTransactionStartOffset().isPresent()).collect(Collectors.toList());
    }

    // ------------------------------------------------------------------------------------
    // State shared between checks

    private final String bootstrap;
    private final Admin admin;
    private final String run = UUID.randomUUID().toString().substring(0, 8);
    private final String prefix = "txn-check-" + run;
    private final TopicPartition commit0 = new TopicPartition(prefix + "-commit", 0);
    private final TopicPartition commit1 = new TopicPartition(prefix + "-commit", 1);
    private final TopicPartition aborts = new TopicPartition(prefix + "-abort", 0);
    private final TopicPartition open = new TopicPartition(prefix + "-open", 0);
    private final TopicPartition offsetsIn = new TopicPartition(prefix + "-offsets-in", 0);
    private final TopicPartition offsetsOut = new TopicPartition(prefix + "-offsets-out", 0);
    private final TopicPartition fencing = new TopicPartition(prefix + "-fence", 0);
    private final TopicPartition abandoned = new TopicPartition(prefix + "-abandoned", 0);
    private final String group = prefix + "-group";
    private final String openId = prefix + "-open";
    private final String offsetsId = prefix + "-offsets";
    private final String abandonedId = prefix + "-abandoned";
    private int nodeId = -1;

    /** The transaction the open-transaction checks look at, and where it starts. */
    private KafkaProducer<String, String> openProducer;
    private long openStartOffset = -1;
    private long openBeganAtMs;
    private long openProducerId = -1;

    /** The group member whose offsets the sendOffsetsToTransaction checks commit. */
    private KafkaConsumer<String, String> groupConsumer;
    private KafkaProducer<String, String> offsetsProducer;

    private long abandonedAtMs;

    private TransactionChecks(String bootstrap) {
        this.bootstrap = bootstrap;
        this.admin = adminClient(bootstrap, "transaction-checks");
    }

    @Override
    void close() {
        if (groupConsumer != null) {
            groupConsumer.close(Duration.ofSeconds(5));
        }
        for (KafkaProducer<String, String> p : producers) {
            // A producer closed with a transaction still open aborts it first.
            p.close(Duration.ofSeconds(5));
        }
        List<String> topics = List.of(commit0, aborts, open, offsetsIn, offsetsOut, fencing, abandoned).stream()
            .map(TopicPartition::topic).collect(Collectors.toList());
        deleteTopicsAndClose(admin, topics);
    }

    @Override
    void runAll() {
        check("create topics", this::createTopics);
        // First, so that the broker's wait for its timeout overlaps the checks in between.
        check("abandoned transaction stays open until its timeout", this::abandonTransaction);

        check("committed transaction on two partitions read in order by read_committed", this::commitTwoPartitions);
        check("aborted transactions skipped by read_committed", this::abortReadCommitted);
        check("aborted transactions read by read_uncommitted", this::abortReadUncommitted);
        check("read_committed position passes a trailing abort marker", this::abortMarkerPosition);

        check("listOffsets READ_COMMITTED is the LSO of an open transaction", this::listOffsetsOpen);
        check("read_committed consumer stops at the LSO", this::consumerStopsAtLso);
        check("describeProducers shows the open transaction's start offset", this::describeProducersOpen);
        check("describeTransactions Ongoing", this::describeTransactionsOngoing);
        check("listTransactions Ongoing with state, producer id, duration and pattern filters",
            this::listTransactionsOngoing);
        check("commit moves the LSO to the high watermark", this::commitOpenTransaction);
        check("describeTransactions CompleteCommit", this::describeTransactionsCommitted);
        check("listTransactions after the commit", this::listTransactionsCommitted);
        check("describeProducers shows no open transaction after the commit", this::describeProducersCommitted);
        check("describeTransactions CompleteAbort", this::describeTransactionsAborted);
        check("describeTransactions unknown transactional id", this::describeTransactionsUnknown);

        check("sendOffsetsToTransaction commits the offsets with the transaction", this::sendOffsetsCommit);
        check("sendOffsetsToTransaction in an aborted transaction commits no offsets", this::sendOffsetsAbort);

        check("initTransactions fences the producer with the same transactional.id", this::fencing);
        check("transaction.timeout.ms above transaction.max.timeout.ms", this::timeoutAboveMax);

        check("abandoned transaction aborted after transaction.timeout.ms", this::abandonedAborted);
    }

    // ------------------------------------------------------------------------------------
    // Setup

    private void createTopics() throws Exception {
        List<NewTopic> topics = new ArrayList<>();
        topics.add(new NewTopic(commit0.topic(), 2, (short) 1));
        for (TopicPartition tp : List.of(aborts, open, offsetsIn, offsetsOut, fencing, abandoned)) {
            topics.add(new NewTopic(tp.topic(), 1, (short) 1));
        }
        get(admin.createTopics(topics).all());
        List<String> names = topics.stream().map(NewTopic::name).collect(Collectors.toList());
        Map<String, TopicDescription> described = eventually(
            () -> get(admin.describeTopics(names).allTopicNames()),
            m -> m.values().stream().allMatch(d -> d.partitions().stream()
                .allMatch(p -> p.leader() != null && !p.leader().isEmpty())));
        for (TopicDescription d : described.values()) {
            expect(d.partitions().stream().allMatch(p -> p.leader() != null && !p.leader().isEmpty()),
                "partitions without a leader: %s", d);
        }
        nodeId = get(admin.describeCluster().nodes()).iterator().next().id();
    }

    /** A transaction with a 3 s timeout whose producer goes away without ending it. The
     *  producer is closed with a zero timeout: a close with time to spare would abort the
     *  transaction itself. */
    private void abandonTransaction() throws Exception {
        KafkaProducer<String, String> p = producer(abandonedId, ABANDONED_TIMEOUT_MS);
        p.initTransactions();
        p.beginTransaction();
        abandonedAtMs = System.currentTimeMillis();
        List<Long> offsets = send(p, abandoned, values("abandoned", 3));
        expectEqual(List.of(0L, 1L, 2L), offsets, "offsets of the abandoned transaction's records");
        p.close(Duration.ZERO);
        TransactionDescription d = describeTransaction(abandonedId);
        expectEqual(TransactionState.ONGOING, d.state(), "state right after the producer went away");
        expectEqual((long) ABANDONED_TIMEOUT_MS, d.transactionTimeoutMs(), "transactionTimeoutMs");
        expectEqual(0L, lastStableOffset(abandoned), "LSO while it is open");
        expectEqual(3L, highWatermark(abandoned), "high watermark");
    }

    // ------------------------------------------------------------------------------------
    // Commit and abort as consumers see them

    private void commitTwoPartitions() throws Exception {
        KafkaProducer<String, String> p = producer(prefix + "-commit", CHECK_TIMEOUT_MS);
        p.initTransactions();
        p.beginTransaction();
        int records = 10;
        List<String> expected0 = new ArrayList<>();
        List<String> expected1 = new ArrayList<>();
        for (int i = 0; i < records; i++) {
            TopicPartition tp = i % 2 == 0 ? commit0 : commit1;
            String value = "committed-" + i;
            p.send(new ProducerRecord<>(tp.topic(), tp.partition(), "k" + i, value));
            List<String> expected = i % 2 == 0 ? expected0 : expected1;
            expected.add(tp.partition() + "@" + expected.size() + "=" + value);
        }
        p.commitTransaction();
        List<String> expected = new ArrayList<>(expected0);
        expected.addAll(expected1);
        // Five records and the commit marker in each partition.
        Map<TopicPartition, Long> end = Map.of(commit0, 6L, commit1, 6L);
        expectEqual(6L, eventually(() -> lastStableOffset(commit0), v -> v == 6L), "LSO of partition 0");
        expectEqual(6L, eventually(() -> lastStableOffset(commit1), v -> v == 6L), "LSO of partition 1");
        Read read = read(IsolationLevel.READ_COMMITTED, end, READ_TIMEOUT);
        expectEqual(expected, read.records(), "records read with read_committed (partition@offset=value)");
        expectEqual(end, read.positions(), "positions after reading (past the commit markers)");
        expectEqual(end, read.endOffsets(), "read_committed end offsets");
    }

    /** On one partition: an aborted transaction of 5 records, a committed one of 3, an
     *  aborted one of 2, each followed by its marker: offsets 0-4, 5, 6-8, 9, 10-11, 12. */
    private void writeAbortSequence() throws Exception {
        KafkaProducer<String, String> p = producer(prefix + "-abort", CHECK_TIMEOUT_MS);
        p.initTransactions();
        p.beginTransaction();
        send(p, aborts, values("aborted", 5));
        p.abortTransaction();
        p.beginTransaction();
        send(p, aborts, values("committed", 3));
        p.commitTransaction();
        p.beginTransaction();
        send(p, aborts, values("aborted-last", 2));
        p.abortTransaction();
        expectEqual(13L, eventually(() -> lastStableOffset(aborts), v -> v == 13L),
            "LSO after the three transactions");
        expectEqual(13L, highWatermark(aborts), "high watermark after the three transactions");
    }

    private boolean abortSequenceWritten;

    private void abortReadCommitted() throws Exception {
        writeAbortSequence();
        abortSequenceWritten = true;
        Read read = read(IsolationLevel.READ_COMMITTED, aborts, 13);
        expectEqual(List.of("0@6=committed-0", "0@7=committed-1", "0@8=committed-2"), read.records(),
            "records read with read_committed");
    }

    private void abortReadUncommitted() throws Exception {
        expect(abortSequenceWritten, "the transactions were not written");
        Read read = read(IsolationLevel.READ_UNCOMMITTED, aborts, 13);
        expectEqual(List.of("0@0=aborted-0", "0@1=aborted-1", "0@2=aborted-2", "0@3=aborted-3", "0@4=aborted-4",
                "0@6=committed-0", "0@7=committed-1", "0@8=committed-2", "0@10=aborted-last-0", "0@11=aborted-last-1"),
            read.records(), "records read with read_uncommitted");
        expectEqual(Map.of(aborts, 13L), read.positions(), "position after reading");
        expectEqual(Map.of(aborts, 13L), read.endOffsets(), "read_uncommitted end offset (high watermark)");
    }

    /** The last batch of the partition is an abort marker: the consumer gets no record from
     *  offsets 10-12 but its position must still move to the end, or a read_committed
     *  consumer's lag would never reach zero. */
    private void abortMarkerPosition() throws Exception {
        expect(abortSequenceWritten, "the transactions were not written");
        Read read = read(IsolationLevel.READ_COMMITTED, aborts, 13);
        expectEqual(Map.of(aborts, 13L), read.endOffsets(), "read_committed end offset (LSO)");
        expectEqual(Map.of(aborts, 13L), read.positions(), "read_committed position after reading");
    }

    // ------------------------------------------------------------------------------------
    // An open transaction as the admin client and consumers see it

    /** Two committed records (offsets 0-1, marker 2), then a transaction of three (3-5)
     *  left open. */
    private void listOffsetsOpen() throws Exception {
        openProducer = producer(openId, CHECK_TIMEOUT_MS);
        openProducer.initTransactions();
        openProducer.beginTransaction();
        send(openProducer, open, values("before", 2));
        openProducer.commitTransaction();
        eventually(() -> lastStableOffset(open), v -> v == 3L);
        openBeganAtMs = System.currentTimeMillis();
        openProducer.beginTransaction();
        List<Long> offsets = send(openProducer, open, values("open", 3));
        expectEqual(List.of(3L, 4L, 5L), offsets, "offsets of the open transaction's records");
        openStartOffset = offsets.get(0);
        expectEqual(6L, highWatermark(open), "listOffsets latest READ_UNCOMMITTED (high watermark)");
        expectEqual(3L, lastStableOffset(open), "listOffsets latest READ_COMMITTED (LSO)");
        // A plain listOffsets is read_uncommitted.
        long plain = get(admin.listOffsets(Map.of(open, OffsetSpec.latest())).partitionResult(open)).offset();
        expectEqual(6L, plain, "listOffsets latest without options");
    }

    private void consumerStopsAtLso() throws Exception {
        expect(openStartOffset >= 0, "no open transaction");
        Read committed = read(IsolationLevel.READ_COMMITTED, Map.of(open, 6L), READ_SHORT);
        expectEqual(List.of("0@0=before-0", "0@1=before-1"), committed.records(), "read_committed records");
        expectEqual(Map.of(open, 3L), committed.positions(), "read_committed position");
        expectEqual(Map.of(open, 3L), committed.endOffsets(), "read_committed end offset");
        Read uncommitted = read(IsolationLevel.READ_UNCOMMITTED, open, 6);
        expectEqual(List.of("0@0=before-0", "0@1=before-1", "0@3=open-0", "0@4=open-1", "0@5=open-2"),
            uncommitted.records(), "read_uncommitted records");
        expectEqual(Map.of(open, 6L), uncommitted.endOffsets(), "read_uncommitted end offset");
    }

    private void describeProducersOpen() throws Exception {
        expect(openStartOffset >= 0, "no open transaction");
        List<ProducerState> all = get(admin.describeProducers(List.of(open)).partitionResult(open)).activeProducers();
        expect(all.size() == 1, "expected one active producer, got %s", all);
        ProducerState p = all.get(0);
        expectEqual(OptionalLong.of(openStartOffset), p.currentTransactionStartOffset(), "currentTransactionStartOffset");
        expect(p.producerId() >= 0 && p.producerEpoch() >= 0, "producer id/epoch %s", p);
        // Sequences count from 0 per producer epoch and partition: the last of three records.
        expectEqual(2, p.lastSequence(), "lastSequence");
        expect(p.lastTimestamp() >= openBeganAtMs - 1000, "lastTimestamp %d before the records were sent (%d)",
            p.lastTimestamp(), openBeganAtMs);
        openProducerId = p.producerId();
    }

    private void describeTransactionsOngoing() throws Exception {
        expect(openStartOffset >= 0, "no open transaction");
        TransactionDescription d = describeTransaction(openId);
        expectEqual(TransactionState.ONGOING, d.state(), "state");
        expectEqual(Set.of(open), d.topicPartitions(), "topicPartitions");
        expectEqual((long) CHECK_TIMEOUT_MS, d.transactionTimeoutMs(), "transactionTimeoutMs");
        expectEqual(nodeId, d.coordinatorId(), "coordinatorId");
        if (openProducerId >= 0) {
            expectEqual(openProducerId, d.producerId(), "producerId (as describeProducers has it)");
        }
        OptionalLong start = d.transactionStartTimeMs();
        long now = System.currentTimeMillis();
        expect(start.isPresent() && start.getAsLong() >= openBeganAtMs - 1000 && start.getAsLong() <= now + 1000,
            "transactionStartTimeMs %s, expected between %d and %d", start, openBeganAtMs, now);
    }

    private void listTransactionsOngoing() throws Exception {
        expect(openStartOffset >= 0, "no open transaction");
        Optional<TransactionListing> all = listing(listTransactions(new ListTransactionsOptions()), openId);
        expect(all.isPresent(), "not listed without filters");
        expectEqual(TransactionState.ONGOING, all.get().state(), "state");
        long producerId = all.get().producerId();
        if (openProducerId >= 0) {
            expectEqual(openProducerId, producerId, "producerId (as describeProducers has it)");
        }
        expect(listing(listTransactions(new ListTransactionsOptions().filterStates(List.of(TransactionState.ONGOING))),
            openId).isPresent(), "not listed with the state filter Ongoing");
        expect(listing(listTransactions(new ListTransactionsOptions()
                .filterStates(List.of(TransactionState.COMPLETE_COMMIT))), openId).isEmpty(),
            "listed with the state filter CompleteCommit");
        Collection<TransactionListing> byProducer =
            listTransactions(new ListTransactionsOptions().filterProducerIds(List.of(producerId)));
        expectEqual(List.of(openId), byProducer.stream().map(TransactionListing::transactionalId).collect(Collectors.toList()),
            "transactional ids listed with the producer id filter");
        // ListTransactions v1: transactions running for longer than the duration.
        expect(listing(listTransactions(new ListTransactionsOptions().filterOnDuration(0)), openId).isPresent(),
            "not listed with the duration filter 0 ms");
        expect(listing(listTransactions(new ListTransactionsOptions().filterOnDuration(3_600_000)), openId).isEmpty(),
            "listed with the duration filter 1 h");
        // ListTransactions v2: a regular expression the transactional id must match.
        Collection<TransactionListing> byPattern = listTransactions(
            new ListTransactionsOptions().filterOnTransactionalIdPattern("^" + prefix + "-op.*$"));
        expectEqual(List.of(openId), byPattern.stream().map(TransactionListing::transactionalId).collect(Collectors.toList()),
            "transactional ids listed with the pattern filter");
    }

    private void commitOpenTransaction() throws Exception {
        expect(openStartOffset >= 0, "no open transaction");
        openProducer.commitTransaction();
        // The records 3-5 and the marker at 6.
        expectEqual(7L, eventually(() -> lastStableOffset(open), v -> v == 7L), "listOffsets READ_COMMITTED");
        expectEqual(7L, highWatermark(open), "listOffsets READ_UNCOMMITTED");
        Read read = read(IsolationLevel.READ_COMMITTED, open, 7);
        expectEqual(List.of("0@0=before-0", "0@1=before-1", "0@3=open-0", "0@4=open-1", "0@5=open-2"),
            read.records(), "read_committed records");
    }

    private void describeTransactionsCommitted() throws Exception {
        expect(openStartOffset >= 0, "no open transaction");
        TransactionDescription d = awaitState(openId, TransactionState.COMPLETE_COMMIT);
        expectEqual(Set.of(), d.topicPartitions(), "topicPartitions");
        expectEqual((long) CHECK_TIMEOUT_MS, d.transactionTimeoutMs(), "transactionTimeoutMs");
    }

    private void listTransactionsCommitted() throws Exception {
        expect(openStartOffset >= 0, "no open transaction");
        Optional<TransactionListing> all = listing(listTransactions(new ListTransactionsOptions()), openId);
        expect(all.isPresent(), "not listed without filters");
        expectEqual(TransactionState.COMPLETE_COMMIT, all.get().state(), "state");
        expect(listing(listTransactions(new ListTransactionsOptions().filterStates(List.of(TransactionState.ONGOING))),
            openId).isEmpty(), "still listed with the state filter Ongoing");
        // The duration counts from the start of the id's latest transaction, whatever its state.
        expect(listing(listTransactions(new ListTransactionsOptions().filterOnDuration(0)), openId).isPresent(),
            "not listed with the duration filter 0 ms");
    }

    private void describeProducersCommitted() throws Exception {
        expect(openStartOffset >= 0, "no open transaction");
        List<ProducerState> all = get(admin.describeProducers(List.of(open)).partitionResult(open)).activeProducers();
        expect(all.size() == 1, "expected one active producer, got %s", all);
        expect(all.get(0).currentTransactionStartOffset().isEmpty(), "an open transaction: %s", all.get(0));
    }

    private void describeTransactionsAborted() throws Exception {
        expect(openStartOffset >= 0, "no transactional producer");
        openProducer.beginTransaction();
        send(openProducer, open, "aborted");
        expectEqual(TransactionState.ONGOING, describeTransaction(openId).state(), "state before the abort");
        openProducer.abortTransaction();
        TransactionDescription d = awaitState(openId, TransactionState.COMPLETE_ABORT);
        expectEqual(Set.of(), d.topicPartitions(), "topicPartitions");
        // The record at 7 and the marker at 8.
        expectEqual(9L, eventually(() -> lastStableOffset(open), v -> v == 9L), "LSO after the abort");
        expect(listing(listTransactions(new ListTransactionsOptions()
                .filterStates(List.of(TransactionState.COMPLETE_ABORT))), openId).isPresent(),
            "not listed with the state filter CompleteAbort");
    }

    private void describeTransactionsUnknown() throws Exception {
        expectThrows(TransactionalIdNotFoundException.class, "describing a transactional id never used",
            () -> describeTransaction(prefix + "-never-used"));
    }

    // ------------------------------------------------------------------------------------
    // Consumer offsets in a transaction

    private Map<TopicPartition, OffsetAndMetadata> groupOffsets() throws Exception {
        return get(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata());
    }

    private static Long offsetOf(Map<TopicPartition, OffsetAndMetadata> offsets, TopicPartition tp) {
        OffsetAndMetadata o = offsets.get(tp);
        return o == null ? null : o.offset();
    }

    /** A group member reads four committed records; a transaction writes a record and
     *  commits the member's offset 2 with it. */
    private void sendOffsetsCommit() throws Exception {
        offsetsProducer = producer(offsetsId, CHECK_TIMEOUT_MS);
        offsetsProducer.initTransactions();
        offsetsProducer.beginTransaction();
        send(offsetsProducer, offsetsIn, values("input", 4));
        offsetsProducer.commitTransaction();

        groupConsumer = new KafkaConsumer<>(consumerConfig(IsolationLevel.READ_COMMITTED, group));
        groupConsumer.subscribe(List.of(offsetsIn.topic()));
        List<String> consumed = new ArrayList<>();
        long deadline = System.nanoTime() + READ_TIMEOUT.toNanos();
        while (consumed.size() < 4 && System.nanoTime() < deadline) {
            for (ConsumerRecord<String, String> r : groupConsumer.poll(Duration.ofMillis(200))) {
                consumed.add(r.value());
            }
        }
        expectEqual(List.of(values("input", 4)), consumed, "records the group member read");

        offsetsProducer.beginTransaction();
        send(offsetsProducer, offsetsOut, "output-0");
        offsetsProducer.sendOffsetsToTransaction(Map.of(offsetsIn, new OffsetAndMetadata(2, "in-transaction")),
            groupConsumer.groupMetadata());
        expectEqual(null, offsetOf(groupOffsets(), offsetsIn), "committed offset before the commit");
        offsetsProducer.commitTransaction();
        Map<TopicPartition, OffsetAndMetadata> after = eventually(this::groupOffsets, m -> m.get(offsetsIn) != null);
        expectEqual(2L, offsetOf(after, offsetsIn), "committed offset after the commit");
        expectEqual("in-transaction", after.get(offsetsIn).metadata(), "committed metadata");
        // A read_committed member fetches its offsets requiring them stable.
        OffsetAndMetadata own = groupConsumer.committed(Set.of(offsetsIn)).get(offsetsIn);
        expectEqual(2L, own == null ? null : own.offset(), "the member's committed offset");
    }

    private void sendOffsetsAbort() throws Exception {
        expect(groupConsumer != null && offsetsProducer != null, "no group member");
        offsetsProducer.beginTransaction();
        send(offsetsProducer, offsetsOut, "output-aborted");
        offsetsProducer.sendOffsetsToTransaction(Map.of(offsetsIn, new OffsetAndMetadata(4, "aborted")),
            groupConsumer.groupMetadata());
        offsetsProducer.abortTransaction();
        awaitState(offsetsId, TransactionState.COMPLETE_ABORT);
        // The abort marker reaches the offsets topic with the transaction's completion; a
        // moment more lets a broker that applied the offsets anyway show it.
        Thread.sleep(500);
        Map<TopicPartition, OffsetAndMetadata> offsets = groupOffsets();
        expectEqual(2L, offsetOf(offsets, offsetsIn), "committed offset after the abort");
        expectEqual("in-transaction", offsets.get(offsetsIn).metadata(), "committed metadata after the abort");
        Read read = read(IsolationLevel.READ_COMMITTED, offsetsOut, awaitStable(offsetsOut));
        expectEqual(List.of("output-0"), read.values(), "read_committed records of the output topic");
    }

    // ------------------------------------------------------------------------------------
    // Producer fencing and the broker's limits

    private void fencing() throws Exception {
        String id = prefix + "-fence";
        KafkaProducer<String, String> older = producer(id, CHECK_TIMEOUT_MS);
        older.initTransactions();
        older.beginTransaction();
        send(older, fencing, "from-the-fenced-producer");
        KafkaProducer<String, String> newer = producer(id, CHECK_TIMEOUT_MS);
        // Bumps the epoch and aborts the older producer's open transaction.
        newer.initTransactions();
        expectThrows(ProducerFencedException.class, "commitTransaction of the older producer",
            older::commitTransaction);
        newer.beginTransaction();
        send(newer, fencing, "from-the-newer-producer");
        newer.commitTransaction();
        Read read = read(IsolationLevel.READ_COMMITTED, fencing, awaitStable(fencing));
        expectEqual(List.of("from-the-newer-producer"), read.values(), "read_committed records");
    }

    /** The producer has no mapping of INVALID_TRANSACTION_TIMEOUT in InitProducerId: it throws
     *  a KafkaException that carries the error's message (the client's text for the error
     *  code, not the broker's). */
    private void timeoutAboveMax() throws Exception {
        KafkaProducer<String, String> p = producer(prefix + "-too-long", BROKER_MAX_TRANSACTION_TIMEOUT_MS + 1);
        String expected = "Unexpected error in InitProducerIdResponse; " + Errors.INVALID_TRANSACTION_TIMEOUT.message();
        try {
            p.initTransactions();
        } catch (InvalidTxnTimeoutException e) {
            return;
        } catch (KafkaException e) {
            expectEqual(expected, e.getMessage(), "initTransactions error");
            return;
        }
        throw new CheckFailed("initTransactions with transaction.timeout.ms "
            + (BROKER_MAX_TRANSACTION_TIMEOUT_MS + 1) + " succeeded");
    }

    // ------------------------------------------------------------------------------------
    // The abandoned transaction, last

    private void abandonedAborted() throws Exception {
        expect(abandonedAtMs > 0, "no abandoned transaction");
        long waitMs = abandonedAtMs + ABANDONED_TIMEOUT_MS + BROKER_ABORT_SCAN_INTERVAL_MS + 15_000
            - System.currentTimeMillis();
        long lso = eventually(Duration.ofMillis(Math.max(waitMs, 1_000)), () -> lastStableOffset(abandoned),
            v -> v > 0);
        long abortedAfterMs = System.currentTimeMillis() - abandonedAtMs;
        // The three records and the broker's abort marker.
        expectEqual(4L, lso, "LSO " + abortedAfterMs + " ms after the transaction began");
        expectEqual(4L, highWatermark(abandoned), "high watermark");
        TransactionDescription d = awaitState(abandonedId, TransactionState.COMPLETE_ABORT);
        expectEqual(Set.of(), d.topicPartitions(), "topicPartitions");
        Read read = read(IsolationLevel.READ_COMMITTED, abandoned, 4);
        expectEqual(List.of(), read.records(), "read_committed records");
        expectEqual(Map.of(abandoned, 4L), read.positions(), "read_committed position");
    }

    // ------------------------------------------------------------------------------------
    // Modes for txn_tools_check.sh

    private static void hang(String bootstrap, String topic, int partition, String transactionalId, int records)
            throws Exception {
        KafkaProducer<String, String> p =
            new KafkaProducer<>(producerConfig(bootstrap, transactionalId, HANGING_TIMEOUT_MS));
        p.initTransactions();
        p.beginTransaction();
        List<Long> offsets = send(p, new TopicPartition(topic, partition), values("hanging", records));
        System.out.println("START_OFFSET=" + offsets.get(0));
        System.out.flush();
        // No close, no shutdown hooks: the broker hears nothing more from this producer.
        Runtime.getRuntime().halt(0);
    }

    private static void fence(String bootstrap, String transactionalId) {
        try (KafkaProducer<String, String> p =
                 new KafkaProducer<>(producerConfig(bootstrap, transactionalId, CHECK_TIMEOUT_MS))) {
            p.initTransactions();
        }
        System.out.println("FENCED");
    }
}
