// The PostgreSQL outbox store against the private test server: the append in the caller's
// transaction, per-key sequences, several relays on one database, dropped connections.

#include "outbox/counting_relay_store.hpp"
#include "outbox/outbox_events.hpp"
#include "support/coro.hpp"
#include "support/counting_metrics.hpp"
#include "support/postgres_db.hpp"
#include "support/recording_transport.hpp"
#include "support/sync.hpp"

#include <spakky/event/outbox/asio_outbox_relay.hpp>
#include <spakky/event/outbox/outbox_event_bus.hpp>
#include <spakky/event/outbox/outbox_relay.hpp>
#include <spakky/event/outbox/postgres_outbox.hpp>

#include <asio.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <poll.h>
#include <map>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

namespace ev = spakky::event;
using namespace outbox_test;
using namespace std::chrono_literals;
using test_support::postgres::pg_exec;
using test_support::postgres::pg_int;
using test_support::postgres::pg_text;

namespace {

/// An application connection with an outbox bus on it.
struct App {
  explicit App(const test_support::postgres::PrivateSchema& schema)
      : connection(schema.connect()), writer(connection.get()), bus(writer, serializer) {}
  void send(const std::string& key, int n) {
    pg_exec(connection.get(), "BEGIN");
    bus.send(ItemReserved(key, n), key);
    pg_exec(connection.get(), "COMMIT");
  }
  [[nodiscard]] PGconn* db() const noexcept { return connection.get(); }
  test_support::postgres::Connection connection;
  test_support::TestSerializer serializer = make_serializer();
  ev::PostgresOutboxWriter writer;
  ev::OutboxEventBus bus;
};

std::vector<std::string> sent_fields(const test_support::RecordingTransport& transport) {
  std::vector<std::string> out;
  for (const auto& m : transport.sent()) out.push_back(fields_of(m.payload));
  return out;
}

}  // namespace

TEST_CASE("postgres: an event sent through the outbox bus commits or rolls back with the transaction") {
  test_support::postgres::PrivateSchema schema;
  App app(schema);
  const ItemReserved kept("order-1", 1);
  pg_exec(app.db(), "BEGIN");
  app.bus.send(kept, "order-1");
  pg_exec(app.db(), "COMMIT");
  pg_exec(app.db(), "BEGIN");
  app.bus.send(ItemReserved("order-1", 2), "order-1");
  pg_exec(app.db(), "ROLLBACK");
  pg_exec(app.db(), "BEGIN");
  app.bus.send(ItemReserved("order-1", 3), "order-1");
  pg_exec(app.db(), "COMMIT");

  CHECK(pg_int(app.db(), "SELECT count(*) FROM spakky_outbox") == 2);
  CHECK(pg_text(app.db(), "SELECT event_id::text FROM spakky_outbox ORDER BY seq LIMIT 1") == kept.event_id().to_string());
  // The rolled-back append rolled its sequence number back too: the key's seqs have no gap.
  CHECK(pg_text(app.db(), "SELECT string_agg(seq::text, ',' ORDER BY seq) FROM spakky_outbox") == "1,2");
  CHECK(pg_text(app.db(), "SELECT payload FROM spakky_outbox ORDER BY seq LIMIT 1") ==
        "\\x" + [&] {
          std::string hex;
          for (const unsigned char c : app.serializer.serialize(kept)) {
            static constexpr char digits[] = "0123456789abcdef";
            hex += digits[c >> 4];
            hex += digits[c & 0xF];
          }
          return hex;
        }());
  CHECK(pg_int(app.db(), "SELECT version FROM spakky_schema_version WHERE component = 'outbox'") == 1);
}

TEST_CASE("postgres: a connection outside a transaction gets a typed error and nothing is written") {
  test_support::postgres::PrivateSchema schema;
  App app(schema);
  CHECK_THROWS_AS(app.bus.send(ItemReserved("k", 1)), ev::NotInTransactionError);
  pg_exec(app.db(), "BEGIN");
  CHECK_THROWS(pg_exec(app.db(), "SELECT 1/0"));  // the transaction has failed
  CHECK_THROWS_WITH(app.bus.send(ItemReserved("k", 1)), Catch::Contains("has failed already"));
  pg_exec(app.db(), "ROLLBACK");
  CHECK(pg_int(app.db(), "SELECT count(*) FROM spakky_outbox") == 0);
}

