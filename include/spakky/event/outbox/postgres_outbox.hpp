#pragma once
/// @file
/// The PostgreSQL outbox (target spakky::event_postgres, libpq): its schema, the writer the
/// outbox bus appends through (on the application's own PGconn*, in its open transaction) and
/// the store relays read from (each on a connection of its own; several relay processes may
/// share one database).
///
/// Table `spakky_outbox`, one row per integration event:
///
/// | column          | type        | meaning                                                   |
/// |-----------------|-------------|-----------------------------------------------------------|
/// | id              | bigserial   | row id                                                    |
/// | event_id        | uuid        | the event's id (what an inbox deduplicates on)            |
/// | event_name      | text        | routing name on the wire                                  |
/// | payload         | bytea       | the serializer's bytes                                    |
/// | headers         | text        | `name=value` lines, `%XX`-escaped (header_codec.hpp)      |
/// | partition_key   | text        | ordering key (the aggregate's id by default)              |
/// | seq             | bigint      | the key's gap-free sequence number, in commit order       |
/// | created_at      | timestamptz | at append (transaction start time)                        |
/// | attempts        | integer     | failed sends so far                                       |
/// | next_attempt_at | timestamptz | not sent before (back-off)                                |
/// | last_error      | text        | the last failure's reason, NULL if none                   |
/// | state           | text        | `pending`, `parked` (given up, blocks its key) or `sent`  |
/// | sent_at         | timestamptz | for rows kept after sending (retention)                   |
///
/// `spakky_outbox_key(partition_key, next_seq)` numbers each key's rows, and
/// `spakky_schema_version(component, version)` holds (`outbox`, 1).
///
/// **Order across concurrent transactions.** Ids are taken at INSERT, so rows of concurrent
/// transactions can commit out of id order. Within a key that cannot happen: the append's
/// `INSERT ... ON CONFLICT (partition_key) DO UPDATE SET next_seq = next_seq + 1` row-locks the
/// key's counter until COMMIT, so a second writer of the key waits for the first to commit
/// (or roll back, which rolls the counter back too) and takes the next number: each key's seq
/// is gap-free and in commit order. Across keys there is no order to keep. A relay claims a
/// row only if no lower-seq row of its key is pending or parked, so a key's rows go in seq
/// order whatever the ids.
///
/// **Many relays.** Each relay claims the head rows of up to batch_size keys with
/// `FOR UPDATE SKIP LOCKED` in a transaction held over the sends: another relay skips those
/// keys, and their next rows are not heads until the first relay commits. A relay that dies
/// loses its connection and with it its locks; a hung one is cut off by
/// `idle_in_transaction_session_timeout` (the lease, set on the relay's connection) and TCP
/// keepalives. Either way its rows go again: at-least-once.
///
/// **Wake-up across processes.** The append also runs `pg_notify('spakky_outbox', '')`;
/// PostgreSQL delivers it only when the writing transaction commits, and relays LISTEN.

#include <spakky/event/outbox/detail/postgres.hpp>
#include <spakky/event/outbox/outbox_error.hpp>
#include <spakky/event/outbox/outbox_writer.hpp>
#include <spakky/event/outbox/relay_store.hpp>

#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace spakky::event {

/// The version of the outbox tables this library writes.
inline constexpr std::int64_t postgres_outbox_schema_version = 1;

/// The channel the append notifies and relays listen on.
inline constexpr const char* postgres_outbox_channel = "spakky_outbox";

/// Creates the outbox tables if absent (idempotent, safe against concurrent creators) and
/// records the schema version; in the caller's transaction if one is open, else in one of its
/// own. Throws OutboxStoreError.
inline void create_postgres_outbox_schema(PGconn* connection) {
  // Fast path without DDL: CREATE ... IF NOT EXISTS would wait for the locks of open writers.
  const long long stored = detail::postgres::stored_schema_version(connection, "outbox");
  if (stored == postgres_outbox_schema_version) return;
  detail::postgres::in_transaction(connection, "cannot create the outbox schema", [connection] {
    detail::postgres::record_schema_version(connection, "outbox", postgres_outbox_schema_version);
    detail::postgres::exec(connection,
                           "CREATE TABLE IF NOT EXISTS spakky_outbox_key ("
                           " partition_key text PRIMARY KEY,"
                           " next_seq bigint NOT NULL);"
                           "CREATE TABLE IF NOT EXISTS spakky_outbox ("
                           " id bigserial PRIMARY KEY,"
                           " event_id uuid NOT NULL,"
                           " event_name text NOT NULL,"
                           " payload bytea NOT NULL,"
                           " headers text NOT NULL,"
                           " partition_key text NOT NULL,"
                           " seq bigint NOT NULL,"
                           " created_at timestamptz NOT NULL DEFAULT now(),"
                           " attempts integer NOT NULL DEFAULT 0,"
                           " next_attempt_at timestamptz NOT NULL DEFAULT '-infinity',"
                           " last_error text,"
                           " state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'parked', 'sent')),"
                           " sent_at timestamptz);"
                           "CREATE INDEX IF NOT EXISTS spakky_outbox_unsent"
                           " ON spakky_outbox (partition_key, seq) WHERE state <> 'sent';"
                           "CREATE INDEX IF NOT EXISTS spakky_outbox_sent"
                           " ON spakky_outbox (sent_at) WHERE state = 'sent';",
                           "cannot create the outbox tables");
  });
}

