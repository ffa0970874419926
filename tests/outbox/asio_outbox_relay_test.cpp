// OutboxRelay::run<asio::awaitable<void>>(): the relay's loop as an Asio coroutine on the
// application's io_context. The app's own coroutines share that one thread with it: they
// could not run if the relay blocked it while waiting.
//
// NOTE: g++ 12 miscompiles a co_await and a capturing lambda in one full-expression (see
// tests/asio/), so no co_await below has a lambda in its expression.

#include "outbox/counting_relay_store.hpp"
#include "outbox/outbox_events.hpp"
#include "outbox/sqlite_app.hpp"
#include "support/async_recording_transport.hpp"
#include "support/recording_transport.hpp"
#include "support/sqlite_db.hpp"
#include "support/sync.hpp"

#include <spakky/event/outbox/asio_outbox_relay.hpp>
#include <spakky/event/outbox/sqlite_outbox.hpp>

#include <asio.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <exception>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

namespace ev = spakky::event;
using namespace outbox_test;
using namespace std::chrono_literals;
using test_support::sql_int;

namespace {

using Awaitable = asio::awaitable<void>;

/// Every io_context below runs with this bound: a task that never ends fails the test.
constexpr auto kRunBound = 30s;

Awaitable sleep_for(std::chrono::milliseconds duration) {
  asio::steady_timer timer(co_await asio::this_coro::executor, duration);
  co_await timer.async_wait(asio::use_awaitable);
}

/// What a co_spawn completion handler saw; read on the main thread after the io_context ran.
struct Completion {
  bool done = false;
  std::exception_ptr error;
  auto handler() {
    return [this](std::exception_ptr e) {
      done = true;
      error = e;
    };
  }
};

/// The application on the relay's thread: commits a:n and b:n for n = 1..5, notifying the
/// relay after each, then waits (on timers, never blocking) until all ten were sent, idles a
/// little, and stops the relay.
template <class Transport>
Awaitable commit_and_stop(App& app, ev::OutboxRelay& relay, const Transport& transport, std::stop_source& stop) {
  for (int n = 1; n <= 5; ++n) {
    app.send("a", n);
    app.send("b", n);
    relay.notify();
    co_await sleep_for(1ms);
  }
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (transport.sent().size() < 10 && std::chrono::steady_clock::now() < deadline) co_await sleep_for(1ms);
  co_await sleep_for(50ms);  // idle: a relay that did not wait would claim again and again meanwhile
  stop.request_stop();
}

}  // namespace

TEMPLATE_TEST_CASE("asio: the relay task shares the app's io_context thread and sends each key in commit order", "",
                   test_support::RecordingTransport, test_support::AsyncRecordingTransport) {
  test_support::SqliteFile file;
  App app(file);
  ev::SqliteOutboxRelayStore sqlite_store(file.path());
  CountingRelayStore store(sqlite_store);
  TestType transport;
  ev::OutboxRelay relay(store, transport, {.poll_interval = 1h});
  std::stop_source stop;
  asio::io_context io;
  Completion relay_done, app_done;
  asio::co_spawn(io, relay.run<Awaitable>(stop.get_token()), relay_done.handler());
  asio::co_spawn(io, commit_and_stop(app, relay, transport, stop), app_done.handler());
  io.run_for(kRunBound);
  REQUIRE(app_done.done);
  REQUIRE(relay_done.done);
  CHECK_FALSE(relay_done.error);
  auto per_key = fields_per_key(transport);
  CHECK(per_key["a"] == std::vector<std::string>{"a:1", "a:2", "a:3", "a:4", "a:5"});
  CHECK(per_key["b"] == std::vector<std::string>{"b:1", "b:2", "b:3", "b:4", "b:5"});
  CHECK(sql_int(file.db(), "SELECT count(*) FROM spakky_outbox") == 0);
  // A pass runs first, then after each pass that sent something (at most ten), each notify()
  // (five) and the stop: any more would be a loop that does not wait.
  CHECK(store.claims() <= 1 + 10 + 5 + 1);
}

TEST_CASE("asio: a stop request waits for the confirms in flight, posted back from the transport's thread") {
  test_support::SqliteFile file;
  App app(file);
  for (int n = 1; n <= 3; ++n) {
    for (const char* key : {"a", "b", "c"}) app.send(key, n);
  }
  ev::SqliteOutboxRelayStore store(file.path());
  test_support::AsyncRecordingTransport transport;
  transport.suspend_sends(true);
  ev::OutboxRelay relay(store, transport, {.initial_backoff = 0ms, .poll_interval = 1h});
  asio::io_context io;
  {
    std::stop_source stop;
    Completion relay_done;
    asio::co_spawn(io, relay.run<Awaitable>(stop.get_token()), relay_done.handler());
    // io.run() returns when nothing is left to do: it must not return while sends are out.
    std::thread io_thread([&] { io.run_for(kRunBound); });
    test_support::JoinGuard guard(io_thread, [&] {
      stop.request_stop();
      transport.suspend_sends(false);
      while (transport.complete_one()) {
      }
    });
    REQUIRE(test_support::eventually([&] { return transport.pending() == 3; }, 20s));  // a:1, b:1, c:1
    stop.request_stop();
    CHECK(transport.complete_one());  // a:1, confirmed on this thread
    CHECK(transport.complete_one());  // b:1
    transport.fail_with(test_support::AsyncRecordingTransport::Failure::transport_error, "connection lost");
    CHECK(transport.complete_one());  // c:1 fails
    io_thread.join();
    CHECK(relay_done.done);
    CHECK_FALSE(relay_done.error);
  }
  CHECK(transport.attempts() == 3);
  CHECK(sent_fields(transport) == std::vector<std::string>{"a:1", "b:1"});
  CHECK(sql_int(file.db(), "SELECT count(*) FROM spakky_outbox") == 7);
  CHECK(sql_int(file.db(), "SELECT count(*) FROM spakky_outbox WHERE state <> 'pending'") == 0);
  CHECK(sql_int(file.db(), "SELECT attempts FROM spakky_outbox WHERE partition_key = 'c' ORDER BY id LIMIT 1") == 1);

  // Restarted, the relay sends the rest: every row once, each key in commit order.
  transport.fail_with(test_support::AsyncRecordingTransport::Failure::none);
  transport.suspend_sends(false);
  io.restart();
  std::stop_source stop;
  Completion relay_done;
  asio::co_spawn(io, relay.run<Awaitable>(stop.get_token()), relay_done.handler());
  std::thread io_thread([&] { io.run_for(kRunBound); });
  test_support::JoinGuard guard(io_thread, [&] { stop.request_stop(); });
  CHECK(test_support::eventually([&] { return transport.sent().size() == 9; }, 20s));
  stop.request_stop();
  io_thread.join();
  CHECK(relay_done.done);
  auto per_key = fields_per_key(transport);
  CHECK(per_key["a"] == std::vector<std::string>{"a:1", "a:2", "a:3"});
  CHECK(per_key["b"] == std::vector<std::string>{"b:1", "b:2", "b:3"});
  CHECK(per_key["c"] == std::vector<std::string>{"c:1", "c:2", "c:3"});
  CHECK(sql_int(file.db(), "SELECT count(*) FROM spakky_outbox") == 0);
}
