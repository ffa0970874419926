// OutboxRelay::run(): the relay's loop as a Task<> that suspends between passes. SQLite store,
// recording transports (synchronous, and asynchronous with sends completed by the test).

#include "outbox/counting_relay_store.hpp"
#include "outbox/outbox_events.hpp"
#include "outbox/sqlite_app.hpp"
#include "support/async_recording_transport.hpp"
#include "support/coro.hpp"
#include "support/log_capture.hpp"
#include "support/recording_transport.hpp"
#include "support/sqlite_db.hpp"
#include "support/sync.hpp"

#include <spakky/event/outbox/outbox_relay.hpp>
#include <spakky/event/outbox/sqlite_outbox.hpp>
#include <spakky/event/task.hpp>

#include <catch2/catch.hpp>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

namespace ev = spakky::event;
using namespace outbox_test;
using namespace std::chrono_literals;
using test_support::sql_int;
using test_support::sql_text;

namespace {

/// A synchronous transport whose send() blocks until the test opens the gate.
class GatedTransport final : public ev::IEventTransport {
public:
  void send(std::string_view event_name, std::string_view payload, const ev::Headers& headers) override {
    std::unique_lock lock(mutex_);
    ++waiting_;
    opened_.wait(lock, [&] { return open_; });
    --waiting_;
    sent_.push_back({std::string(event_name), std::string(payload), headers});
  }
  void open() {
    {
      const std::lock_guard lock(mutex_);
      open_ = true;
    }
    opened_.notify_all();
  }
  [[nodiscard]] bool has_waiter() const {
    const std::lock_guard lock(mutex_);
    return waiting_ > 0;
  }
  [[nodiscard]] std::vector<test_support::SentMessage> sent() const {
    const std::lock_guard lock(mutex_);
    return sent_;
  }

private:
  mutable std::mutex mutex_;
  std::condition_variable opened_;
  bool open_ = false;
  int waiting_ = 0;
  std::vector<test_support::SentMessage> sent_;
};

/// Awaits the relay's task, then destroys the relay: on the thread that resumed the task.
ev::Task<> run_then_destroy(std::unique_ptr<ev::OutboxRelay> relay, std::stop_token stop) {
  co_await relay->run(stop);
  relay.reset();
}

}  // namespace

TEST_CASE("the relay task sends every committed row in commit order per key") {
  test_support::SqliteFile file;
  App app(file);
  for (int n = 1; n <= 5; ++n) {
    for (const char* key : {"a", "b", "c"}) app.send(key, n);
  }
  ev::SqliteOutboxRelayStore store(file.path());
  const std::vector<std::string> a{"a:1", "a:2", "a:3", "a:4", "a:5"};

  SECTION("through a synchronous transport") {
    test_support::RecordingTransport transport;
    ev::OutboxRelay relay(store, transport, {.batch_size = 2, .poll_interval = 1h});
    std::stop_source stop;
    auto task = test_support::start(relay.run(stop.get_token()));
    CHECK(test_support::eventually([&] { return transport.sent().size() == 15; }, 20s));
    stop.request_stop();
    REQUIRE(task.wait(20s));
    CHECK_FALSE(task.error());
    CHECK(fields_per_key(transport)["a"] == a);
    CHECK(fields_per_key(transport)["c"].back() == "c:5");
  }
  SECTION("through an asynchronous transport, every key's head in flight at once") {
    test_support::AsyncRecordingTransport transport;
    ev::OutboxRelay relay(store, transport, {.poll_interval = 1h});
    std::stop_source stop;
    auto task = test_support::start(relay.run(stop.get_token()));
    CHECK(test_support::eventually([&] { return transport.sent().size() == 15; }, 20s));
    stop.request_stop();
    REQUIRE(task.wait(20s));
    CHECK_FALSE(task.error());
    CHECK(fields_per_key(transport)["a"] == a);
    CHECK(transport.changed_while_sending() == 0);  // the rows outlived their sends
  }
  CHECK(sql_int(file.db(), "SELECT count(*) FROM spakky_outbox") == 0);
}

