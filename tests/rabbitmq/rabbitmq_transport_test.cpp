// RabbitMqEventTransport and AsyncRabbitMqEventTransport against the test broker: what a
// message carries, confirmed and unconfirmed delivery, many confirms in flight.

#include "rabbitmq_events.hpp"
#include "support/coro.hpp"
#include "support/rabbitmq_broker.hpp"

#include <spakky/event/bus/async_direct_event_bus.hpp>
#include <spakky/event/bus/direct_event_bus.hpp>
#include <spakky/event/rabbitmq.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace ev = spakky::event;
using namespace std::chrono_literals;
using rabbitmq_test::OrderPlaced;
using test_support::rabbitmq::broker_url;
using test_support::rabbitmq::RawClient;
using test_support::rabbitmq::unique_name;

namespace {

/// An exchange and a queue bound to it for one event name, deleted at the end.
struct Route {
  explicit Route(std::string event = "OrderPlaced")
      : exchange(unique_name("test.exchange")), queue(unique_name("test.queue")), event_name(std::move(event)) {
    client.declare_exchange(exchange);
    client.declare_queue(queue);
    client.bind(queue, exchange, event_name);
  }
  ~Route() {
    client.delete_queue(queue);
    client.delete_exchange(exchange);
  }
  RawClient client;
  std::string exchange;
  std::string queue;
  std::string event_name;
};

}  // namespace

