#pragma once
// What the PostgreSQL tests share: the test server's URL (from the CTest fixture's
// environment), a private schema per test, and small query helpers.

#include <spakky/event/event_id.hpp>

#include <libpq-fe.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>

namespace test_support::postgres {

struct Finish {
  void operator()(PGconn* c) const noexcept { PQfinish(c); }
};
/// An owned connection.
using Connection = std::unique_ptr<PGconn, Finish>;

/// The test server's URL: SPAKKY_POSTGRES_URL, set by CTest for the tests that use the
/// postgres_server fixture. Throws (failing the test) when it is not set.
inline std::string server_url() {
  const char* url = std::getenv("SPAKKY_POSTGRES_URL");
  if (url == nullptr || *url == '\0') {
    throw std::runtime_error(
        "SPAKKY_POSTGRES_URL is not set: run this test through ctest (its postgres_server fixture starts the "
        "server), or start one with scripts/postgres-test-server.sh start and export what it prints");
  }
  return url;
}

/// Connects to `conninfo`; throws with libpq's message.
inline Connection connect(const std::string& conninfo) {
  Connection c(PQconnectdb(conninfo.c_str()));
  if (!c || PQstatus(c.get()) != CONNECTION_OK) {
    throw std::runtime_error("cannot connect to " + conninfo + ": " + (c ? PQerrorMessage(c.get()) : "no memory"));
  }
  return c;
}

/// Runs `sql`; throws with the server's message on failure.
inline void pg_exec(PGconn* c, const std::string& sql) {
  PGresult* r = PQexec(c, sql.c_str());
  const auto status = PQresultStatus(r);
  const std::string message = PQresultErrorMessage(r);
  PQclear(r);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) throw std::runtime_error(message + " in: " + sql);
}

/// The first column of the first row of `sql` as text ("" if no row).
inline std::string pg_text(PGconn* c, const std::string& sql) {
  PGresult* r = PQexec(c, sql.c_str());
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    const std::string message = PQresultErrorMessage(r);
    PQclear(r);
    throw std::runtime_error(message + " in: " + sql);
  }
  std::string value = PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
  PQclear(r);
  return value;
}

/// The first column of the first row of `sql` as an integer (0 if no row or NULL).
inline std::int64_t pg_int(PGconn* c, const std::string& sql) {
  const std::string text = pg_text(c, sql);
  return text.empty() ? 0 : std::stoll(text);
}

/// A schema of its own for one test (dropped at the end): every connection made with
/// conninfo() has it as its search_path, so the outbox tables of tests never meet.
class PrivateSchema {
public:
  PrivateSchema()
      : name_("t_" + spakky::event::EventId::generate().to_string().substr(0, 8)),
        admin_(postgres::connect(server_url())) {
    pg_exec(admin_.get(), "SET client_min_messages = warning");
    pg_exec(admin_.get(), "CREATE SCHEMA " + name_);
  }
  PrivateSchema(const PrivateSchema&) = delete;
  PrivateSchema& operator=(const PrivateSchema&) = delete;
  ~PrivateSchema() {
    try {
      pg_exec(admin_.get(), "DROP SCHEMA " + name_ + " CASCADE");
    } catch (...) {
    }
  }

  /// The server URL with this schema as search_path.
  [[nodiscard]] std::string conninfo() const {
    const std::string url = server_url();
    return url + (url.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" + name_;
  }
  /// A new connection in this schema.
  [[nodiscard]] Connection connect() const { return postgres::connect(conninfo()); }
  /// A connection to the server's default schema (for pg_terminate_backend and the like).
  [[nodiscard]] PGconn* admin() const noexcept { return admin_.get(); }
  [[nodiscard]] const std::string& name() const noexcept { return name_; }

private:
  std::string name_;
  Connection admin_;
};

}  // namespace test_support::postgres