/// Appends outbox rows on the application's connection, in its open transaction. Does not own
/// the connection. Prepares its statement on it once: after the application reconnects (a new
/// or reset PGconn), make a new writer. Not thread-safe (neither is a connection).
class PostgresOutboxWriter final : public IOutboxWriter {
public:
  /// Creates the schema if needed and prepares the append on `connection`. With `notify`
  /// (the default) each append also queues `NOTIFY spakky_outbox`, delivered at COMMIT, so
  /// that listening relays in any process wake at once; without it relays find the rows by
  /// polling (cheaper commits: see bench/README.md).
  explicit PostgresOutboxWriter(PGconn* connection, bool notify = true)
      : connection_(connection), statement_("spakky_outbox_append_" + std::to_string(next_id())) {
    create_postgres_outbox_schema(connection);
    const std::string sql =
        std::string("WITH key AS ("
                    "  INSERT INTO spakky_outbox_key AS k (partition_key, next_seq) VALUES ($5, 1)"
                    "  ON CONFLICT (partition_key) DO UPDATE SET next_seq = k.next_seq + 1 RETURNING next_seq)") +
        (notify ? ", wake AS (SELECT pg_notify('spakky_outbox', ''))" : "") +
        " INSERT INTO spakky_outbox (event_id, event_name, payload, headers, partition_key, seq)"
        " SELECT $1::uuid, $2, $3::bytea, $4, $5, key.next_seq FROM key" +
        (notify ? ", wake" : "");
    detail::postgres::check(connection,
                            detail::postgres::Result(PQprepare(connection, statement_.c_str(), sql.c_str(), 5, nullptr)),
                            "cannot prepare the outbox append");
  }

  /// Throws NotInTransactionError (nothing written) unless the connection is in an open
  /// transaction, OutboxStoreError on a database error (the caller's transaction has then
  /// failed: roll it back).
  void append(const OutboxMessage& message) override {
    detail::postgres::require_transaction(connection_, "cannot append to the outbox");
    const std::string event_id(message.event_id);
    const std::string event_name(message.event_name);
    const std::string headers(message.headers);
    const std::string key(message.partition_key);
    detail::postgres::Params<5> params;
    params.text(0, event_id.c_str());
    params.text(1, event_name.c_str());
    params.binary(2, message.payload);
    params.text(3, headers.c_str());
    params.text(4, key.c_str());
    detail::postgres::check(connection_,
                            detail::postgres::Result(PQexecPrepared(connection_, statement_.c_str(), 5,
                                                                    params.values.data(), params.lengths.data(),
                                                                    params.formats.data(), 0)),
                            "cannot append to the outbox");
  }

private:
  static unsigned long next_id() {
    static std::atomic<unsigned long> counter{0};
    return counter.fetch_add(1, std::memory_order_relaxed);
  }

  PGconn* connection_;
  std::string statement_;
};

/// How a PostgresOutboxRelayStore connects.
struct PostgresRelayStoreOptions {
  /// The lease of a claim: a relay idle in its claim transaction longer than this (hung) is
  /// disconnected by the server, releasing its rows. Longer than the slowest send.
  std::chrono::seconds lease{30};
  /// LISTEN for commits of other processes (and of this one).
  bool listen = true;
};

/// The relay's view of a PostgreSQL outbox, on a connection of its own that it opens from a
/// libpq connection string and reopens after it breaks (the next claim() reconnects).
class PostgresOutboxRelayStore final : public IOutboxRelayStore {
public:
  /// Connects to `conninfo` (a URL or `key=value` string); throws OutboxStoreError.
  explicit PostgresOutboxRelayStore(std::string conninfo, PostgresRelayStoreOptions options = {})
      : conninfo_(std::move(conninfo)), options_(options) {
    connect();
  }

