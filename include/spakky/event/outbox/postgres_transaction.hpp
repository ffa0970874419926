#pragma once
/// @file
/// PostgresTransaction: the TransactionControl of a TransactionalOutbox on a PGconn*.

#include <spakky/event/outbox/detail/postgres.hpp>

#include <libpq-fe.h>

namespace spakky::event {

/// BEGIN / COMMIT / ROLLBACK on the application's connection (not owned). A COMMIT the server
/// turns into a rollback (the transaction had failed) throws OutboxStoreError.
class PostgresTransaction {
public:
  /// A transaction on `connection` (not begun yet); the connection must outlive it.
  explicit PostgresTransaction(PGconn* connection) noexcept : connection_(connection) {}
  /// BEGIN.
  void begin() { detail::postgres::exec(connection_, "BEGIN", "cannot begin the unit of work's transaction"); }
  /// COMMIT; throws if the server rolled back instead.
  void commit() {
    const auto result = detail::postgres::exec(connection_, "COMMIT", "cannot commit the unit of work's transaction");
    if (std::string_view(PQcmdStatus(result.get())) != "COMMIT") {
      throw OutboxStoreError("cannot commit the unit of work's transaction", "the transaction had failed: rolled back");
    }
  }
  /// ROLLBACK, if a transaction is open.
  void rollback() noexcept {
    const auto status = PQtransactionStatus(connection_);
    if (status == PQTRANS_INTRANS || status == PQTRANS_INERROR) detail::postgres::Result(PQexec(connection_, "ROLLBACK"));
  }
  /// The connection.
  [[nodiscard]] PGconn* connection() const noexcept { return connection_; }

private:
  PGconn* connection_;
};

}  // namespace spakky::event
