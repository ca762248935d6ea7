package dev.rivulet.compat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.CreateTopicsOptions;
import org.apache.kafka.clients.admin.CreateTopicsResult;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.DescribeConfigsOptions;
import org.apache.kafka.clients.admin.DescribeConsumerGroupsOptions;
import org.apache.kafka.clients.admin.DescribeTopicsOptions;
import org.apache.kafka.clients.admin.FeatureMetadata;
import org.apache.kafka.clients.admin.FinalizedVersionRange;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListGroupsOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.LogDirDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewPartitionReassignment;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.PartitionReassignment;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.admin.QuorumInfo;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.ReplicaInfo;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.admin.UserScramCredentialsDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicCollection;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.TopicPartitionReplica;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.ElectionNotNeededException;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.errors.GroupNotEmptyException;
import org.apache.kafka.common.errors.InvalidConfigurationException;
import org.apache.kafka.common.errors.InvalidPartitionsException;
import org.apache.kafka.common.errors.InvalidReplicaAssignmentException;
import org.apache.kafka.common.errors.InvalidReplicationFactorException;
import org.apache.kafka.common.errors.InvalidRequestException;
import org.apache.kafka.common.errors.InvalidTopicException;
import org.apache.kafka.common.errors.LogDirNotFoundException;
import org.apache.kafka.common.errors.NoReassignmentInProgressException;
import org.apache.kafka.common.errors.OffsetOutOfRangeException;
import org.apache.kafka.common.errors.ResourceNotFoundException;
import org.apache.kafka.common.errors.SecurityDisabledException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownMemberIdException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.quota.ClientQuotaAlteration;
import org.apache.kafka.common.quota.ClientQuotaEntity;
import org.apache.kafka.common.quota.ClientQuotaFilter;
import org.apache.kafka.common.quota.ClientQuotaFilterComponent;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The Java admin client against a single-node broker without an authorizer: each check
 * prints {@code PASS name} or {@code FAIL name: what differs}, then a summary line; the exit
 * status is non-zero if any check failed.
 *
 * <p>Usage: {@code AdminChecks BOOTSTRAP}.
 *
 * <p>Apache Kafka 4.1 (one combined broker and controller) is the reference: every check
 * passes against it. Values that legitimately differ between two single-node brokers (node
 * and cluster ids, ports, feature levels, sizes) are checked for shape, not compared. Kafka
 * applies admin changes through its metadata log, so a change made by one call reaches the
 * broker's view a moment later: reads after writes poll for a few seconds.
 */