  std::vector<OutboxRow> claim(std::size_t max_rows) override {
    ensure_connected();
    PGconn* c = connection_.get();
    detail::postgres::exec(c, "BEGIN", "cannot claim outbox rows");
    in_claim_ = true;
    const std::string limit = std::to_string(max_rows);
    detail::postgres::Params<1> params;
    params.text(0, limit.c_str());
    // A key's head is its lowest-seq unsent row; it is claimable only if pending and due.
    // Parked heads block their key. Rows another relay holds are skipped. The heads are found
    // by a loose index scan over spakky_outbox_unsent (one probe per key with unsent rows),
    // not by reading every unsent row: a backlog does not slow each claim down.
    const detail::postgres::Result result = detail::postgres::exec_params(
        c,
        "WITH RECURSIVE heads AS ("
        "  (SELECT partition_key, id FROM spakky_outbox WHERE state <> 'sent' ORDER BY partition_key, seq LIMIT 1)"
        "  UNION ALL"
        "  SELECT next.partition_key, next.id FROM heads, LATERAL ("
        "    SELECT partition_key, id FROM spakky_outbox"
        "    WHERE state <> 'sent' AND partition_key > heads.partition_key ORDER BY partition_key, seq LIMIT 1) next)"
        " SELECT id, event_id::text, event_name, payload, headers, partition_key, attempts,"
        " (extract(epoch FROM created_at) * 1000000)::int8 FROM spakky_outbox"
        " WHERE id IN (SELECT id FROM heads) AND state = 'pending' AND next_attempt_at <= now()"
        " ORDER BY id LIMIT $1::integer FOR UPDATE SKIP LOCKED",
        params, "cannot claim outbox rows", /*binary_result=*/true);
    std::vector<OutboxRow> rows;
    const int count = PQntuples(result.get());
    rows.reserve(static_cast<std::size_t>(count));
    for (int r = 0; r < count; ++r) {
      using namespace detail::postgres;
      rows.push_back(OutboxRow{int8(result.get(), r, 0), bytes(result.get(), r, 1), bytes(result.get(), r, 2),
                               bytes(result.get(), r, 3), bytes(result.get(), r, 4), bytes(result.get(), r, 5),
                               int4(result.get(), r, 6),
                               std::chrono::system_clock::time_point(std::chrono::microseconds(int8(result.get(), r, 7)))});
    }
    if (rows.empty()) end_claim("COMMIT");
    return rows;
  }