TEST_CASE("postgres: the schema is created once even by concurrent creators") {
  test_support::postgres::PrivateSchema schema;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      try {
        auto c = schema.connect();
        ev::create_postgres_outbox_schema(c.get());
      } catch (...) {
        ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures == 0);
  auto c = schema.connect();
  CHECK(pg_int(c.get(), "SELECT count(*) FROM spakky_schema_version") == 1);
}

TEST_CASE("postgres: a second writer of the same key waits for the first and takes the next number") {
  test_support::postgres::PrivateSchema schema;
  App first(schema);
  App second(schema);
  pg_exec(first.db(), "BEGIN");
  first.bus.send(ItemReserved("k", 1), "k");

  std::atomic<bool> second_done{false};
  std::thread writer([&] {
    second.send("k", 2);
    second_done = true;
  });
  test_support::JoinGuard guard(writer, [&] { PQclear(PQexec(first.db(), "ROLLBACK")); });
  // The second append is blocked on the key's counter row, held by the first transaction.
  auto watcher = schema.connect();
  CHECK(test_support::eventually([&] {
    return pg_int(watcher.get(), "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'") >= 1;
  }));
  CHECK_FALSE(second_done.load());
  pg_exec(first.db(), "ROLLBACK");
  CHECK(test_support::eventually([&] { return second_done.load(); }));
  CHECK(pg_int(watcher.get(), "SELECT count(*) FROM spakky_outbox") == 1);
  CHECK(pg_int(watcher.get(), "SELECT max(seq) FROM spakky_outbox") == 1);
}

TEST_CASE("postgres: the relay sends in sequence order per key, even when ids commit out of order") {
  test_support::postgres::PrivateSchema schema;
  App early(schema);
  App late(schema);
  pg_exec(early.db(), "BEGIN");
  early.bus.send(ItemReserved("a", 1), "a");  // lower id, commits last
  late.send("b", 1);
  ev::PostgresOutboxRelayStore store(schema.conninfo());
  test_support::RecordingTransport transport;
  ev::OutboxRelay relay(store, transport);
  CHECK(relay.drain() == 1);
  pg_exec(early.db(), "COMMIT");
  early.send("a", 2);
  CHECK(relay.drain() == 2);
  CHECK(sent_fields(transport) == std::vector<std::string>{"b:1", "a:1", "a:2"});
  CHECK(pg_int(early.db(), "SELECT count(*) FROM spakky_outbox") == 0);
}

TEST_CASE("postgres: failures back off, park with the reason, and block only their key") {
  test_support::postgres::PrivateSchema schema;
  App app(schema);
  app.send("a", 1);
  app.send("a", 2);
  ev::PostgresOutboxRelayStore store(schema.conninfo());
  test_support::RecordingTransport transport;
  std::vector<ev::ParkedRow> reported;
  ev::OutboxRelay relay(store, transport,
                        {.max_attempts = 2, .initial_backoff = 0ms, .on_parked = [&](const ev::ParkedRow& r) {
                           reported.push_back(r);
                         }});
  transport.fail_with(test_support::RecordingTransport::Failure::transport_error, "broker down");
  relay.run_once();
  CHECK(pg_int(app.db(), "SELECT attempts FROM spakky_outbox WHERE seq = 1") == 1);
  CHECK(pg_text(app.db(), "SELECT state FROM spakky_outbox WHERE seq = 1") == "pending");
  relay.run_once();
  CHECK(pg_text(app.db(), "SELECT state FROM spakky_outbox WHERE seq = 1") == "parked");
  REQUIRE(reported.size() == 1);
  CHECK_THAT(reported[0].last_error, Catch::Contains("broker down"));
  CHECK(transport.attempts() == 2);

  transport.fail_with(test_support::RecordingTransport::Failure::none);
  app.send("b", 1);
  CHECK(relay.drain() == 1);  // b only: a is blocked behind its parked head
  CHECK(store.parked().size() == 1);
  CHECK(store.requeue(store.parked().at(0).id));
  CHECK(relay.drain() == 2);
  CHECK(sent_fields(transport) == std::vector<std::string>{"b:1", "a:1", "a:2"});
}

