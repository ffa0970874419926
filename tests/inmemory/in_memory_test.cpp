// The in-memory broker: what InMemoryEventTransport is sent, the attached
// InMemoryEventConsumers' handlers receive, decoded by event name; failing handlers cause
// redelivery and then a dead letter with the reason; unreadable messages are dead-lettered at
// once; handlers see the message's headers.
#include "support/sync.hpp"

#include <spakky/event/bus/async_direct_event_bus.hpp>
#include <spakky/event/bus/direct_event_bus.hpp>
#include <spakky/event/bus/trace_context.hpp>
#include <spakky/event/inmemory/in_memory_transport.hpp>
#include <spakky/event/json.hpp>
#include <spakky/event/mediator/event_mediator.hpp>
#include <spakky/event/publisher/event_publisher.hpp>
#include <spakky/event/stereotype/event_handler.hpp>
#include <spakky/event/task.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace inmemory_test {

namespace ev = spakky::event;

struct OrderPlaced final : ev::AbstractIntegrationEvent {
  OrderPlaced(std::string id, int qty) : order_id(std::move(id)), quantity(qty) {}
  OrderPlaced(ev::EventId id, ev::Timestamp at) : AbstractIntegrationEvent(id, at) {}
  std::string order_id;
  int quantity = 0;
};

struct OrderShipped final : ev::AbstractIntegrationEvent {
  SPAKKY_EVENT_NAME("orders.shipped")
  explicit OrderShipped(std::string id) : order_id(std::move(id)) {}
  OrderShipped(ev::EventId id, ev::Timestamp at) : AbstractIntegrationEvent(id, at) {}
  std::string order_id;
};

struct OrderCreated final : ev::AbstractDomainEvent {
  std::string order_id;
};

SPAKKY_EVENT_JSON_FIELDS(OrderPlaced, order_id, quantity)
SPAKKY_EVENT_JSON_FIELDS(OrderShipped, order_id)

ev::JsonEventSerializer make_serializer() {
  ev::JsonEventSerializer serializer;
  serializer.register_events<OrderPlaced, OrderShipped>();
  return serializer;
}

/// A handler class whose routes go to a broker consumer (through a HandlerBundle).
struct ShippingHandlers {
  std::vector<std::string>* calls;
  void on_placed(const OrderPlaced& e) { calls->push_back("placed " + e.order_id); }
  void on_shipped(const OrderShipped& e) { calls->push_back("shipped " + e.order_id); }
  using event_routes = ev::routes<&ShippingHandlers::on_placed, &ShippingHandlers::on_shipped>;
};

/// The usual wiring: publisher -> DirectEventBus -> InMemoryEventTransport.
struct Wire {
  ev::JsonEventSerializer serializer = make_serializer();
  ev::InMemoryEventTransport transport;
  ev::EventMediator mediator;
  ev::DirectEventBus bus{transport, serializer};
  ev::EventPublisher publisher{mediator, bus};
};

}  // namespace inmemory_test

using namespace inmemory_test;

TEST_CASE("what the publisher sends, the consumer's handler receives, with its id and timestamp", "[inmemory]") {
  Wire wire;
  ev::InMemoryEventConsumer consumer(wire.transport, wire.serializer);
  std::vector<OrderPlaced> received;
  auto sub = consumer.register_handler([&](const OrderPlaced& e) { received.push_back(e); });

  const OrderPlaced sent("o-1", 3);
  wire.publisher.publish(sent);  // delivered before publish returns

  REQUIRE(received.size() == 1);
  CHECK(received[0] == sent);  // same type, id and timestamp
  CHECK(received[0].order_id == "o-1");
  CHECK(received[0].quantity == 3);
  CHECK(consumer.acknowledged() == 1);
  CHECK(consumer.dead_letters().empty());
  CHECK(wire.transport.sent() == 1);
  CHECK(wire.transport.unrouted() == 0);
  CHECK(consumer.event_names() == std::vector<std::string>{"OrderPlaced"});
}

