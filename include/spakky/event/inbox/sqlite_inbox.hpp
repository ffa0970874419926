#pragma once
/// @file
/// SqliteInbox (target spakky::event_sqlite): the idempotent-consumer step. Before a handler's
/// effect runs, (consumer, event_id) is recorded in the handler's own transaction; a
/// redelivered event already recorded is skipped, so the consumer acknowledges it without
/// running the effect again. Works with any consumer (RabbitMQ, in-memory): call it from the
/// handler.
///
/// Table `spakky_inbox`: consumer TEXT, event_id TEXT (the UUID), received_at INTEGER
/// (microseconds since the Unix epoch), primary key (consumer, event_id); version row
/// (`inbox`, 1) in `spakky_schema_version`.
///
/// **Example**
/// @code
/// spakky::event::SqliteInbox inbox(db);
/// consumer.register_handler([&](const OrderPlaced& e) {
///   inbox.handle("shipping", e, [&] { exec(db, "INSERT INTO shipments ..."); });
/// });   // a redelivered OrderPlaced is acknowledged; the shipment is inserted once
/// @endcode

#include <spakky/event/event.hpp>
#include <spakky/event/inbox/inbox_options.hpp>
#include <spakky/event/outbox/detail/sqlite.hpp>
#include <spakky/event/outbox/outbox_error.hpp>

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace spakky::event {

/// The version of the inbox table this library writes.
inline constexpr std::int64_t sqlite_inbox_schema_version = 1;

/// Creates the inbox table if absent (idempotent) and records the schema version.
inline void create_sqlite_inbox_schema(sqlite3* db) {
  if (detail::sqlite::stored_schema_version(db, "inbox") == sqlite_inbox_schema_version) return;
  detail::sqlite::in_transaction(db, "cannot create the inbox schema", [db] {
    detail::sqlite::exec(db,
                         "CREATE TABLE IF NOT EXISTS spakky_inbox ("
                         " consumer TEXT NOT NULL,"
                         " event_id TEXT NOT NULL,"
                         " received_at INTEGER NOT NULL,"
                         " PRIMARY KEY (consumer, event_id)) WITHOUT ROWID;"
                         "CREATE INDEX IF NOT EXISTS spakky_inbox_received ON spakky_inbox (received_at);",
                         "cannot create the inbox table");
    detail::sqlite::record_schema_version(db, "inbox", sqlite_inbox_schema_version);
  });
}

/// An idempotent inbox on the application's SQLite connection (not owned). Not thread-safe
/// (neither is a connection's transaction).
class SqliteInbox {
public:
  /// Creates the schema if needed.
  explicit SqliteInbox(sqlite3* db, InboxOptions options = {}) : db_(db), options_(options) {
    create_sqlite_inbox_schema(db);
    record_ = detail::sqlite::Statement(
        db, "INSERT INTO spakky_inbox (consumer, event_id, received_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING");
  }

  /// In the connection's open transaction: records (consumer, event id) and runs `effect`, or
  /// does nothing if that pair is recorded already. Returns whether `effect` ran. An exception
  /// from `effect` propagates: roll the transaction back, and the record goes with it.
  /// Throws NotInTransactionError (nothing recorded, nothing run) outside a transaction.
  template <class Effect>
  bool run_once(std::string_view consumer, const AbstractEvent& event, Effect&& effect) {
    return run_once(consumer, event.event_id(), std::forward<Effect>(effect));
  }

  /// run_once() by event id.
  template <class Effect>
  bool run_once(std::string_view consumer, const EventId& event_id, Effect&& effect) {
    detail::sqlite::require_transaction(db_, "cannot record an inbox entry");
    maybe_purge();
    const std::string id = event_id.to_string();
    record_.reset().bind(1, consumer).bind(2, std::string_view(id)).bind(3, detail::sqlite::now_micros());
    record_.step("cannot record an inbox entry");
    const bool recorded_now = sqlite3_changes(db_) == 1;
    record_.reset();
    if (!recorded_now) return false;  // handled before: acknowledge, do nothing
    std::forward<Effect>(effect)();
    return true;
  }

  /// run_once() in a transaction of its own (BEGIN IMMEDIATE ... COMMIT; ROLLBACK if `effect`
  /// throws, and the exception propagates so that the consumer redelivers).
  template <class Effect>
  bool handle(std::string_view consumer, const AbstractEvent& event, Effect&& effect) {
    detail::sqlite::exec(db_, "BEGIN IMMEDIATE", "cannot begin the inbox transaction");
    try {
      const bool ran = run_once(consumer, event, std::forward<Effect>(effect));
      detail::sqlite::exec(db_, "COMMIT", "cannot commit the inbox transaction");
      return ran;
    } catch (...) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }

  /// Whether `consumer` handled `event_id` (and it has not been purged).
  [[nodiscard]] bool seen(std::string_view consumer, const EventId& event_id) {
    detail::sqlite::Statement read(db_, "SELECT 1 FROM spakky_inbox WHERE consumer = ?1 AND event_id = ?2", false);
    const std::string id = event_id.to_string();
    read.bind(1, consumer).bind(2, std::string_view(id));
    return read.step("cannot read the inbox");
  }

  /// Deletes entries older than the retention; returns how many.
  std::size_t purge_expired() {
    detail::sqlite::Statement purge(db_, "DELETE FROM spakky_inbox WHERE received_at < ?1", false);
    purge.bind(1, detail::sqlite::now_micros() -
                      std::chrono::duration_cast<std::chrono::microseconds>(options_.retention).count());
    purge.step("cannot purge the inbox");
    last_purge_ = std::chrono::steady_clock::now();
    return static_cast<std::size_t>(sqlite3_changes(db_));
  }

private:
  void maybe_purge() {
    if (options_.purge_interval.count() <= 0) return;
    if (std::chrono::steady_clock::now() - last_purge_ < options_.purge_interval) return;
    purge_expired();
  }

  sqlite3* db_;
  InboxOptions options_;
  detail::sqlite::Statement record_;
  std::chrono::steady_clock::time_point last_purge_ = std::chrono::steady_clock::now();
};

}  // namespace spakky::event
