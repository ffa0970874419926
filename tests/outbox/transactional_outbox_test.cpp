// TransactionalOutbox and AsyncTransactionalOutbox on a real SQLite transaction: integration
// events raised by aggregates are written before COMMIT in the same transaction, domain
// events are dispatched after COMMIT.

#include "outbox/outbox_events.hpp"
#include "support/sqlite_db.hpp"

#include <spakky/event/aggregate.hpp>
#include <spakky/event/mediator/async_event_mediator.hpp>
#include <spakky/event/mediator/event_mediator.hpp>
#include <spakky/event/outbox/sqlite_outbox.hpp>
#include <spakky/event/outbox/sqlite_transaction.hpp>
#include <spakky/event/outbox/transactional_outbox.hpp>
#include <spakky/event/publisher/async_event_publisher.hpp>
#include <spakky/event/publisher/event_publisher.hpp>

#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <vector>

namespace ev = spakky::event;
using namespace outbox_test;
using test_support::sql_exec;
using test_support::sql_int;
using test_support::sql_text;

namespace {

struct CounterBumped final : ev::AbstractDomainEvent {
  explicit CounterBumped(std::string i) : id(std::move(i)) {}
  std::string id;
};

/// An aggregate with a counter row: raises a domain and an integration event per bump.
class Counter final : public ev::AbstractAggregateRoot, public ev::IntegrationEventSource {
public:
  explicit Counter(std::string id) : id_(std::move(id)) {}
  [[nodiscard]] std::string aggregate_id() const override { return id_; }
  void bump(sqlite3* db) {
    sql_exec(db, "INSERT INTO counters VALUES ('" + id_ + "', 1) ON CONFLICT (id) DO UPDATE SET n = n + 1");
    const int n = static_cast<int>(sql_int(db, "SELECT n FROM counters WHERE id = '" + id_ + "'"));
    add_event(CounterBumped(id_));
    add_integration_event(ItemReserved(id_, n));
  }

private:
  std::string id_;
};

struct Fixture {
  Fixture() : writer(file.db()), bus(writer, serializer), publisher(mediator), transaction(file.db()) {
    sql_exec(file.db(), "CREATE TABLE counters (id TEXT PRIMARY KEY, n INTEGER)");
  }
  [[nodiscard]] sqlite3* db() const { return file.db(); }
  [[nodiscard]] std::int64_t outbox_rows() const { return sql_int(file.db(), "SELECT count(*) FROM spakky_outbox"); }

  test_support::SqliteFile file;
  test_support::TestSerializer serializer = make_serializer();
  ev::SqliteOutboxWriter writer;
  ev::OutboxEventBus bus;
  ev::EventMediator mediator;
  ev::EventPublisher publisher;
  ev::AggregateCollector collector;
  ev::SqliteTransaction transaction;
};

}  // namespace

TEST_CASE("a unit of work writes its aggregates' integration events in its own transaction, keyed by aggregate") {
  Fixture f;
  std::vector<std::string> dispatched;
  std::vector<std::int64_t> outbox_rows_seen_by_handler;
  auto sub = f.mediator.register_handler([&](const CounterBumped& e) {
    dispatched.push_back(e.id);
    outbox_rows_seen_by_handler.push_back(f.outbox_rows());  // after COMMIT: the rows are there
  });
  int commits = 0;
  ev::TransactionalOutbox uow(f.collector, f.publisher, f.bus, [&] { ++commits; });
  Counter a("a");
  Counter b("b");
  uow.run(f.transaction, [&] {
    f.collector.collect(a);
    f.collector.collect(b);
    a.bump(f.db());
    b.bump(f.db());
    a.bump(f.db());
    CHECK(sqlite3_get_autocommit(f.db()) == 0);  // inside the transaction
  });
  CHECK(commits == 1);
  CHECK(dispatched == std::vector<std::string>{"a", "a", "b"});
  CHECK(outbox_rows_seen_by_handler == std::vector<std::int64_t>{3, 3, 3});
  CHECK(sql_text(f.db(), "SELECT group_concat(partition_key, ',') FROM (SELECT partition_key FROM spakky_outbox ORDER BY id)") ==
        "a,a,b");
  CHECK(a.integration_events().empty());  // written and committed: cleared
  CHECK(sqlite3_get_autocommit(f.db()) == 1);
}

