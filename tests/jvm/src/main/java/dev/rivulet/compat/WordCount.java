package dev.rivulet.compat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
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
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.LongDeserializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.Utils;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;

/**
 * Kafka Streams word count against a broker, with exact expected counts.
 *
 * <p>Usage: {@code WordCount BOOTSTRAP [at_least_once|exactly_once_v2] [LINES]}.
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
 */
public final class WordCount {
    private static final long SEED = 20_240_917L;
    private static final Duration TIMEOUT = Duration.ofSeconds(120);

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: WordCount BOOTSTRAP [at_least_once|exactly_once_v2] [LINES]");
            System.exit(2);
        }
        String bootstrap = args[0];
        String guarantee = args.length > 1 ? args[1] : StreamsConfig.AT_LEAST_ONCE;
        int lines = args.length > 2 ? Integer.parseInt(args[2]) : 20_000;
        if (!guarantee.equals(StreamsConfig.AT_LEAST_ONCE) && !guarantee.equals(StreamsConfig.EXACTLY_ONCE_V2)) {
            System.err.println("processing guarantee must be at_least_once or exactly_once_v2, not " + guarantee);
            System.exit(2);
        }
        boolean ok = new WordCount(bootstrap, guarantee, lines).run();
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

    private boolean run() throws Exception {
        long started = System.nanoTime();
        Map<String, Long> expected = new TreeMap<>();
        List<String> corpus = corpus(lines, expected);
        long totalWords = expected.values().stream().mapToLong(Long::longValue).sum();
        String label = "streams word count (" + guarantee + ")";

        Properties adminProps = new Properties();
        adminProps.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        adminProps.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30_000);
        try (Admin admin = Admin.create(adminProps)) {
            admin.createTopics(List.of(
                    new NewTopic(input, 3, (short) 1),
                    new NewTopic(output, 3, (short) 1)))
                .all().get(30, TimeUnit.SECONDS);
        }

        Properties producerProps = new Properties();
        producerProps.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        producerProps.put(ProducerConfig.ACKS_CONFIG, "all");
        producerProps.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        producerProps.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        producerProps.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(producerProps)) {
            for (int i = 0; i < corpus.size(); i++) {
                producer.send(new ProducerRecord<>(input, "line-" + i, corpus.get(i)));
            }
            producer.flush();
        }
        long produced = System.nanoTime();

        Path stateDir = Files.createTempDirectory("wordcount-state-");
        Properties streamsProps = new Properties();
        streamsProps.put(StreamsConfig.APPLICATION_ID_CONFIG, applicationId);
        streamsProps.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        streamsProps.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee);
        streamsProps.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        streamsProps.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 200);
        streamsProps.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 2);
        streamsProps.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        streamsProps.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        streamsProps.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");

        StreamsBuilder builder = new StreamsBuilder();
        builder.stream(input, Consumed.with(Serdes.String(), Serdes.String()))
            .flatMapValues(line -> Arrays.asList(line.toLowerCase().trim().split("\\s+")))
            .groupBy((key, word) -> word, Grouped.with("words", Serdes.String(), Serdes.String()))
            .count(Materialized.as("counts"))
            .toStream()
            .to(output, Produced.with(Serdes.String(), Serdes.Long()));

        AtomicReference<Throwable> streamsError = new AtomicReference<>();
        KafkaStreams streams = new KafkaStreams(builder.build(), streamsProps);
        streams.setUncaughtExceptionHandler(e -> {
            streamsError.compareAndSet(null, e);
            return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse
                .SHUTDOWN_CLIENT;
        });
        Map<String, Long> latest = new HashMap<>();
        long updates = 0;
        boolean done = false;
        try {
            streams.start();

            Properties consumerProps = new Properties();
            consumerProps.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            consumerProps.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
            consumerProps.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, LongDeserializer.class);
            // Under exactly-once only committed counts may be seen; aborted ones would be a bug.
            consumerProps.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG,
                guarantee.equals(StreamsConfig.AT_LEAST_ONCE) ? "read_uncommitted" : "read_committed");
            try (KafkaConsumer<String, Long> consumer = new KafkaConsumer<>(consumerProps)) {
                List<TopicPartition> partitions = List.of(
                    new TopicPartition(output, 0), new TopicPartition(output, 1), new TopicPartition(output, 2));
                consumer.assign(partitions);
                consumer.seekToBeginning(partitions);
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
        String reason = streamsError.get() != null
            ? "streams failed: " + oneLine(streamsError.get())
            : "timed out after " + TIMEOUT.toSeconds() + " s, streams state " + streams.state();
        System.out.printf("FAIL %s: %s; %d of %d words differ, %d count updates read; first: %s%n",
            label, reason, mismatches.size(), expected.size(), updates,
            String.join(", ", mismatches.subList(0, Math.min(10, mismatches.size()))));
        return false;
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