TEST_CASE("the relay task suspends between passes, wakes on notify() without waiting for its poll, and never spins") {
  test_support::SqliteFile file;
  App app(file);
  ev::SqliteOutboxRelayStore sqlite_store(file.path());
  CountingRelayStore store(sqlite_store);
  test_support::RecordingTransport transport;
  ev::OutboxRelay relay(store, transport, {.poll_interval = 1h});
  std::stop_source stop;
  // start() returns once the task suspends: an empty pass, then a wait that does not hold
  // this thread.
  auto task = test_support::start(relay.run(stop.get_token()));
  CHECK_FALSE(task.done());
  CHECK(store.claims() == 1);
  for (int n = 1; n <= 3; ++n) {
    app.send("a", n);
    relay.notify();  // only this can end a wait of an hour
    CHECK(test_support::eventually([&] { return transport.sent().size() == static_cast<std::size_t>(n); }, 20s));
  }
  stop.request_stop();
  REQUIRE(task.wait(20s));
  CHECK_FALSE(task.error());
  CHECK(sent_fields(transport) == std::vector<std::string>{"a:1", "a:2", "a:3"});
  // A pass runs first, then after each pass that sent something, each notify() and the stop:
  // any more would be a loop that does not wait.
  CHECK(store.claims() <= 1 + 3 + 3 + 1);
}

TEST_CASE("a stop request lets the sends in flight finish, records only what was confirmed, and ends the task") {
  test_support::SqliteFile file;
  App app(file);
  for (int n = 1; n <= 3; ++n) {
    for (const char* key : {"a", "b", "c"}) app.send(key, n);
  }
  ev::SqliteOutboxRelayStore store(file.path());
  test_support::AsyncRecordingTransport transport;
  transport.suspend_sends(true);
  ev::OutboxRelay relay(store, transport, {.initial_backoff = 0ms, .poll_interval = 1h});
  {
    std::stop_source stop;
    auto task = test_support::start(relay.run(stop.get_token()));  // a:1, b:1, c:1 go out
    REQUIRE(transport.pending() == 3);
    stop.request_stop();
    CHECK_FALSE(task.done());  // it waits for the confirms in flight
    CHECK(transport.complete_one());  // a:1 confirmed
    CHECK(transport.complete_one());  // b:1 confirmed
    transport.fail_with(test_support::AsyncRecordingTransport::Failure::transport_error, "connection lost");
    CHECK(transport.complete_one());  // c:1 fails
    REQUIRE(task.wait(20s));
    CHECK_FALSE(task.error());
  }
  CHECK(transport.attempts() == 3);  // nothing started after the stop request
  CHECK(sent_fields(transport) == std::vector<std::string>{"a:1", "b:1"});
  CHECK(sql_int(file.db(), "SELECT count(*) FROM spakky_outbox") == 7);
  CHECK(sql_int(file.db(), "SELECT count(*) FROM spakky_outbox WHERE state <> 'pending'") == 0);
  CHECK(sql_int(file.db(), "SELECT attempts FROM spakky_outbox WHERE partition_key = 'c' ORDER BY id LIMIT 1") == 1);
  CHECK_THAT(sql_text(file.db(), "SELECT last_error FROM spakky_outbox WHERE partition_key = 'c' ORDER BY id LIMIT 1"),
             Catch::Contains("connection lost"));

  // Restarted, the relay sends the rest: every row once, each key in commit order.
  transport.fail_with(test_support::AsyncRecordingTransport::Failure::none);
  transport.suspend_sends(false);
  std::stop_source stop;
  auto task = test_support::start(relay.run(stop.get_token()));
  CHECK(test_support::eventually([&] { return transport.sent().size() == 9; }, 20s));
  stop.request_stop();
  REQUIRE(task.wait(20s));
  auto per_key = fields_per_key(transport);
  CHECK(per_key["a"] == std::vector<std::string>{"a:1", "a:2", "a:3"});
  CHECK(per_key["b"] == std::vector<std::string>{"b:1", "b:2", "b:3"});
  CHECK(per_key["c"] == std::vector<std::string>{"c:1", "c:2", "c:3"});
  CHECK(sql_int(file.db(), "SELECT count(*) FROM spakky_outbox") == 0);
}