TEST_CASE("a unit of work that throws rolls back its data and its events: nothing is sent or dispatched") {
  Fixture f;
  int dispatched = 0;
  auto sub = f.mediator.register_handler([&](const CounterBumped&) { ++dispatched; });
  int commits = 0;
  ev::TransactionalOutbox uow(f.collector, f.publisher, f.bus, [&] { ++commits; });
  Counter a("a");
  CHECK_THROWS_WITH(uow.run(f.transaction,
                            [&] {
                              f.collector.collect(a);
                              a.bump(f.db());
                              throw std::runtime_error("out of stock");
                            }),
                    "out of stock");
  CHECK(commits == 0);
  CHECK(dispatched == 0);
  CHECK(f.outbox_rows() == 0);
  CHECK(sql_int(f.db(), "SELECT count(*) FROM counters") == 0);
  CHECK(a.integration_events().size() == 1);  // still pending on the aggregate
  CHECK(sqlite3_get_autocommit(f.db()) == 1);
}

TEST_CASE("an integration event the serializer refuses fails the unit of work before COMMIT") {
  Fixture f;
  struct Bad final : ev::AbstractAggregateRoot, ev::IntegrationEventSource {
    [[nodiscard]] std::string aggregate_id() const override { return "bad"; }
  } bad;
  ev::TransactionalOutbox uow(f.collector, f.publisher, f.bus);
  CHECK_THROWS_AS(uow.run(f.transaction,
                          [&] {
                            f.collector.collect(bad);
                            sql_exec(f.db(), "INSERT INTO counters VALUES ('x', 1)");
                            bad.add_integration_event(Unserializable{});
                          }),
                  ev::SerializationError);
  CHECK(sql_int(f.db(), "SELECT count(*) FROM counters") == 0);  // the data rolled back too
  CHECK(f.outbox_rows() == 0);
}

TEST_CASE("a nested unit of work joins the open transaction; a handler's unit of work has its own") {
  Fixture f;
  ev::TransactionalOutbox uow(f.collector, f.publisher, f.bus);
  Counter a("a");
  Counter b("b");
  int transactions = 0;
  struct CountingTransaction {
    ev::SqliteTransaction& inner;
    int& count;
    void begin() {
      ++count;
      inner.begin();
    }
    void commit() { inner.commit(); }
    void rollback() noexcept { inner.rollback(); }
  } counting{f.transaction, transactions};
  auto sub = f.mediator.register_handler([&](const CounterBumped& e) {
    if (e.id != "a") return;
    uow.run(counting, [&] {  // after COMMIT: a transaction of its own
      f.collector.collect(b);
      b.bump(f.db());
    });
  });
  const int result = uow.run(counting, [&] {
    f.collector.collect(a);
    a.bump(f.db());
    return uow.run(counting, [&] { return 42; });  // nested: joins, no BEGIN
  });
  CHECK(result == 42);
  CHECK(transactions == 2);
  CHECK(sql_text(f.db(), "SELECT group_concat(partition_key, ',') FROM (SELECT partition_key FROM spakky_outbox ORDER BY id)") ==
        "a,b");
}

TEST_CASE("the async unit of work awaits its body inside the transaction and publishes after COMMIT") {
  Fixture f;
  ev::AsyncEventMediator<> mediator;
  ev::AsyncEventPublisher<> publisher(mediator);
  std::vector<std::int64_t> rows_seen;
  auto sub = mediator.register_handler([&](const CounterBumped&) -> ev::Task<> {
    rows_seen.push_back(f.outbox_rows());
    co_return;
  });
  ev::AsyncTransactionalOutbox<> uow(f.collector, publisher, f.bus);
  Counter a("a");
  const int n = ev::sync_wait(uow.run(f.transaction, [&]() -> ev::Task<int> {
    f.collector.collect(a);
    a.bump(f.db());
    co_return 7;
  }));
  CHECK(n == 7);
  CHECK(rows_seen == std::vector<std::int64_t>{1});
  CHECK(sqlite3_get_autocommit(f.db()) == 1);

  CHECK_THROWS_WITH(ev::sync_wait(uow.run(f.transaction, [&]() -> ev::Task<> {
                      f.collector.collect(a);
                      a.bump(f.db());
                      throw std::runtime_error("declined");
                      co_return;
                    })),
                    "declined");
  CHECK(f.outbox_rows() == 1);
  CHECK(sqlite3_get_autocommit(f.db()) == 1);
}
