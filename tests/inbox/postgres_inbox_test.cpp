// PostgresInbox against the private test server.

#include "outbox/outbox_events.hpp"
#include "support/postgres_db.hpp"
#include "support/sync.hpp"

#include <spakky/event/inbox/postgres_inbox.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>
#include <thread>

namespace ev = spakky::event;
using namespace outbox_test;
using test_support::postgres::pg_exec;
using test_support::postgres::pg_int;

namespace {
struct Db {
  Db() : connection(schema.connect()) {
    pg_exec(connection.get(), "CREATE TABLE counter (n integer); INSERT INTO counter VALUES (0)");
  }
  test_support::postgres::PrivateSchema schema;
  test_support::postgres::Connection connection;
  [[nodiscard]] PGconn* db() const { return connection.get(); }
  [[nodiscard]] std::int64_t counter() const { return pg_int(connection.get(), "SELECT n FROM counter"); }
};
void add_one(PGconn* c) { pg_exec(c, "UPDATE counter SET n = n + 1"); }
}  // namespace

TEST_CASE("postgres: an event's effect runs once per consumer, in the caller's transaction") {
  Db db;
  ev::PostgresInbox inbox(db.db());
  const ItemReserved event("a", 1);
  pg_exec(db.db(), "BEGIN");
  CHECK(inbox.run_once("shipping", event, [&] { add_one(db.db()); }));
  CHECK_FALSE(inbox.run_once("shipping", event, [&] { add_one(db.db()); }));
  CHECK(inbox.run_once("billing", event, [&] { add_one(db.db()); }));
  pg_exec(db.db(), "COMMIT");
  CHECK(db.counter() == 2);
  CHECK(inbox.seen("shipping", event.event_id()));
  CHECK_FALSE(inbox.handle("shipping", event, [&] { add_one(db.db()); }));
  CHECK(db.counter() == 2);
}

TEST_CASE("postgres: a failed effect leaves no record, and no transaction means no effect") {
  Db db;
  ev::PostgresInbox inbox(db.db());
  const ItemReserved event("a", 1);
  bool ran = false;
  CHECK_THROWS_AS(inbox.run_once("shipping", event, [&] { ran = true; }), ev::NotInTransactionError);
  CHECK_FALSE(ran);
  CHECK_THROWS_AS(inbox.handle("shipping", event, [&] {
                    add_one(db.db());
                    throw std::runtime_error("printer jammed");
                  }),
                  std::runtime_error);
  CHECK(db.counter() == 0);
  CHECK(inbox.handle("shipping", event, [&] { add_one(db.db()); }));
  CHECK(db.counter() == 1);
}

TEST_CASE("postgres: two deliveries racing on two connections apply the effect once") {
  Db db;
  auto other = db.schema.connect();
  ev::PostgresInbox first(db.db());
  ev::PostgresInbox second(other.get());
  const ItemReserved event("a", 1);

  for (const bool first_commits : {true, false}) {
    CAPTURE(first_commits);
    const ItemReserved e("a", first_commits ? 1 : 2);
    const auto before = db.counter();
    pg_exec(db.db(), "BEGIN");
    CHECK(first.run_once("shipping", e, [&] { add_one(db.db()); }));
    std::atomic<int> second_result{-1};
    std::thread racer([&] { second_result = second.handle("shipping", e, [&] { add_one(other.get()); }) ? 1 : 0; });
    test_support::JoinGuard guard(racer, [&] { PQclear(PQexec(db.db(), "ROLLBACK")); });
    // The racer waits on the first transaction's uncommitted entry.
    auto watcher = db.schema.connect();
    CHECK(test_support::eventually([&] {
      return pg_int(watcher.get(), "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'") >= 1;
    }));
    pg_exec(db.db(), first_commits ? "COMMIT" : "ROLLBACK");
    CHECK(test_support::eventually([&] { return second_result.load() != -1; }));
    // Committed: the racer finds the entry and skips. Rolled back: the racer runs the effect.
    CHECK(second_result.load() == (first_commits ? 0 : 1));
    CHECK(db.counter() == before + 1);
  }
}

TEST_CASE("postgres: inbox entries expire after the retention window") {
  Db db;
  ev::PostgresInbox inbox(db.db(), {.retention = std::chrono::hours(1), .purge_interval = std::chrono::seconds(0)});
  const ItemReserved old_event("a", 1);
  const ItemReserved new_event("a", 2);
  inbox.handle("shipping", old_event, [] {});
  inbox.handle("shipping", new_event, [] {});
  pg_exec(db.db(), "UPDATE spakky_inbox SET received_at = now() - interval '2 hours' WHERE event_id = '" +
                       old_event.event_id().to_string() + "'");
  CHECK(inbox.purge_expired() == 1);
  CHECK_FALSE(inbox.seen("shipping", old_event.event_id()));
  CHECK(inbox.seen("shipping", new_event.event_id()));
}
