package projd.bench;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedWriter;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.stream.Stream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;
import org.rocksdb.ColumnFamilyDescriptor;
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.DBOptions;
import org.rocksdb.Options;
import org.rocksdb.RocksDB;
import org.rocksdb.RocksIterator;

/**
 * projections/account_balance.proj (without audit and correlation) as a Kafka Streams program,
 * for projd's ingest benchmark.
 *
 * <p>Usage: BalanceStreams BROKERS TOPIC GUARANTEE STATE_DIR DUMP_FILE
 *
 * <p>Reads TOPIC from offset 0 under a fresh application.id, applies each event to a RocksDB
 * store of rows keyed by account_id (the topic is keyed by owner, and every event of an account
 * carries its owner, so an account's events are all in one partition: no repartition, as in
 * projd), skipping event ids applied before (a second RocksDB store, like projd's dedupe). It
 * stops the clock when every partition's processed offset reaches the end offset read at the
 * start, closes the topology (commit and flush), reads the rows store back from RocksDB and
 * writes them to DUMP_FILE as JSON lines {"key": K, "row": {...}}, sorted by key. The last line
 * on stdout is a JSON object with the timings.
 */
public final class BalanceStreams {
  static final ObjectMapper JSON = new ObjectMapper()
      .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
      .enable(JsonGenerator.Feature.WRITE_BIGDECIMAL_AS_PLAIN);
  static final byte[] SEEN = new byte[0];

  /** Per partition, the next offset to process (the last processed offset + 1). */
  static AtomicLongArray progress;
  static final AtomicLong processed = new AtomicLong();
  static final AtomicLong firstRecordNanos = new AtomicLong();

  public static void main(String[] args) throws Exception {
    if (args.length != 5) {
      System.err.println("usage: BalanceStreams BROKERS TOPIC GUARANTEE STATE_DIR DUMP_FILE");
      System.exit(2);
    }
    String brokers = args[0], topic = args[1], guarantee = args[2];
    Path stateDir = Path.of(args[3]), dump = Path.of(args[4]);
    long[] end = endOffsets(brokers, topic);
    progress = new AtomicLongArray(end.length);
    long events = 0;
    for (long e : end) events += e;

    String appId = "projd-bench-balance-" + guarantee.replace('_', '-') + "-" + System.nanoTime();
    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee);
    props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
    props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");

    StreamsBuilder builder = new StreamsBuilder();
    builder.addStateStore(Stores.keyValueStoreBuilder(
        Stores.persistentKeyValueStore("rows"), Serdes.String(), Serdes.ByteArray()));
    builder.addStateStore(Stores.keyValueStoreBuilder(
        Stores.persistentKeyValueStore("seen"), Serdes.String(), Serdes.ByteArray()));
    builder.stream(topic, Consumed.with(Serdes.String(), Serdes.ByteArray()))
        .process(BalanceProcessor::new, "rows", "seen");

    KafkaStreams streams = new KafkaStreams(builder.build(), props);
    long t0 = System.nanoTime();
    streams.start();
    while (!caughtUp(end)) {
      if (streams.state() == KafkaStreams.State.ERROR) throw new IllegalStateException("streams failed");
      Thread.sleep(10);
    }
    long t1 = System.nanoTime();
    streams.close(Duration.ofMinutes(5));
    long t2 = System.nanoTime();

