// RabbitMqEventConsumer against the test broker: round trips, headers and attempts seen by
// handlers, retries, dead-lettering of failures and of unreadable input (with the header
// table kept whole), bindings made while running, clean stop and restart, messages no
// handler took. Redeliveries: rabbitmq_consumer_redelivery_test.cpp.

#include "rabbitmq_consumer_fixtures.hpp"
#include "support/sync.hpp"

#include <spakky/event/bus/direct_event_bus.hpp>
#include <spakky/event/rabbitmq.hpp>

#include <catch2/catch.hpp>

#include <amqp.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace ev = spakky::event;
using namespace std::chrono_literals;
using rabbitmq_test::OrderCancelled;
using rabbitmq_test::OrderPlaced;
using rabbitmq_test::Names;
using rabbitmq_test::record;
using rabbitmq_test::Seen;
using test_support::eventually;
using test_support::rabbitmq::broker_url;
using test_support::rabbitmq::RawClient;
using test_support::rabbitmq::unique_name;

namespace {

/// A header value as text with its AMQP field kind, nested tables and arrays spelled out:
/// what must survive a copy unchanged.
std::string render(const amqp_field_value_t& value) {
  using spakky::event::detail::rabbitmq::view;
  std::string out(1, static_cast<char>(value.kind));
  out += ':';
  switch (value.kind) {
    case AMQP_FIELD_KIND_BOOLEAN: return out + (value.value.boolean ? "true" : "false");
    case AMQP_FIELD_KIND_I8: return out + std::to_string(value.value.i8);
    case AMQP_FIELD_KIND_U8: return out + std::to_string(value.value.u8);
    case AMQP_FIELD_KIND_I16: return out + std::to_string(value.value.i16);
    case AMQP_FIELD_KIND_U16: return out + std::to_string(value.value.u16);
    case AMQP_FIELD_KIND_I32: return out + std::to_string(value.value.i32);
    case AMQP_FIELD_KIND_U32: return out + std::to_string(value.value.u32);
    case AMQP_FIELD_KIND_I64: return out + std::to_string(value.value.i64);
    case AMQP_FIELD_KIND_U64:
    case AMQP_FIELD_KIND_TIMESTAMP: return out + std::to_string(value.value.u64);
    case AMQP_FIELD_KIND_F64: return out + std::to_string(value.value.f64);
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES: {
      for (const char c : view(value.value.bytes)) {
        char hex[4];
        std::snprintf(hex, sizeof hex, "%02x", static_cast<unsigned char>(c));
        out += hex;
      }
      return out;
    }
    case AMQP_FIELD_KIND_TABLE: {
      out += '{';
      for (int i = 0; i < value.value.table.num_entries; ++i) {
        out += std::string(view(value.value.table.entries[i].key)) + "=" + render(value.value.table.entries[i].value) + ";";
      }
      return out + '}';
    }
    case AMQP_FIELD_KIND_ARRAY: {
      out += '[';
      for (int i = 0; i < value.value.array.num_entries; ++i) out += render(value.value.array.entries[i]) + ";";
      return out + ']';
    }
    default: return out + "?";
  }
}

/// The entries of a header table as `name=value` (render()), the consumer's own x-spakky-*
/// entries left out.
std::vector<std::string> render_headers(const amqp_table_t& table) {
  std::vector<std::string> out;
  for (int i = 0; i < table.num_entries; ++i) {
    const std::string name(spakky::event::detail::rabbitmq::view(table.entries[i].key));
    if (name.rfind("x-spakky-", 0) != 0) out.push_back(name + "=" + render(table.entries[i].value));
  }
  return out;
}


}  // namespace

