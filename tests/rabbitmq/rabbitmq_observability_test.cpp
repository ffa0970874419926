// What the RabbitMQ consumers (sync and coroutine) report to the metrics observer and the
// log, against the test broker: every redelivery (on_retried, a warn record), every dead
// letter (on_dead_lettered, an error record) and every acknowledged message (on_consumed),
// the handler's reason escaped in the log; and what the transports report: every message
// sent, and in confirmed mode every confirm.

#include "rabbitmq_consumer_fixtures.hpp"
#include "support/coro.hpp"
#include "support/counting_metrics.hpp"
#include "support/log_capture.hpp"
#include "support/sync.hpp"

#include <spakky/event/rabbitmq.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace ev = spakky::event;
using namespace std::chrono_literals;
using rabbitmq_test::Names;
using rabbitmq_test::OrderPlaced;
using test_support::CountingMetrics;
using test_support::eventually;
using test_support::LogCapture;
using test_support::rabbitmq::broker_url;
using test_support::rabbitmq::RawClient;

namespace {

/// "o-flaky" fails on its first two deliveries; "o-poison" fails on every one, with a reason
/// that tries to forge a second log line.
void fail_as_planned(const OrderPlaced& e, std::uint32_t attempt) {
  if (e.order_id == "o-flaky" && attempt <= 2) throw std::runtime_error("inventory busy");
  if (e.order_id == "o-poison") throw std::runtime_error("down\nspakky::event [info] forged: all fine");
}

/// The consumer's reports of one flaky and one poison message, 3 attempts allowed.
void check_reports(const CountingMetrics& metrics, const LogCapture& log) {
  REQUIRE(eventually([&] { return metrics.consumed == 1 && metrics.dead_lettered == 1; }, 15s));
  REQUIRE(eventually([&] { return log.matching("rabbitmq.consumer", "dead-lettered").size() == 1; }, 15s));
  CHECK(metrics.retried == 4);  // two of each

  const std::vector<std::string> reports = metrics.log();
  const auto reported = [&](const std::string& entry) {
    return std::count(reports.begin(), reports.end(), entry);
  };
  CHECK(reported("consumed OrderPlaced") == 1);
  CHECK(reported("retried OrderPlaced 1") == 2);
  CHECK(reported("retried OrderPlaced 2") == 2);
  CHECK(reported("dead-lettered OrderPlaced: down\\nspakky::event [info] forged: all fine") == 1);

  const auto flaky = log.matching("rabbitmq.consumer", "failed, delivering it again: inventory busy");
  REQUIRE(flaky.size() == 2);
  CHECK(flaky[0].level == ev::LogLevel::warn);
  CHECK(flaky[0].message == "delivery 1 of 'OrderPlaced' failed, delivering it again: inventory busy");
  CHECK(flaky[1].message == "delivery 2 of 'OrderPlaced' failed, delivering it again: inventory busy");
  CHECK(log.matching("rabbitmq.consumer", "failed, delivering it again: down\\n").size() == 2);
  const auto dead = log.matching("rabbitmq.consumer", "dead-lettered");
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].level == ev::LogLevel::error);
  CHECK(dead[0].message == "dead-lettered 'OrderPlaced' after 3 deliveries: down\\nspakky::event [info] forged: all fine");
  for (const auto& record : log.records()) CHECK(record.message.find('\n') == std::string::npos);
}

}  // namespace

TEST_CASE("the RabbitMQ consumer reports retries, dead letters and consumed messages, and logs them escaped",
          "[rabbitmq][consumer][observability]") {
  CountingMetrics metrics;
  LogCapture log;
  Names names;
  const auto serializer = rabbitmq_test::make_serializer();
  auto options = names.consumer_options();
  options.max_delivery_attempts = 3;
  ev::RabbitMqEventConsumer consumer(serializer, options);
  consumer.set_error_handler([](const ev::AbstractEvent&, std::exception_ptr) {});  // expected failures
  auto subscription = consumer.register_handler([&](const OrderPlaced& e) {
    fail_as_planned(e, consumer.current_message()->delivery_attempt);
  });
  consumer.start();
  REQUIRE(consumer.wait_until_consuming(15s));

  ev::RabbitMqEventTransport transport({.url = broker_url(), .exchange = names.exchange});
  transport.send("OrderPlaced", serializer.serialize(OrderPlaced("o-flaky", 1)), {});
  transport.send("OrderPlaced", serializer.serialize(OrderPlaced("o-poison", 1)), {});

  check_reports(metrics, log);
  consumer.stop();
}

