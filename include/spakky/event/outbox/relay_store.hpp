#pragma once
/// @file
/// IOutboxRelayStore: what an OutboxRelay needs from an outbox table (SqliteOutboxRelayStore,
/// PostgresOutboxRelayStore), and the rows it hands over.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace spakky::event {

/// A pending row claimed for sending.
struct OutboxRow {
  std::int64_t id = 0;          ///< the row's id
  std::string event_id;         ///< the event's UUID
  std::string event_name;       ///< routing name
  std::string payload;          ///< serialized event
  std::string headers;          ///< detail::encode_headers' text
  std::string partition_key;    ///< ordering key
  std::int64_t attempts = 0;    ///< failed sends so far
  /// When the row was written (PostgreSQL: when its transaction began); the relay reports
  /// its lag from it. The epoch (default) if the store does not know.
  std::chrono::system_clock::time_point created_at{};
};

/// A row the relay gave up on: it stays in the table (state `parked`) and blocks its key.
struct ParkedRow {
  std::int64_t id = 0;          ///< the row's id
  std::string event_id;         ///< the event's UUID
  std::string event_name;       ///< routing name
  std::string partition_key;    ///< the key it blocks
  std::int64_t attempts = 0;    ///< failed sends
  std::string last_error;       ///< why it was parked
};

/// What happened to one claimed row.
struct RowResult {
  /// sent: the transport confirmed it; retry: try again after `retry_after`; park: give up.
  enum class Outcome : unsigned char { sent, retry, park };
  Outcome outcome = Outcome::sent;        ///< see Outcome
  std::string error;                      ///< retry/park: the reason, kept as last_error
  std::chrono::milliseconds retry_after{0};  ///< retry: the back-off
};

/// An outbox table seen by a relay. One relay uses one store from one thread at a time.
class IOutboxRelayStore {
public:
  virtual ~IOutboxRelayStore() = default;
  /// Up to `max_rows` rows to send now: for each key at most its head, the lowest pending row,
  /// and only if no earlier row of the key is pending or parked, and its back-off is over.
  /// The claim lasts until finish() or abandon() (PostgreSQL: row locks other relays skip).
  virtual std::vector<OutboxRow> claim(std::size_t max_rows) = 0;
  /// Records results[i] for rows[i] (sent rows deleted, or kept as `sent` when `keep_sent`)
  /// and ends the claim.
  virtual void finish(std::span<const OutboxRow> rows, std::span<const RowResult> results, bool keep_sent) = 0;
  /// Ends the claim without recording anything: the rows stay pending.
  virtual void abandon() noexcept = 0;
  /// True if a claim holds nothing (no lock, no open transaction: SQLite, one relay per
  /// database): the relay may then claim again while rows of earlier claims are still being
  /// sent (such a row is still pending and its key's head, so claim() returns it again: the
  /// relay skips it by id), and finish() any subset of the rows claimed so far, in any order.
  /// An OutboxRelay over an asynchronous transport then rolls (see OutboxRelay::drain()).
  /// False (the default): every claim() is ended by one finish() or abandon() before the next
  /// one (PostgreSQL holds the claimed rows' locks until then), and the relay runs passes.
  [[nodiscard]] virtual bool claims_hold_nothing() const noexcept { return false; }
  /// How many rows are not sent yet (pending and parked), if the store can count them; the
  /// relay reports it to the metrics observer. std::nullopt (the default): not reported.
  virtual std::optional<std::size_t> unsent_count() { return std::nullopt; }
  /// Deletes rows kept as `sent` for longer than `older_than`; returns how many.
  virtual std::size_t purge_sent(std::chrono::seconds older_than) = 0;
  /// Every parked row, oldest first.
  virtual std::vector<ParkedRow> parked() = 0;
  /// Makes parked row `id` pending again with no attempts; false if it is not parked.
  virtual bool requeue(std::int64_t id) = 0;
  /// A descriptor that becomes readable when another process committed rows (PostgreSQL
  /// LISTEN), or -1. May change after a reconnect: ask again before each wait.
  virtual int notification_fd() noexcept { return -1; }
  /// Reads what made notification_fd() readable; true if a notification was pending,
  /// including one the connection had already read while it ran another command (its socket
  /// is then no longer readable: check this before waiting on it).
  virtual bool consume_notifications() { return false; }
};

}  // namespace spakky::event