TEST_CASE("what a DirectEventBus sends, the consumer's handler receives, with its headers", "[rabbitmq][consumer]") {
  Names names;
  const auto serializer = rabbitmq_test::make_serializer();
  ev::RabbitMqEventConsumer consumer(serializer, names.consumer_options());
  Seen seen;
  auto subscription = consumer.register_handler([&](const OrderPlaced& e) { seen.add(record(consumer, e)); });
  CHECK(consumer.event_names() == std::vector<std::string>{"OrderPlaced"});
  consumer.start();
  REQUIRE(consumer.wait_until_consuming(15s));

  ev::RabbitMqEventTransport transport({.url = broker_url(), .exchange = names.exchange});
  ev::DirectEventBus bus(transport, serializer);
  bus.add_header_injector([](const ev::AbstractIntegrationEvent&, ev::Headers& headers) {
    headers["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  });
  bus.send(OrderPlaced("o-1", 3));

  REQUIRE(eventually([&] { return seen.size() == 1; }, 10s));
  const auto call = seen.snapshot().at(0);
  CHECK(call.order_id == "o-1");
  CHECK(call.quantity == 3);
  CHECK(call.attempt == 1);
  CHECK(call.headers == ev::Headers{{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}});
  CHECK(eventually([&] { return consumer.stats().acked == 1; }, 5s));
  CHECK(consumer.current_message() == nullptr);  // outside a handler
  consumer.stop();
  CHECK_FALSE(consumer.consuming());
}

TEST_CASE("many events arrive once each, in order", "[rabbitmq][consumer]") {
  Names names;
  const auto serializer = rabbitmq_test::make_serializer();
  ev::RabbitMqEventConsumer consumer(serializer, names.consumer_options());
  Seen seen;
  auto placed = consumer.register_handler([&](const OrderPlaced& e) { seen.add(record(consumer, e)); });
  auto cancelled = consumer.register_handler([&](const OrderCancelled& e) { seen.add({"cancel " + e.order_id, 0, 0, {}}); });
  consumer.start();
  REQUIRE(consumer.wait_until_consuming(15s));

  ev::RabbitMqEventTransport transport({.url = broker_url(), .exchange = names.exchange});
  ev::DirectEventBus bus(transport, serializer);
  constexpr int count = 300;
  for (int i = 0; i < count; ++i) bus.send(OrderPlaced("o-" + std::to_string(i), i));
  bus.send(OrderCancelled("o-0"));

  REQUIRE(eventually([&] { return seen.size() == count + 1; }, 20s));
  const auto calls = seen.snapshot();
  for (int i = 0; i < count; ++i) CHECK(calls[static_cast<std::size_t>(i)].order_id == "o-" + std::to_string(i));
  CHECK(calls.back().order_id == "cancel o-0");
  CHECK(eventually([&] { return consumer.stats().acked == count + 1; }, 5s));
}

TEST_CASE("a failing handler is retried up to the limit, then the message is dead-lettered with the reason",
          "[rabbitmq][consumer]") {
  Names names;
  const auto serializer = rabbitmq_test::make_serializer();
  auto options = names.consumer_options();
  options.max_delivery_attempts = 3;
  ev::RabbitMqEventConsumer consumer(serializer, options);
  consumer.set_error_handler([](const ev::AbstractEvent&, std::exception_ptr) {});  // expected failures
  Seen seen;
  auto subscription = consumer.register_handler([&](const OrderPlaced& e) {
    seen.add(record(consumer, e));
    throw std::runtime_error("payment service down");
  });
  consumer.start();
  REQUIRE(consumer.wait_until_consuming(15s));

  ev::RabbitMqEventTransport transport({.url = broker_url(), .exchange = names.exchange});
  const std::string payload = serializer.serialize(OrderPlaced("o-5", 1));
  transport.send("OrderPlaced", payload, {{"traceparent", "00-abc-def-01"}});

  REQUIRE(eventually([&] { return consumer.stats().dead_lettered == 1; }, 15s));
  const auto calls = seen.snapshot();
  REQUIRE(calls.size() == 3);
  for (std::size_t i = 0; i < calls.size(); ++i) {
    CHECK(calls[i].attempt == i + 1);
    CHECK(calls[i].order_id == "o-5");
    CHECK(calls[i].headers == ev::Headers{{"traceparent", "00-abc-def-01"}});  // x-spakky-* hidden
  }
  CHECK(consumer.stats().retried == 2);
  CHECK(consumer.stats().acked == 0);

  RawClient client;
  const auto dead = client.get(names.dead_letter);
  REQUIRE(dead.has_value());
  CHECK(dead->body == payload);
  CHECK(dead->type == "OrderPlaced");
  CHECK(dead->delivery_mode == 2);
  CHECK(dead->headers.at("traceparent") == "00-abc-def-01");
  CHECK(dead->headers.at("x-spakky-delivery-attempt") == "3");
  CHECK(dead->headers.at("x-spakky-original-exchange") == names.exchange);
  CHECK(dead->headers.at("x-spakky-original-routing-key") == "OrderPlaced");
  const std::string reason = dead->headers.at("x-spakky-death-reason");
  CHECK(reason.find("payment service down") != std::string::npos);
  CHECK(reason.find("3 delivery attempts") != std::string::npos);
  CHECK_FALSE(client.get(names.dead_letter).has_value());
  CHECK(client.message_count(names.queue) == 0);
}

TEST_CASE("a handler that fails once succeeds on the second attempt", "[rabbitmq][consumer]") {
  Names names;
  const auto serializer = rabbitmq_test::make_serializer();
  ev::RabbitMqEventConsumer consumer(serializer, names.consumer_options());
  consumer.set_error_handler([](const ev::AbstractEvent&, std::exception_ptr) {});
  Seen seen;
  auto subscription = consumer.register_handler([&](const OrderPlaced& e) {
    auto call = record(consumer, e);
    seen.add(call);
    if (call.attempt == 1) throw std::runtime_error("transient");
  });
  consumer.start();
  REQUIRE(consumer.wait_until_consuming(15s));
  ev::RabbitMqEventTransport transport({.url = broker_url(), .exchange = names.exchange});
  ev::DirectEventBus bus(transport, serializer);
  bus.send(OrderPlaced("o-2", 2));

  REQUIRE(eventually([&] { return consumer.stats().acked == 1; }, 15s));
  const auto calls = seen.snapshot();
  REQUIRE(calls.size() == 2);
  CHECK(calls[0].attempt == 1);
  CHECK(calls[1].attempt == 2);
  CHECK(consumer.stats().retried == 1);
  CHECK(consumer.stats().dead_lettered == 0);
  RawClient client;
  CHECK(client.message_count(names.dead_letter) == 0);
}

TEST_CASE("unreadable messages are dead-lettered at once and the consumer keeps going", "[rabbitmq][consumer]") {
  Names names;
  const auto serializer = rabbitmq_test::make_serializer();
  ev::RabbitMqEventConsumer consumer(serializer, names.consumer_options());
  Seen seen;
  auto subscription = consumer.register_handler([&](const OrderPlaced& e) { seen.add(record(consumer, e)); });
  consumer.start();
  REQUIRE(consumer.wait_until_consuming(15s));

  RawClient client;
  const std::string good = serializer.serialize(OrderPlaced("o-good", 4));
  std::string wrong_type = serializer.serialize(OrderPlaced("o-bad", 1));
  wrong_type.back() = 'x';  // quantity "x": not an integer
  client.publish(names.exchange, "OrderPlaced", "this is not a payload", std::string("OrderPlaced"));
  client.publish(names.exchange, "OrderPlaced", wrong_type, std::string("OrderPlaced"));
  client.publish("", names.queue, good, std::string("NoSuchEvent"));  // straight into the queue
  client.publish(names.exchange, "OrderPlaced", std::string(), std::string("OrderPlaced"));  // empty
  client.publish(names.exchange, "OrderPlaced", good);  // no type property: named by the routing key

  REQUIRE(eventually([&] { return seen.size() == 1; }, 15s));
  CHECK(seen.snapshot().at(0).order_id == "o-good");
  REQUIRE(eventually([&] { return consumer.stats().dead_lettered == 4; }, 15s));
  CHECK(consumer.stats().acked == 1);
  CHECK(consumer.stats().retried == 0);
  CHECK(consumer.consuming());

  std::vector<std::string> reasons;
  while (const auto dead = client.get(names.dead_letter)) {
    CHECK(dead->headers.count("x-spakky-delivery-attempt") == 0);
    reasons.push_back(dead->headers.at("x-spakky-death-reason"));
  }
  REQUIRE(reasons.size() == 4);
  CHECK(reasons[0].find("invalid message for event 'OrderPlaced'") != std::string::npos);
  CHECK(reasons[1].find("not an integer") != std::string::npos);
  CHECK(reasons[2].find("unknown event name") != std::string::npos);
  CHECK(reasons[3].find("invalid message") != std::string::npos);
  CHECK(client.message_count(names.queue) == 0);
}

TEST_CASE("a dead-letter queue deleted under the consumer loses nothing: the message waits for a new one",
          "[rabbitmq][consumer]") {
  Names names;
  const auto serializer = rabbitmq_test::make_serializer();
  ev::RabbitMqEventConsumer consumer(serializer, names.consumer_options());
  consumer.set_connection_error_handler([](const std::string&) {});  // one expected reconnect
  auto subscription = consumer.register_handler([](const OrderPlaced&) {});
  consumer.start();
  REQUIRE(consumer.wait_until_consuming(15s));

  RawClient client;
  client.delete_queue(names.dead_letter);
  client.publish(names.exchange, "OrderPlaced", "unreadable", std::string("OrderPlaced"));

  // The copy comes back unroutable: the consumer does not ack the original, reconnects
  // (declaring its queues again) and dead-letters it then.
  REQUIRE(eventually([&] { return consumer.stats().dead_lettered == 1; }, 15s));
  CHECK(consumer.stats().connections >= 2);
  const auto dead = client.get_within(names.dead_letter, 5s);
  REQUIRE(dead.has_value());
  CHECK(dead->body == "unreadable");
}

TEST_CASE("handlers registered while the consumer runs get their event name bound", "[rabbitmq][consumer]") {
  Names names;
  const auto serializer = rabbitmq_test::make_serializer();
  ev::RabbitMqEventConsumer consumer(serializer, names.consumer_options());
  Seen seen;
  auto placed = consumer.register_handler([&](const OrderPlaced& e) { seen.add(record(consumer, e)); });
  consumer.start();
  REQUIRE(consumer.wait_until_consuming(15s));

  auto cancelled = consumer.register_handler([&](const OrderCancelled& e) { seen.add({"cancel " + e.order_id, 0, 0, {}}); });
  ev::RabbitMqEventTransport transport({.url = broker_url(), .exchange = names.exchange});
  ev::DirectEventBus bus(transport, serializer);
  // The binding is made by the run loop within its poll interval; until then no queue takes
  // the message and the (mandatory) send fails, so send until one goes through.
  REQUIRE(eventually(
      [&] {
        try {
          bus.send(OrderCancelled("o-3"));
          return true;
        } catch (const ev::TransportError&) {
          return false;
        }
      },
      10s));
  REQUIRE(eventually([&] { return seen.size() == 1; }, 10s));
  CHECK(seen.snapshot().at(0).order_id == "cancel o-3");
}

TEST_CASE("stop() ends the run loop promptly; messages wait in the queue for the next start", "[rabbitmq][consumer]") {
  Names names;
  const auto serializer = rabbitmq_test::make_serializer();
  ev::RabbitMqEventConsumer consumer(serializer, names.consumer_options());
  Seen seen;
  auto subscription = consumer.register_handler([&](const OrderPlaced& e) { seen.add(record(consumer, e)); });
  consumer.start();
  REQUIRE(consumer.wait_until_consuming(15s));
  CHECK_THROWS_AS(consumer.start(), ev::EventError);
  CHECK_THROWS_AS(consumer.run(), ev::EventError);

  std::this_thread::sleep_for(300ms);  // idle in its poll
  const auto stopping = std::chrono::steady_clock::now();
  consumer.stop();
  CHECK(std::chrono::steady_clock::now() - stopping < 3s);  // about poll_interval (100 ms) when not loaded
  CHECK_FALSE(consumer.consuming());
  consumer.stop();  // idempotent

  ev::RabbitMqEventTransport transport({.url = broker_url(), .exchange = names.exchange});
  ev::DirectEventBus bus(transport, serializer);
  bus.send(OrderPlaced("o-while-stopped", 1));
  RawClient client;
  CHECK(client.message_count(names.queue) == 1);  // durable queue, still bound
  CHECK(seen.size() == 0);

  SECTION("start() again") {
    consumer.start();
    REQUIRE(eventually([&] { return seen.size() == 1; }, 15s));
    CHECK(seen.snapshot().at(0).order_id == "o-while-stopped");
  }
  SECTION("run() on the caller's thread, stopped from a handler") {
    ev::RabbitMqEventConsumer second(serializer, names.consumer_options());
    Seen seen_second;
    auto sub = second.register_handler([&](const OrderPlaced& e) {
      seen_second.add(record(second, e));
      second.stop();
    });
    test_support::Gate finished;
    std::thread watchdog([&] {
      if (!finished.wait(20s)) second.stop();  // never leave the test hanging
    });
    second.run();  // returns after the handler asked it to stop
    finished.open();
    watchdog.join();
    CHECK(seen_second.size() == 1);
    CHECK(eventually([&] { return client.message_count(names.queue) == 0; }, 5s));
  }
}

TEST_CASE("the consumer reports connection failures and keeps trying", "[rabbitmq][consumer]") {
  const auto serializer = rabbitmq_test::make_serializer();
  ev::RabbitMqEventConsumer consumer(serializer, {.url = "amqp://guest:guest@127.0.0.1:1/", .queue = "nowhere",
                                                  .reconnect_delay = 20ms, .max_reconnect_delay = 40ms});
  std::mutex mutex;
  std::vector<std::string> errors;
  consumer.set_connection_error_handler([&](const std::string& reason) {
    const std::lock_guard lock(mutex);
    errors.push_back(reason);
  });
  consumer.start();
  CHECK(eventually(
      [&] {
        const std::lock_guard lock(mutex);
        return errors.size() >= 3;
      },
      10s));
  CHECK_FALSE(consumer.consuming());
  consumer.stop();
  const std::lock_guard lock(mutex);
  CHECK(errors.at(0).find("cannot connect to amqp://guest:***@127.0.0.1:1/") != std::string::npos);
}

TEST_CASE("a consumer whose handlers were all cancelled acknowledges nothing: it stops consuming and the message waits",
          "[rabbitmq][consumer][unhandled]") {
  Names names;
  const auto serializer = rabbitmq_test::make_serializer();
  ev::RabbitMqEventConsumer consumer(serializer, names.consumer_options());
  Seen seen;
  auto first = consumer.register_handler([&](const OrderPlaced& e) { seen.add(record(consumer, e)); });
  consumer.start();
  REQUIRE(consumer.wait_until_consuming(15s));
  first.cancel_and_wait();  // e.g. a shutdown that ends the subscriptions before the consumer

  RawClient client;
  const std::string payload = serializer.serialize(OrderPlaced("o-1", 1));
  client.publish(names.exchange, "OrderPlaced", payload, std::string("OrderPlaced"));

  // Found without a handler, the message goes back to the queue and the consumer stops taking more.
  REQUIRE(eventually([&] { return consumer.stats().requeued == 1; }, 15s));
  CHECK_FALSE(consumer.consuming());
  CHECK(eventually([&] { return client.message_count(names.queue) == 1; }, 5s));
  CHECK(consumer.stats().acked == 0);
  CHECK(consumer.stats().dead_lettered == 0);
  CHECK(consumer.stats().requeued == 1);
  CHECK(seen.size() == 0);

  // A handler registered again: the consumer resumes and the message is handled, as a first attempt.
  auto second = consumer.register_handler([&](const OrderPlaced& e) { seen.add(record(consumer, e)); });
  REQUIRE(consumer.wait_until_consuming(15s));
  REQUIRE(eventually([&] { return seen.size() == 1; }, 15s));
  CHECK(seen.snapshot().at(0).order_id == "o-1");
  CHECK(seen.snapshot().at(0).attempt == 1);
  CHECK(eventually([&] { return consumer.stats().acked == 1; }, 5s));
}

TEST_CASE("a type whose last handler is gone is unbound; its waiting messages are requeued, then dead-lettered",
          "[rabbitmq][consumer][unhandled]") {
  Names names;
  const auto serializer = rabbitmq_test::make_serializer();
  auto options = names.consumer_options();
  options.max_delivery_attempts = 3;
  ev::RabbitMqEventConsumer consumer(serializer, options);
  Seen seen;
  auto placed = consumer.register_handler([&](const OrderPlaced& e) { seen.add(record(consumer, e)); });
  auto cancelled = consumer.register_handler([&](const OrderCancelled& e) { seen.add({"cancel " + e.order_id, 0, 0, {}}); });
  consumer.start();
  REQUIRE(consumer.wait_until_consuming(15s));
  placed.cancel_and_wait();

  ev::RabbitMqEventTransport transport({.url = broker_url(), .exchange = names.exchange});
  const std::string payload = serializer.serialize(OrderPlaced("o-1", 1));
  transport.send("OrderPlaced", payload, {});  // still bound: the consumer has not found out yet

  REQUIRE(eventually([&] { return consumer.stats().dead_lettered == 1; }, 15s));
  CHECK(consumer.stats().acked == 0);
  CHECK(consumer.stats().requeued == 2);
  CHECK(seen.size() == 0);
  RawClient client;
  const auto dead = client.get_within(names.dead_letter, 5s);
  REQUIRE(dead.has_value());
  CHECK(dead->body == payload);
  CHECK(dead->headers.at("x-spakky-delivery-attempt") == "3");
  CHECK_THAT(dead->headers.at("x-spakky-death-reason"),
             Catch::Contains("no handler took event 'OrderPlaced'") && Catch::Contains("3 delivery attempts"));

  // Unbound: a confirmed send of it now finds no queue; the other type still flows.
  CHECK(consumer.event_names() == std::vector<std::string>{"OrderCancelled"});
  CHECK(eventually(
      [&] {
        try {
          transport.send("OrderPlaced", payload, {});
          return false;
        } catch (const ev::TransportError&) {
          return true;
        }
      },
      10s));
  CHECK(consumer.consuming());
  ev::DirectEventBus bus(transport, serializer);
  bus.send(OrderCancelled("o-1"));
  REQUIRE(eventually([&] { return seen.size() == 1; }, 10s));
  CHECK(seen.snapshot().at(0).order_id == "cancel o-1");
}

TEST_CASE("with the dead-letter policy, a message no handler took is dead-lettered at once",
          "[rabbitmq][consumer][unhandled]") {
  Names names;
  const auto serializer = rabbitmq_test::make_serializer();
  auto options = names.consumer_options();
  options.unhandled = ev::UnhandledMessagePolicy::dead_letter;
  options.binding_keys = {"OrderCancelled"};
  ev::RabbitMqEventConsumer consumer(serializer, options);
  Seen seen;
  auto placed = consumer.register_handler([&](const OrderPlaced& e) { seen.add(record(consumer, e)); });
  consumer.start();
  REQUIRE(consumer.wait_until_consuming(15s));

  // OrderCancelled reaches the queue (binding_keys) but has no handler here.
  RawClient client;
  const std::string payload = serializer.serialize(OrderCancelled("o-9"));
  client.publish(names.exchange, "OrderCancelled", payload, std::string("OrderCancelled"));
  REQUIRE(eventually([&] { return consumer.stats().dead_lettered == 1; }, 15s));
  CHECK(consumer.stats().acked == 0);
  CHECK(consumer.stats().requeued == 0);
  const auto dead = client.get_within(names.dead_letter, 5s);
  REQUIRE(dead.has_value());
  CHECK(dead->body == payload);
  CHECK(dead->headers.count("x-spakky-delivery-attempt") == 0);
  CHECK_THAT(dead->headers.at("x-spakky-death-reason"), Catch::Contains("no handler took event 'OrderCancelled'"));
  CHECK(consumer.consuming());  // OrderPlaced still has its handler

  // A binding key stays bound: a confirmed send of it still finds the queue.
  ev::RabbitMqEventTransport transport({.url = broker_url(), .exchange = names.exchange});
  CHECK_NOTHROW(transport.send("OrderCancelled", payload, {}));
  CHECK(eventually([&] { return consumer.stats().dead_lettered == 2; }, 15s));
}

TEST_CASE("a dead-letter copy carries the header table as it came, every AMQP type, minus bearer tokens",
          "[rabbitmq][consumer][headers]") {
  Names names;
  const auto serializer = rabbitmq_test::make_serializer();
  ev::RabbitMqEventConsumer consumer(serializer, names.consumer_options());
  auto subscription = consumer.register_handler([](const OrderPlaced&) {});
  consumer.start();
  REQUIRE(consumer.wait_until_consuming(15s));

  const auto field = [](char kind) {
    amqp_field_value_t value{};
    value.kind = static_cast<std::uint8_t>(kind);
    return value;
  };
  const auto text = [&](const char* value) {
    amqp_field_value_t result = field(AMQP_FIELD_KIND_UTF8);
    result.value.bytes = amqp_cstring_bytes(value);
    return result;
  };
  const auto entry = [](const char* key, amqp_field_value_t value) {
    amqp_table_entry_t result{};
    result.key = amqp_cstring_bytes(key);
    result.value = value;
    return result;
  };
  amqp_field_value_t number = field(AMQP_FIELD_KIND_I32);
  number.value.i32 = -42;
  amqp_field_value_t big = field(AMQP_FIELD_KIND_I64);
  big.value.i64 = 9'000'000'000;
  amqp_field_value_t flag = field(AMQP_FIELD_KIND_BOOLEAN);
  flag.value.boolean = 1;
  amqp_field_value_t ratio = field(AMQP_FIELD_KIND_F64);
  ratio.value.f64 = 0.5;
  amqp_field_value_t when = field(AMQP_FIELD_KIND_TIMESTAMP);
  when.value.u64 = 1'700'000'000;
  const std::string raw_bytes("\x00\xff\x10", 3);
  amqp_field_value_t raw = field(AMQP_FIELD_KIND_BYTES);
  raw.value.bytes = {raw_bytes.size(), const_cast<char*>(raw_bytes.data())};
  amqp_field_value_t off = field(AMQP_FIELD_KIND_BOOLEAN);
  off.value.boolean = 0;
  std::vector<amqp_table_entry_t> deeper{entry("b", off)};
  amqp_field_value_t deeper_table = field(AMQP_FIELD_KIND_TABLE);
  deeper_table.value.table = {1, deeper.data()};
  std::vector<amqp_table_entry_t> inner{entry("a", text("x")), entry("n", number), entry("deeper", deeper_table)};
  amqp_field_value_t nested = field(AMQP_FIELD_KIND_TABLE);
  nested.value.table = {static_cast<int>(inner.size()), inner.data()};
  std::vector<amqp_table_entry_t> in_list{entry("c", text("d"))};
  amqp_field_value_t list_table = field(AMQP_FIELD_KIND_TABLE);
  list_table.value.table = {1, in_list.data()};
  std::vector<amqp_field_value_t> items{number, text("two"), list_table};
  amqp_field_value_t list = field(AMQP_FIELD_KIND_ARRAY);
  list.value.array = {static_cast<int>(items.size()), items.data()};

  std::vector<amqp_table_entry_t> kept{
      entry("tenant", text("acme")), entry("count", number),   entry("big", big),   entry("flag", flag),
      entry("ratio", ratio),         entry("when", when),       entry("raw", raw),   entry("nested", nested),
      entry("list", list),           entry("Authorization-Hint", text("Bearer is the scheme")),
      entry("Authorization", text("Basic dXNlcjpwYXNz")),
  };
  std::vector<amqp_table_entry_t> all = kept;
  all.insert(all.begin() + 2, entry("Authorization", text("Bearer secret-token")));
  all.push_back(entry("proxy-authorization", text("bearer other-secret")));
  all.push_back(entry(" Authorization ", text("Basic a, Bearer third-secret")));

  RawClient client;
  client.publish_table(names.exchange, "OrderPlaced", "not a payload", "OrderPlaced",
                       amqp_table_t{static_cast<int>(all.size()), all.data()});
  REQUIRE(eventually([&] { return consumer.stats().dead_lettered == 1; }, 15s));

  const auto dead = client.get_within(names.dead_letter, 5s);
  REQUIRE(dead.has_value());
  CHECK(render_headers(dead->table.table()) ==
        render_headers(amqp_table_t{static_cast<int>(kept.size()), kept.data()}));
  CHECK(dead->table.find("x-spakky-death-reason") != nullptr);
  CHECK(dead->table.find("x-spakky-original-exchange") != nullptr);
}