  void finish(std::span<const OutboxRow> rows, std::span<const RowResult> results, bool keep_sent) override {
    if (!in_claim_) return;
    PGconn* c = connection_.get();
    std::string sent_ids = "{";
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const RowResult& result = results[i];
      const std::string id = std::to_string(rows[i].id);
      if (result.outcome == RowResult::Outcome::sent) {
        if (sent_ids.size() > 1) sent_ids += ',';
        sent_ids += id;
        continue;
      }
      const bool park = result.outcome == RowResult::Outcome::park;
      const std::string delay = std::to_string(result.retry_after.count()) + " milliseconds";
      detail::postgres::Params<4> params;
      params.text(0, park ? "parked" : "pending");
      params.text(1, result.error.c_str());
      params.text(2, delay.c_str());
      params.text(3, id.c_str());
      detail::postgres::exec_params(c,
                                    "UPDATE spakky_outbox SET state = $1, attempts = attempts + 1, last_error = $2,"
                                    " next_attempt_at = now() + $3::interval WHERE id = $4::bigint",
                                    params, "cannot record an outbox send failure");
    }
    sent_ids += '}';
    if (sent_ids.size() > 2) {
      detail::postgres::Params<1> params;
      params.text(0, sent_ids.c_str());
      detail::postgres::exec_params(c,
                                    keep_sent ? "UPDATE spakky_outbox SET state = 'sent', sent_at = now()"
                                                " WHERE id = ANY($1::bigint[])"
                                              : "DELETE FROM spakky_outbox WHERE id = ANY($1::bigint[])",
                                    params, "cannot record sent outbox rows");
    }
    end_claim("COMMIT");
  }

  void abandon() noexcept override {
    if (!in_claim_) return;
    try {
      end_claim("ROLLBACK");
    } catch (...) {
      // A broken connection: its transaction is gone with it; claim() reconnects.
    }
  }

  /// Counts over the index of unsent rows (outside any claim: rows other relays hold count).
  std::optional<std::size_t> unsent_count() override {
    ensure_connected();
    const detail::postgres::Result result = detail::postgres::exec(
        connection_.get(), "SELECT count(*) FROM spakky_outbox WHERE state <> 'sent'", "cannot count unsent outbox rows");
    return static_cast<std::size_t>(std::stoull(PQgetvalue(result.get(), 0, 0)));
  }

  std::size_t purge_sent(std::chrono::seconds older_than) override {
    ensure_connected();
    const std::string age = std::to_string(older_than.count()) + " seconds";
    detail::postgres::Params<1> params;
    params.text(0, age.c_str());
    const auto result = detail::postgres::exec_params(
        connection_.get(), "DELETE FROM spakky_outbox WHERE state = 'sent' AND sent_at < now() - $1::interval", params,
        "cannot purge sent outbox rows");
    return static_cast<std::size_t>(std::stoull(PQcmdTuples(result.get())));
  }

  std::vector<ParkedRow> parked() override {
    ensure_connected();
    const auto result = detail::postgres::exec(
        connection_.get(),
        "SELECT id, event_id::text, event_name, partition_key, attempts, coalesce(last_error, '')"
        " FROM spakky_outbox WHERE state = 'parked' ORDER BY id",
        "cannot read parked outbox rows");
    std::vector<ParkedRow> rows;
    for (int r = 0; r < PQntuples(result.get()); ++r) {
      rows.push_back(ParkedRow{std::stoll(PQgetvalue(result.get(), r, 0)), PQgetvalue(result.get(), r, 1),
                               PQgetvalue(result.get(), r, 2), PQgetvalue(result.get(), r, 3),
                               std::stoll(PQgetvalue(result.get(), r, 4)), PQgetvalue(result.get(), r, 5)});
    }
    return rows;
  }

  bool requeue(std::int64_t id) override {
    ensure_connected();
    const std::string text = std::to_string(id);
    detail::postgres::Params<1> params;
    params.text(0, text.c_str());
    const auto result = detail::postgres::exec_params(
        connection_.get(),
        "UPDATE spakky_outbox SET state = 'pending', attempts = 0, next_attempt_at = '-infinity'"
        " WHERE id = $1::bigint AND state = 'parked'",
        params, "cannot requeue a parked outbox row");
    return std::string_view(PQcmdTuples(result.get())) == "1";
  }

  int notification_fd() noexcept override {
    if (!options_.listen || !connection_ || PQstatus(connection_.get()) != CONNECTION_OK) return -1;
    return PQsocket(connection_.get());
  }

  bool consume_notifications() override {
    PGconn* c = connection_.get();
    if (c == nullptr) return false;
    // PQconsumeInput reads what the socket has (libpq's socket never blocks); notifications
    // that arrived during the last claim were read then and wait in libpq's queue.
    if (PQconsumeInput(c) == 0) return true;  // broken: let the next claim() reconnect now
    bool any = false;
    while (PGnotify* notification = PQnotifies(c)) {
      PQfreemem(notification);
      any = true;
    }
    return any;
  }

  /// The server process id of the store's connection (for pg_terminate_backend in tests).
  [[nodiscard]] int backend_pid() const noexcept { return connection_ ? PQbackendPID(connection_.get()) : 0; }

private:
  void connect() {
    in_claim_ = false;
    // The caller's string first (expand_dbname), then TCP keepalives: a relay whose host
    // vanished is noticed, and the server drops its claim, without waiting for the OS default.
    const char* keywords[] = {"dbname", "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
                              nullptr};
    const char* values[] = {conninfo_.c_str(), "1", "10", "5", "3", nullptr};
    connection_.reset(PQconnectdbParams(keywords, values, /*expand_dbname=*/1));
    PGconn* c = connection_.get();
    if (c == nullptr || PQstatus(c) != CONNECTION_OK) {
      const std::string message = c != nullptr ? detail::postgres::message_of(c, nullptr) : "out of memory";
      connection_.reset();
      throw OutboxStoreError("cannot connect the outbox relay to PostgreSQL", message);
    }
    // The relay's own connection: server notices have no reader here.
    PQsetNoticeProcessor(c, [](void*, const char*) {}, nullptr);
    create_postgres_outbox_schema(c);
    const std::string lease = "SET idle_in_transaction_session_timeout = '" +
                              std::to_string(options_.lease.count()) + "s'";
    detail::postgres::exec(c, lease.c_str(), "cannot set the relay's lease");
    if (options_.listen) detail::postgres::exec(c, "LISTEN spakky_outbox", "cannot LISTEN spakky_outbox");
  }

  void ensure_connected() {
    if (!connection_ || PQstatus(connection_.get()) != CONNECTION_OK ||
        PQtransactionStatus(connection_.get()) == PQTRANS_UNKNOWN) {
      connect();
      return;
    }
    if (PQtransactionStatus(connection_.get()) != PQTRANS_IDLE) {
      detail::postgres::Result(PQexec(connection_.get(), "ROLLBACK"));
      in_claim_ = false;
    }
  }

  void end_claim(const char* command) {
    in_claim_ = false;
    detail::postgres::exec(connection_.get(), command, "cannot end the outbox claim");
  }

  std::string conninfo_;
  PostgresRelayStoreOptions options_;
  detail::postgres::Connection connection_;
  bool in_claim_ = false;
};

}  // namespace spakky::event
