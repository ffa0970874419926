#pragma once
/// @file
/// Small RAII helpers over the SQLite C API shared by the SQLite outbox and inbox.

#include <spakky/event/outbox/outbox_error.hpp>

#include <sqlite3.h>

#include <time.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace spakky::event::detail::sqlite {

/// Throws the error matching `rc` (DatabaseBusyError for SQLITE_BUSY/LOCKED), naming `what`.
[[noreturn]] inline void fail(sqlite3* db, int rc, std::string_view what) {
  const char* message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  const int primary = rc & 0xFF;
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    throw DatabaseBusyError(what, std::string("the database is locked by another writer (busy timeout expired): ") +
                                      (message != nullptr ? message : ""));
  }
  throw OutboxStoreError(what, message != nullptr ? message : sqlite3_errstr(rc));
}

/// A busy handler for short write transactions: waits in steps from 50 us doubling up to 2 ms
/// (SQLite's own busy_timeout sleeps 1, 2, 5 ... 100 ms, far longer than an outbox write holds
/// the lock), giving up after `timeout_ms` in total.
inline int short_busy_wait(void* timeout_ms, int count) {
  const auto limit_us = static_cast<long long>(reinterpret_cast<std::intptr_t>(timeout_ms)) * 1000;
  long long waited_us = 0;
  long long step_us = 50;
  for (int i = 0; i < count; ++i) {
    waited_us += step_us;
    step_us = step_us < 2000 ? step_us * 2 : 2000;
  }
  if (waited_us >= limit_us) return 0;
  struct timespec pause {0, static_cast<long>(step_us * 1000)};
  ::nanosleep(&pause, nullptr);
  return 1;
}

/// Installs short_busy_wait on `db` with a total of `timeout` (replaces sqlite3_busy_timeout).
inline void set_short_busy_wait(sqlite3* db, std::chrono::milliseconds timeout) {
  sqlite3_busy_handler(db, &short_busy_wait, reinterpret_cast<void*>(static_cast<std::intptr_t>(timeout.count())));
}

/// Runs statements that return no rows.
inline void exec(sqlite3* db, const char* sql, std::string_view what) {
  char* message = nullptr;
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &message);
  if (rc != SQLITE_OK) {
    const std::string text = message != nullptr ? message : sqlite3_errstr(rc);
    sqlite3_free(message);
    if ((rc & 0xFF) == SQLITE_BUSY || (rc & 0xFF) == SQLITE_LOCKED) {
      throw DatabaseBusyError(what, "the database is locked by another writer (busy timeout expired): " + text);
    }
    throw OutboxStoreError(what, text);
  }
}

/// Throws NotInTransactionError unless `db` is inside BEGIN ... COMMIT.
inline void require_transaction(sqlite3* db, std::string_view what) {
  if (sqlite3_get_autocommit(db) != 0) throw NotInTransactionError(what);
}

/// A prepared statement, finalized on destruction; reset before each use.
class Statement {
public:
  Statement() = default;
  Statement(sqlite3* db, std::string_view sql, bool persistent = true) : db_(db) {
    const int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                                      persistent ? SQLITE_PREPARE_PERSISTENT : 0, &statement_, nullptr);
    if (rc != SQLITE_OK) fail(db, rc, "cannot prepare an outbox statement");
  }
  Statement(Statement&& other) noexcept
      : db_(std::exchange(other.db_, nullptr)), statement_(std::exchange(other.statement_, nullptr)) {}
  Statement& operator=(Statement&& other) noexcept {
    if (this != &other) {
      sqlite3_finalize(statement_);
      db_ = std::exchange(other.db_, nullptr);
      statement_ = std::exchange(other.statement_, nullptr);
    }
    return *this;
  }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement() { sqlite3_finalize(statement_); }

  /// Resets and clears the bindings: ready for a new use.
  Statement& reset() noexcept {
    sqlite3_reset(statement_);
    sqlite3_clear_bindings(statement_);
    return *this;
  }
  Statement& bind(int index, std::string_view text) {
    check(sqlite3_bind_text(statement_, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC));
    return *this;
  }
  Statement& bind_blob(int index, std::string_view bytes) {
    check(sqlite3_bind_blob(statement_, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_STATIC));
    return *this;
  }
  Statement& bind(int index, std::int64_t value) {
    check(sqlite3_bind_int64(statement_, index, value));
    return *this;
  }
  /// Steps once: true if a row is ready, false when done. Throws on errors.
  bool step(std::string_view what) {
    const int rc = sqlite3_step(statement_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    sqlite3_reset(statement_);
    fail(db_, rc, what);
  }
  [[nodiscard]] std::int64_t int64(int column) const noexcept { return sqlite3_column_int64(statement_, column); }
  [[nodiscard]] std::string text(int column) const {
    const auto* data = static_cast<const char*>(sqlite3_column_blob(statement_, column));
    const int size = sqlite3_column_bytes(statement_, column);
    return data != nullptr ? std::string(data, static_cast<std::size_t>(size)) : std::string();
  }
  [[nodiscard]] sqlite3_stmt* get() const noexcept { return statement_; }

private:
  void check(int rc) {
    if (rc != SQLITE_OK) fail(db_, rc, "cannot bind an outbox statement parameter");
  }

  sqlite3* db_ = nullptr;
  sqlite3_stmt* statement_ = nullptr;
};

/// Microseconds since the Unix epoch, the time unit of the SQLite tables.
[[nodiscard]] inline std::int64_t now_micros() noexcept {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// The stored schema version of `component`, or -1 if there is none.
inline std::int64_t stored_schema_version(sqlite3* db, std::string_view component) {
  Statement exists(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'spakky_schema_version'", false);
  if (!exists.step("cannot read the schema")) return -1;
  Statement read(db, "SELECT version FROM spakky_schema_version WHERE component = ?1", false);
  read.bind(1, component);
  return read.step("cannot read spakky_schema_version") ? read.int64(0) : -1;
}

/// Creates the version table and checks or records `component`'s version (the caller's
/// transaction). Throws OutboxStoreError if the database holds a newer version.
inline void record_schema_version(sqlite3* db, std::string_view component, std::int64_t version) {
  exec(db,
       "CREATE TABLE IF NOT EXISTS spakky_schema_version ("
       " component TEXT PRIMARY KEY,"
       " version INTEGER NOT NULL)",
       "cannot create spakky_schema_version");
  Statement read(db, "SELECT version FROM spakky_schema_version WHERE component = ?1", false);
  read.bind(1, component);
  if (read.step("cannot read spakky_schema_version")) {
    const std::int64_t found = read.int64(0);
    if (found > version) {
      throw OutboxStoreError("spakky schema", "the database has " + std::string(component) + " schema version " +
                                                  std::to_string(found) + ", newer than this library's " +
                                                  std::to_string(version));
    }
    return;
  }
  Statement insert(db, "INSERT INTO spakky_schema_version (component, version) VALUES (?1, ?2)", false);
  insert.bind(1, component).bind(2, version);
  insert.step("cannot write spakky_schema_version");
}

/// Runs `body` in a transaction of its own when `db` is in autocommit mode, else in the caller's.
template <class Body>
void in_transaction(sqlite3* db, std::string_view what, Body&& body) {
  if (sqlite3_get_autocommit(db) == 0) {
    std::forward<Body>(body)();
    return;
  }
  exec(db, "BEGIN IMMEDIATE", what);
  try {
    std::forward<Body>(body)();
    exec(db, "COMMIT", what);
  } catch (...) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

}  // namespace spakky::event::detail::sqlite
