// AsyncRabbitMqEventConsumer against the test broker: coroutine handlers of many messages at
// once (Task<> and asio::awaitable<void>), acks in any order, one partition key in order,
// retries and dead letters by the shared rule, and a stop that finishes what runs and puts
// back what waits.

#include "rabbitmq_consumer_fixtures.hpp"
#include "support/coro.hpp"
#include "support/parking.hpp"
#include "support/sync.hpp"

#include <spakky/event/bus/direct_event_bus.hpp>
#include <spakky/event/rabbitmq.hpp>

#include <asio.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace ev = spakky::event;
using namespace std::chrono_literals;
using rabbitmq_test::Names;
using rabbitmq_test::OrderPlaced;
using test_support::eventually;
using test_support::Parking;
using test_support::rabbitmq::broker_url;
using test_support::rabbitmq::RawClient;

namespace {

/// Sends OrderPlaced(id, quantity) with header `customer` straight through a transport.
struct Sender {
  explicit Sender(const std::string& exchange)
      : transport({.url = broker_url(), .exchange = exchange}), serializer(rabbitmq_test::make_serializer()) {}
  void send(const std::string& id, const std::string& customer = {}) {
    ev::Headers headers;
    if (!customer.empty()) headers["customer"] = customer;
    transport.send("OrderPlaced", serializer.serialize(OrderPlaced(id, 1)), headers);
  }
  ev::RabbitMqEventTransport transport;
  test_support::TestSerializer serializer;
};

/// Records strings from any thread.
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

}  // namespace

TEST_CASE("coroutine handlers of many messages run at once; each message is acked when its handlers are done",
          "[rabbitmq][async-consumer]") {
  Names names;
  const auto serializer = rabbitmq_test::make_serializer();
  Parking parking;
  auto options = names.consumer_options();
  options.prefetch = 10;
  options.max_in_flight = 4;
  ev::AsyncRabbitMqEventConsumer<> consumer(serializer, options);
  auto sub = consumer.register_handler([&](const OrderPlaced& e) -> ev::Task<> {
    const ev::IncomingMessage* message = consumer.message_of(e);
    if (message == nullptr || message->event_name != "OrderPlaced") throw std::logic_error("no message");
    co_await parking.park(e.order_id);
  });
  consumer.start();
  REQUIRE(consumer.wait_until_consuming(15s));
  Sender sender(names.exchange);
  for (int i = 1; i <= 6; ++i) sender.send("o-" + std::to_string(i));

  REQUIRE(eventually([&] { return parking.size() == 4; }, 10s));  // max_in_flight at once
  CHECK(parking.tags() == std::vector<std::string>{"o-1", "o-2", "o-3", "o-4"});
  REQUIRE(parking.resume("o-3"));  // finishing out of order: acked on its own
  CHECK(eventually([&] { return consumer.stats().acked == 1; }, 10s));
  CHECK(eventually([&] { return parking.size() == 4; }, 10s));  // o-5 took its place
  while (consumer.stats().acked < 6) {
    parking.resume_all();
    std::this_thread::sleep_for(1ms);
  }
  consumer.stop();
  CHECK(consumer.stats().acked == 6);
  CHECK(RawClient().message_count(names.queue) == 0);
}

TEST_CASE("one partition key's messages are handled one at a time in order, other keys concurrently",
          "[rabbitmq][async-consumer]") {
  Names names;
  const auto serializer = rabbitmq_test::make_serializer();
  Parking parking;
  Log started;
  auto options = names.consumer_options();
  options.max_in_flight = 8;
  options.partition_key = ev::partition_by_header("customer");
  ev::AsyncRabbitMqEventConsumer<> consumer(serializer, options);
  auto sub = consumer.register_handler([&](const OrderPlaced& e) -> ev::Task<> {
    started.add(e.order_id);
    co_await parking.park(e.order_id);
  });
  consumer.start();
  REQUIRE(consumer.wait_until_consuming(15s));
  Sender sender(names.exchange);
  sender.send("a1", "alice");
  sender.send("a2", "alice");
  sender.send("b1", "bob");
  sender.send("a3", "alice");
  sender.send("b2", "bob");

  REQUIRE(eventually([&] { return parking.size() == 2; }, 10s));
  CHECK(parking.tags() == std::vector<std::string>{"a1", "b1"});
  REQUIRE(parking.resume("a1"));
  REQUIRE(eventually([&] { return started.snapshot().size() == 3; }, 10s));
  CHECK(started.snapshot().back() == "a2");
  REQUIRE(parking.resume("a2"));
  REQUIRE(eventually([&] { return started.snapshot().size() == 4; }, 10s));
  CHECK(started.snapshot().back() == "a3");
  while (consumer.stats().acked < 5) {
    parking.resume_all();
    std::this_thread::sleep_for(1ms);
  }
  consumer.stop();
  const auto order = started.snapshot();
  CHECK(order == std::vector<std::string>{"a1", "b1", "a2", "a3", "b2"});
}

