#pragma once
// The application side of the SQLite outbox tests: an outbox bus on a test database's main
// connection, committing one event per transaction.

#include "outbox/outbox_events.hpp"
#include "support/recording_transport.hpp"
#include "support/sqlite_db.hpp"

#include <spakky/event/outbox/outbox_event_bus.hpp>
#include <spakky/event/outbox/sqlite_outbox.hpp>

#include <map>
#include <string>
#include <vector>

namespace outbox_test {

/// A bus on the file's main connection; commit() wraps BEGIN/COMMIT around `body(bus)`.
struct App {
  explicit App(test_support::SqliteFile& f) : file(f), writer(f.db()), bus(writer, serializer) {}
  template <class Body>
  void commit(Body&& body) {
    test_support::sql_exec(file.db(), "BEGIN");
    body(bus);
    test_support::sql_exec(file.db(), "COMMIT");
  }
  /// Commits ItemReserved(key, n) under `key`.
  void send(const std::string& key, int n) {
    commit([&](spakky::event::OutboxEventBus& b) { b.send(ItemReserved(key, n), key); });
  }
  test_support::SqliteFile& file;
  test_support::TestSerializer serializer = make_serializer();
  spakky::event::SqliteOutboxWriter writer;
  spakky::event::OutboxEventBus bus;
};

/// "key:n" of every message in `sent`, in order.
inline std::vector<std::string> sent_fields(const std::vector<test_support::SentMessage>& sent) {
  std::vector<std::string> out;
  for (const auto& m : sent) out.push_back(fields_of(m.payload));
  return out;
}

/// "key:n" of every message the transport recorded, in order.
template <class Transport>
std::vector<std::string> sent_fields(const Transport& transport) {
  return sent_fields(transport.sent());
}

/// The recorded fields grouped by key (the part before ':'), each key's in send order.
template <class Transport>
std::map<std::string, std::vector<std::string>> fields_per_key(const Transport& transport) {
  std::map<std::string, std::vector<std::string>> per_key;
  for (const auto& f : sent_fields(transport)) per_key[f.substr(0, f.find(':'))].push_back(f);
  return per_key;
}

}  // namespace outbox_test
