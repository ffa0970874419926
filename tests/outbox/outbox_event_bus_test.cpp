// OutboxEventBus and AsyncOutboxEventBus on the SQLite writer: the event commits or rolls
// back with the caller's transaction.

#include "outbox/outbox_events.hpp"
#include "support/sqlite_db.hpp"

#include <spakky/event/bus/direct_event_bus.hpp>
#include <spakky/event/outbox/detail/header_codec.hpp>
#include <spakky/event/outbox/outbox_event_bus.hpp>
#include <spakky/event/outbox/sqlite_outbox.hpp>
#include <spakky/event/task.hpp>

#include "support/recording_transport.hpp"

#include <catch2/catch.hpp>

namespace ev = spakky::event;
using namespace outbox_test;
using test_support::sql_exec;
using test_support::sql_int;
using test_support::sql_text;

namespace {
std::int64_t outbox_rows(sqlite3* db) { return sql_int(db, "SELECT count(*) FROM spakky_outbox"); }
}  // namespace

TEST_CASE("an event sent through the outbox bus commits with the caller's transaction") {
  test_support::SqliteFile file;
  sqlite3* db = file.db();
  sql_exec(db, "CREATE TABLE counters (id TEXT PRIMARY KEY, n INTEGER)");
  const auto serializer = make_serializer();
  ev::SqliteOutboxWriter writer(db);
  ev::OutboxEventBus bus(writer, serializer);

  const ItemReserved event("order-1", 1);
  sql_exec(db, "BEGIN");
  sql_exec(db, "INSERT INTO counters VALUES ('order-1', 1)");
  bus.send(event, "order-1");
  sqlite3* other = file.open();
  CHECK(outbox_rows(other) == 0);  // not visible to others before COMMIT
  sqlite3_close(other);
  sql_exec(db, "COMMIT");

  REQUIRE(outbox_rows(db) == 1);
  CHECK(sql_text(db, "SELECT event_id FROM spakky_outbox") == event.event_id().to_string());
  CHECK(sql_text(db, "SELECT event_name FROM spakky_outbox") == "ItemReserved");
  CHECK(sql_text(db, "SELECT partition_key FROM spakky_outbox") == "order-1");
  CHECK(sql_text(db, "SELECT state FROM spakky_outbox") == "pending");
  CHECK(sql_int(db, "SELECT attempts FROM spakky_outbox") == 0);
  CHECK(sql_text(db, "SELECT payload FROM spakky_outbox") == serializer.serialize(event));
}

TEST_CASE("an event sent in a transaction that rolls back is never in the outbox") {
  test_support::SqliteFile file;
  sqlite3* db = file.db();
  const auto serializer = make_serializer();
  ev::SqliteOutboxWriter writer(db);
  ev::OutboxEventBus bus(writer, serializer);

  sql_exec(db, "BEGIN");
  bus.send(ItemReserved("order-1", 1));
  sql_exec(db, "ROLLBACK");
  CHECK(outbox_rows(db) == 0);
}

TEST_CASE("a connection outside a transaction gets a typed error and nothing is written") {
  test_support::SqliteFile file;
  sqlite3* db = file.db();
  const auto serializer = make_serializer();
  ev::SqliteOutboxWriter writer(db);
  ev::OutboxEventBus bus(writer, serializer);

  CHECK_THROWS_AS(bus.send(ItemReserved("order-1", 1)), ev::NotInTransactionError);
  CHECK_THROWS_WITH(bus.send(ItemReserved("order-1", 1)), Catch::Contains("not in an open transaction"));
  CHECK(outbox_rows(db) == 0);
}

TEST_CASE("a payload the serializer refuses fails the send before anything is written") {
  test_support::SqliteFile file;
  sqlite3* db = file.db();
  const auto serializer = make_serializer();
  ev::SqliteOutboxWriter writer(db);
  ev::OutboxEventBus bus(writer, serializer);

  sql_exec(db, "BEGIN");
  CHECK_THROWS_AS(bus.send(Unserializable{}), ev::SerializationError);
  sql_exec(db, "COMMIT");
  CHECK(outbox_rows(db) == 0);
}

TEST_CASE("the outbox stores the headers DirectEventBus would send, bearer tokens removed") {
  test_support::SqliteFile file;
  sqlite3* db = file.db();
  const auto serializer = make_serializer();
  ev::SqliteOutboxWriter writer(db);
  ev::OutboxEventBus bus(writer, serializer);
  test_support::RecordingTransport transport;
  ev::DirectEventBus direct(transport, serializer);
  const ev::HeaderInjector inject = [](const ev::AbstractIntegrationEvent&, ev::Headers& h) {
    h["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    h["Authorization"] = "Bearer secret";
  };
  bus.add_header_injector(inject);
  direct.add_header_injector(inject);

  const ItemReserved event("order-1", 1);
  sql_exec(db, "BEGIN");
  bus.send(event);
  sql_exec(db, "COMMIT");
  direct.send(event);

  const auto stored = ev::detail::decode_headers(sql_text(db, "SELECT headers FROM spakky_outbox"));
  REQUIRE(stored.has_value());
  CHECK(*stored == transport.sent().at(0).headers);
  CHECK(stored->count("Authorization") == 0);
  CHECK(sql_text(db, "SELECT payload FROM spakky_outbox") == transport.sent().at(0).payload);
}

TEST_CASE("the partition key: explicit, else the event's own, else the default, else the event name") {
  test_support::SqliteFile file;
  sqlite3* db = file.db();
  const auto serializer = make_serializer();
  ev::SqliteOutboxWriter writer(db);
  ev::OutboxEventBus bus(writer, serializer);

  sql_exec(db, "BEGIN");
  bus.send(ItemReserved("a", 1));                    // nothing set: the event name
  bus.set_default_partition_key("order-7");
  bus.send(ItemReserved("a", 2));                    // the default (the aggregate's id)
  bus.send(StockMoved("w1"));                        // its own key beats the default
  bus.send(StockMoved("w1"), "explicit");            // an explicit key beats everything
  bus.set_default_partition_key(std::nullopt);
  sql_exec(db, "COMMIT");

  CHECK(sql_text(db, "SELECT group_concat(partition_key, ',') FROM (SELECT partition_key FROM spakky_outbox ORDER BY id)") ==
        "ItemReserved,order-7,warehouse-w1,explicit");
}

TEST_CASE("the async outbox bus appends when awaited, in the caller's transaction") {
  test_support::SqliteFile file;
  sqlite3* db = file.db();
  const auto serializer = make_serializer();
  ev::SqliteOutboxWriter writer(db);
  ev::AsyncOutboxEventBus<> bus(writer, serializer);
  bus.set_default_partition_key("order-1");

  sql_exec(db, "BEGIN");
  ev::sync_wait(bus.send(std::make_shared<const ItemReserved>("order-1", 1)));
  sql_exec(db, "COMMIT");
  CHECK(outbox_rows(db) == 1);
  CHECK(sql_text(db, "SELECT partition_key FROM spakky_outbox") == "order-1");

  CHECK_THROWS_AS(ev::sync_wait(bus.send(std::make_shared<const ItemReserved>("order-1", 2))), ev::NotInTransactionError);
  CHECK(outbox_rows(db) == 1);
}