TEST_CASE("handlers read the message's headers and delivery attempt through current_message()", "[inmemory]") {
  Wire wire;
  wire.bus.add_header_injector(ev::trace_context_injector([] {
    return std::optional<ev::TraceContext>({"4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", 1, {}});
  }));
  wire.bus.add_header_injector([](const ev::AbstractIntegrationEvent&, ev::Headers& headers) {
    headers["Authorization"] = "Bearer secret";  // removed by the bus
  });
  ev::InMemoryEventConsumer consumer(wire.transport, wire.serializer);
  std::optional<ev::IncomingMessage> seen;
  auto sub = consumer.register_handler([&](const OrderPlaced&) {
    REQUIRE(consumer.current_message() != nullptr);
    seen = *consumer.current_message();
  });

  wire.publisher.publish(OrderPlaced("o-1", 1));
  REQUIRE(seen.has_value());
  CHECK(seen->event_name == "OrderPlaced");
  CHECK(seen->delivery_attempt == 1);
  CHECK(seen->headers == ev::Headers{{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}});
  const auto context = ev::trace_context_from(seen->headers);
  REQUIRE(context.has_value());
  CHECK(context->trace_id == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(seen->payload.find(R"("order_id":"o-1")") != std::string::npos);
  CHECK(consumer.current_message() == nullptr);  // only while a handler runs
}

TEST_CASE("a failing handler is retried up to the limit, then the message is dead-lettered with the reason", "[inmemory]") {
  Wire wire;
  ev::InMemoryEventConsumer consumer(wire.transport, wire.serializer, 3);
  consumer.set_error_handler([](const ev::AbstractEvent&, std::exception_ptr) {});  // keep stderr quiet
  std::vector<std::uint32_t> attempts;
  int idempotent_calls = 0;
  auto ok = consumer.register_handler([&](const OrderPlaced&) { ++idempotent_calls; });
  auto failing = consumer.register_handler([&](const OrderPlaced&) {
    attempts.push_back(consumer.current_message()->delivery_attempt);
    throw std::runtime_error("stock service unreachable");
  });

  wire.publisher.publish(OrderPlaced("o-1", 1));  // publishing itself succeeds

  CHECK(attempts == std::vector<std::uint32_t>{1, 2, 3});
  CHECK(idempotent_calls == 3);  // a redelivery reruns the handlers that succeeded
  const auto dead = consumer.dead_letters();
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].message.event_name == "OrderPlaced");
  CHECK(dead[0].message.delivery_attempt == 3);
  CHECK(dead[0].reason == "stock service unreachable");
  CHECK(dead[0].message.payload.find(R"("order_id":"o-1")") != std::string::npos);
  CHECK(consumer.acknowledged() == 0);

  consumer.clear_dead_letters();
  CHECK(consumer.dead_letters().empty());
}

TEST_CASE("a handler that fails once succeeds on the redelivery: acknowledged, nothing dead-lettered", "[inmemory]") {
  Wire wire;
  ev::InMemoryEventConsumer consumer(wire.transport, wire.serializer);
  consumer.set_error_handler([](const ev::AbstractEvent&, std::exception_ptr) {});
  CHECK(consumer.max_delivery_attempts() == ev::InMemoryEventConsumer::default_max_delivery_attempts);
  int calls = 0;
  auto sub = consumer.register_handler([&](const OrderPlaced&) {
    if (++calls == 1) throw std::runtime_error("transient");
  });
  wire.publisher.publish(OrderPlaced("o-1", 1));
  CHECK(calls == 2);
  CHECK(consumer.acknowledged() == 1);
  CHECK(consumer.dead_letters().empty());
}

TEST_CASE("with a limit of one delivery a failure is dead-lettered at once", "[inmemory]") {
  Wire wire;
  ev::InMemoryEventConsumer consumer(wire.transport, wire.serializer, 1);
  consumer.set_error_handler([](const ev::AbstractEvent&, std::exception_ptr) {});
  int calls = 0;
  auto sub = consumer.register_handler([&](const OrderPlaced&) {
    ++calls;
    throw 42;  // not even a std::exception
  });
  wire.publisher.publish(OrderPlaced("o-1", 1));
  CHECK(calls == 1);
  REQUIRE(consumer.dead_letters().size() == 1);
  CHECK(consumer.dead_letters()[0].reason == "a handler threw a non-standard exception");
}