TEST_CASE("postgres: the relay reports each sent row's lag and the unsent rows, pending and parked") {
  test_support::postgres::PrivateSchema schema;
  App app(schema);
  app.send("a", 1);
  app.send("a", 2);
  app.send("b", 1);
  pg_exec(app.db(), "UPDATE spakky_outbox SET created_at = created_at - interval '5 seconds' WHERE partition_key = 'b'");
  pg_exec(app.db(), "UPDATE spakky_outbox SET headers = 'garbage-without-equals' WHERE partition_key = 'a' AND seq = 1");
  ev::PostgresOutboxRelayStore store(schema.conninfo());
  CHECK(store.unsent_count() == 3u);
  test_support::RecordingTransport transport;
  test_support::CountingMetrics metrics;
  {
    ev::OutboxRelay relay(store, transport, {.poll_interval = 50ms});
    relay.start();
    CHECK(test_support::eventually([&] { return transport.sent().size() == 1 && metrics.last_pending == 2; }, 20s));
    relay.stop();
  }
  CHECK(metrics.relay_lags == 1);  // b:1; a:1 was parked, a:2 waits behind it
  CHECK(metrics.longest_relay_lag_ns >= std::chrono::nanoseconds(5s).count());
  CHECK(metrics.longest_relay_lag_ns < std::chrono::nanoseconds(1h).count());
  CHECK(store.unsent_count() == 2u);
}

TEST_CASE("postgres: three relays on one database send every row once and each key in order") {
  test_support::postgres::PrivateSchema schema;
  App app(schema);
  constexpr int keys = 12;
  constexpr int per_key = 25;
  pg_exec(app.db(), "BEGIN");
  for (int n = 1; n <= per_key; ++n) {
    for (int k = 0; k < keys; ++k) app.bus.send(ItemReserved("k" + std::to_string(k), n), "k" + std::to_string(k));
  }
  pg_exec(app.db(), "COMMIT");

  test_support::RecordingTransport transport;
  std::vector<std::unique_ptr<ev::PostgresOutboxRelayStore>> stores;
  std::vector<std::unique_ptr<ev::OutboxRelay>> relays;
  for (int i = 0; i < 3; ++i) {
    stores.push_back(std::make_unique<ev::PostgresOutboxRelayStore>(schema.conninfo()));
    relays.push_back(std::make_unique<ev::OutboxRelay>(*stores.back(), transport,
                                                       ev::OutboxRelayOptions{.batch_size = 4, .poll_interval = 20ms}));
  }
  for (auto& relay : relays) relay->start();
  CHECK(test_support::eventually([&] { return transport.sent().size() >= keys * per_key; }, 60s));
  for (auto& relay : relays) relay->stop();

  const auto fields = sent_fields(transport);
  CHECK(fields.size() == keys * per_key);
  std::set<std::string> unique(fields.begin(), fields.end());
  CHECK(unique.size() == fields.size());  // no row sent twice
  std::map<std::string, int> last;
  for (const auto& f : fields) {
    const auto colon = f.find(':');
    const std::string key = f.substr(0, colon);
    const int n = std::stoi(f.substr(colon + 1));
    CHECK(n == last[key] + 1);  // each key strictly in order
    last[key] = n;
  }
  std::uint64_t total = 0;
  for (auto& relay : relays) total += relay->stats().sent;
  CHECK(total == keys * per_key);
}

TEST_CASE("postgres: a relay whose connection is killed mid-send reconnects and sends the row again") {
  test_support::postgres::PrivateSchema schema;
  App app(schema);
  app.send("a", 1);
  ev::PostgresOutboxRelayStore store(schema.conninfo());

  // A transport whose first send kills the relay's backend (as an operator or a failover would).
  struct KillingTransport final : ev::IEventTransport {
    test_support::RecordingTransport inner;
    std::function<void()> kill;
    void send(std::string_view name, std::string_view payload, const ev::Headers& headers) override {
      if (kill) std::exchange(kill, nullptr)();
      inner.send(name, payload, headers);
    }
  } transport;
  transport.kill = [&] {
    pg_exec(schema.admin(), "SELECT pg_terminate_backend(" + std::to_string(store.backend_pid()) + ")");
  };
  ev::OutboxRelay relay(store, transport);
  CHECK_THROWS_AS(relay.run_once(), ev::OutboxStoreError);  // sent, but the mark was lost
  CHECK(pg_int(app.db(), "SELECT count(*) FROM spakky_outbox") == 1);
  CHECK(relay.drain() == 1);  // reconnected: sent again (at-least-once), then deleted
  CHECK(transport.inner.sent().size() == 2);
  CHECK(pg_int(app.db(), "SELECT count(*) FROM spakky_outbox") == 0);
}