TEST_CASE("a failing coroutine handler is retried and dead-lettered by the same rule as the synchronous consumer",
          "[rabbitmq][async-consumer]") {
  Names names;
  const auto serializer = rabbitmq_test::make_serializer();
  test_support::Executor executor;
  auto options = names.consumer_options();
  options.max_delivery_attempts = 3;
  ev::AsyncRabbitMqEventConsumer<> consumer(serializer, options);
  consumer.set_error_handler([](const ev::AbstractEvent&, std::exception_ptr) {});
  std::atomic<int> calls{0};
  auto sub = consumer.register_handler([&](const OrderPlaced&) -> ev::Task<> {
    co_await executor.schedule();  // fails on another thread
    calls.fetch_add(1);
    throw std::runtime_error("carrier API down");
  });
  consumer.start();
  REQUIRE(consumer.wait_until_consuming(15s));
  Sender sender(names.exchange);
  sender.send("o-9");

  REQUIRE(eventually([&] { return consumer.stats().dead_lettered == 1; }, 15s));
  consumer.stop();
  CHECK(calls.load() == 3);
  CHECK(consumer.stats().retried == 2);
  RawClient client;
  const auto dead = client.get(names.dead_letter);
  REQUIRE(dead.has_value());
  CHECK(dead->headers.at("x-spakky-delivery-attempt") == "3");
  CHECK_THAT(dead->headers.at("x-spakky-death-reason"),
             Catch::Contains("carrier API down") && Catch::Contains("3 delivery attempts"));
}

TEST_CASE("stop() lets the running handlers finish and acks them, and puts back what had not started",
          "[rabbitmq][async-consumer]") {
  Names names;
  const auto serializer = rabbitmq_test::make_serializer();
  Parking parking;
  std::atomic<int> finished{0};
  auto options = names.consumer_options();
  options.prefetch = 10;
  options.max_in_flight = 2;
  ev::AsyncRabbitMqEventConsumer<> consumer(serializer, options);
  auto sub = consumer.register_handler([&](const OrderPlaced& e) -> ev::Task<> {
    co_await parking.park(e.order_id);
    finished.fetch_add(1);
  });
  consumer.start();
  REQUIRE(consumer.wait_until_consuming(15s));
  Sender sender(names.exchange);
  for (int i = 1; i <= 5; ++i) sender.send("o-" + std::to_string(i));
  REQUIRE(eventually([&] { return parking.size() == 2; }, 10s));

  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    consumer.stop();  // waits for the two that run
    stopped.store(true);
  });
  std::this_thread::sleep_for(200ms);
  CHECK_FALSE(stopped.load());  // still waiting for its handlers
  parking.resume_all();
  stopper.join();
  CHECK(finished.load() == 2);
  CHECK(consumer.stats().acked == 2);
  CHECK(consumer.stats().redelivered == 0);
  // The three it held but had not started wait in the queue, with no attempt counted.
  RawClient client;
  CHECK(eventually([&] { return client.message_count(names.queue) == 3; }, 10s));
  const auto waiting = client.get(names.queue);
  REQUIRE(waiting.has_value());
  CHECK(waiting->headers.count("x-spakky-delivery-attempt") == 0);
}