TEST_CASE("an unreadable message is dead-lettered at once and the consumer keeps going", "[inmemory]") {
  Wire wire;
  ev::InMemoryEventConsumer consumer(wire.transport, wire.serializer);
  int calls = 0;
  auto sub = consumer.register_handler([&](const OrderPlaced&) { ++calls; });

  wire.transport.send("OrderPlaced", "{not json", {{"x-source", "test"}});
  wire.transport.send("OrderPlaced", R"({"event_id":"0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9f","timestamp":"2026-11-26T10:50:57Z","order_id":"o-1"})", {});
  wire.publisher.publish(OrderPlaced("o-2", 2));

  CHECK(calls == 1);  // only the good one
  const auto dead = consumer.dead_letters();
  REQUIRE(dead.size() == 2);
  CHECK(dead[0].message.payload == "{not json");
  CHECK(dead[0].message.delivery_attempt == 1);  // never retried
  CHECK(dead[0].message.headers == ev::Headers{{"x-source", "test"}});
  CHECK_THAT(dead[0].reason, Catch::Contains("'OrderPlaced'") && Catch::Contains("malformed JSON"));
  CHECK_THAT(dead[1].reason, Catch::Contains("field 'quantity': missing"));
  CHECK(consumer.acknowledged() == 1);
}

TEST_CASE("a catch-all integration handler receives every event, after the exact-type handlers", "[inmemory]") {
  Wire wire;
  ev::InMemoryEventConsumer consumer(wire.transport, wire.serializer);
  std::vector<std::string> calls;
  auto all = consumer.register_handler([&](const ev::AbstractIntegrationEvent& e) {
    calls.push_back("all:" + std::string(e.event_name()));
  });
  auto placed = consumer.register_handler([&](const OrderPlaced& e) { calls.push_back("placed:" + e.order_id); });

  wire.publisher.publish(OrderPlaced("o-1", 1));
  wire.publisher.publish(OrderShipped("o-1"));
  CHECK(calls == std::vector<std::string>{"placed:o-1", "all:OrderPlaced", "all:orders.shipped"});
  CHECK(consumer.is_bound("anything"));

  // Bound to every name, it also sees names its serializer does not know: dead-lettered.
  wire.transport.send("payments.refunded", "{}", {});
  REQUIRE(consumer.dead_letters().size() == 1);
  CHECK_THAT(consumer.dead_letters()[0].reason, Catch::Contains("unknown event name"));
}

TEST_CASE("each consumer receives only the names it is bound to; the rest is counted as unrouted", "[inmemory]") {
  Wire wire;
  ev::InMemoryEventConsumer billing(wire.transport, wire.serializer);
  ev::InMemoryEventConsumer shipping(wire.transport, wire.serializer);
  std::vector<std::string> billed, shipped, audited;
  auto a = billing.register_handler([&](const OrderPlaced& e) { billed.push_back(e.order_id); });
  auto b = shipping.register_handler([&](const OrderShipped& e) { shipped.push_back(e.order_id); });
  auto c = shipping.register_handler([&](const OrderPlaced& e) { audited.push_back(e.order_id); });

  wire.publisher.publish(OrderPlaced("o-1", 1));
  wire.publisher.publish(OrderShipped("o-1"));
  wire.transport.send("payments.refunded", "{}", {});

  CHECK(billed == std::vector<std::string>{"o-1"});
  CHECK(shipped == std::vector<std::string>{"o-1"});
  CHECK(audited == std::vector<std::string>{"o-1"});
  CHECK(billing.is_bound("OrderPlaced"));
  CHECK_FALSE(billing.is_bound("orders.shipped"));
  CHECK(wire.transport.sent() == 3);
  CHECK(wire.transport.unrouted() == 1);
  CHECK(billing.dead_letters().empty());
  CHECK(shipping.dead_letters().empty());
}

TEST_CASE("a handler that publishes through the same transport: delivered after the current message, in order", "[inmemory]") {
  Wire wire;
  ev::InMemoryEventConsumer consumer(wire.transport, wire.serializer);
  std::vector<std::string> calls;
  auto placed = consumer.register_handler([&](const OrderPlaced& e) {
    calls.push_back("placed " + e.order_id + " start");
    wire.publisher.publish(OrderShipped(e.order_id));
    wire.publisher.publish(OrderShipped(e.order_id + "-b"));
    calls.push_back("placed " + e.order_id + " end");
  });
  auto shipped = consumer.register_handler([&](const OrderShipped& e) { calls.push_back("shipped " + e.order_id); });

  wire.publisher.publish(OrderPlaced("o-1", 1));
  CHECK(calls == std::vector<std::string>{"placed o-1 start", "placed o-1 end", "shipped o-1", "shipped o-1-b"});
  CHECK(consumer.acknowledged() == 3);
}

