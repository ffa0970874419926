#pragma once
/// @file
/// The errors of the transactional outbox and the idempotent inbox.

#include <spakky/event/detail/escape.hpp>
#include <spakky/event/error.hpp>

#include <string>
#include <string_view>

namespace spakky::event {

/// A database call of the outbox or the inbox failed (the database's message, escaped).
class OutboxStoreError : public EventError {
public:
  /// `what` the library was doing, and the database's `reason` (escaped, cut after 4 KiB).
  explicit OutboxStoreError(std::string_view what, std::string_view reason)
      : EventError(std::string(what) + ": " + detail::escape_for_log(reason, 4096)) {}
};

/// The connection handed over is not inside an open transaction: nothing was written, because
/// a row written outside the caller's transaction could commit without the caller's data.
class NotInTransactionError : public OutboxStoreError {
public:
  /// `what` the library was about to write.
  explicit NotInTransactionError(std::string_view what)
      : OutboxStoreError(what, "the connection is not in an open transaction (BEGIN first)") {}
};

/// The database stayed locked by another writer past the busy timeout (SQLite SQLITE_BUSY).
class DatabaseBusyError : public OutboxStoreError {
public:
  /// As OutboxStoreError.
  using OutboxStoreError::OutboxStoreError;
};

}  // namespace spakky::event