TEST_CASE("asio::awaitable handlers run concurrently on the io_context of the launcher", "[rabbitmq][async-consumer][asio]") {
  Names names;
  const auto serializer = rabbitmq_test::make_serializer();
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  asio::steady_timer gate(io, asio::steady_timer::time_point::max());
  std::atomic<int> waiting{0};
  std::thread io_thread([&] { io.run(); });
  {
    using Awaitable = asio::awaitable<void>;
    ev::AsyncRabbitMqEventConsumer<Awaitable> consumer(
        serializer, names.consumer_options(), [ex = io.get_executor()](auto handling, auto done) {
          asio::co_spawn(ex, std::move(handling), std::move(done));
        });
    auto sub = consumer.register_handler([&](const OrderPlaced&) -> Awaitable {
      waiting.fetch_add(1);
      std::error_code ec;
      co_await gate.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    });
    consumer.start();
    REQUIRE(consumer.wait_until_consuming(15s));
    Sender sender(names.exchange);
    for (int i = 0; i < 8; ++i) sender.send("o-" + std::to_string(i));
    REQUIRE(eventually([&] { return waiting.load() == 8; }, 10s));  // all eight at once
    asio::post(io, [&] { gate.cancel(); });
    REQUIRE(eventually([&] { return consumer.stats().acked == 8; }, 10s));
    consumer.stop();
  }
  work.reset();
  io_thread.join();
}

TEST_CASE("a handler still running after shutdown_timeout: the connection closes and the broker requeues its message",
          "[rabbitmq][async-consumer]") {
  Names names;
  const auto serializer = rabbitmq_test::make_serializer();
  Parking parking;
  auto options = names.consumer_options();
  options.shutdown_timeout = 300ms;
  ev::AsyncRabbitMqEventConsumer<> consumer(serializer, options);
  auto sub = consumer.register_handler([&](const OrderPlaced& e) -> ev::Task<> { co_await parking.park(e.order_id); });
  consumer.start();
  REQUIRE(consumer.wait_until_consuming(15s));
  Sender sender(names.exchange);
  sender.send("slow");
  REQUIRE(eventually([&] { return parking.size() == 1; }, 10s));

  std::thread stopper([&] { consumer.stop(); });  // returns once the handler has ended
  RawClient client;
  // Past the timeout the message is back in the queue, unacknowledged, while its handler runs.
  CHECK(eventually([&] { return client.message_count(names.queue) == 1; }, 10s));
  parking.resume_all();
  stopper.join();
  CHECK(consumer.stats().acked == 0);
  const auto back = client.get(names.queue);
  REQUIRE(back.has_value());
  CHECK(back->redelivered);  // the next consumer counts it as an attempt
}

TEST_CASE("a consumer destroyed while its handler completes on another thread: the completion touches nothing of it after",
          "[rabbitmq][async-consumer][asio]") {
  // The handler's completion (on the io_context's thread) hands its result to the run loop,
  // which may settle it, end and let the consumer be destroyed at once: nothing of the
  // consumer may be touched by that completion afterwards (TSan and ASan see it if it is).
  Names names;
  const auto serializer = rabbitmq_test::make_serializer();
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  std::thread io_thread([&] { io.run(); });
  Sender sender(names.exchange);
  RawClient client;
  constexpr int rounds = 20;
  for (int round = 0; round < rounds; ++round) {
    using Awaitable = asio::awaitable<void>;
    ev::AsyncRabbitMqEventConsumer<Awaitable> consumer(
        serializer, names.consumer_options(), [ex = io.get_executor()](auto handling, auto done) {
          asio::co_spawn(ex, std::move(handling), std::move(done));
        });
    std::atomic<bool> started{false};
    auto sub = consumer.register_handler([&](const OrderPlaced&) -> Awaitable {
      started.store(true);
      asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::microseconds(200 * (round % 5)));
      co_await timer.async_wait(asio::use_awaitable);
    });
    consumer.start();
    REQUIRE(consumer.wait_until_consuming(15s));
    sender.send("o-" + std::to_string(round));
    REQUIRE(eventually([&] { return started.load(); }, 10s));
  }  // the destructor stops: waits for the handler, settles it, ends; then the consumer is gone
  work.reset();
  io_thread.join();
  CHECK(client.message_count(names.queue) == 0);  // every message was acked before its consumer ended
}
