// Topologies and broker-side settings against the test broker: the Python spakky-rabbitmq
// layout (a queue per event, default or named exchange) both ways; an exchange declared
// otherwise fails with an error that names the option to set; queue arguments; heartbeats
// kept on idle transport connections.

#include "rabbitmq_consumer_fixtures.hpp"
#include "support/sync.hpp"

#include <spakky/event/bus/direct_event_bus.hpp>
#include <spakky/event/json.hpp>
#include <spakky/event/rabbitmq.hpp>

#include <catch2/catch.hpp>

#include <amqp.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace topology_test {

namespace ev = spakky::event;

/// Its own name, so that its queue (named after it) is this test's alone.
struct TopologyProbe final : ev::AbstractIntegrationEvent {
  SPAKKY_EVENT_NAME("spakky.test.TopologyProbe")
  explicit TopologyProbe(std::string v) : value(std::move(v)) {}
  TopologyProbe(ev::EventId id, ev::Timestamp at) : AbstractIntegrationEvent(id, at) {}
  std::string value;
};
SPAKKY_EVENT_JSON_FIELDS(TopologyProbe, value)

ev::JsonEventSerializer make_serializer() {
  ev::JsonEventSerializer serializer;
  serializer.register_event<TopologyProbe>();
  return serializer;
}

constexpr const char* probe_queue = "spakky.test.TopologyProbe";

/// Declares an exchange as pika does by default (the Python plugin's exchange_declare(name)).
void declare_like_pika(test_support::rabbitmq::RawClient& client, const std::string& exchange) {
  amqp_exchange_declare(client.state(), 1, amqp_cstring_bytes(exchange.c_str()), amqp_cstring_bytes("direct"), 0,
                        /*durable=*/0, 0, 0, amqp_empty_table);
  REQUIRE(amqp_get_rpc_reply(client.state()).reply_type == AMQP_RESPONSE_NORMAL);
}

/// Deletes the probe's queues and the exchange at the end.
struct Cleanup {
  std::string exchange;
  ~Cleanup() {
    try {
      test_support::rabbitmq::RawClient client;
      client.delete_queue(probe_queue);
      client.delete_queue(std::string(probe_queue) + ".dead-letter");
      if (!exchange.empty()) client.delete_exchange(exchange);
    } catch (...) {
    }
  }
};

}  // namespace topology_test

using namespace topology_test;
using namespace std::chrono_literals;
using test_support::eventually;
using test_support::rabbitmq::broker_url;
using test_support::rabbitmq::RawClient;
using test_support::rabbitmq::unique_name;

TEST_CASE("an exchange a Python service declared first fails the send with a TransportError that says what to set",
          "[rabbitmq][topology]") {
  const std::string exchange = unique_name("test.pika-exchange");
  Cleanup cleanup{exchange};
  RawClient client;
  declare_like_pika(client, exchange);

  ev::RabbitMqEventTransport transport({.url = broker_url(), .exchange = exchange});
  try {
    transport.send("OrderPlaced", "{}", {});
    FAIL("the send should have failed");
  } catch (const ev::TransportError& e) {
    CHECK_THAT(e.what(), Catch::Contains("RabbitMqTransportOptions::exchange_type = \"direct\"") &&
                             Catch::Contains("inequivalent arg 'type'"));
  }
  ev::RabbitMqEventTransport durable_direct({.url = broker_url(), .exchange = exchange, .exchange_type = "direct"});
  CHECK_THROWS_WITH(durable_direct.send("OrderPlaced", "{}", {}),
                    Catch::Contains("RabbitMqTransportOptions::exchange_durable = false"));
  ev::AsyncRabbitMqEventTransport async_transport({.url = broker_url(), .exchange = exchange});
  CHECK_THROWS_WITH(ev::sync_wait(async_transport.send("OrderPlaced", "{}", {})),
                    Catch::Contains("exchange_type = \"direct\""));

  // The consumer reports the same advice and keeps trying.
  const auto serializer = make_serializer();
  std::mutex mutex;
  std::string reported;
  ev::RabbitMqEventConsumer consumer(serializer, {.url = broker_url(), .exchange = exchange,
                                                  .queue = unique_name("test.topology.queue")});
  consumer.set_connection_error_handler([&](const std::string& reason) {
    const std::lock_guard lock(mutex);
    reported = reason;
  });
  auto sub = consumer.register_handler([](const TopologyProbe&) {});
  consumer.start();
  CHECK(eventually([&] {
    const std::lock_guard lock(mutex);
    return reported.find("RabbitMqConsumerOptions::exchange_type = \"direct\"") != std::string::npos;
  }, 10s));
  consumer.stop();
  RawClient().delete_queue(consumer.options().queue);
  RawClient().delete_queue(consumer.options().queue + ".dead-letter");

  // With the Python plugin's settings the same exchange just works.
  ev::RabbitMqEventTransport python(ev::RabbitMqTransportOptions::python_spakky(broker_url(), exchange));
  python.send(probe_queue, R"({"value":"x"})", {});
  CHECK(eventually([&] { return client.message_count(probe_queue) == 1; }, 5s));
}

