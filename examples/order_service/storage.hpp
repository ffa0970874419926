#pragma once
// Where the orders and the outbox live: SQLite by default (`--db PATH`, default `:memory:`),
// or PostgreSQL with `--postgres URL` (compiled in when the build defines
// SPAKKY_EXAMPLE_POSTGRES). The storage is also the unit of work's transaction (begin, commit,
// rollback): the order rows and the outbox rows commit together.

#include "domain.hpp"
#include "transport.hpp"

#include <spakky/event/outbox/outbox_writer.hpp>
#include <spakky/event/outbox/relay_store.hpp>
#include <spakky/event/outbox/sqlite_outbox.hpp>
#include <spakky/event/outbox/sqlite_transaction.hpp>

#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>

#ifdef SPAKKY_EXAMPLE_POSTGRES
#include <spakky/event/outbox/postgres_outbox.hpp>
#include <spakky/event/outbox/postgres_transaction.hpp>
#endif

namespace shop {

/// Orders + outbox in one database; a TransactionControl for TransactionalOutbox.
class Storage : public OrderTable {
public:
  virtual void begin() = 0;
  virtual void commit() = 0;
  virtual void rollback() noexcept = 0;
  /// Where the outbox bus writes (the same connection as the orders).
  virtual spakky::event::IOutboxWriter& outbox() = 0;
  /// Where the relay reads.
  virtual spakky::event::IOutboxRelayStore& relay_store() = 0;
};

class SqliteStorage final : public Storage {
public:
  explicit SqliteStorage(const std::string& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) throw std::runtime_error("cannot open " + path);
    transaction_ = spakky::event::SqliteTransaction(db_);
    spakky::event::set_sqlite_busy_wait(db_, std::chrono::seconds(5));
    exec("PRAGMA journal_mode=WAL");
    exec("CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, item TEXT NOT NULL, quantity INTEGER NOT NULL,"
         " paid REAL)");
    writer_ = std::make_unique<spakky::event::SqliteOutboxWriter>(db_);
    // One thread here: the relay may share the application's connection (also for :memory:).
    store_ = std::make_unique<spakky::event::SqliteOutboxRelayStore>(db_);
  }
  ~SqliteStorage() override {
    store_.reset();
    writer_.reset();
    sqlite3_close(db_);
  }

  void begin() override { transaction_.begin(); }
  void commit() override { transaction_.commit(); }
  void rollback() noexcept override { transaction_.rollback(); }
  spakky::event::IOutboxWriter& outbox() override { return *writer_; }
  spakky::event::IOutboxRelayStore& relay_store() override { return *store_; }

  void insert(const std::string& id, const std::string& item, int quantity) override {
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db_, "INSERT INTO orders (id, item, quantity) VALUES (?1, ?2, ?3)"
                       " ON CONFLICT (id) DO UPDATE SET item = excluded.item, quantity = excluded.quantity, paid = NULL", -1, &s, nullptr);
    sqlite3_bind_text(s, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, item.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, 3, quantity);
    const int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) throw std::runtime_error(std::string("cannot save the order: ") + sqlite3_errmsg(db_));
  }
  void mark_paid(const std::string& id, double amount) override {
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db_, "UPDATE orders SET paid = ?2 WHERE id = ?1", -1, &s, nullptr);
    sqlite3_bind_text(s, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(s, 2, amount);
    const int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) throw std::runtime_error(std::string("cannot update the order: ") + sqlite3_errmsg(db_));
  }

private:
  void exec(const char* sql) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) throw std::runtime_error(sqlite3_errmsg(db_));
  }

  sqlite3* db_ = nullptr;
  spakky::event::SqliteTransaction transaction_{nullptr};
  std::unique_ptr<spakky::event::SqliteOutboxWriter> writer_;
  std::unique_ptr<spakky::event::SqliteOutboxRelayStore> store_;

public:
  // The transaction needs the connection opened in the constructor.
  SqliteStorage(const SqliteStorage&) = delete;
  SqliteStorage& operator=(const SqliteStorage&) = delete;
};

#ifdef SPAKKY_EXAMPLE_POSTGRES
class PostgresStorage final : public Storage {
public:
  explicit PostgresStorage(const std::string& url) : connection_(PQconnectdb(url.c_str())) {
    if (PQstatus(connection_) != CONNECTION_OK) {
      throw std::runtime_error(std::string("cannot connect to PostgreSQL: ") + PQerrorMessage(connection_));
    }
    PQsetNoticeProcessor(connection_, [](void*, const char*) {}, nullptr);
    exec("CREATE TABLE IF NOT EXISTS orders (id text PRIMARY KEY, item text NOT NULL, quantity integer NOT NULL,"
         " paid double precision)");
    writer_ = std::make_unique<spakky::event::PostgresOutboxWriter>(connection_);
    store_ = std::make_unique<spakky::event::PostgresOutboxRelayStore>(url);  // its own connection
  }
  ~PostgresStorage() override {
    store_.reset();
    writer_.reset();
    PQfinish(connection_);
  }
  PostgresStorage(const PostgresStorage&) = delete;
  PostgresStorage& operator=(const PostgresStorage&) = delete;

  void begin() override { transaction_.begin(); }
  void commit() override { transaction_.commit(); }
  void rollback() noexcept override { transaction_.rollback(); }
  spakky::event::IOutboxWriter& outbox() override { return *writer_; }
  spakky::event::IOutboxRelayStore& relay_store() override { return *store_; }

  void insert(const std::string& id, const std::string& item, int quantity) override {
    const std::string q = std::to_string(quantity);
    const char* values[] = {id.c_str(), item.c_str(), q.c_str()};
    run("INSERT INTO orders (id, item, quantity) VALUES ($1, $2, $3::integer)"
        " ON CONFLICT (id) DO UPDATE SET item = excluded.item, quantity = excluded.quantity, paid = NULL",
        values, 3);
  }
  void mark_paid(const std::string& id, double amount) override {
    const std::string a = std::to_string(amount);
    const char* values[] = {id.c_str(), a.c_str()};
    run("UPDATE orders SET paid = $2::double precision WHERE id = $1", values, 2);
  }

private:
  void exec(const char* sql) { run(sql, nullptr, 0); }
  void run(const char* sql, const char* const* values, int count) {
    PGresult* r = PQexecParams(connection_, sql, count, nullptr, values, nullptr, nullptr, 0);
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    const std::string message = PQresultErrorMessage(r);
    PQclear(r);
    if (!ok) throw std::runtime_error(message);
  }

  PGconn* connection_;
  spakky::event::PostgresTransaction transaction_{connection_};
  std::unique_ptr<spakky::event::PostgresOutboxWriter> writer_;
  std::unique_ptr<spakky::event::PostgresOutboxRelayStore> store_;
};
#endif

/// SQLite (`--db`, default in memory) or PostgreSQL (`--postgres`).
inline std::unique_ptr<Storage> make_storage(const Options& options) {
  try {
    if (options.postgres.empty()) return std::make_unique<SqliteStorage>(options.db);
#ifdef SPAKKY_EXAMPLE_POSTGRES
    std::printf("[postgres] orders and outbox in PostgreSQL\n");
    return std::make_unique<PostgresStorage>(options.postgres);
#else
    std::fprintf(stderr, "--postgres: this build has no PostgreSQL support (libpq-dev not found)\n");
    std::exit(2);
#endif
  } catch (const std::exception& e) {
    std::fprintf(stderr, "storage: %s\n", e.what());
    std::exit(2);
  }
}

}  // namespace shop
