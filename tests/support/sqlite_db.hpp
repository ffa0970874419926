#pragma once
// A SQLite database in a fresh temporary file (WAL mode), and small query helpers.

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>

#include <spakky/event/event_id.hpp>

namespace test_support {

/// Runs `sql` on `db`; throws std::runtime_error with SQLite's message on failure.
inline void sql_exec(sqlite3* db, const std::string& sql) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    const std::string text = message != nullptr ? message : "unknown SQLite error";
    sqlite3_free(message);
    throw std::runtime_error(text + " in: " + sql);
  }
}

/// The first column of the first row of `sql` as an integer (0 if no row).
inline std::int64_t sql_int(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* statement = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &statement, nullptr) != SQLITE_OK) {
    throw std::runtime_error(std::string(sqlite3_errmsg(db)) + " in: " + sql);
  }
  std::int64_t value = 0;
  if (sqlite3_step(statement) == SQLITE_ROW) value = sqlite3_column_int64(statement, 0);
  sqlite3_finalize(statement);
  return value;
}

/// The first column of the first row of `sql` as text ("" if no row or NULL).
inline std::string sql_text(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* statement = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &statement, nullptr) != SQLITE_OK) {
    throw std::runtime_error(std::string(sqlite3_errmsg(db)) + " in: " + sql);
  }
  std::string value;
  if (sqlite3_step(statement) == SQLITE_ROW && sqlite3_column_text(statement, 0) != nullptr) {
    value = reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
  }
  sqlite3_finalize(statement);
  return value;
}

/// A temporary database file, removed (with its WAL files) on destruction; `db()` is an
/// application connection to it with a busy timeout.
class SqliteFile {
public:
  SqliteFile()
      : path_((std::filesystem::temp_directory_path() /
               ("spakky-outbox-" + spakky::event::EventId::generate().to_string() + ".db"))
                  .string()) {
    db_ = open();
    sql_exec(db_, "PRAGMA journal_mode=WAL");
  }
  SqliteFile(const SqliteFile&) = delete;
  SqliteFile& operator=(const SqliteFile&) = delete;
  ~SqliteFile() {
    sqlite3_close_v2(db_);
    std::error_code ignored;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) std::filesystem::remove(path_ + suffix, ignored);
  }

  /// A new connection to the same file (the caller closes it).
  [[nodiscard]] sqlite3* open(int busy_timeout_ms = 5000) const {
    sqlite3* db = nullptr;
    if (sqlite3_open(path_.c_str(), &db) != SQLITE_OK) throw std::runtime_error("cannot open " + path_);
    sqlite3_busy_timeout(db, busy_timeout_ms);
    return db;
  }

  [[nodiscard]] sqlite3* db() const noexcept { return db_; }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

private:
  std::string path_;
  sqlite3* db_ = nullptr;
};

}  // namespace test_support