TEST_CASE("a domain-event handler is refused: a broker consumer takes integration events only", "[inmemory]") {
  Wire wire;
  ev::InMemoryEventConsumer consumer(wire.transport, wire.serializer);
  CHECK_THROWS_AS(consumer.register_handler([](const OrderCreated&) {}), ev::EventError);
}

TEST_CASE("a destroyed consumer is detached: its messages become unrouted", "[inmemory]") {
  Wire wire;
  int calls = 0;
  {
    ev::InMemoryEventConsumer consumer(wire.transport, wire.serializer);
    auto sub = consumer.register_handler([&](const OrderPlaced&) { ++calls; });
    wire.publisher.publish(OrderPlaced("o-1", 1));
  }
  wire.publisher.publish(OrderPlaced("o-2", 1));
  CHECK(calls == 1);
  CHECK(wire.transport.unrouted() == 1);
}

TEST_CASE("AsyncDirectEventBus over AsyncInMemoryEventTransport delivers the same way", "[inmemory][async]") {
  const ev::JsonEventSerializer serializer = make_serializer();
  ev::InMemoryEventTransport transport;
  ev::AsyncInMemoryEventTransport<> async_transport(transport);
  ev::AsyncDirectEventBus<> bus(async_transport, serializer);
  ev::InMemoryEventConsumer consumer(transport, serializer);
  std::vector<std::string> received;
  auto sub = consumer.register_handler([&](const OrderPlaced& e) { received.push_back(e.order_id); });

  const OrderPlaced event("o-7", 1);
  ev::sync_wait(bus.send(event));
  CHECK(received == std::vector<std::string>{"o-7"});
}

TEST_CASE("sends from many threads are all delivered, one at a time per consumer", "[inmemory][threads]") {
  Wire wire;
  ev::InMemoryEventConsumer consumer(wire.transport, wire.serializer);
  std::atomic<int> inside{0};
  std::atomic<bool> overlapped{false};
  int received = 0;  // written only by handlers, which never overlap
  auto sub = consumer.register_handler([&](const OrderPlaced&) {
    if (inside.fetch_add(1) != 0) overlapped = true;
    ++received;
    inside.fetch_sub(1);
  });

  constexpr int kThreads = 4;
  constexpr int kPerThread = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) wire.publisher.publish(OrderPlaced("o-" + std::to_string(t), i));
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(received == kThreads * kPerThread);
  CHECK_FALSE(overlapped.load());
  CHECK(consumer.acknowledged() == static_cast<std::size_t>(kThreads * kPerThread));
  CHECK(wire.transport.sent() == static_cast<std::size_t>(kThreads * kPerThread));
}

TEST_CASE("a consumer can be destroyed while another thread is sending", "[inmemory][threads]") {
  Wire wire;
  std::atomic<bool> stop{false};
  std::atomic<int> calls{0};
  auto consumer = std::make_unique<ev::InMemoryEventConsumer>(wire.transport, wire.serializer);
  auto sub = consumer->register_handler([&](const OrderPlaced&) { calls.fetch_add(1); });
  std::thread sender([&] {
    while (!stop.load()) wire.publisher.publish(OrderPlaced("o", 1));
  });
  test_support::JoinGuard guard(sender, [&] { stop = true; });
  REQUIRE(test_support::eventually([&] { return calls.load() > 10; }));
  consumer.reset();  // waits for a delivery in progress, then no more deliveries
  const int after = calls.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(calls.load() == after);
}

