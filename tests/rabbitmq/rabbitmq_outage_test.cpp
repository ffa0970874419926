// The broker goes away mid-stream and comes back (a full stop and start of the test node):
// sends during the outage fail promptly with TransportError, the transports reconnect after
// it, the consumer resumes, and every message whose send returned is delivered at least once.
//
// Runs alone (RUN_SERIAL): it stops the broker the other tests use.

#include "rabbitmq_events.hpp"
#include "support/coro.hpp"
#include "support/counting_metrics.hpp"
#include "support/rabbitmq_broker.hpp"
#include "support/sync.hpp"

#include <spakky/event/rabbitmq.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace ev = spakky::event;
using namespace std::chrono_literals;
using test_support::eventually;
using test_support::rabbitmq::broker_url;
using test_support::rabbitmq::RawClient;
using test_support::rabbitmq::unique_name;

namespace {

/// Runs scripts/rabbitmq-test-broker.sh <command> (its path and port come from CTest).
int broker(const std::string& command) {
  const char* script = std::getenv("SPAKKY_RABBITMQ_BROKER_SCRIPT");
  if (script == nullptr) throw std::runtime_error("SPAKKY_RABBITMQ_BROKER_SCRIPT is not set: run through ctest");
  const std::string line = "'" + std::string(script) + "' " + command + " >/dev/null";
  return std::system(line.c_str());
}

/// What one send did.
struct SendRecord {
  int id;
  bool confirmed;
  bool transport_error;  // failed with TransportError (anything else is a bug)
  std::chrono::milliseconds took;
};

}  // namespace

