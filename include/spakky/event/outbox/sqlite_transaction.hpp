#pragma once
/// @file
/// SqliteTransaction: the TransactionControl of a TransactionalOutbox on a sqlite3*.

#include <spakky/event/outbox/detail/sqlite.hpp>

#include <sqlite3.h>

#include <chrono>

namespace spakky::event {

/// Makes `db` wait for another writer's lock in short steps (50 us doubling to 2 ms) for up
/// to `timeout`, instead of sqlite3_busy_timeout's 1 ... 100 ms sleeps: an application writer
/// beside a relay (whose writes hold the lock for well under a millisecond) then loses little
/// time. Past `timeout` a write fails with SQLITE_BUSY (DatabaseBusyError).
inline void set_sqlite_busy_wait(sqlite3* db, std::chrono::milliseconds timeout) {
  detail::sqlite::set_short_busy_wait(db, timeout);
}

/// BEGIN IMMEDIATE / COMMIT / ROLLBACK on the application's connection (not owned). IMMEDIATE
/// takes the write lock at BEGIN, so two writers queue on the busy timeout instead of one of
/// them failing at its first write. Throws DatabaseBusyError past the busy timeout.
class SqliteTransaction {
public:
  /// A transaction on `db` (not begun yet); the connection must outlive it.
  explicit SqliteTransaction(sqlite3* db) noexcept : db_(db) {}
  /// BEGIN IMMEDIATE.
  void begin() { detail::sqlite::exec(db_, "BEGIN IMMEDIATE", "cannot begin the unit of work's transaction"); }
  /// COMMIT.
  void commit() { detail::sqlite::exec(db_, "COMMIT", "cannot commit the unit of work's transaction"); }
  /// ROLLBACK, if a transaction is open.
  void rollback() noexcept {
    if (sqlite3_get_autocommit(db_) == 0) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  /// The connection.
  [[nodiscard]] sqlite3* connection() const noexcept { return db_; }

private:
  sqlite3* db_;
};

}  // namespace spakky::event