TEST_CASE("a message whose handler was cancelled is not acknowledged: requeued up to the limit, then dead-lettered",
          "[inmemory][unhandled]") {
  Wire wire;
  ev::InMemoryEventConsumer consumer(wire.transport, wire.serializer);
  CHECK(consumer.unhandled_policy() == ev::UnhandledMessagePolicy::requeue);  // the default
  int calls = 0;
  auto sub = consumer.register_handler([&](const OrderPlaced&) { ++calls; });
  CHECK(consumer.is_bound("OrderPlaced"));
  sub.cancel_and_wait();

  wire.publisher.publish(OrderPlaced("o-1", 1));
  CHECK(calls == 0);
  CHECK(consumer.acknowledged() == 0);
  const auto dead = consumer.dead_letters();
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].message.delivery_attempt == consumer.max_delivery_attempts());
  CHECK_THAT(dead[0].reason, Catch::Contains("no handler took event 'OrderPlaced'") &&
                                 Catch::Contains("3 delivery attempts"));

  // Found without a handler, the name is unbound: the next message is not routed here.
  CHECK_FALSE(consumer.is_bound("OrderPlaced"));
  CHECK(consumer.event_names().empty());
  wire.publisher.publish(OrderPlaced("o-2", 1));
  CHECK(wire.transport.unrouted() == 1);
  CHECK(consumer.dead_letters().size() == 1);

  // A handler registered again binds the name again.
  auto again = consumer.register_handler([&](const OrderPlaced&) { ++calls; });
  wire.publisher.publish(OrderPlaced("o-3", 1));
  CHECK(calls == 1);
  CHECK(consumer.acknowledged() == 1);
}

TEST_CASE("with the dead-letter policy, a message no handler took is dead-lettered at once", "[inmemory][unhandled]") {
  Wire wire;
  ev::InMemoryEventConsumer consumer(wire.transport, wire.serializer);
  consumer.set_unhandled_policy(ev::UnhandledMessagePolicy::dead_letter);
  std::vector<std::string> shipped;
  auto placed = consumer.register_handler([](const OrderPlaced&) {});
  auto ships = consumer.register_handler([&](const OrderShipped& e) { shipped.push_back(e.order_id); });
  placed.cancel();

  wire.publisher.publish(OrderPlaced("o-1", 1));
  REQUIRE(consumer.dead_letters().size() == 1);
  CHECK(consumer.dead_letters()[0].message.delivery_attempt == 1);
  CHECK_THAT(consumer.dead_letters()[0].reason, Catch::Contains("no handler took event 'OrderPlaced'"));
  CHECK(consumer.acknowledged() == 0);

  // The other type keeps its binding and its handler.
  CHECK(consumer.event_names() == std::vector<std::string>{"orders.shipped"});
  wire.publisher.publish(OrderShipped("o-1"));
  CHECK(shipped == std::vector<std::string>{"o-1"});
  CHECK(consumer.acknowledged() == 1);
}

TEST_CASE("after a HandlerBundle is destroyed, its messages are neither handled nor acknowledged",
          "[inmemory][unhandled]") {
  Wire wire;
  ev::InMemoryEventConsumer consumer(wire.transport, wire.serializer, 1);
  std::vector<std::string> calls;
  ShippingHandlers handlers{&calls};
  {
    ev::HandlerBundle bundle = ev::register_handlers(handlers, ev::integration(consumer));
    wire.publisher.publish(OrderPlaced("o-1", 1));
    CHECK(calls == std::vector<std::string>{"placed o-1"});
  }
  wire.publisher.publish(OrderPlaced("o-2", 1));
  wire.publisher.publish(OrderShipped("o-2"));
  CHECK(calls == std::vector<std::string>{"placed o-1"});
  CHECK(consumer.acknowledged() == 1);
  // OrderPlaced was found without a handler (and unbound); OrderShipped was still bound then.
  REQUIRE(consumer.dead_letters().size() == 2);
  CHECK_THAT(consumer.dead_letters()[1].reason, Catch::Contains("no handler took event 'orders.shipped'"));
  CHECK(consumer.event_names().empty());
}

TEST_CASE("a catch-all handler found cancelled unbinds the consumer from every name", "[inmemory][unhandled]") {
  Wire wire;
  ev::InMemoryEventConsumer consumer(wire.transport, wire.serializer, 1);
  auto all = consumer.register_handler([](const ev::AbstractIntegrationEvent&) {});
  CHECK(consumer.is_bound("payments.refunded"));
  all.cancel();
  wire.publisher.publish(OrderShipped("o-1"));
  CHECK(consumer.dead_letters().size() == 1);
  CHECK_FALSE(consumer.is_bound("payments.refunded"));
  CHECK_FALSE(consumer.is_bound("orders.shipped"));
}