TEST_CASE("the coroutine RabbitMQ consumer reports retries, dead letters and consumed messages the same way",
          "[rabbitmq][async-consumer][observability]") {
  CountingMetrics metrics;
  LogCapture log;
  Names names;
  const auto serializer = rabbitmq_test::make_serializer();
  test_support::Executor executor;
  auto options = names.consumer_options();
  options.max_delivery_attempts = 3;
  ev::AsyncRabbitMqEventConsumer<> consumer(serializer, options);
  consumer.set_error_handler([](const ev::AbstractEvent&, std::exception_ptr) {});
  auto subscription = consumer.register_handler([&](const OrderPlaced& e) -> ev::Task<> {
    const std::uint32_t attempt = consumer.message_of(e)->delivery_attempt;
    co_await executor.schedule();  // fails on another thread
    fail_as_planned(e, attempt);
  });
  consumer.start();
  REQUIRE(consumer.wait_until_consuming(15s));

  ev::RabbitMqEventTransport transport({.url = broker_url(), .exchange = names.exchange});
  transport.send("OrderPlaced", serializer.serialize(OrderPlaced("o-flaky", 1)), {});
  transport.send("OrderPlaced", serializer.serialize(OrderPlaced("o-poison", 1)), {});

  check_reports(metrics, log);
  consumer.stop();
}

TEST_CASE("the RabbitMQ transports report every message sent, and in confirmed mode its confirm",
          "[rabbitmq][transport][observability]") {
  CountingMetrics metrics;
  Names names;
  RawClient client;
  client.declare_exchange(names.exchange);
  client.declare_queue(names.queue);
  client.bind(names.queue, names.exchange, "OrderPlaced");

  ev::RabbitMqEventTransport confirmed({.url = broker_url(), .exchange = names.exchange});
  confirmed.send("OrderPlaced", "c-1", {});
  confirmed.send("OrderPlaced", "c-2", {});
  CHECK(metrics.sent == 2);
  CHECK(metrics.confirmed == 2);
  CHECK(metrics.confirmed_with_latency == 2);
  // A message no queue takes fails its send: neither sent nor confirmed.
  CHECK_THROWS_AS(confirmed.send("NobodyListens", "lost", {}), ev::TransportError);
  CHECK(metrics.sent == 2);
  CHECK(metrics.confirmed == 2);

  ev::RabbitMqEventTransport unconfirmed(
      {.url = broker_url(), .exchange = names.exchange, .delivery_mode = ev::RabbitMqDeliveryMode::unconfirmed});
  unconfirmed.send("OrderPlaced", "u-1", {});
  CHECK(metrics.sent == 3);
  CHECK(metrics.confirmed == 2);

  ev::AsyncRabbitMqEventTransport async_confirmed({.url = broker_url(), .exchange = names.exchange});
  ev::sync_wait(async_confirmed.send("OrderPlaced", "ac-1", {}));
  ev::sync_wait(async_confirmed.send("OrderPlaced", "ac-2", {}));
  CHECK_THROWS_AS(ev::sync_wait(async_confirmed.send("NobodyListens", "lost", {})), ev::TransportError);
  CHECK(metrics.sent == 5);
  CHECK(metrics.confirmed == 4);
  CHECK(metrics.confirmed_with_latency == 4);

  ev::AsyncRabbitMqEventTransport async_unconfirmed(
      {.url = broker_url(), .exchange = names.exchange, .delivery_mode = ev::RabbitMqDeliveryMode::unconfirmed});
  ev::sync_wait(async_unconfirmed.send("OrderPlaced", "au-1", {}));
  CHECK(metrics.sent == 6);
  CHECK(metrics.confirmed == 4);

  const std::vector<std::string> reports = metrics.log();
  CHECK(std::count(reports.begin(), reports.end(), "sent OrderPlaced") == 6);
  CHECK(std::count(reports.begin(), reports.end(), "confirmed OrderPlaced") == 4);
  CHECK(eventually([&] { return client.message_count(names.queue) == 6; }, 10s));
}