TEST_CASE("queue per event: what a transport sends to the event's queue, a consumer of that queue receives, both exchanges",
          "[rabbitmq][topology]") {
  const std::string exchange = GENERATE(std::string(), unique_name("test.named-exchange"));
  Cleanup cleanup{exchange};
  const auto serializer = make_serializer();

  ev::RabbitMqEventConsumer consumer(serializer, ev::RabbitMqConsumerOptions::python_spakky(broker_url(), exchange));
  std::mutex mutex;
  std::vector<std::string> seen;
  auto sub = consumer.register_handler([&](const TopologyProbe& e) {
    const std::lock_guard lock(mutex);
    seen.push_back(e.value + " " + consumer.current_message()->headers.at("traceparent"));
  });
  consumer.start();
  REQUIRE(consumer.wait_until_consuming(15s));

  ev::RabbitMqEventTransport transport(ev::RabbitMqTransportOptions::python_spakky(broker_url(), exchange));
  ev::DirectEventBus bus(transport, serializer);
  bus.add_header_injector([](const ev::AbstractIntegrationEvent&, ev::Headers& h) { h["traceparent"] = "00-ab-cd-01"; });
  bus.send(TopologyProbe("one"));
  bus.send(TopologyProbe("two"));
  REQUIRE(eventually([&] { return consumer.stats().acked == 2; }, 10s));
  consumer.stop();
  const std::lock_guard lock(mutex);
  CHECK(seen == std::vector<std::string>{"one 00-ab-cd-01", "two 00-ab-cd-01"});
}

TEST_CASE("queue per event: a queue the Python consumer declared (not durable) is used as it is", "[rabbitmq][topology]") {
  Cleanup cleanup;
  RawClient client;
  amqp_queue_declare(client.state(), 1, amqp_cstring_bytes(probe_queue), 0, /*durable=*/0, 0, 0, amqp_empty_table);
  REQUIRE(amqp_get_rpc_reply(client.state()).reply_type == AMQP_RESPONSE_NORMAL);

  ev::RabbitMqEventTransport transport(ev::RabbitMqTransportOptions::python_spakky(broker_url()));
  transport.send(probe_queue, R"({"value":"v"})", {});  // no 406 for 'durable'
  CHECK(eventually([&] { return client.message_count(probe_queue) == 1; }, 5s));
  const auto message = client.get(probe_queue);
  REQUIRE(message.has_value());
  CHECK(message->routing_key == probe_queue);
  CHECK(message->exchange.empty());  // the default exchange
}

TEST_CASE("queue arguments: a consumer's max_length and overflow are declared with its queue", "[rabbitmq][topology]") {
  rabbitmq_test::Names names;
  const auto serializer = rabbitmq_test::make_serializer();
  auto options = names.consumer_options();
  options.max_length = 2;
  options.message_ttl = std::chrono::minutes(10);
  {
    ev::RabbitMqEventConsumer consumer(serializer, options);
    auto sub = consumer.register_handler([](const rabbitmq_test::OrderPlaced&) {});
    consumer.start();
    REQUIRE(consumer.wait_until_consuming(15s));
    consumer.stop();  // the queue stays, bound
  }
  ev::RabbitMqEventTransport transport({.url = broker_url(), .exchange = names.exchange});
  for (int i = 0; i < 5; ++i) transport.send("OrderPlaced", "o," + std::to_string(i), {});
  RawClient client;
  CHECK(client.message_count(names.queue) == 2);  // the broker dropped the oldest (x-max-length)

  // Declared again with other arguments: the advice names the option.
  auto other = options;
  other.max_length = 3;
  ev::RabbitMqEventConsumer consumer(serializer, other);
  std::mutex mutex;
  std::string reported;
  consumer.set_connection_error_handler([&](const std::string& reason) {
    const std::lock_guard lock(mutex);
    reported = reason;
  });
  auto sub = consumer.register_handler([](const rabbitmq_test::OrderPlaced&) {});
  consumer.start();
  CHECK(eventually([&] {
    const std::lock_guard lock(mutex);
    return reported.find("RabbitMqConsumerOptions::max_length = 2") != std::string::npos;
  }, 10s));
  consumer.stop();
}

TEST_CASE("heartbeats are on and an idle transport connection is kept alive by the library", "[rabbitmq][heartbeat]") {
  CHECK(ev::RabbitMqTransportOptions{}.heartbeat_seconds > 0);
  rabbitmq_test::Names names;
  RawClient client;
  client.declare_exchange(names.exchange);
  client.declare_queue(names.queue);
  client.bind(names.queue, names.exchange, "OrderPlaced");

  ev::RabbitMqEventTransport transport({.url = broker_url(), .exchange = names.exchange, .heartbeat_seconds = 1});
  ev::AsyncRabbitMqEventTransport async_transport({.url = broker_url(), .exchange = names.exchange, .heartbeat_seconds = 1});
  transport.send("OrderPlaced", "o,1", {});
  ev::sync_wait(async_transport.send("OrderPlaced", "o,2", {}));
  // Idle for more than twice the heartbeat: a connection that sends none is closed by the
  // broker by then, and the next send would open a new one.
  std::this_thread::sleep_for(3500ms);
  transport.send("OrderPlaced", "o,3", {});
  ev::sync_wait(async_transport.send("OrderPlaced", "o,4", {}));
  CHECK(transport.connections() == 1);
  CHECK(async_transport.connections() == 1);
  CHECK(eventually([&] { return client.message_count(names.queue) == 4; }, 5s));
}
