// A user of spakky-event-sqlite built with pkg-config alone: the outbox writer creates its
// tables in an in-memory SQLite database (links libsqlite3).
#include <spakky/event/outbox/sqlite_outbox.hpp>

#include <sqlite3.h>

#include <cstdio>

int main() {
  sqlite3* db = nullptr;
  if (sqlite3_open(":memory:", &db) != SQLITE_OK) return 1;
  {
    spakky::event::SqliteOutboxWriter writer(db);  // creates spakky_outbox if absent
  }
  sqlite3_stmt* statement = nullptr;
  const int rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM spakky_outbox", -1, &statement, nullptr);
  sqlite3_finalize(statement);
  sqlite3_close(db);
  if (rc != SQLITE_OK) {
    std::fprintf(stderr, "sqlite consumer: no spakky_outbox table\n");
    return 1;
  }
  std::puts("sqlite consumer: outbox table created");
  return 0;
}