    int rows = dumpRows(stateDir.resolve(appId), dump);
    double first = (firstRecordNanos.get() - t0) / 1e9;
    System.out.printf(
        "{\"guarantee\": \"%s\", \"events\": %d, \"processed\": %d, \"rows\": %d, \"seconds\": %.3f,"
            + " \"seconds_to_first_record\": %.3f, \"close_seconds\": %.3f}%n",
        guarantee, events, processed.get(), rows, (t1 - t0) / 1e9, first, (t2 - t1) / 1e9);
  }

  static long[] endOffsets(String brokers, String topic) throws Exception {
    Properties props = new Properties();
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
    try (Admin admin = Admin.create(props)) {
      int partitions = admin.describeTopics(List.of(topic)).allTopicNames().get()
          .get(topic).partitions().size();
      Map<TopicPartition, OffsetSpec> specs = new TreeMap<>((a, b) -> a.partition() - b.partition());
      for (int p = 0; p < partitions; p++) specs.put(new TopicPartition(topic, p), OffsetSpec.latest());
      long[] end = new long[partitions];
      admin.listOffsets(specs).all().get().forEach((tp, info) -> end[tp.partition()] = info.offset());
      return end;
    }
  }

  static boolean caughtUp(long[] end) {
    for (int p = 0; p < end.length; p++) {
      if (progress.get(p) < end[p]) return false;
    }
    return true;
  }

  /** One event: the handlers of account_balance.proj. */
  static final class BalanceProcessor implements Processor<String, byte[], Void, Void> {
    private ProcessorContext<Void, Void> context;
    private KeyValueStore<String, byte[]> rows;
    private KeyValueStore<String, byte[]> seen;

    @Override
    public void init(ProcessorContext<Void, Void> context) {
      this.context = context;
      rows = context.getStateStore("rows");
      seen = context.getStateStore("seen");
    }

    @Override
    public void process(Record<String, byte[]> record) {
      firstRecordNanos.compareAndSet(0, System.nanoTime());
      try {
        apply(record.value());
      } catch (IOException e) {
        // Not JSON: a dead letter in projd; nothing is applied.
      }
      RecordMetadata meta = context.recordMetadata().orElseThrow();
      progress.set(meta.partition(), meta.offset() + 1);
      processed.incrementAndGet();
    }

    private void apply(byte[] value) throws IOException {
      JsonNode event = JSON.readTree(value);
      String type = text(event, "type"), account = text(event, "account_id");
      String id = text(event, "event_id"), ts = text(event, "ts");
      if (type == null || account == null || id == null || ts == null) return;  // event error
      boolean credit = type.equals("Deposited") || type.equals("InterestPaid");
      boolean debit = type.equals("Withdrawn");
      if (!credit && !debit && !type.equals("AccountOpened") && !type.equals("AccountClosed")) {
        return;  // no handler: ignored, and its id is not recorded
      }
      BigDecimal amount = null;
      if (credit || debit) {
        JsonNode a = event.get("amount");
        if (a == null || !a.isNumber()) return;  // '+=' needs a number: event error
        amount = a.decimalValue();
      }
      if (seen.get(id) != null) return;  // dedupe
      seen.put(id, SEEN);
      if (type.equals("AccountClosed")) {
        rows.delete(account);
        return;
      }
      byte[] stored = rows.get(account);
      ObjectNode row = stored == null ? JSON.createObjectNode() : (ObjectNode) JSON.readTree(stored);
      if (type.equals("AccountOpened")) {
        row.set("owner", event.get("owner"));
        row.set("currency", event.get("currency"));
        row.put("balance", BigDecimal.ZERO);
        row.put("opened_at", ts);
      } else if (credit) {
        row.put("balance", number(row, "balance").add(amount));
        row.put("deposits", number(row, "deposits").add(BigDecimal.ONE));
      } else {
        BigDecimal balance = number(row, "balance").subtract(amount);
        row.put("balance", balance);
        row.put("withdrawals", number(row, "withdrawals").add(BigDecimal.ONE));
        if (balance.signum() < 0) {
          row.put("overdrawn", true);
        } else {
          row.remove("overdrawn");
        }
      }
      rows.put(account, JSON.writeValueAsBytes(row));
    }

    private static String text(JsonNode node, String field) {
      JsonNode v = node.get(field);
      return v != null && v.isTextual() ? v.asText() : null;
    }

    /** A number field; missing or null starts from 0. */
    private static BigDecimal number(ObjectNode row, String field) {
      JsonNode v = row.get(field);
      return v == null || v.isNull() ? BigDecimal.ZERO : v.decimalValue();
    }
  }

  /**
   * Reads the closed "rows" stores (one RocksDB per task, STATE/APP/TASK/rocksdb/rows) and
   * writes their rows sorted by key; returns the row count.
   */
  static int dumpRows(Path appDir, Path dump) throws Exception {
    RocksDB.loadLibrary();
    TreeMap<String, String> all = new TreeMap<>();
    List<Path> dbs;
    try (Stream<Path> tasks = Files.list(appDir)) {
      dbs = tasks.map(t -> t.resolve("rocksdb").resolve("rows")).filter(Files::isDirectory).toList();
    }
    for (Path db : dbs) {
      List<byte[]> families;
      try (Options options = new Options()) {
        families = RocksDB.listColumnFamilies(options, db.toString());
      }
      List<ColumnFamilyDescriptor> descriptors = new ArrayList<>();
      for (byte[] f : families) descriptors.add(new ColumnFamilyDescriptor(f));
      List<ColumnFamilyHandle> handles = new ArrayList<>();
      try (DBOptions options = new DBOptions();
           RocksDB rocks = RocksDB.openReadOnly(options, db.toString(), descriptors, handles)) {
        // The rows are in the default column family ("offsets" holds the store's positions).
        int rowsFamily = 0;
        while (!Arrays.equals(families.get(rowsFamily), RocksDB.DEFAULT_COLUMN_FAMILY)) rowsFamily++;
        try (RocksIterator it = rocks.newIterator(handles.get(rowsFamily))) {
          for (it.seekToFirst(); it.isValid(); it.next()) {
            all.put(new String(it.key(), StandardCharsets.UTF_8), new String(it.value(), StandardCharsets.UTF_8));
          }
        }
        handles.forEach(ColumnFamilyHandle::close);
      }
    }
    try (BufferedWriter out = Files.newBufferedWriter(dump)) {
      for (Map.Entry<String, String> e : all.entrySet()) {
        out.write("{\"key\": " + JSON.writeValueAsString(e.getKey()) + ", \"row\": " + e.getValue() + "}\n");
      }
    }
    return all.size();
  }
}