TEST_CASE("a stop request during a synchronous send lets it finish, records it as sent, and starts no other row") {
  test_support::SqliteFile file;
  App app(file);
  app.send("a", 1);
  app.send("a", 2);
  app.send("b", 1);  // one pass claims a:1 and b:1
  ev::SqliteOutboxRelayStore store(file.path());
  GatedTransport transport;
  ev::OutboxRelay relay(store, transport, {.poll_interval = 1h});
  std::stop_source stop;
  std::thread driver([&] { ev::sync_wait(relay.run(stop.get_token())); });
  test_support::JoinGuard guard(driver, [&] {
    stop.request_stop();
    transport.open();
  });
  REQUIRE(test_support::eventually([&] { return transport.has_waiter(); }, 20s));  // a:1 in flight
  stop.request_stop();
  transport.open();
  driver.join();
  CHECK(sent_fields(transport.sent()) == std::vector<std::string>{"a:1"});
  // b:1 was claimed but not tried: it is left as it was, not counted as a failure.
  CHECK(sql_int(file.db(), "SELECT count(*) FROM spakky_outbox") == 2);
  CHECK(sql_int(file.db(), "SELECT attempts FROM spakky_outbox WHERE partition_key = 'b'") == 0);
  CHECK(sql_int(file.db(), "SELECT count(*) FROM spakky_outbox WHERE state <> 'pending'") == 0);
  CHECK(relay.stats().sent == 1);
  CHECK(relay.stats().retried == 0);

  // Restarted, it sends the rest, each key in order.
  test_support::RecordingTransport rest;
  ev::OutboxRelay again(store, rest);
  CHECK(again.drain() == 2);
  CHECK(sent_fields(rest) == std::vector<std::string>{"a:2", "b:1"});
}

TEST_CASE("a store error in the relay task is reported, counted, and retried after error_backoff") {
  test_support::SqliteFile file;
  App app(file);
  app.send("a", 1);
  ev::SqliteOutboxRelayStore sqlite_store(file.path());
  CountingRelayStore store(sqlite_store);
  store.fail_next_claims(2);
  test_support::RecordingTransport transport;
  std::mutex errors_mutex;
  std::vector<std::string> errors;
  ev::OutboxRelay relay(store, transport,
                        {.poll_interval = 1h, .error_backoff = 1ms, .on_error = [&](std::exception_ptr error) {
                           try {
                             std::rethrow_exception(error);
                           } catch (const std::exception& e) {
                             const std::lock_guard lock(errors_mutex);
                             errors.emplace_back(e.what());
                           }
                         }});
  test_support::LogCapture logs;
  std::stop_source stop;
  auto task = test_support::start(relay.run(stop.get_token()));
  CHECK(test_support::eventually([&] { return transport.sent().size() == 1; }, 20s));
  stop.request_stop();
  REQUIRE(task.wait(20s));
  CHECK(relay.stats().errors == 2);
  const std::lock_guard lock(errors_mutex);
  REQUIRE(errors.size() == 2);
  CHECK_THAT(errors[0], Catch::Contains("the database went away"));
  const auto logged = logs.matching("outbox", "relay store error, retrying in 1 ms");
  REQUIRE(logged.size() == 2);
  CHECK(logged[0].level == ev::LogLevel::warn);
  CHECK_THAT(logged[0].message, Catch::Contains("the database went away"));
}

TEST_CASE("the relay runs one way at a time: run() refuses while its thread runs, start() while a task runs") {
  test_support::SqliteFile file;
  ev::SqliteOutboxRelayStore store(file.path());
  test_support::RecordingTransport transport;
  ev::OutboxRelay relay(store, transport, {.poll_interval = 1h});
  relay.start();
  CHECK_THROWS_AS(ev::sync_wait(relay.run()), std::logic_error);
  relay.stop();

  std::stop_source stop;
  auto task = test_support::start(relay.run(stop.get_token()));
  CHECK_THROWS_AS(relay.start(), std::logic_error);
  CHECK_THROWS_AS(ev::sync_wait(relay.run()), std::logic_error);
  stop.request_stop();
  REQUIRE(task.wait(20s));
  CHECK_FALSE(task.error());
  relay.start();  // free again
  relay.stop();
}

TEST_CASE("the coroutine that awaited the relay task may destroy the relay when it ends") {
  test_support::SqliteFile file;
  App app(file);
  app.send("a", 1);
  ev::SqliteOutboxRelayStore store(file.path());
  test_support::RecordingTransport transport;
  auto relay = std::make_unique<ev::OutboxRelay>(store, transport, ev::OutboxRelayOptions{.poll_interval = 1h});
  std::stop_source stop;
  // The task resumes on the relay's resume thread after its wait: the relay is destroyed there.
  auto task = test_support::start(run_then_destroy(std::move(relay), stop.get_token()));
  CHECK(test_support::eventually([&] { return transport.sent().size() == 1; }, 20s));
  stop.request_stop();
  REQUIRE(task.wait(20s));
  CHECK_FALSE(task.error());
}