TEST_CASE("a confirmed send returns once the broker has the message, with its name, payload and headers",
          "[rabbitmq][transport]") {
  Route route;
  ev::RabbitMqEventTransport transport({.url = broker_url(), .exchange = route.exchange});
  CHECK_FALSE(transport.connected());

  transport.send("OrderPlaced", R"({"order_id":"o-1"})",
                 {{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, {"tenant", "acme"}});
  CHECK(transport.connected());

  // Confirmed: the message is in the queue the moment send() returned.
  const auto message = route.client.get(route.queue);
  REQUIRE(message.has_value());
  CHECK(message->exchange == route.exchange);
  CHECK(message->routing_key == "OrderPlaced");
  CHECK(message->type == "OrderPlaced");
  CHECK(message->content_type == "application/json");
  CHECK(message->delivery_mode == 2);  // persistent
  CHECK(message->body == R"({"order_id":"o-1"})");
  CHECK(message->headers ==
        ev::Headers{{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, {"tenant", "acme"}});
}

TEST_CASE("through DirectEventBus, the routing key is the event name and bearer tokens stay home",
          "[rabbitmq][transport]") {
  Route route;
  const auto serializer = rabbitmq_test::make_serializer();
  ev::RabbitMqEventTransport transport({.url = broker_url(), .exchange = route.exchange});
  ev::DirectEventBus bus(transport, serializer);
  bus.add_header_injector([](const ev::AbstractIntegrationEvent&, ev::Headers& headers) {
    headers["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    headers["Authorization"] = "Bearer secret";
  });
  const OrderPlaced event("o-7", 2);
  bus.send(event);

  const auto message = route.client.get(route.queue);
  REQUIRE(message.has_value());
  CHECK(message->routing_key == "OrderPlaced");
  CHECK(message->body == serializer.serialize(event));
  CHECK(message->headers == ev::Headers{{"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}});
}

TEST_CASE("confirmed mode reports a message the broker refuses; unconfirmed mode cannot",
          "[rabbitmq][transport]") {
  // A queue that takes one message and makes the broker nack every publish beyond it.
  RawClient client;
  const std::string exchange = unique_name("test.exchange");
  const std::string queue = unique_name("test.bounded");
  client.declare_exchange(exchange);
  client.declare_bounded_queue(queue, 1);
  client.bind(queue, exchange, "OrderPlaced");

  ev::RabbitMqEventTransport confirmed({.url = broker_url(), .exchange = exchange});
  confirmed.send("OrderPlaced", "first", {});
  try {
    confirmed.send("OrderPlaced", "second", {});
    FAIL("the nack was not reported");
  } catch (const ev::TransportError& e) {
    CHECK(std::string(e.what()).find("refused") != std::string::npos);
  }
  const std::string other = unique_name("test.queue");
  client.declare_queue(other);
  client.bind(other, exchange, "OrderCancelled");
  confirmed.send("OrderCancelled", "to another queue", {});  // the channel is still fine
  CHECK(client.message_count(other) == 1);
  client.delete_queue(other);

  ev::RabbitMqEventTransport unconfirmed(
      {.url = broker_url(), .exchange = exchange, .delivery_mode = ev::RabbitMqDeliveryMode::unconfirmed});
  CHECK_NOTHROW(unconfirmed.send("OrderPlaced", "third: dropped by the broker, unnoticed", {}));

  CHECK(client.message_count(queue) == 1);
  CHECK(client.get(queue)->body == "first");
  client.delete_queue(queue);
  client.delete_exchange(exchange);
}

TEST_CASE("unconfirmed mode delivers in order while the broker is up", "[rabbitmq][transport]") {
  Route route;
  ev::RabbitMqEventTransport transport(
      {.url = broker_url(), .exchange = route.exchange, .delivery_mode = ev::RabbitMqDeliveryMode::unconfirmed});
  constexpr int count = 500;
  for (int i = 0; i < count; ++i) transport.send("OrderPlaced", "m-" + std::to_string(i), {});

  REQUIRE(test_support::eventually([&] { return route.client.message_count(route.queue) == count; }, 10s));
  for (int i = 0; i < count; ++i) {
    const auto message = route.client.get(route.queue);
    REQUIRE(message.has_value());
    CHECK(message->body == "m-" + std::to_string(i));
  }
}

TEST_CASE("the transport declares its exchange and sends from several threads", "[rabbitmq][transport]") {
  RawClient client;
  const std::string exchange = unique_name("test.exchange");
  const std::string queue = unique_name("test.queue");
  ev::RabbitMqEventTransport transport({.url = broker_url(), .exchange = exchange, .exchange_type = "direct"});
  transport.connect();  // declares the (durable, direct) exchange: binding to it works now
  client.declare_queue(queue);
  client.bind(queue, exchange, "OrderPlaced");

  constexpr int threads = 4;
  constexpr int per_thread = 50;
  {
    test_support::Threads senders;
    for (int t = 0; t < threads; ++t) {
      senders.spawn([&transport, t] {
        for (int i = 0; i < per_thread; ++i) transport.send("OrderPlaced", std::to_string(t * 1000 + i), {});
      });
    }
  }
  CHECK(client.message_count(queue) == threads * per_thread);
  client.delete_queue(queue);
  client.delete_exchange(exchange);
}

TEST_CASE("the async transport keeps many confirms in flight and completes each send", "[rabbitmq][async]") {
  Route route;
  ev::AsyncRabbitMqEventTransport transport({.url = broker_url(), .exchange = route.exchange, .max_in_flight = 256});
  constexpr int count = 2000;
  std::vector<std::string> payloads;
  payloads.reserve(count);
  for (int i = 0; i < count; ++i) payloads.push_back("m-" + std::to_string(i));
  const ev::Headers headers{{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}};

  std::vector<test_support::Spawned> sends;
  sends.reserve(count);
  for (const auto& payload : payloads) sends.push_back(test_support::start(transport.send("OrderPlaced", payload, headers)));

  int failed = 0;
  for (auto& send : sends) {
    REQUIRE(send.wait(30s));
    if (send.error()) ++failed;
  }
  CHECK(failed == 0);
  // Each send completed on its confirm: every message is in the queue now.
  CHECK(route.client.message_count(route.queue) == count);
  const auto first = route.client.get(route.queue);
  REQUIRE(first.has_value());
  CHECK(first->body == "m-0");
  CHECK(first->headers.at("traceparent") == headers.at("traceparent"));
}

TEST_CASE("the async transport works with sync_wait and AsyncDirectEventBus", "[rabbitmq][async]") {
  Route route;
  const auto serializer = rabbitmq_test::make_serializer();
  ev::AsyncRabbitMqEventTransport transport({.url = broker_url(), .exchange = route.exchange});
  ev::AsyncDirectEventBus<> bus(transport, serializer);

  const OrderPlaced event("o-9", 1);
  ev::sync_wait(bus.send(event));
  const auto message = route.client.get(route.queue);
  REQUIRE(message.has_value());
  CHECK(message->body == serializer.serialize(event));

  SECTION("a refused message fails its own awaitable only") {
    RawClient& client = route.client;
    const std::string bounded = unique_name("test.bounded");
    client.declare_bounded_queue(bounded, 1);
    client.bind(bounded, route.exchange, "OrderCancelled");
    ev::sync_wait(transport.send("OrderCancelled", "fits", {}));
    CHECK_THROWS_AS(ev::sync_wait(transport.send("OrderCancelled", "refused", {})), ev::TransportError);
    CHECK_NOTHROW(ev::sync_wait(transport.send("OrderPlaced", "still fine", {})));
    client.delete_queue(bounded);
  }
  SECTION("unconfirmed mode completes once written") {
    ev::AsyncRabbitMqEventTransport fast(
        {.url = broker_url(), .exchange = route.exchange, .delivery_mode = ev::RabbitMqDeliveryMode::unconfirmed});
    for (int i = 0; i < 100; ++i) ev::sync_wait(fast.send("OrderPlaced", "u", {}));
    CHECK(test_support::eventually([&] { return route.client.message_count(route.queue) == 100; }, 10s));
  }
}

TEST_CASE("a confirmed send no queue takes fails with TransportError; a routable send on the same transport succeeds",
          "[rabbitmq][transport]") {
  RawClient client;
  const std::string exchange = unique_name("test.exchange");
  const std::string queue = unique_name("test.queue");
  client.declare_exchange(exchange);  // no queue bound to it yet
  ev::RabbitMqEventTransport transport({.url = broker_url(), .exchange = exchange});

  try {
    transport.send("OrderPlaced", "nobody is listening", {});
    FAIL("an unroutable message was reported as sent");
  } catch (const ev::TransportError& e) {
    CHECK_THAT(e.what(), Catch::Contains("could not route") && Catch::Contains("OrderPlaced"));
  }
  CHECK_THROWS_AS(transport.send("OrderPlaced", "still nobody", {}), ev::TransportError);

  client.declare_queue(queue);
  client.bind(queue, exchange, "OrderPlaced");
  transport.send("OrderPlaced", "routed", {});
  CHECK_THROWS_AS(transport.send("OrderShipped", "not bound", {}), ev::TransportError);
  transport.send("OrderPlaced", "routed again", {});

  CHECK(client.message_count(queue) == 2);
  CHECK(client.get(queue)->body == "routed");
  CHECK(client.get(queue)->body == "routed again");

  SECTION("with mandatory off, the broker confirms and drops an unroutable message") {
    ev::RabbitMqEventTransport lax({.url = broker_url(), .exchange = exchange, .mandatory = false});
    CHECK_NOTHROW(lax.send("OrderShipped", "dropped", {}));
  }
  client.delete_queue(queue);
  client.delete_exchange(exchange);
}

TEST_CASE("the async transport fails exactly the sends no queue takes, among many in flight", "[rabbitmq][async]") {
  Route route;  // binds "OrderPlaced" only
  ev::AsyncRabbitMqEventTransport transport({.url = broker_url(), .exchange = route.exchange, .max_in_flight = 64});

  CHECK_THROWS_WITH(ev::sync_wait(transport.send("OrderShipped", "nobody is listening", {})),
                    Catch::Contains("could not route"));
  CHECK_NOTHROW(ev::sync_wait(transport.send("OrderPlaced", "routed", {})));

  // Interleaved: every third message goes to a routing key no queue is bound to.
  constexpr int count = 300;
  std::vector<std::string> payloads;
  std::vector<std::string> names;
  for (int i = 0; i < count; ++i) {
    payloads.push_back("m-" + std::to_string(i));
    names.push_back(i % 3 == 0 ? "OrderShipped" : "OrderPlaced");
  }
  const ev::Headers no_headers;  // outlives the sends (they complete after this loop)
  std::vector<test_support::Spawned> sends;
  sends.reserve(count);
  for (int i = 0; i < count; ++i) {
    const auto at = static_cast<std::size_t>(i);
    sends.push_back(test_support::start(transport.send(names[at], payloads[at], no_headers)));
  }
  int routed = 0;
  for (int i = 0; i < count; ++i) {
    auto& send = sends[static_cast<std::size_t>(i)];
    REQUIRE(send.wait(30s));
    INFO("message " << i);
    CHECK(static_cast<bool>(send.error()) == (i % 3 == 0));
    if (!send.error()) ++routed;
  }
  CHECK(route.client.message_count(route.queue) == static_cast<std::uint32_t>(routed + 1));

  SECTION("with mandatory off, an unroutable send completes") {
    ev::AsyncRabbitMqEventTransport lax({.url = broker_url(), .exchange = route.exchange, .mandatory = false});
    CHECK_NOTHROW(ev::sync_wait(lax.send("OrderShipped", "dropped", {})));
  }
}
