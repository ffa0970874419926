#pragma once
/// @file
/// The SQLite outbox (target spakky::event_sqlite): its schema, the writer the outbox bus
/// appends through (on the application's own sqlite3*, in its open transaction) and the store
/// a relay reads from (on a connection of its own).
///
/// Table `spakky_outbox`, one row per integration event:
///
/// | column          | type    | meaning                                                      |
/// |-----------------|---------|--------------------------------------------------------------|
/// | id              | INTEGER | AUTOINCREMENT; SQLite has one writer at a time, so id order  |
/// |                 |         | is commit order                                              |
/// | event_id        | TEXT    | the event's UUID (what an inbox deduplicates on)            |
/// | event_name      | TEXT    | routing name on the wire                                     |
/// | payload         | BLOB    | the serializer's bytes                                       |
/// | headers         | TEXT    | `name=value` lines, `%XX`-escaped (see header_codec.hpp)     |
/// | partition_key   | TEXT    | ordering key (the aggregate's id by default)                 |
/// | created_at      | INTEGER | microseconds since the Unix epoch, at append                 |
/// | attempts        | INTEGER | failed sends so far                                          |
/// | next_attempt_at | INTEGER | microseconds; not sent before (back-off)                     |
/// | last_error      | TEXT    | the last failure's reason, NULL if none                      |
/// | state           | TEXT    | `pending`, `parked` (given up, blocks its key) or `sent`     |
/// | sent_at         | INTEGER | microseconds, for rows kept after sending (retention)       |
///
/// and `spakky_schema_version(component, version)` with the row (`outbox`, 1). One relay per
/// SQLite database (it reads the head rows without locking them; run more relays on
/// PostgreSQL). The application's connection needs `sqlite3_busy_timeout` like any SQLite
/// writer beside another one: past it, append() throws DatabaseBusyError.

