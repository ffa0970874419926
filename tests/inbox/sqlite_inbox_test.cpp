// SqliteInbox: a handled event's effect runs once per consumer, however often it is delivered.

#include "outbox/outbox_events.hpp"
#include "support/sqlite_db.hpp"

#include <spakky/event/bus/direct_event_bus.hpp>
#include <spakky/event/inbox/sqlite_inbox.hpp>
#include <spakky/event/inmemory/in_memory_transport.hpp>

#include <catch2/catch.hpp>

#include <stdexcept>

namespace ev = spakky::event;
using namespace outbox_test;
using test_support::sql_exec;
using test_support::sql_int;

namespace {
void add_one(sqlite3* db) { sql_exec(db, "UPDATE counter SET n = n + 1"); }
struct Db {
  Db() { sql_exec(file.db(), "CREATE TABLE counter (n INTEGER); INSERT INTO counter VALUES (0)"); }
  test_support::SqliteFile file;
  [[nodiscard]] sqlite3* db() const { return file.db(); }
  [[nodiscard]] std::int64_t counter() const { return sql_int(file.db(), "SELECT n FROM counter"); }
};
}  // namespace

TEST_CASE("an event's effect runs once per consumer, in the caller's transaction") {
  Db db;
  ev::SqliteInbox inbox(db.db());
  const ItemReserved event("a", 1);
  sql_exec(db.db(), "BEGIN");
  CHECK(inbox.run_once("shipping", event, [&] { add_one(db.db()); }));
  CHECK_FALSE(inbox.run_once("shipping", event, [&] { add_one(db.db()); }));
  CHECK(inbox.run_once("billing", event, [&] { add_one(db.db()); }));  // another consumer
  sql_exec(db.db(), "COMMIT");
  CHECK(db.counter() == 2);
  CHECK(inbox.seen("shipping", event.event_id()));
  CHECK(sql_int(db.db(), "SELECT version FROM spakky_schema_version WHERE component = 'inbox'") == 1);
}

TEST_CASE("an effect that fails leaves no record: the redelivery runs it again") {
  Db db;
  ev::SqliteInbox inbox(db.db());
  const ItemReserved event("a", 1);
  CHECK_THROWS_AS(inbox.handle("shipping", event, [&] {
                    add_one(db.db());
                    throw std::runtime_error("printer jammed");
                  }),
                  std::runtime_error);
  CHECK(db.counter() == 0);
  CHECK_FALSE(inbox.seen("shipping", event.event_id()));
  CHECK(inbox.handle("shipping", event, [&] { add_one(db.db()); }));
  CHECK(db.counter() == 1);
}

TEST_CASE("the inbox refuses a connection outside a transaction and runs nothing") {
  Db db;
  ev::SqliteInbox inbox(db.db());
  bool ran = false;
  CHECK_THROWS_AS(inbox.run_once("shipping", ItemReserved("a", 1), [&] { ran = true; }), ev::NotInTransactionError);
  CHECK_FALSE(ran);
  CHECK(sql_int(db.db(), "SELECT count(*) FROM spakky_inbox") == 0);
}

TEST_CASE("a message delivered twice by a broker is applied once") {
  Db db;
  ev::SqliteInbox inbox(db.db());
  const auto serializer = make_serializer();
  ev::InMemoryEventTransport transport;
  ev::InMemoryEventConsumer consumer(transport, serializer);
  int handled = 0;
  auto sub = consumer.register_handler([&](const ItemReserved& e) {
    ++handled;
    inbox.handle("shipping", e, [&] { add_one(db.db()); });
  });
  const ItemReserved event("a", 1);
  const std::string payload = serializer.serialize(event);
  transport.send("ItemReserved", payload, {});
  transport.send("ItemReserved", payload, {});  // the redelivery after a lost ack
  CHECK(handled == 2);
  CHECK(db.counter() == 1);
  CHECK(consumer.dead_letters().empty());
}

TEST_CASE("inbox entries expire after the retention window") {
  Db db;
  ev::SqliteInbox inbox(db.db(), {.retention = std::chrono::hours(1), .purge_interval = std::chrono::seconds(0)});
  const ItemReserved old_event("a", 1);
  const ItemReserved new_event("a", 2);
  sql_exec(db.db(), "BEGIN");
  inbox.run_once("shipping", old_event, [] {});
  inbox.run_once("shipping", new_event, [] {});
  sql_exec(db.db(), "UPDATE spakky_inbox SET received_at = received_at - 7200000000 WHERE event_id = '" +
                        old_event.event_id().to_string() + "'");
  CHECK(inbox.purge_expired() == 1);
  sql_exec(db.db(), "COMMIT");
  CHECK_FALSE(inbox.seen("shipping", old_event.event_id()));
  CHECK(inbox.seen("shipping", new_event.event_id()));
}
