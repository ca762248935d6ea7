package dev.rivulet.compat;

import java.io.FileOutputStream;
import java.io.PrintStream;
import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.SubscriptionPattern;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * One member of a KIP-848 consumer group ({@code group.protocol=consumer}), run as its own
 * process so that a check can SIGKILL it. Writes one line per event to OUTPUT, flushed at once:
 *
 * <pre>
 *   R topic partition offset      a record consumed
 *   C topic partition offset      a synchronous commit of that next offset succeeded
 *   A topic partition             a partition assigned
 *   V topic partition             a partition revoked
 *   E exception                   a commit that failed (the records may be consumed again)
 * </pre>
 *
 * Usage: GroupProtocolConsumer BOOTSTRAP GROUP (--topic NAME | --regex RE) OUTPUT SECONDS
 * [instance-id]. Runs for SECONDS (or until killed), committing after every poll.
 */
public final class GroupProtocolConsumer {
    public static void main(String[] args) throws Exception {
        if (args.length < 6) {
            System.err.println("usage: GroupProtocolConsumer BOOTSTRAP GROUP (--topic T | --regex RE) OUTPUT SECONDS [INSTANCE]");
            System.exit(2);
        }
        String bootstrap = args[0];
        String group = args[1];
        boolean regex = args[2].equals("--regex");
        String subscription = args[3];
        PrintStream out = new PrintStream(new FileOutputStream(args[4], true), true);
        long until = System.currentTimeMillis() + Long.parseLong(args[5]) * 1000;

        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        props.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer");
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "500");
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        if (args.length > 6) {
            props.put(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, args[6]);
        }

        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props)) {
            ConsumerRebalanceListener listener = new ConsumerRebalanceListener() {
                @Override
                public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                    for (TopicPartition tp : partitions) {
                        out.println("V " + tp.topic() + " " + tp.partition());
                    }
                }

                @Override
                public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                    for (TopicPartition tp : partitions) {
                        out.println("A " + tp.topic() + " " + tp.partition());
                    }
                }
            };
            if (regex) {
                // The broker resolves the regex (KIP-848, RE2J syntax) as topics come and go.
                consumer.subscribe(new SubscriptionPattern(subscription), listener);
            } else {
                consumer.subscribe(List.of(subscription), listener);
            }
            while (System.currentTimeMillis() < until) {
                ConsumerRecords<String, String> records = consumer.poll(Duration.ofMillis(200));
                if (records.isEmpty()) {
                    continue;
                }
                Map<TopicPartition, OffsetAndMetadata> next = new HashMap<>();
                StringBuilder lines = new StringBuilder();
                for (ConsumerRecord<String, String> r : records) {
                    lines.append("R ").append(r.topic()).append(' ').append(r.partition()).append(' ')
                        .append(r.offset()).append('\n');
                    next.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                }
                out.print(lines);
                out.flush();
                try {
                    consumer.commitSync(next);
                } catch (RuntimeException e) {
                    // A partition revoked meanwhile: its new owner starts from the last commit.
                    out.println("E " + e);
                    continue;
                }
                for (Map.Entry<TopicPartition, OffsetAndMetadata> e : next.entrySet()) {
                    out.println("C " + e.getKey().topic() + " " + e.getKey().partition() + " " + e.getValue().offset());
                }
            }
        }
        out.println("DONE");
    }
}