TEST_CASE("postgres: a hung relay's claim ends with its lease and another relay takes the row") {
  test_support::postgres::PrivateSchema schema;
  App app(schema);
  app.send("a", 1);
  ev::PostgresOutboxRelayStore hung(schema.conninfo(), {.lease = 1s});
  ev::PostgresOutboxRelayStore healthy(schema.conninfo());
  REQUIRE(hung.claim(10).size() == 1);  // and never finishes
  CHECK(healthy.claim(10).empty());     // locked: skipped, not waited for
  healthy.abandon();
  std::vector<ev::OutboxRow> taken;
  CHECK(test_support::eventually([&] {
    taken = healthy.claim(10);
    if (taken.empty()) healthy.abandon();
    return !taken.empty();
  }, 20s));
  healthy.abandon();
}

TEST_CASE("postgres: a notification read by the store's connection during another command is still reported") {
  test_support::postgres::PrivateSchema schema;
  App app(schema);
  ev::PostgresOutboxRelayStore store(schema.conninfo());
  app.send("a", 1);  // NOTIFY at COMMIT
  pollfd readable{store.notification_fd(), POLLIN, 0};
  REQUIRE(::poll(&readable, 1, 20'000) == 1);
  (void)store.parked();  // a command on the connection: libpq reads the notification with its result
  CHECK(store.consume_notifications());  // the relay must not sleep on the now quiet socket
  CHECK_FALSE(store.consume_notifications());
}

TEST_CASE("postgres: a relay wakes on another process's COMMIT through LISTEN/NOTIFY") {
  test_support::postgres::PrivateSchema schema;
  App app(schema);
  ev::PostgresOutboxRelayStore store(schema.conninfo());
  test_support::RecordingTransport transport;
  ev::OutboxRelay relay(store, transport, {.poll_interval = 1h});
  relay.start();
  app.send("a", 1);  // nobody calls relay.notify(): only the NOTIFY can wake it
  CHECK(test_support::eventually([&] { return transport.sent().size() == 1; }, 20s));
  relay.stop();
}

TEST_CASE("postgres: the relay task, Task<> or asio, wakes on another process's COMMIT through LISTEN/NOTIFY") {
  test_support::postgres::PrivateSchema schema;
  App app(schema);
  ev::PostgresOutboxRelayStore pg_store(schema.conninfo());
  CountingRelayStore store(pg_store);
  test_support::RecordingTransport transport;
  ev::OutboxRelay relay(store, transport, {.poll_interval = 1h});
  std::stop_source stop;

  SECTION("Task<>") {
    // start() returns at the task's first suspension: its wait, after one empty pass.
    auto task = test_support::start(relay.run(stop.get_token()));
    REQUIRE(store.claims() == 1);
    app.send("a", 1);  // nobody calls relay.notify(): only the NOTIFY can end the wait
    CHECK(test_support::eventually([&] { return transport.sent().size() == 1; }, 20s));
    stop.request_stop();
    REQUIRE(task.wait(20s));
    CHECK_FALSE(task.error());
  }
  SECTION("asio::awaitable<void>") {
    asio::io_context io;  // run on this thread
    bool done = false;
    asio::co_spawn(io, relay.run<asio::awaitable<void>>(stop.get_token()), [&](std::exception_ptr) { done = true; });
    io.poll();  // the first (empty) pass and the start of the wait: then nothing is ready
    REQUIRE(store.claims() == 1);
    REQUIRE_FALSE(done);
    app.send("a", 1);  // nobody calls relay.notify(): only the NOTIFY can end the wait
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (transport.sent().empty() && std::chrono::steady_clock::now() < deadline) io.run_one_for(100ms);
    CHECK(transport.sent().size() == 1);
    stop.request_stop();
    io.run_for(20s);  // returns once the task has ended
    CHECK(done);
  }
  CHECK(store.claims() <= 3);  // the empty pass, the woken one, the next (empty) one
}
