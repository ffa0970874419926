// AsyncInMemoryEventConsumer: coroutine handlers (Task<> and asio::awaitable<void>), many
// messages at once up to max_in_flight, one partition key's messages in order, retries and
// dead letters by the same rule as the synchronous consumer, the message seen through
// message_of(), and a destructor that waits for what it received.

#include "support/coro.hpp"
#include "support/parking.hpp"
#include "support/sync.hpp"

#include <spakky/event/bus/direct_event_bus.hpp>
#include <spakky/event/inmemory/in_memory_transport.hpp>
#include <spakky/event/json.hpp>
#include <spakky/event/task.hpp>

#include <asio.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <coroutine>
#include <deque>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace async_inmemory_test {

namespace ev = spakky::event;
using namespace std::chrono_literals;

struct OrderPlaced final : ev::AbstractIntegrationEvent {
  OrderPlaced(std::string id, int qty) : order_id(std::move(id)), quantity(qty) {}
  OrderPlaced(ev::EventId id, ev::Timestamp at) : AbstractIntegrationEvent(id, at) {}
  std::string order_id;
  int quantity = 0;
};
SPAKKY_EVENT_JSON_FIELDS(OrderPlaced, order_id, quantity)

using test_support::Parking;

struct Wire {
  ev::JsonEventSerializer serializer = [] {
    ev::JsonEventSerializer s;
    s.register_event<OrderPlaced>();
    return s;
  }();
  ev::InMemoryEventTransport transport;
  ev::DirectEventBus bus{transport, serializer};
};

/// Records what handlers did, from any thread.
struct Log {
  void add(std::string entry) {
    const std::lock_guard lock(mutex);
    entries.push_back(std::move(entry));
  }
  std::vector<std::string> snapshot() const {
    const std::lock_guard lock(mutex);
    return entries;
  }
  mutable std::mutex mutex;
  std::vector<std::string> entries;
};

}  // namespace async_inmemory_test

using namespace async_inmemory_test;

TEST_CASE("coroutine handlers of many messages run at once, up to max_in_flight; the rest wait their turn",
          "[inmemory][async]") {
  Wire wire;
  Parking parking;
  Log log;
  ev::AsyncInMemoryEventConsumer<> consumer(wire.transport, wire.serializer, {.max_in_flight = 3});
  auto sub = consumer.register_handler([&](const OrderPlaced& e) -> ev::Task<> {
    log.add("start " + e.order_id);
    co_await parking.park(e.order_id);
    log.add("end " + e.order_id);
  });

  for (int i = 1; i <= 5; ++i) wire.bus.send(OrderPlaced("o-" + std::to_string(i), i));  // send returns at once
  CHECK(consumer.in_flight() == 3);
  CHECK(parking.tags() == std::vector<std::string>{"o-1", "o-2", "o-3"});
  CHECK_FALSE(consumer.wait_idle(0ms));

  REQUIRE(parking.resume("o-2"));  // one done: the next in line starts
  CHECK(parking.tags() == std::vector<std::string>{"o-1", "o-3", "o-4"});
  parking.resume_all();
  parking.resume_all();  // o-5 parked meanwhile
  REQUIRE(consumer.wait_idle(5s));
  CHECK(consumer.acknowledged() == 5);
  CHECK(consumer.dead_letters().empty());
  CHECK(log.snapshot().size() == 10);
}

TEST_CASE("one partition key's messages run one at a time in order; other keys go past them", "[inmemory][async]") {
  Wire wire;
  Parking parking;
  Log log;
  ev::AsyncInMemoryEventConsumer<> consumer(wire.transport, wire.serializer,
                                            {.max_in_flight = 8, .partition_key = ev::partition_by_header("customer")});
  auto sub = consumer.register_handler([&](const OrderPlaced& e) -> ev::Task<> {
    log.add(e.order_id);
    co_await parking.park(e.order_id);
  });
  const auto send = [&](const std::string& id, const std::string& customer) {
    const OrderPlaced event(id, 1);
    wire.transport.send("OrderPlaced", wire.serializer.serialize(event), {{"customer", customer}});
  };
  send("a1", "alice");
  send("a2", "alice");
  send("b1", "bob");
  send("a3", "alice");
  send("b2", "bob");
  send("n1", "");  // no key: no order to keep
  CHECK(log.snapshot() == std::vector<std::string>{"a1", "b1", "n1"});

  REQUIRE(parking.resume("b1"));
  CHECK(log.snapshot() == std::vector<std::string>{"a1", "b1", "n1", "b2"});
  REQUIRE(parking.resume("a1"));
  REQUIRE(parking.resume("a2"));
  CHECK(log.snapshot() == std::vector<std::string>{"a1", "b1", "n1", "b2", "a2", "a3"});
  parking.resume_all();
  REQUIRE(consumer.wait_idle(5s));
  CHECK(consumer.acknowledged() == 6);
}

