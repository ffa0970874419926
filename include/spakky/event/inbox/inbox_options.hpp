#pragma once
/// @file
/// InboxOptions: how long an idempotent inbox remembers the events a consumer handled.

#include <chrono>

namespace spakky::event {

/// Settings shared by SqliteInbox and PostgresInbox.
struct InboxOptions {
  /// How long a handled event is remembered. A redelivery later than this runs the effect
  /// again: make it longer than the broker's longest redelivery delay (default 7 days).
  std::chrono::seconds retention{std::chrono::hours(24 * 7)};
  /// run_once() deletes expired entries at most this often, in the caller's transaction
  /// (zero: never; call purge_expired() yourself).
  std::chrono::seconds purge_interval{std::chrono::minutes(10)};
};

}  // namespace spakky::event
