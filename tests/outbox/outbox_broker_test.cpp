// The relay against the real RabbitMQ node of the test fixture: the broker is stopped and
// started again mid-stream; committed rows wait in the outbox meanwhile, then all go, none
// lost. Runs alone (RUN_SERIAL): it stops the broker the other tests use.

#include "outbox/outbox_events.hpp"
#include "support/rabbitmq_broker.hpp"
#include "support/sqlite_db.hpp"
#include "support/sync.hpp"

#include <spakky/event/outbox/outbox_event_bus.hpp>
#include <spakky/event/outbox/outbox_relay.hpp>
#include <spakky/event/outbox/sqlite_outbox.hpp>
#include <spakky/event/rabbitmq.hpp>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <set>
#include <string>

namespace ev = spakky::event;
using namespace outbox_test;
using namespace std::chrono_literals;
using test_support::sql_exec;
using test_support::sql_int;

namespace {
int broker(const std::string& command) {
  const char* script = std::getenv("SPAKKY_RABBITMQ_BROKER_SCRIPT");
  if (script == nullptr) throw std::runtime_error("SPAKKY_RABBITMQ_BROKER_SCRIPT is not set: run through ctest");
  return std::system(("'" + std::string(script) + "' " + command + " >/dev/null 2>&1").c_str());
}
}  // namespace

TEST_CASE("broker stopped and started mid-stream: committed rows wait in the outbox, then all go") {
  const std::string exchange = test_support::rabbitmq::unique_name("test.outbox");
  const std::string queue = exchange + ".q";
  {
    test_support::rabbitmq::RawClient client;
    client.declare_exchange(exchange);
    client.declare_queue(queue);
    client.bind(queue, exchange, "#");
  }
  test_support::SqliteFile file;
  const auto serializer = make_serializer();
  ev::SqliteOutboxWriter writer(file.db());
  ev::OutboxEventBus bus(writer, serializer);
  std::set<std::string> committed;
  auto commit = [&](int n) {
    sql_exec(file.db(), "BEGIN");
    const ItemReserved event("k" + std::to_string(n % 4), n);
    bus.send(event);
    sql_exec(file.db(), "COMMIT");
    committed.insert(event.event_id().to_string());
  };

  ev::RabbitMqTransportOptions options;
  options.url = test_support::rabbitmq::broker_url();
  options.exchange = exchange;
  options.connect_timeout = 1s;
  options.confirm_timeout = 5s;
  ev::RabbitMqEventTransport transport(options);
  ev::SqliteOutboxRelayStore store(file.path());
  ev::OutboxRelay relay(store, transport,
                        {.max_attempts = 1'000'000, .initial_backoff = 50ms, .max_backoff = 500ms, .poll_interval = 50ms});
  relay.start();
  for (int n = 0; n < 50; ++n) commit(n);
  CHECK(test_support::eventually([&] { return sql_int(file.db(), "SELECT count(*) FROM spakky_outbox") == 0; }, 30s));

  REQUIRE(broker("stop") == 0);
  for (int n = 50; n < 100; ++n) commit(n);
  relay.notify();
  // The rows wait: sends fail, attempts are counted, nothing is parked or deleted.
  CHECK(test_support::eventually([&] { return sql_int(file.db(), "SELECT max(attempts) FROM spakky_outbox") >= 2; }, 30s));
  CHECK(sql_int(file.db(), "SELECT count(*) FROM spakky_outbox") == 50);
  CHECK(sql_int(file.db(), "SELECT count(*) FROM spakky_outbox WHERE state = 'parked'") == 0);

  REQUIRE(broker("start") == 0);
  CHECK(test_support::eventually([&] { return sql_int(file.db(), "SELECT count(*) FROM spakky_outbox") == 0; }, 60s));
  relay.stop();

  std::set<std::string> received;
  test_support::rabbitmq::RawClient client;
  while (auto message = client.get_within(queue, 2s)) {
    received.insert(fields_of(message->body).empty() ? "" : message->body.substr(message->body.find('|') + 1, 36));
  }
  for (const auto& id : committed) CHECK(received.count(id) == 1);
  CHECK(relay.stats().retried >= 2);
  client.delete_queue(queue);
  client.delete_exchange(exchange);
}
