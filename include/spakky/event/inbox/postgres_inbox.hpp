#pragma once
/// @file
/// PostgresInbox (target spakky::event_postgres): the idempotent-consumer step on PostgreSQL.
/// Before a handler's effect runs, (consumer, event_id) is recorded in the handler's own
/// transaction; a redelivered event already recorded is skipped. Two deliveries of one event
/// racing on two connections: the second INSERT waits for the first transaction and then
/// finds the entry (or, if the first rolled back, records it and runs the effect).
///
/// Table `spakky_inbox`: consumer text, event_id uuid, received_at timestamptz, primary key
/// (consumer, event_id); version row (`inbox`, 1) in `spakky_schema_version`.

#include <spakky/event/event.hpp>
#include <spakky/event/inbox/inbox_options.hpp>
#include <spakky/event/outbox/detail/postgres.hpp>
#include <spakky/event/outbox/outbox_error.hpp>

#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace spakky::event {

/// The version of the inbox table this library writes.
inline constexpr std::int64_t postgres_inbox_schema_version = 1;

/// Creates the inbox table if absent (idempotent, safe against concurrent creators).
inline void create_postgres_inbox_schema(PGconn* connection) {
  if (detail::postgres::stored_schema_version(connection, "inbox") == postgres_inbox_schema_version) return;
  detail::postgres::in_transaction(connection, "cannot create the inbox schema", [connection] {
    detail::postgres::record_schema_version(connection, "inbox", postgres_inbox_schema_version);
    detail::postgres::exec(connection,
                           "CREATE TABLE IF NOT EXISTS spakky_inbox ("
                           " consumer text NOT NULL,"
                           " event_id uuid NOT NULL,"
                           " received_at timestamptz NOT NULL DEFAULT now(),"
                           " PRIMARY KEY (consumer, event_id));"
                           "CREATE INDEX IF NOT EXISTS spakky_inbox_received ON spakky_inbox (received_at);",
                           "cannot create the inbox table");
  });
}

/// An idempotent inbox on the application's PostgreSQL connection (not owned). Not
/// thread-safe (neither is a connection).
class PostgresInbox {
public:
  /// Creates the schema if needed.
  explicit PostgresInbox(PGconn* connection, InboxOptions options = {}) : connection_(connection), options_(options) {
    create_postgres_inbox_schema(connection);
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
    detail::postgres::require_transaction(connection_, "cannot record an inbox entry");
    maybe_purge();
    const std::string name(consumer);
    const std::string id = event_id.to_string();
    detail::postgres::Params<2> params;
    params.text(0, name.c_str());
    params.text(1, id.c_str());
    const auto result = detail::postgres::exec_params(
        connection_, "INSERT INTO spakky_inbox (consumer, event_id) VALUES ($1, $2::uuid) ON CONFLICT DO NOTHING",
        params, "cannot record an inbox entry");
    if (std::string_view(PQcmdTuples(result.get())) != "1") return false;  // handled before
    std::forward<Effect>(effect)();
    return true;
  }

  /// run_once() in a transaction of its own (BEGIN ... COMMIT; ROLLBACK if `effect` throws,
  /// and the exception propagates so that the consumer redelivers).
  template <class Effect>
  bool handle(std::string_view consumer, const AbstractEvent& event, Effect&& effect) {
    detail::postgres::exec(connection_, "BEGIN", "cannot begin the inbox transaction");
    try {
      const bool ran = run_once(consumer, event, std::forward<Effect>(effect));
      detail::postgres::exec(connection_, "COMMIT", "cannot commit the inbox transaction");
      return ran;
    } catch (...) {
      detail::postgres::Result(PQexec(connection_, "ROLLBACK"));
      throw;
    }
  }

  /// Whether `consumer` handled `event_id` (and it has not been purged).
  [[nodiscard]] bool seen(std::string_view consumer, const EventId& event_id) {
    const std::string name(consumer);
    const std::string id = event_id.to_string();
    detail::postgres::Params<2> params;
    params.text(0, name.c_str());
    params.text(1, id.c_str());
    const auto result = detail::postgres::exec_params(
        connection_, "SELECT 1 FROM spakky_inbox WHERE consumer = $1 AND event_id = $2::uuid", params,
        "cannot read the inbox");
    return PQntuples(result.get()) == 1;
  }

  /// Deletes entries older than the retention (skipping rows another purge holds); returns
  /// how many.
  std::size_t purge_expired() {
    const std::string age = std::to_string(options_.retention.count()) + " seconds";
    detail::postgres::Params<1> params;
    params.text(0, age.c_str());
    const auto result = detail::postgres::exec_params(
        connection_,
        "DELETE FROM spakky_inbox WHERE ctid IN (SELECT ctid FROM spakky_inbox"
        " WHERE received_at < now() - $1::interval FOR UPDATE SKIP LOCKED)",
        params, "cannot purge the inbox");
    last_purge_ = std::chrono::steady_clock::now();
    return static_cast<std::size_t>(std::stoull(PQcmdTuples(result.get())));
  }

private:
  void maybe_purge() {
    if (options_.purge_interval.count() <= 0) return;
    if (std::chrono::steady_clock::now() - last_purge_ < options_.purge_interval) return;
    purge_expired();
  }

  PGconn* connection_;
  InboxOptions options_;
  std::chrono::steady_clock::time_point last_purge_ = std::chrono::steady_clock::now();
};

}  // namespace spakky::event