TEST_CASE("a failing coroutine handler is retried, keeping its key, then dead-lettered with the reason",
          "[inmemory][async]") {
  Wire wire;
  test_support::Executor executor;
  Log log;
  ev::AsyncInMemoryEventConsumer<> consumer(wire.transport, wire.serializer,
                                            {.max_delivery_attempts = 3, .partition_key = ev::partition_by_header("k")});
  consumer.set_error_handler([](const ev::AbstractEvent&, std::exception_ptr) {});
  auto sub = consumer.register_handler([&](const OrderPlaced& e) -> ev::Task<> {
    co_await executor.schedule();  // completes on another thread
    const ev::IncomingMessage* message = consumer.message_of(e);
    log.add(e.order_id + "#" + std::to_string(message != nullptr ? message->delivery_attempt : 0));
    if (e.order_id == "bad") throw std::runtime_error("warehouse offline");
  });
  const auto send = [&](const std::string& id) {
    wire.transport.send("OrderPlaced", wire.serializer.serialize(OrderPlaced(id, 1)), {{"k", "same"}});
  };
  send("bad");
  send("good");
  REQUIRE(consumer.wait_idle(5s));
  // The retries of "bad" ran before "good", which has the same key.
  CHECK(log.snapshot() == std::vector<std::string>{"bad#1", "bad#2", "bad#3", "good#1"});
  const auto dead = consumer.dead_letters();
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].reason == "warehouse offline");
  CHECK(dead[0].message.delivery_attempt == 3);
  CHECK(consumer.acknowledged() == 1);
}

TEST_CASE("an unreadable message is dead-lettered at once; a message no handler took is redelivered, then dead-lettered",
          "[inmemory][async]") {
  Wire wire;
  ev::AsyncInMemoryEventConsumer<> consumer(wire.transport, wire.serializer, {.max_delivery_attempts = 2});
  int calls = 0;
  auto sub = consumer.register_handler([&](const OrderPlaced&) -> ev::Task<> {
    ++calls;
    co_return;
  });
  wire.transport.send("OrderPlaced", "{not json", {});
  REQUIRE(consumer.wait_idle(5s));
  REQUIRE(consumer.dead_letters().size() == 1);
  CHECK(consumer.dead_letters()[0].message.delivery_attempt == 1);

  sub.cancel_and_wait();
  wire.bus.send(OrderPlaced("o-1", 1));
  REQUIRE(consumer.wait_idle(5s));
  CHECK(calls == 0);
  const auto dead = consumer.dead_letters();
  REQUIRE(dead.size() == 2);
  CHECK_THAT(dead[1].reason, Catch::Contains("no handler took event 'OrderPlaced'") &&
                                 Catch::Contains("2 delivery attempts"));
  CHECK_FALSE(consumer.is_bound("OrderPlaced"));
}

TEST_CASE("the destructor waits until every message it received is settled", "[inmemory][async]") {
  Wire wire;
  Parking parking;
  std::atomic<int> finished{0};
  std::atomic<bool> stop{false};
  std::thread resumer;
  {
    ev::AsyncInMemoryEventConsumer<> consumer(wire.transport, wire.serializer, {.max_in_flight = 1});
    auto sub = consumer.register_handler([&](const OrderPlaced& e) -> ev::Task<> {
      co_await parking.park(e.order_id);
      finished.fetch_add(1);
    });
    wire.bus.send(OrderPlaced("o-1", 1));
    wire.bus.send(OrderPlaced("o-2", 1));  // waits behind o-1
    REQUIRE(parking.size() == 1);
    sub.cancel();  // a running call keeps its handler; o-2 will find none
    resumer = std::thread([&] {
      while (!stop.load()) {
        parking.resume_all();
        std::this_thread::sleep_for(1ms);
      }
    });
  }  // waits for o-1 to end, and for o-2 to be settled (no handler: dead-lettered after its attempts)
  CHECK(finished.load() == 1);
  stop.store(true);
  resumer.join();
}

TEST_CASE("asio::awaitable handlers run at once on the io_context the launcher gives them", "[inmemory][async][asio]") {
  Wire wire;
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  asio::steady_timer gate(io, asio::steady_timer::time_point::max());
  std::atomic<int> waiting{0};
  std::thread io_thread([&] { io.run(); });
  Log log;
  {
    using Awaitable = asio::awaitable<void>;
    ev::AsyncInMemoryEventConsumer<Awaitable> consumer(
        wire.transport, wire.serializer,
        {.max_in_flight = 16, .launcher = [ex = io.get_executor()](auto handling, auto done) {
           asio::co_spawn(ex, std::move(handling), std::move(done));
         }});
    auto sub = consumer.register_handler([&](const OrderPlaced& e) -> Awaitable {
      waiting.fetch_add(1);
      std::error_code ec;
      co_await gate.async_wait(asio::redirect_error(asio::use_awaitable, ec));  // until the test opens it
      log.add(e.order_id + (std::this_thread::get_id() == io_thread.get_id() ? " on io" : " elsewhere"));
    });
    for (int i = 0; i < 10; ++i) wire.bus.send(OrderPlaced("o-" + std::to_string(i), 1));
    // All ten are waiting at the same time: they run concurrently, not one after another.
    REQUIRE(test_support::eventually([&] { return waiting.load() == 10; }, 10s));
    asio::post(io, [&] { gate.cancel(); });
    REQUIRE(consumer.wait_idle(10s));
    CHECK(consumer.acknowledged() == 10);
  }
  work.reset();
  io_thread.join();
  const auto entries = log.snapshot();
  REQUIRE(entries.size() == 10);
  for (const auto& entry : entries) CHECK_THAT(entry, Catch::EndsWith(" on io"));
}