TEST_CASE("broker stopped and started mid-stream: prompt errors, reconnect, at-least-once delivery",
          "[rabbitmq][outage]") {
  test_support::CountingMetrics metrics;  // outlives the consumer and the transports below
  const std::string exchange = unique_name("test.outage");
  const std::string queue = unique_name("test.outage");
  const auto serializer = rabbitmq_test::make_serializer();

  // The consumer: counts every id it receives.
  ev::RabbitMqEventConsumer consumer(serializer, {.url = broker_url(), .exchange = exchange, .queue = queue,
                                                  .reconnect_delay = 100ms, .max_reconnect_delay = 500ms});
  std::mutex received_mutex;
  std::multiset<std::string> received;
  auto subscription = consumer.register_handler([&](const rabbitmq_test::OrderPlaced& e) {
    const std::lock_guard lock(received_mutex);
    received.insert(e.order_id);
  });
  std::atomic<int> connection_errors{0};
  consumer.set_connection_error_handler([&](const std::string&) { ++connection_errors; });
  consumer.start();
  REQUIRE(consumer.wait_until_consuming(15s));

  // The sender: a confirmed transport sending one message every few milliseconds.
  constexpr auto connect_timeout = 2000ms;
  ev::RabbitMqEventTransport transport({.url = broker_url(), .exchange = exchange, .connect_timeout = connect_timeout});
  std::vector<SendRecord> records;  // sender thread only, read after join
  std::atomic<int> confirmed_total{0};
  std::atomic<int> confirmed_after_restart{0};
  std::atomic<bool> restarted{false};
  std::atomic<bool> stop_sending{false};
  std::thread sender([&] {
    for (int id = 0; !stop_sending.load(); ++id) {
      const auto started = std::chrono::steady_clock::now();
      SendRecord record{id, false, false, {}};
      try {
        transport.send("OrderPlaced", serializer.serialize(rabbitmq_test::OrderPlaced("m-" + std::to_string(id), id)), {});
        record.confirmed = true;
        ++confirmed_total;
        if (restarted.load()) ++confirmed_after_restart;
      } catch (const ev::TransportError&) {
        record.transport_error = true;
      } catch (...) {
      }
      record.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
      records.push_back(record);
      std::this_thread::sleep_for(5ms);
    }
  });
  test_support::JoinGuard join_sender(sender, [&] { stop_sending = true; });

  // The async transport, connected before the outage.
  ev::AsyncRabbitMqEventTransport async_transport({.url = broker_url(), .exchange = exchange});
  ev::sync_wait(async_transport.send("OrderPlaced", serializer.serialize(rabbitmq_test::OrderPlaced("async-before", 0)), {}));

  REQUIRE(eventually([&] { return confirmed_total.load() >= 50; }, 30s));

  // Outage: the node stops for real (its port closes), stays down for a moment, comes back.
  struct StartAgainOnFailure {  // never leave the broker down for the tests after this one
    bool down = false;
    ~StartAgainOnFailure() {
      if (down) broker("start");
    }
  } guard;
  guard.down = true;
  REQUIRE(broker("stop") == 0);
  std::this_thread::sleep_for(1500ms);
  {
    // A send during the outage fails promptly, on another transport too.
    ev::RabbitMqEventTransport other({.url = broker_url(), .exchange = exchange, .connect_timeout = connect_timeout});
    const auto started = std::chrono::steady_clock::now();
    CHECK_THROWS_AS(other.send("OrderPlaced", "during the outage", {}), ev::TransportError);
    CHECK(std::chrono::steady_clock::now() - started < connect_timeout + 1s);
    CHECK_THROWS_AS(ev::sync_wait(async_transport.send("OrderPlaced", "during the outage", {})), ev::TransportError);
  }
  REQUIRE(broker("start") == 0);
  guard.down = false;
  restarted = true;

  // The transports reconnect by themselves.
  REQUIRE(eventually([&] { return confirmed_after_restart.load() >= 50; }, 60s));
  const std::string async_after = serializer.serialize(rabbitmq_test::OrderPlaced("async-after", 0));
  CHECK_NOTHROW(ev::sync_wait(async_transport.send("OrderPlaced", async_after, {})));
  stop_sending = true;
  sender.join();

  int confirmed = 0;
  int failed = 0;
  int other_errors = 0;
  std::chrono::milliseconds slowest_failure{0};
  std::set<std::string> confirmed_ids{"async-before", "async-after"};
  for (const auto& record : records) {
    if (record.confirmed) {
      ++confirmed;
      confirmed_ids.insert("m-" + std::to_string(record.id));
    } else if (record.transport_error) {
      ++failed;
      slowest_failure = std::max(slowest_failure, record.took);
    } else {
      ++other_errors;
    }
  }
  WARN("sends: " << confirmed << " confirmed, " << failed << " failed during the outage (slowest failure "
                 << slowest_failure.count() << " ms)");
  CHECK(failed > 0);  // sends during the outage failed...
  CHECK(other_errors == 0);
  CHECK(slowest_failure < connect_timeout + 1s);  // ...promptly

  // The consumer resumed, and every confirmed message arrives (at least once).
  const bool all_arrived = eventually(
      [&] {
        const std::lock_guard lock(received_mutex);
        for (const auto& id : confirmed_ids) {
          if (received.count(id) == 0) return false;
        }
        return true;
      },
      60s);
  std::size_t missing = 0;
  {
    const std::lock_guard lock(received_mutex);
    for (const auto& id : confirmed_ids) missing += received.count(id) == 0 ? 1 : 0;
  }
  INFO(missing << " confirmed message(s) never arrived");
  CHECK(all_arrived);
  CHECK(consumer.stats().connections >= 2);
  CHECK(connection_errors.load() >= 1);
  CHECK(consumer.consuming());

  // Each of them reported its reconnect; the transport that never connected reported none.
  const std::vector<std::string> reports = metrics.log();
  CHECK(std::count(reports.begin(), reports.end(), "reconnected rabbitmq.transport") >= 2);  // sync and async
  CHECK(std::count(reports.begin(), reports.end(), "reconnected rabbitmq.consumer") >= 1);

  consumer.stop();
  try {
    RawClient client;
    client.delete_queue(queue);
    client.delete_queue(queue + ".dead-letter");
    client.delete_exchange(exchange);
  } catch (...) {
  }
}