public final class AdminChecks extends CheckRunner {
    /** The operations a broker without an authorizer reports as allowed on a topic. */
    private static final Set<AclOperation> TOPIC_OPERATIONS = Set.of(
        AclOperation.READ, AclOperation.WRITE, AclOperation.CREATE, AclOperation.DESCRIBE,
        AclOperation.DELETE, AclOperation.ALTER, AclOperation.DESCRIBE_CONFIGS, AclOperation.ALTER_CONFIGS);
    /** ... on the cluster. */
    private static final Set<AclOperation> CLUSTER_OPERATIONS = Set.of(
        AclOperation.CREATE, AclOperation.ALTER, AclOperation.DESCRIBE, AclOperation.CLUSTER_ACTION,
        AclOperation.DESCRIBE_CONFIGS, AclOperation.ALTER_CONFIGS, AclOperation.IDEMPOTENT_WRITE);
    /** ... on a group. */
    private static final Set<AclOperation> GROUP_OPERATIONS = Set.of(
        AclOperation.READ, AclOperation.DESCRIBE, AclOperation.DELETE, AclOperation.DESCRIBE_CONFIGS,
        AclOperation.ALTER_CONFIGS);

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: AdminChecks BOOTSTRAP");
            System.exit(2);
        }
        new AdminChecks(args[0]).runAndExit("admin");
    }

    // ------------------------------------------------------------------------------------
    // Expected errors

    /** The call must fail with exactly this error (Kafka's error code, as the client maps it). */
    private static Throwable expectError(KafkaFuture<?> future, Class<? extends Throwable> error, String what)
            throws Exception {
        try {
            Object value = future.get(CALL_TIMEOUT_S, TimeUnit.SECONDS);
            throw new CheckFailed(what + ": expected " + error.getSimpleName() + ", succeeded with " + value);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (!error.isInstance(cause)) {
                throw new CheckFailed(what + ": expected " + error.getSimpleName() + ", got "
                    + cause.getClass().getSimpleName() + ": " + cause.getMessage());
            }
            return cause;
        }
    }

    // ------------------------------------------------------------------------------------
    // State shared between checks

    private final String bootstrap;
    private final Admin admin;
    private final String run = UUID.randomUUID().toString().substring(0, 8);
    /** Two partitions; data is produced to partition 0. */
    private final String topic = "admin-check-" + run;
    private final String topicDefaults = "admin-check-defaults-" + run;
    private final String group = "admin-check-group-" + run;
    private final TopicPartition tp0 = new TopicPartition(topic, 0);
    private final TopicPartition tp1 = new TopicPartition(topic, 1);
    private int nodeId = -1;
    private Uuid topicId;
    private String logDir;
    private long baseTimestamp;
    private KafkaConsumer<String, String> consumer;

    private AdminChecks(String bootstrap) {
        this.bootstrap = bootstrap;
        this.admin = adminClient(bootstrap, "admin-checks");
    }

    @Override
    void close() {
        if (consumer != null) {
            consumer.close(Duration.ofSeconds(5));
        }
        deleteTopicsAndClose(admin, List.of(topic, topicDefaults));
    }

    @Override
    void runAll() {
        check("describeCluster", this::describeCluster);
        check("createTopics", this::createTopics);
        check("createTopics default partitions and replication factor", this::createTopicsDefaults);
        check("createTopics validateOnly", this::createTopicsValidateOnly);
        check("createTopics existing topic", this::createTopicsExisting);
        check("createTopics replication factor 3", this::createTopicsReplicationFactor);
        check("createTopics invalid name", this::createTopicsInvalidName);
        check("listTopics", this::listTopics);
        check("describeTopics", this::describeTopics);
        check("describeTopics by topic id", this::describeTopicsById);
        check("describeTopics unknown topic", this::describeTopicsUnknown);
        check("describeConfigs topic", this::describeConfigsTopic);
        check("describeConfigs broker", this::describeConfigsBroker);
        check("incrementalAlterConfigs SET and APPEND", this::alterConfigsSetAppend);
        check("incrementalAlterConfigs SUBTRACT to an empty list", this::alterConfigsSubtract);
        check("incrementalAlterConfigs DELETE", this::alterConfigsDelete);
        check("incrementalAlterConfigs SUBTRACT on a non-list config", this::alterConfigsSubtractNonList);
        check("describeLogDirs", this::describeLogDirs);
        check("alterReplicaLogDirs to the current log dir", this::alterReplicaLogDirsSame);
        check("alterReplicaLogDirs to an unknown log dir", this::alterReplicaLogDirsUnknown);
        check("produce (idempotent)", this::produce);
        check("describeProducers", this::describeProducers);
        check("listOffsets", this::listOffsets);
        check("listOffsets empty partition", this::listOffsetsEmpty);
        check("deleteRecords beyond the high watermark", this::deleteRecordsOutOfRange);
        check("deleteRecords", this::deleteRecords);
        check("electLeaders preferred", this::electLeaders);
        check("listPartitionReassignments", this::listPartitionReassignments);
        check("alterPartitionReassignments to an unknown broker", this::alterReassignmentUnknownBroker);
        check("alterPartitionReassignments cancel without a reassignment", this::cancelReassignment);
        check("describeAcls", this::describeAcls);
        check("createAcls", this::createAcls);
        check("deleteAcls", this::deleteAcls);
        check("describeUserScramCredentials", this::describeScram);
        check("alterClientQuotas and describeClientQuotas", this::clientQuotas);
        check("alterClientQuotas unknown quota key", this::clientQuotasUnknownKey);
        check("describeFeatures", this::describeFeatures);
        check("describeMetadataQuorum", this::describeMetadataQuorum);
        check("consumer group join and commit", this::joinGroup);
        check("listGroups", this::listGroups);
        check("describeConsumerGroups", this::describeConsumerGroups);
        check("listConsumerGroupOffsets", this::listConsumerGroupOffsets);
        check("alterConsumerGroupOffsets on an active group", this::alterOffsetsActiveGroup);
        check("deleteConsumerGroups on an active group", this::deleteActiveGroup);
        check("alterConsumerGroupOffsets", this::alterConsumerGroupOffsets);
        check("deleteConsumerGroupOffsets", this::deleteConsumerGroupOffsets);
        check("deleteConsumerGroups", this::deleteConsumerGroups);
        check("createPartitions", this::createPartitions);
        check("createPartitions fewer partitions", this::createPartitionsFewer);
        check("deleteTopics", this::deleteTopics);
    }

    // ------------------------------------------------------------------------------------
    // Cluster and topics

    private void describeCluster() throws Exception {
        DescribeClusterResult result = admin.describeCluster(
            new DescribeClusterOptions().includeAuthorizedOperations(true));
        Collection<Node> nodes = get(result.nodes());
        expect(nodes.size() == 1, "expected 1 node, got %s", nodes);
        Node node = nodes.iterator().next();
        nodeId = node.id();
        Node controller = get(result.controller());
        expect(controller != null && !controller.isEmpty(), "no controller: %s", controller);
        // A single node is the only broker a client can be given as the controller.
        expectEqual(node.id(), controller.id(), "controller id");
        String clusterId = get(result.clusterId());
        expect(clusterId != null && !clusterId.isEmpty(), "no cluster id");
        Set<AclOperation> operations = get(result.authorizedOperations());
        expectEqual(new TreeSet<>(CLUSTER_OPERATIONS), operations == null ? null : new TreeSet<>(operations),
            "authorizedOperations with includeAuthorizedOperations=true");
        Set<AclOperation> unasked = get(admin.describeCluster().authorizedOperations());
        expect(unasked == null, "authorizedOperations without includeAuthorizedOperations: %s", unasked);
    }

    private void createTopics() throws Exception {
        CreateTopicsResult result = admin.createTopics(List.of(
            new NewTopic(topic, 2, (short) 1).configs(Map.of("max.message.bytes", "2000000"))));
        get(result.all());
        expectEqual(2, get(result.numPartitions(topic)), "numPartitions");
        expectEqual(1, get(result.replicationFactor(topic)), "replicationFactor");
        topicId = get(result.topicId(topic));
        expect(topicId != null && !topicId.equals(Uuid.ZERO_UUID), "topic id %s", topicId);
        Config config = get(result.config(topic));
        ConfigEntry maxBytes = config.get("max.message.bytes");
        expect(maxBytes != null && "2000000".equals(maxBytes.value())
                && maxBytes.source() == ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG,
            "max.message.bytes in the CreateTopics response: %s", maxBytes);
        ConfigEntry cleanup = config.get("cleanup.policy");
        expect(cleanup != null && "delete".equals(cleanup.value()), "cleanup.policy in the response: %s", cleanup);
        // Later checks need the broker to know the topic.
        TopicDescription described = eventually(
            () -> get(admin.describeTopics(List.of(topic)).allTopicNames()).get(topic),
            d -> d != null && d.partitions().size() == 2
                && d.partitions().stream().allMatch(p -> p.leader() != null && !p.leader().isEmpty()));
        expect(described.partitions().stream().allMatch(p -> p.leader() != null && !p.leader().isEmpty()),
            "partitions without a leader: %s", described);
    }

    private void createTopicsDefaults() throws Exception {
        CreateTopicsResult result = admin.createTopics(List.of(
            new NewTopic(topicDefaults, Optional.empty(), Optional.empty())));
        get(result.all());
        int partitions = get(result.numPartitions(topicDefaults));
        expect(partitions >= 1, "numPartitions %d", partitions);
        expectEqual(1, get(result.replicationFactor(topicDefaults)), "replicationFactor (default.replication.factor)");
    }

    private void createTopicsValidateOnly() throws Exception {
        String name = "admin-check-validate-" + run;
        CreateTopicsResult result = admin.createTopics(
            List.of(new NewTopic(name, 5, (short) 1)), new CreateTopicsOptions().validateOnly(true));
        get(result.all());
        expectEqual(5, get(result.numPartitions(name)), "numPartitions");
        Set<String> names = get(admin.listTopics().names());
        expect(!names.contains(name), "validateOnly created the topic");
    }

    private void createTopicsExisting() throws Exception {
        expectError(admin.createTopics(List.of(new NewTopic(topic, 2, (short) 1))).all(),
            TopicExistsException.class, "creating an existing topic");
    }

    private void createTopicsReplicationFactor() throws Exception {
        expectError(admin.createTopics(List.of(new NewTopic("admin-check-rf3-" + run, 1, (short) 3))).all(),
            InvalidReplicationFactorException.class, "replication factor 3 on one broker");
    }

    private void createTopicsInvalidName() throws Exception {
        expectError(admin.createTopics(List.of(new NewTopic("admin/check", 1, (short) 1))).all(),
            InvalidTopicException.class, "topic name with '/'");
    }

    private void listTopics() throws Exception {
        Set<String> names = get(admin.listTopics().names());
        expect(names.contains(topic) && names.contains(topicDefaults), "listTopics lacks the new topics: %s", names);
    }

    private void describeTopics() throws Exception {
        TopicDescription d = get(admin.describeTopics(List.of(topic),
            new DescribeTopicsOptions().includeAuthorizedOperations(true)).allTopicNames()).get(topic);
        expect(d != null, "no description");
        expectEqual(topic, d.name(), "name");
        expect(!d.isInternal(), "reported as internal");
        expectEqual(topicId, d.topicId(), "topic id");
        expectEqual(2, d.partitions().size(), "partition count");
        for (int i = 0; i < 2; i++) {
            TopicPartitionInfo p = d.partitions().get(i);
            expectEqual(i, p.partition(), "partition index");
            expect(p.leader() != null && p.leader().id() == nodeId, "partition %d leader %s", i, p.leader());
            expectEqual(List.of(nodeId), ids(p.replicas()), "partition " + i + " replicas");
            expectEqual(List.of(nodeId), ids(p.isr()), "partition " + i + " isr");
        }
        expectEqual(new TreeSet<>(TOPIC_OPERATIONS),
            d.authorizedOperations() == null ? null : new TreeSet<>(d.authorizedOperations()),
            "authorizedOperations");
    }

    private static List<Integer> ids(List<Node> nodes) {
        return nodes.stream().map(Node::id).collect(Collectors.toList());
    }

    private void describeTopicsById() throws Exception {
        Map<Uuid, TopicDescription> byId;
        try {
            byId = get(admin.describeTopics(TopicCollection.ofTopicIds(List.of(topicId))).allTopicIds());
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof IllegalStateException)) {
                throw e;
            }
            // The client's way of saying a topic in the response has the zero id: the request
            // names each topic by id with an empty (not null) name, and the broker answered
            // by name.
            throw new CheckFailed("a topic in the Metadata response to a request by topic id has the zero"
                + " topic id (client: " + e.getCause().getMessage() + ")");
        }
        TopicDescription d = byId.get(topicId);
        expect(d != null, "no description for %s: %s", topicId, byId);
        expectEqual(topic, d.name(), "name");
        expectEqual(2, d.partitions().size(), "partition count");
    }

    private void describeTopicsUnknown() throws Exception {
        expectError(admin.describeTopics(List.of("admin-check-missing-" + run)).allTopicNames(),
            UnknownTopicOrPartitionException.class, "describing a missing topic");
    }

    // ------------------------------------------------------------------------------------
    // Configs

    private Config topicConfig() throws Exception {
        ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        return get(admin.describeConfigs(List.of(resource),
            new DescribeConfigsOptions().includeSynonyms(true).includeDocumentation(true)).all()).get(resource);
    }

    private void describeConfigsTopic() throws Exception {
        Config config = topicConfig();
        expect(config.entries().size() > 20, "only %d entries", config.entries().size());
        ConfigEntry maxBytes = config.get("max.message.bytes");
        expect(maxBytes != null && "2000000".equals(maxBytes.value())
                && maxBytes.source() == ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG,
            "max.message.bytes: %s", maxBytes);
        expect(!maxBytes.synonyms().isEmpty()
                && maxBytes.synonyms().get(0).source() == ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG,
            "max.message.bytes synonyms should start with the topic's own value: %s", maxBytes.synonyms());
        ConfigEntry cleanup = config.get("cleanup.policy");
        expect(cleanup != null && "delete".equals(cleanup.value())
                && cleanup.source() != ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG,
            "cleanup.policy: %s", cleanup);
        expectEqual(ConfigEntry.ConfigType.LIST, cleanup.type(), "cleanup.policy type");
        expect(cleanup.documentation() != null && !cleanup.documentation().isEmpty(),
            "cleanup.policy documentation with includeDocumentation=true: %s",
            cleanup.documentation() == null ? null : "\"" + cleanup.documentation() + "\"");
        ConfigEntry retention = config.get("retention.ms");
        expect(retention != null, "no retention.ms");
        expectEqual(ConfigEntry.ConfigType.LONG, retention.type(), "retention.ms type");
    }

    private void describeConfigsBroker() throws Exception {
        ConfigResource resource = new ConfigResource(ConfigResource.Type.BROKER, String.valueOf(nodeId));
        Config config = get(admin.describeConfigs(List.of(resource)).all()).get(resource);
        ConfigEntry id = config.get("node.id");
        expect(id != null && String.valueOf(nodeId).equals(id.value()), "node.id: %s", id);
        ConfigEntry partitions = config.get("num.partitions");
        expect(partitions != null && Integer.parseInt(partitions.value()) >= 1, "num.partitions: %s", partitions);
        expect(config.get("log.dirs") != null || config.get("log.dir") != null, "neither log.dirs nor log.dir");
    }

    private void alterConfigs(AlterConfigOp... ops) throws Exception {
        ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        get(admin.incrementalAlterConfigs(Map.of(resource, List.of(ops))).all());
    }

    private static AlterConfigOp op(String key, String value, AlterConfigOp.OpType type) {
        return new AlterConfigOp(new ConfigEntry(key, value), type);
    }

    private static String entry(Config config, String key) {
        ConfigEntry e = config.get(key);
        return e == null ? null : e.value() + " (" + e.source() + ")";
    }

    private void alterConfigsSetAppend() throws Exception {
        alterConfigs(op("retention.ms", "3600000", AlterConfigOp.OpType.SET),
            op("cleanup.policy", "compact", AlterConfigOp.OpType.APPEND));
        Config config = eventually(this::topicConfig,
            c -> "3600000".equals(c.get("retention.ms").value()) && "delete,compact".equals(c.get("cleanup.policy").value()));
        expectEqual("3600000 (DYNAMIC_TOPIC_CONFIG)", entry(config, "retention.ms"), "retention.ms after SET");
        // APPEND starts from the value in effect, here the default.
        expectEqual("delete,compact (DYNAMIC_TOPIC_CONFIG)", entry(config, "cleanup.policy"), "cleanup.policy after APPEND");
    }

    private void alterConfigsSubtract() throws Exception {
        alterConfigs(op("cleanup.policy", "delete,compact", AlterConfigOp.OpType.SUBTRACT));
        Config config = eventually(this::topicConfig, c -> "".equals(c.get("cleanup.policy").value()));
        expectEqual(" (DYNAMIC_TOPIC_CONFIG)", entry(config, "cleanup.policy"), "cleanup.policy after SUBTRACT of both");
    }

    private void alterConfigsDelete() throws Exception {
        alterConfigs(op("retention.ms", null, AlterConfigOp.OpType.DELETE),
            op("cleanup.policy", null, AlterConfigOp.OpType.DELETE));
        Config config = eventually(this::topicConfig,
            c -> c.get("retention.ms").source() != ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG
                && c.get("cleanup.policy").source() != ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG);
        ConfigEntry retention = config.get("retention.ms");
        expect(retention.source() != ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, "retention.ms still set: %s", retention);
        ConfigEntry cleanup = config.get("cleanup.policy");
        expect("delete".equals(cleanup.value()) && cleanup.source() != ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG,
            "cleanup.policy after DELETE: %s", cleanup);
    }

    private void alterConfigsSubtractNonList() throws Exception {
        ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        expectError(admin.incrementalAlterConfigs(Map.of(resource,
                List.of(op("retention.ms", "1000", AlterConfigOp.OpType.SUBTRACT)))).all(),
            InvalidConfigurationException.class, "SUBTRACT on retention.ms");
    }

    // ------------------------------------------------------------------------------------
    // Log dirs

    private void describeLogDirs() throws Exception {
        Map<Integer, Map<String, LogDirDescription>> all = get(admin.describeLogDirs(List.of(nodeId)).allDescriptions());
        Map<String, LogDirDescription> dirs = all.get(nodeId);
        expect(dirs != null && dirs.size() == 1, "expected one log dir on node %d: %s", nodeId, all);
        logDir = dirs.keySet().iterator().next();
        LogDirDescription dir = dirs.get(logDir);
        expect(dir.error() == null, "log dir error %s", dir.error());
        for (TopicPartition tp : List.of(tp0, tp1)) {
            ReplicaInfo info = dir.replicaInfos().get(tp);
            expect(info != null, "no replica info for %s in %s", tp, dir.replicaInfos().keySet());
            expect(info.size() >= 0 && !info.isFuture(), "replica info for %s: %s", tp, info);
        }
        expect(dir.totalBytes().isPresent() && dir.usableBytes().isPresent()
                && dir.usableBytes().getAsLong() <= dir.totalBytes().getAsLong(),
            "total %s and usable %s bytes", dir.totalBytes(), dir.usableBytes());
    }

    private void alterReplicaLogDirsSame() throws Exception {
        expect(logDir != null, "no log dir known");
        get(admin.alterReplicaLogDirs(Map.of(new TopicPartitionReplica(topic, 0, nodeId), logDir)).all());
    }

    private void alterReplicaLogDirsUnknown() throws Exception {
        expectError(admin.alterReplicaLogDirs(
                Map.of(new TopicPartitionReplica(topic, 0, nodeId), "/nonexistent/admin-check-" + run)).all(),
            LogDirNotFoundException.class, "moving a replica to a directory that is not a log dir");
    }

    // ------------------------------------------------------------------------------------
    // Records, offsets, producers

    private static final int RECORDS = 10;
    private static final int MAX_TIMESTAMP_INDEX = 5;

    /** Ten records on partition 0 with timestamps base+i, except one far later: the
     *  max-timestamp offset is then not the last one. */
    private void produce() throws Exception {
        baseTimestamp = System.currentTimeMillis() - 60_000;
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        props.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 15_000);
        props.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 15_000);
        props.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 30_000);
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
            for (int i = 0; i < RECORDS; i++) {
                producer.send(new ProducerRecord<>(topic, 0, timestamp(i), "k" + i, "v" + i))
                    .get(30, TimeUnit.SECONDS);
            }
        }
    }

    private long timestamp(int i) {
        return baseTimestamp + (i == MAX_TIMESTAMP_INDEX ? 10_000 : i);
    }

    private void describeProducers() throws Exception {
        List<ProducerState> producers = get(admin.describeProducers(List.of(tp0)).partitionResult(tp0)).activeProducers();
        expect(producers.size() == 1, "expected one active producer, got %s", producers);
        ProducerState p = producers.get(0);
        expect(p.producerId() >= 0 && p.producerEpoch() >= 0, "producer id/epoch %s", p);
        expectEqual(RECORDS - 1, p.lastSequence(), "lastSequence");
        expectEqual(timestamp(RECORDS - 1), p.lastTimestamp(), "lastTimestamp");
        expect(p.currentTransactionStartOffset().isEmpty(), "transaction start offset %s", p);
        List<ProducerState> none = get(admin.describeProducers(List.of(tp1)).partitionResult(tp1)).activeProducers();
        expect(none.isEmpty(), "producers on the partition never written: %s", none);
    }

    private Map<TopicPartition, ListOffsetsResultInfo> listOffsets(TopicPartition tp, OffsetSpec... specs)
            throws Exception {
        Map<TopicPartition, ListOffsetsResultInfo> out = new HashMap<>();
        for (OffsetSpec spec : specs) {
            out.putAll(get(admin.listOffsets(Map.of(tp, spec)).all()));
        }
        return out;
    }

    private ListOffsetsResultInfo offset(TopicPartition tp, OffsetSpec spec) throws Exception {
        return get(admin.listOffsets(Map.of(tp, spec)).partitionResult(tp));
    }

    private void listOffsets() throws Exception {
        expectEqual(0L, offset(tp0, OffsetSpec.earliest()).offset(), "earliest");
        expectEqual((long) RECORDS, offset(tp0, OffsetSpec.latest()).offset(), "latest");
        ListOffsetsResultInfo max = offset(tp0, OffsetSpec.maxTimestamp());
        expectEqual((long) MAX_TIMESTAMP_INDEX, max.offset(), "max-timestamp offset");
        expectEqual(timestamp(MAX_TIMESTAMP_INDEX), max.timestamp(), "max timestamp");
        ListOffsetsResultInfo at = offset(tp0, OffsetSpec.forTimestamp(baseTimestamp + 3));
        expectEqual(3L, at.offset(), "offset for timestamp base+3");
        expectEqual(baseTimestamp + 3, at.timestamp(), "timestamp for timestamp base+3");
        ListOffsetsResultInfo after = offset(tp0, OffsetSpec.forTimestamp(baseTimestamp + 20_000));
        expectEqual(-1L, after.offset(), "offset for a timestamp after every record");
    }

    private void listOffsetsEmpty() throws Exception {
        expectEqual(0L, offset(tp1, OffsetSpec.earliest()).offset(), "earliest");
        expectEqual(0L, offset(tp1, OffsetSpec.latest()).offset(), "latest");
        ListOffsetsResultInfo max = offset(tp1, OffsetSpec.maxTimestamp());
        expectEqual(-1L, max.offset(), "max-timestamp offset of an empty partition");
        expectEqual(-1L, max.timestamp(), "max timestamp of an empty partition");
    }

    private void deleteRecordsOutOfRange() throws Exception {
        expectError(admin.deleteRecords(Map.of(tp0, RecordsToDelete.beforeOffset(RECORDS + 5))).all(),
            OffsetOutOfRangeException.class, "deleting beyond the high watermark");
    }

    private void deleteRecords() throws Exception {
        long low = get(admin.deleteRecords(Map.of(tp0, RecordsToDelete.beforeOffset(4))).lowWatermarks().get(tp0))
            .lowWatermark();
        expectEqual(4L, low, "low watermark");
        expectEqual(4L, offset(tp0, OffsetSpec.earliest()).offset(), "earliest after deleteRecords");
        expectEqual((long) RECORDS, offset(tp0, OffsetSpec.latest()).offset(), "latest after deleteRecords");
    }

    // ------------------------------------------------------------------------------------
    // Leadership and reassignment: with one broker there is nothing to move or elect.

    private void electLeaders() throws Exception {
        Map<TopicPartition, Optional<Throwable>> result =
            get(admin.electLeaders(ElectionType.PREFERRED, Set.of(tp0)).partitions());
        Optional<Throwable> error = result.get(tp0);
        expect(error != null && error.isPresent() && error.get() instanceof ElectionNotNeededException,
            "expected ElectionNotNeededException for %s, got %s", tp0, result);
    }

    private void listPartitionReassignments() throws Exception {
        Map<TopicPartition, PartitionReassignment> all = get(admin.listPartitionReassignments().reassignments());
        expect(all.isEmpty(), "reassignments in progress: %s", all);
        Map<TopicPartition, PartitionReassignment> some =
            get(admin.listPartitionReassignments(Set.of(tp0, tp1)).reassignments());
        expect(some.isEmpty(), "reassignments of %s: %s", topic, some);
    }

    private void alterReassignmentUnknownBroker() throws Exception {
        int missing = nodeId + 100;
        expectError(admin.alterPartitionReassignments(
                Map.of(tp0, Optional.of(new NewPartitionReassignment(List.of(missing))))).all(),
            InvalidReplicaAssignmentException.class, "reassigning to broker " + missing);
    }

    private void cancelReassignment() throws Exception {
        expectError(admin.alterPartitionReassignments(Map.of(tp0, Optional.empty())).all(),
            NoReassignmentInProgressException.class, "cancelling when nothing is being reassigned");
    }

    // ------------------------------------------------------------------------------------
    // Security and quotas: no authorizer, no SASL users.

    private void describeAcls() throws Exception {
        expectError(admin.describeAcls(AclBindingFilter.ANY).values(), SecurityDisabledException.class, "describeAcls");
    }

    private AclBinding binding() {
        return new AclBinding(new ResourcePattern(ResourceType.TOPIC, topic, PatternType.LITERAL),
            new AccessControlEntry("User:admin-check", "*", AclOperation.READ, AclPermissionType.ALLOW));
    }

    private void createAcls() throws Exception {
        expectError(admin.createAcls(List.of(binding())).all(), SecurityDisabledException.class, "createAcls");
    }

    private void deleteAcls() throws Exception {
        expectError(admin.deleteAcls(List.of(binding().toFilter())).all(), SecurityDisabledException.class, "deleteAcls");
    }

    private void describeScram() throws Exception {
        Map<String, UserScramCredentialsDescription> all = get(admin.describeUserScramCredentials().all());
        expect(all.isEmpty(), "credentials: %s", all);
        expectError(admin.describeUserScramCredentials(List.of("admin-check-" + run)).description("admin-check-" + run),
            ResourceNotFoundException.class, "describing a user without credentials");
    }

    private Map<String, Double> quotas(ClientQuotaEntity entity) throws Exception {
        Map<ClientQuotaEntity, Map<String, Double>> all = get(admin.describeClientQuotas(ClientQuotaFilter.containsOnly(
            List.of(ClientQuotaFilterComponent.ofEntity(ClientQuotaEntity.USER, "admin-check-" + run)))).entities());
        return all.getOrDefault(entity, Map.of());
    }

    private void clientQuotas() throws Exception {
        ClientQuotaEntity entity = new ClientQuotaEntity(Map.of(ClientQuotaEntity.USER, "admin-check-" + run));
        get(admin.alterClientQuotas(List.of(new ClientQuotaAlteration(entity, List.of(
            new ClientQuotaAlteration.Op("producer_byte_rate", 1048576.0),
            new ClientQuotaAlteration.Op("consumer_byte_rate", 2097152.0))))).all());
        Map<String, Double> expected = Map.of("producer_byte_rate", 1048576.0, "consumer_byte_rate", 2097152.0);
        Map<String, Double> after = eventually(() -> quotas(entity), expected::equals);
        expectEqual(expected, after, "quotas after alter");

        get(admin.alterClientQuotas(List.of(new ClientQuotaAlteration(entity, List.of(
            new ClientQuotaAlteration.Op("producer_byte_rate", null))))).all());
        Map<String, Double> removedOne = eventually(() -> quotas(entity), q -> q.size() == 1);
        expectEqual(Map.of("consumer_byte_rate", 2097152.0), removedOne, "quotas after removing producer_byte_rate");

        get(admin.alterClientQuotas(List.of(new ClientQuotaAlteration(entity, List.of(
            new ClientQuotaAlteration.Op("consumer_byte_rate", null))))).all());
        Map<String, Double> removedAll = eventually(() -> quotas(entity), Map::isEmpty);
        expectEqual(Map.of(), removedAll, "quotas after removing both");
    }

    private void clientQuotasUnknownKey() throws Exception {
        ClientQuotaEntity entity = new ClientQuotaEntity(Map.of(ClientQuotaEntity.USER, "admin-check-" + run));
        expectError(admin.alterClientQuotas(List.of(new ClientQuotaAlteration(entity, List.of(
                new ClientQuotaAlteration.Op("admin_check_rate", 1.0))))).all(),
            InvalidRequestException.class, "an unknown quota key");
    }

    // ------------------------------------------------------------------------------------
    // Features and the metadata quorum

    private void describeFeatures() throws Exception {
        FeatureMetadata features = get(admin.describeFeatures().featureMetadata());
        FinalizedVersionRange mv = features.finalizedFeatures().get("metadata.version");
        expect(mv != null && mv.minVersionLevel() >= 1 && mv.maxVersionLevel() >= mv.minVersionLevel(),
            "finalized metadata.version: %s (finalized %s)", mv, features.finalizedFeatures());
        expect(features.finalizedFeaturesEpoch().isPresent() && features.finalizedFeaturesEpoch().get() >= 0,
            "finalized features epoch %s", features.finalizedFeaturesEpoch());
        var supported = features.supportedFeatures().get("metadata.version");
        expect(supported != null && supported.maxVersion() >= mv.maxVersionLevel(),
            "supported metadata.version %s does not cover the finalized %s", supported, mv);
    }

    private void describeMetadataQuorum() throws Exception {
        QuorumInfo quorum = get(admin.describeMetadataQuorum().quorumInfo());
        expect(quorum.leaderId() >= 0, "no leader: %s", quorum);
        expect(quorum.voters().size() == 1, "expected one voter: %s", quorum.voters());
        QuorumInfo.ReplicaState voter = quorum.voters().get(0);
        expectEqual(quorum.leaderId(), voter.replicaId(), "the voter is the leader");
        expect(quorum.highWatermark() >= 0 && voter.logEndOffset() >= 0, "high watermark %d, voter log end %d",
            quorum.highWatermark(), voter.logEndOffset());
    }

    // ------------------------------------------------------------------------------------
    // Consumer groups (classic protocol)

    private void joinGroup() throws Exception {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        props.put(ConsumerConfig.CLIENT_ID_CONFIG, "admin-check-consumer");
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
        consumer = new KafkaConsumer<>(props);
        consumer.subscribe(List.of(topic));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (consumer.assignment().size() < 2 && System.nanoTime() < deadline) {
            consumer.poll(Duration.ofMillis(200));
        }
        expectEqual(Set.of(tp0, tp1), consumer.assignment(), "assignment");
        consumer.commitSync(Map.of(tp0, new OffsetAndMetadata(7, "admin-check"), tp1, new OffsetAndMetadata(0)),
            Duration.ofSeconds(CALL_TIMEOUT_S));
    }

    private void listGroups() throws Exception {
        Collection<GroupListing> all = get(admin.listGroups().all());
        GroupListing listing = all.stream().filter(g -> g.groupId().equals(group)).findFirst().orElse(null);
        expect(listing != null, "group %s not listed in %s", group, all);
        expectEqual(Optional.of(GroupType.CLASSIC), listing.type(), "type");
        expectEqual(Optional.of(GroupState.STABLE), listing.groupState(), "state");
        expectEqual("consumer", listing.protocol(), "protocol type");
        Collection<GroupListing> empty = get(admin.listGroups(
            new ListGroupsOptions().inGroupStates(Set.of(GroupState.EMPTY))).all());
        expect(empty.stream().noneMatch(g -> g.groupId().equals(group)), "listed as Empty: %s", empty);
        Collection<GroupListing> consumers = get(admin.listGroups(ListGroupsOptions.forConsumerGroups()).all());
        expect(consumers.stream().anyMatch(g -> g.groupId().equals(group)), "not listed as a consumer group");
    }

    private void describeConsumerGroups() throws Exception {
        ConsumerGroupDescription d = get(admin.describeConsumerGroups(List.of(group),
            new DescribeConsumerGroupsOptions().includeAuthorizedOperations(true)).all()).get(group);
        expect(d != null, "no description");
        expectEqual(GroupState.STABLE, d.groupState(), "state");
        expectEqual(GroupType.CLASSIC, d.type(), "type");
        expect(!d.isSimpleConsumerGroup(), "reported as a simple consumer group");
        expect(d.partitionAssignor() != null && !d.partitionAssignor().isEmpty(), "no assignor");
        expect(d.coordinator() != null && d.coordinator().id() == nodeId, "coordinator %s", d.coordinator());
        expectEqual(1, d.members().size(), "member count");
        MemberDescription m = d.members().iterator().next();
        expectEqual("admin-check-consumer", m.clientId(), "client id");
        expectEqual(Set.of(tp0, tp1), m.assignment().topicPartitions(), "member assignment");
        expectEqual(new TreeSet<>(GROUP_OPERATIONS),
            d.authorizedOperations() == null ? null : new TreeSet<>(d.authorizedOperations()),
            "authorizedOperations with includeAuthorizedOperations=true");
    }

    private Map<TopicPartition, OffsetAndMetadata> groupOffsets() throws Exception {
        return get(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata());
    }

    private static Map<TopicPartition, Long> offsetsOnly(Map<TopicPartition, OffsetAndMetadata> offsets) {
        Map<TopicPartition, Long> out = new HashMap<>();
        offsets.forEach((tp, om) -> out.put(tp, om == null ? null : om.offset()));
        return out;
    }

    private void listConsumerGroupOffsets() throws Exception {
        Map<TopicPartition, OffsetAndMetadata> offsets = groupOffsets();
        expectEqual(Map.of(tp0, 7L, tp1, 0L), offsetsOnly(offsets), "committed offsets");
        expectEqual("admin-check", offsets.get(tp0).metadata(), "commit metadata");
    }

    private void alterOffsetsActiveGroup() throws Exception {
        expectError(admin.alterConsumerGroupOffsets(group, Map.of(tp0, new OffsetAndMetadata(5))).all(),
            UnknownMemberIdException.class, "committing for a group with members");
    }

    private void deleteActiveGroup() throws Exception {
        expectError(admin.deleteConsumerGroups(List.of(group)).all(), GroupNotEmptyException.class,
            "deleting a group with members");
    }

    private void alterConsumerGroupOffsets() throws Exception {
        consumer.close(Duration.ofSeconds(CALL_TIMEOUT_S));
        consumer = null;
        // Closing leaves the group; Kafka's view of it becomes Empty.
        ConsumerGroupDescription d = eventually(() -> get(admin.describeConsumerGroups(List.of(group)).all()).get(group),
            g -> g.groupState() == GroupState.EMPTY);
        expectEqual(GroupState.EMPTY, d.groupState(), "state after the consumer closed");
        get(admin.alterConsumerGroupOffsets(group, Map.of(tp0, new OffsetAndMetadata(5))).all());
        expectEqual(Map.of(tp0, 5L, tp1, 0L), offsetsOnly(groupOffsets()), "offsets after alter");
    }

    private void deleteConsumerGroupOffsets() throws Exception {
        get(admin.deleteConsumerGroupOffsets(group, Set.of(tp1)).all());
        expectEqual(Map.of(tp0, 5L), offsetsOnly(groupOffsets()), "offsets after deleting partition 1's");
    }

    private void deleteConsumerGroups() throws Exception {
        get(admin.deleteConsumerGroups(List.of(group)).all());
        expectError(admin.describeConsumerGroups(List.of(group)).all(), GroupIdNotFoundException.class,
            "describing the deleted group");
        Collection<GroupListing> all = get(admin.listGroups().all());
        expect(all.stream().noneMatch(g -> g.groupId().equals(group)), "deleted group still listed");
        expectError(admin.deleteConsumerGroups(List.of(group)).all(), GroupIdNotFoundException.class,
            "deleting it again");
    }

    // ------------------------------------------------------------------------------------
    // Growing and deleting topics

    private void createPartitions() throws Exception {
        get(admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(3))).all());
        TopicDescription d = eventually(() -> get(admin.describeTopics(List.of(topic)).allTopicNames()).get(topic),
            t -> t.partitions().size() == 3);
        expectEqual(3, d.partitions().size(), "partitions after createPartitions");
        TopicPartitionInfo added = d.partitions().get(2);
        expect(added.leader() != null && added.leader().id() == nodeId, "new partition's leader %s", added.leader());
    }

    private void createPartitionsFewer() throws Exception {
        expectError(admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(1))).all(),
            InvalidPartitionsException.class, "shrinking a topic");
    }

    private void deleteTopics() throws Exception {
        get(admin.deleteTopics(TopicCollection.ofTopicIds(List.of(topicId))).all());
        get(admin.deleteTopics(List.of(topicDefaults)).all());
        Set<String> names = eventually(() -> get(admin.listTopics().names()),
            n -> !n.contains(topic) && !n.contains(topicDefaults));
        expect(!names.contains(topic) && !names.contains(topicDefaults), "deleted topics still listed: %s", names);
        expectError(admin.deleteTopics(List.of(topicDefaults)).all(), UnknownTopicOrPartitionException.class,
            "deleting a deleted topic");
    }
}
