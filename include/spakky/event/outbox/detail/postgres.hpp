#pragma once
/// @file
/// Small RAII helpers over libpq shared by the PostgreSQL outbox and inbox.

#include <spakky/event/outbox/outbox_error.hpp>

#include <libpq-fe.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace spakky::event::detail::postgres {

/// Owns a PGresult.
struct ClearResult {
  void operator()(PGresult* result) const noexcept { PQclear(result); }
};
using Result = std::unique_ptr<PGresult, ClearResult>;

/// Owns a PGconn.
struct FinishConnection {
  void operator()(PGconn* connection) const noexcept { PQfinish(connection); }
};
using Connection = std::unique_ptr<PGconn, FinishConnection>;

/// The server's message for `result` (or the connection's), without the trailing newline.
inline std::string message_of(PGconn* connection, const PGresult* result) {
  const char* text = result != nullptr ? PQresultErrorMessage(result) : nullptr;
  if (text == nullptr || *text == '\0') text = PQerrorMessage(connection);
  std::string message = text != nullptr ? text : "unknown libpq error";
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  return message;
}

/// Throws OutboxStoreError unless `result` has status `expected` (or PGRES_COMMAND_OK /
/// PGRES_TUPLES_OK when `expected` is either of them).
inline Result check(PGconn* connection, Result result, std::string_view what) {
  const ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    throw OutboxStoreError(what, message_of(connection, result.get()));
  }
  return result;
}

/// Runs `sql` (no parameters; several statements allowed).
inline Result exec(PGconn* connection, const char* sql, std::string_view what) {
  return check(connection, Result(PQexec(connection, sql)), what);
}

/// Parameters for PQexecParams/PQexecPrepared: text by default, binary where marked.
template <std::size_t N>
struct Params {
  std::array<const char*, N> values{};
  std::array<int, N> lengths{};
  std::array<int, N> formats{};

  void text(std::size_t i, const char* value) { values[i] = value; }
  void binary(std::size_t i, std::string_view bytes) {
    values[i] = bytes.data();
    lengths[i] = static_cast<int>(bytes.size());
    formats[i] = 1;
  }
};

/// Runs a parameterized statement; `binary_result` asks for binary columns.
template <std::size_t N>
Result exec_params(PGconn* connection, const char* sql, const Params<N>& params, std::string_view what,
                   bool binary_result = false) {
  return check(connection,
               Result(PQexecParams(connection, sql, static_cast<int>(N), nullptr, params.values.data(),
                                   params.lengths.data(), params.formats.data(), binary_result ? 1 : 0)),
               what);
}

/// A binary int8 column.
inline std::int64_t int8(const PGresult* result, int row, int column) {
  std::uint64_t value = 0;
  const auto* bytes = reinterpret_cast<const unsigned char*>(PQgetvalue(result, row, column));
  for (int i = 0; i < 8; ++i) value = (value << 8) | bytes[i];
  return static_cast<std::int64_t>(value);
}

/// A binary int4 column.
inline std::int32_t int4(const PGresult* result, int row, int column) {
  std::uint32_t value = 0;
  const auto* bytes = reinterpret_cast<const unsigned char*>(PQgetvalue(result, row, column));
  for (int i = 0; i < 4; ++i) value = (value << 8) | bytes[i];
  return static_cast<std::int32_t>(value);
}

/// A column's bytes (binary or text format alike).
inline std::string bytes(const PGresult* result, int row, int column) {
  return std::string(PQgetvalue(result, row, column), static_cast<std::size_t>(PQgetlength(result, row, column)));
}

/// Throws NotInTransactionError unless `connection` is inside an open, healthy transaction.
inline void require_transaction(PGconn* connection, std::string_view what) {
  switch (PQtransactionStatus(connection)) {
    case PQTRANS_INTRANS: return;
    case PQTRANS_INERROR:
      throw OutboxStoreError(what, "the connection's transaction has failed already (ROLLBACK first)");
    case PQTRANS_ACTIVE:
      throw OutboxStoreError(what, "the connection is busy with another command");
    default: throw NotInTransactionError(what);
  }
}

/// Runs `body` in a transaction of its own when `connection` is idle, else in the caller's.
template <class Body>
void in_transaction(PGconn* connection, std::string_view what, Body&& body) {
  if (PQtransactionStatus(connection) == PQTRANS_INTRANS) {
    std::forward<Body>(body)();
    return;
  }
  exec(connection, "BEGIN", what);
  try {
    std::forward<Body>(body)();
    exec(connection, "COMMIT", what);
  } catch (...) {
    Result(PQexec(connection, "ROLLBACK"));
    throw;
  }
}

/// The stored schema version of `component`, or -1 if there is none (read without locks).
inline long long stored_schema_version(PGconn* connection, const char* component) {
  const Result table = exec(connection, "SELECT to_regclass('spakky_schema_version') IS NOT NULL",
                            "cannot read the schema");
  if (std::string_view(PQgetvalue(table.get(), 0, 0)) != "t") return -1;
  Params<1> params;
  params.text(0, component);
  const Result found = exec_params(connection, "SELECT version FROM spakky_schema_version WHERE component = $1",
                                   params, "cannot read spakky_schema_version");
  if (PQntuples(found.get()) == 0) return -1;
  return std::stoll(PQgetvalue(found.get(), 0, 0));
}

/// Creates the version table and checks or records `component`'s version; serialized with
/// concurrent creators by a transaction-scoped advisory lock (CREATE ... IF NOT EXISTS alone
/// races on the catalog).
inline void record_schema_version(PGconn* connection, const char* component, std::int64_t version) {
  exec(connection,
       "SET LOCAL client_min_messages = warning;"  // no "already exists, skipping" notices
       "SELECT pg_advisory_xact_lock(7310552771508131125);"
       "CREATE TABLE IF NOT EXISTS spakky_schema_version ("
       " component text PRIMARY KEY,"
       " version integer NOT NULL)",
       "cannot create spakky_schema_version");
  const std::string version_text = std::to_string(version);
  Params<2> params;
  params.text(0, component);
  params.text(1, version_text.c_str());
  exec_params(connection,
              "INSERT INTO spakky_schema_version (component, version) VALUES ($1, $2::integer)"
              " ON CONFLICT (component) DO NOTHING",
              params, "cannot write spakky_schema_version");
  Params<1> read;
  read.text(0, component);
  const Result found = exec_params(connection, "SELECT version FROM spakky_schema_version WHERE component = $1", read,
                                   "cannot read spakky_schema_version");
  const long long stored = std::stoll(PQgetvalue(found.get(), 0, 0));
  if (stored > version) {
    throw OutboxStoreError("spakky schema", std::string("the database has ") + component + " schema version " +
                                                std::to_string(stored) + ", newer than this library's " +
                                                version_text);
  }
}

}  // namespace spakky::event::detail::postgres