#include <spakky/event/outbox/detail/sqlite.hpp>
#include <spakky/event/outbox/outbox_error.hpp>
#include <spakky/event/outbox/outbox_writer.hpp>
#include <spakky/event/outbox/relay_store.hpp>

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace spakky::event {

/// The version of the outbox tables this library writes.
inline constexpr std::int64_t sqlite_outbox_schema_version = 1;

/// Creates the outbox tables if absent (idempotent) and records the schema version; in the
/// caller's transaction if one is open, else in one of its own. Throws OutboxStoreError.
inline void create_sqlite_outbox_schema(sqlite3* db) {
  // Fast path without a write lock: another connection may be writing right now.
  if (detail::sqlite::stored_schema_version(db, "outbox") == sqlite_outbox_schema_version) return;
  detail::sqlite::in_transaction(db, "cannot create the outbox schema", [db] {
    detail::sqlite::exec(db,
                         "CREATE TABLE IF NOT EXISTS spakky_outbox ("
                         " id INTEGER PRIMARY KEY AUTOINCREMENT,"
                         " event_id TEXT NOT NULL,"
                         " event_name TEXT NOT NULL,"
                         " payload BLOB NOT NULL,"
                         " headers TEXT NOT NULL,"
                         " partition_key TEXT NOT NULL,"
                         " created_at INTEGER NOT NULL,"
                         " attempts INTEGER NOT NULL DEFAULT 0,"
                         " next_attempt_at INTEGER NOT NULL DEFAULT 0,"
                         " last_error TEXT,"
                         " state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'parked', 'sent')),"
                         " sent_at INTEGER);"
                         "CREATE INDEX IF NOT EXISTS spakky_outbox_unsent"
                         " ON spakky_outbox (partition_key, id) WHERE state <> 'sent';"
                         "CREATE INDEX IF NOT EXISTS spakky_outbox_sent"
                         " ON spakky_outbox (sent_at) WHERE state = 'sent';",
                         "cannot create the outbox tables");
    detail::sqlite::record_schema_version(db, "outbox", sqlite_outbox_schema_version);
  });
}

/// Appends outbox rows on the application's connection, in its open transaction. Does not
/// own `db`. Not thread-safe (neither is a connection's transaction).
class SqliteOutboxWriter final : public IOutboxWriter {
public:
  /// Creates the schema if needed (see create_sqlite_outbox_schema) and prepares the insert.
  explicit SqliteOutboxWriter(sqlite3* db) : db_(db) {
    create_sqlite_outbox_schema(db);
    insert_ = detail::sqlite::Statement(
        db,
        "INSERT INTO spakky_outbox (event_id, event_name, payload, headers, partition_key, created_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  }

  /// Throws NotInTransactionError (nothing written) outside BEGIN ... COMMIT,
  /// DatabaseBusyError past the busy timeout, OutboxStoreError otherwise.
  void append(const OutboxMessage& message) override {
    detail::sqlite::require_transaction(db_, "cannot append to the outbox");
    insert_.reset()
        .bind(1, message.event_id)
        .bind(2, message.event_name)
        .bind_blob(3, message.payload)
        .bind(4, message.headers)
        .bind(5, message.partition_key)
        .bind(6, detail::sqlite::now_micros());
    insert_.step("cannot append to the outbox");
    insert_.reset();
  }

private:
  sqlite3* db_;
  detail::sqlite::Statement insert_;
};

/// The relay's view of a SQLite outbox, on a connection of its own (WAL mode is recommended:
/// the relay's reads then never block the application's writers).
class SqliteOutboxRelayStore final : public IOutboxRelayStore {
public:
  /// Opens `path` (a file; URI filenames allowed) with a busy timeout; owns the connection.
  explicit SqliteOutboxRelayStore(const std::string& path, std::chrono::milliseconds busy_timeout = std::chrono::seconds(5)) {
    sqlite3* db = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI |
                                                          SQLITE_OPEN_NOMUTEX, nullptr);
    owned_.reset(db);
    if (rc != SQLITE_OK) detail::sqlite::fail(db, rc, "cannot open the outbox database");
    detail::sqlite::set_short_busy_wait(db, busy_timeout);
    init(db);
  }
  /// Uses `db` (not owned; it must outlive the store and serve no other thread meanwhile).
  explicit SqliteOutboxRelayStore(sqlite3* db) { init(db); }

  std::vector<OutboxRow> claim(std::size_t max_rows) override {
    std::vector<OutboxRow> rows;
    claim_.reset().bind(1, detail::sqlite::now_micros()).bind(2, static_cast<std::int64_t>(max_rows));
    while (claim_.step("cannot read the outbox")) {
      rows.push_back(OutboxRow{claim_.int64(0), claim_.text(1), claim_.text(2), claim_.text(3), claim_.text(4),
                               claim_.text(5), claim_.int64(6),
                               std::chrono::system_clock::time_point(std::chrono::microseconds(claim_.int64(7)))});
    }
    claim_.reset();
    return rows;
  }

  void finish(std::span<const OutboxRow> rows, std::span<const RowResult> results, bool keep_sent) override {
    detail::sqlite::exec(db_, "BEGIN IMMEDIATE", "cannot record sent outbox rows");
    try {
      const std::int64_t now = detail::sqlite::now_micros();
      for (std::size_t i = 0; i < rows.size(); ++i) {
        const RowResult& result = results[i];
        switch (result.outcome) {
          case RowResult::Outcome::sent:
            if (keep_sent) {
              mark_sent_.reset().bind(1, now).bind(2, rows[i].id);
              mark_sent_.step("cannot mark an outbox row sent");
            } else {
              delete_.reset().bind(1, rows[i].id);
              delete_.step("cannot delete a sent outbox row");
            }
            break;
          case RowResult::Outcome::retry:
          case RowResult::Outcome::park: {
            const bool park = result.outcome == RowResult::Outcome::park;
            const auto delay = std::chrono::duration_cast<std::chrono::microseconds>(result.retry_after).count();
            fail_.reset()
                .bind(1, park ? std::string_view("parked") : std::string_view("pending"))
                .bind(2, result.error)
                .bind(3, now + delay)
                .bind(4, rows[i].id);
            fail_.step("cannot record an outbox send failure");
            break;
          }
        }
      }
      detail::sqlite::exec(db_, "COMMIT", "cannot record sent outbox rows");
    } catch (...) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }

  void abandon() noexcept override {}

  /// A claim is a plain read: nothing is held between claim() and finish().
  [[nodiscard]] bool claims_hold_nothing() const noexcept override { return true; }

  /// Counts over the index of unsent rows: as many steps as rows not sent yet.
  std::optional<std::size_t> unsent_count() override {
    count_unsent_.reset();
    count_unsent_.step("cannot count unsent outbox rows");
    const auto count = static_cast<std::size_t>(count_unsent_.int64(0));
    count_unsent_.reset();
    return count;
  }

  std::size_t purge_sent(std::chrono::seconds older_than) override {
    detail::sqlite::Statement purge(db_, "DELETE FROM spakky_outbox WHERE state = 'sent' AND sent_at < ?1", false);
    purge.bind(1, detail::sqlite::now_micros() - std::chrono::duration_cast<std::chrono::microseconds>(older_than).count());
    purge.step("cannot purge sent outbox rows");
    return static_cast<std::size_t>(sqlite3_changes(db_));
  }

  std::vector<ParkedRow> parked() override {
    detail::sqlite::Statement read(
        db_,
        "SELECT id, event_id, event_name, partition_key, attempts, coalesce(last_error, '')"
        " FROM spakky_outbox WHERE state = 'parked' ORDER BY id",
        false);
    std::vector<ParkedRow> rows;
    while (read.step("cannot read parked outbox rows")) {
      rows.push_back(ParkedRow{read.int64(0), read.text(1), read.text(2), read.text(3), read.int64(4), read.text(5)});
    }
    return rows;
  }

  bool requeue(std::int64_t id) override {
    detail::sqlite::Statement update(
        db_, "UPDATE spakky_outbox SET state = 'pending', attempts = 0, next_attempt_at = 0 WHERE id = ?1 AND state = 'parked'",
        false);
    update.bind(1, id);
    update.step("cannot requeue a parked outbox row");
    return sqlite3_changes(db_) == 1;
  }

  /// The store's connection.
  [[nodiscard]] sqlite3* connection() const noexcept { return db_; }

private:
  struct Close {
    void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
  };

  void init(sqlite3* db) {
    db_ = db;
    create_sqlite_outbox_schema(db);
    // A key's head is its lowest unsent row; it is claimable only if pending and due. Parked
    // heads block their key: the min() runs over pending and parked rows alike. The keys are
    // walked by a loose index scan over spakky_outbox_unsent (one seek per key with unsent
    // rows, one more for its head), not by grouping every unsent row: a backlog of 200,000
    // rows made each claim read all of them (43 ms a pass against 2.6 ms).
    claim_ = detail::sqlite::Statement(
        db,
        "WITH RECURSIVE keys(k) AS ("
        "  SELECT (SELECT min(partition_key) FROM spakky_outbox WHERE state <> 'sent')"
        "  UNION ALL"
        "  SELECT (SELECT min(partition_key) FROM spakky_outbox WHERE state <> 'sent' AND partition_key > keys.k)"
        "  FROM keys WHERE keys.k IS NOT NULL)"
        " SELECT o.id, o.event_id, o.event_name, o.payload, o.headers, o.partition_key, o.attempts, o.created_at"
        " FROM keys JOIN spakky_outbox o"
        "  ON o.id = (SELECT min(id) FROM spakky_outbox WHERE state <> 'sent' AND partition_key = keys.k)"
        " WHERE o.state = 'pending' AND o.next_attempt_at <= ?1 ORDER BY o.id LIMIT ?2");
    mark_sent_ = detail::sqlite::Statement(db, "UPDATE spakky_outbox SET state = 'sent', sent_at = ?1 WHERE id = ?2");
    delete_ = detail::sqlite::Statement(db, "DELETE FROM spakky_outbox WHERE id = ?1");
    count_unsent_ = detail::sqlite::Statement(db, "SELECT count(*) FROM spakky_outbox WHERE state <> 'sent'");
    fail_ = detail::sqlite::Statement(
        db,
        "UPDATE spakky_outbox SET state = ?1, attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3"
        " WHERE id = ?4");
  }

  std::unique_ptr<sqlite3, Close> owned_;
  sqlite3* db_ = nullptr;
  detail::sqlite::Statement claim_, mark_sent_, delete_, fail_, count_unsent_;
};

}  // namespace spakky::event
