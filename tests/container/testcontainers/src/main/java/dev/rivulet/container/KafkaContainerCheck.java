package dev.rivulet.container;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.testcontainers.kafka.KafkaContainer;
import org.testcontainers.utility.DockerImageName;

/**
 * Starts IMAGE through Testcontainers' KafkaContainer, as a test suite written for apache/kafka
 * would, then creates a topic, produces with the idempotent Java producer and reads the
 * records back in a consumer group.
 *
 * <pre>KafkaContainerCheck IMAGE
 * KafkaContainerCheck --bootstrap HOST:PORT    (the same round trip against a running broker)</pre>
 */
public final class KafkaContainerCheck {
    public static void main(String[] args) throws Exception {
        if (args[0].equals("--bootstrap")) {
            roundTrip(args[1]);
            System.out.println("round trip check passed");
            return;
        }
        DockerImageName image = DockerImageName.parse(args[0]).asCompatibleSubstituteFor("apache/kafka");
        long start = System.nanoTime();
        try (KafkaContainer kafka = new KafkaContainer(image)) {
            kafka.start();
            System.out.printf("KafkaContainer started in %d ms, bootstrap %s%n",
                    (System.nanoTime() - start) / 1_000_000, kafka.getBootstrapServers());
            roundTrip(kafka.getBootstrapServers());
        }
        System.out.println("testcontainers: KafkaContainer check passed");
    }

    private static void roundTrip(String bootstrap) throws Exception {
        String topic = "testcontainers-check-" + System.currentTimeMillis();
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap))) {
            admin.createTopics(List.of(new NewTopic(topic, 3, (short) 1))).all().get();
        }
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        int count = 100;
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
            for (int i = 0; i < count; i++) {
                producer.send(new ProducerRecord<>(topic, "key-" + i, "value-" + i)).get();
            }
        }
        Properties c = new Properties();
        c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        c.put(ConsumerConfig.GROUP_ID_CONFIG, "testcontainers-check");
        c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        c.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        c.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        List<String> seen = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(c)) {
            consumer.subscribe(Set.of(topic));
            long deadline = System.currentTimeMillis() + 60_000;
            while (seen.size() < count && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
                    seen.add(r.key() + "=" + r.value());
                }
            }
            consumer.commitSync();
        }
        for (int i = 0; i < count; i++) {
            if (!seen.contains("key-" + i + "=value-" + i)) {
                throw new AssertionError("record key-" + i + " not consumed; consumed " + seen.size());
            }
        }
        if (seen.size() != count) {
            throw new AssertionError("consumed " + seen.size() + " records, produced " + count);
        }
        System.out.printf("produced and consumed %d records through KafkaContainer's bootstrap%n", count);
    }
}
