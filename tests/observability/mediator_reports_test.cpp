// What the mediators report to the log and the metrics observer: every dispatch, every
// handler failure (whatever the error handler does), and the default failure line through the
// log sink with the event name and the exception's message escaped.

#include <spakky/event/mediator/async_event_mediator.hpp>
#include <spakky/event/mediator/event_mediator.hpp>
#include <spakky/event/task.hpp>

#include "support/counting_metrics.hpp"
#include "support/events.hpp"
#include "support/log_capture.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace ev = spakky::event;
using namespace test_events;
using test_support::CountingMetrics;
using test_support::LogCapture;

namespace {
// A name an attacker could choose (a consumer's event name comes from the wire).
struct Forged final : ev::AbstractDomainEvent {
  SPAKKY_EVENT_NAME("Forged\nspakky::event [info] mediator: all good")
};
}  // namespace

TEST_CASE("every dispatch is reported once, with handlers or without", "[observability][mediator]") {
  CountingMetrics metrics;
  ev::EventMediator mediator;
  mediator.dispatch(Ping{});  // no handler
  auto a = mediator.register_handler([](const Ping&) {});
  auto b = mediator.register_handler([](const Ping&) {});
  mediator.dispatch(Ping{});  // two handlers: still one dispatch
  (void)mediator.dispatch_with_outcome(Ping{});
  CHECK(metrics.dispatched == 3);
  CHECK(metrics.handler_failures == 0);
}

TEST_CASE("a failing handler is reported to the observer also when an error handler is set", "[observability][mediator]") {
  CountingMetrics metrics;
  LogCapture log;
  ev::EventMediator mediator;
  int reported = 0;
  mediator.set_error_handler([&](const ev::AbstractEvent&, std::exception_ptr) { ++reported; });
  auto a = mediator.register_handler([](const Ping&) { throw std::runtime_error("boom"); });
  auto b = mediator.register_handler([](const Ping&) {});
  auto c = mediator.register_handler([](const Ping&) { throw 42; });
  mediator.dispatch(Ping{});
  CHECK(reported == 2);
  CHECK(metrics.handler_failures == 2);
  CHECK(metrics.log() == std::vector<std::string>{"failed Ping", "failed Ping"});
  CHECK(log.matching("mediator", "failed").empty());  // the error handler took them
}

TEST_CASE("without an error handler a failure goes to the log at error level, naming event, id and reason", "[observability][mediator][log]") {
  LogCapture log;
  ev::EventMediator mediator;
  auto a = mediator.register_handler([](const Ping&) { throw std::runtime_error("disk full"); });
  const Ping ping;
  mediator.dispatch(ping);
  const auto records = log.matching("mediator", "failed");
  REQUIRE(records.size() == 1);
  CHECK(records[0].level == ev::LogLevel::error);
  CHECK(records[0].message == "a handler of 'Ping' (event " + ping.event_id().to_string() + ") failed: disk full");
}

TEST_CASE("the failure line escapes the event name and the exception's message", "[observability][mediator][log][escape]") {
  LogCapture log;
  ev::EventMediator mediator;
  auto a = mediator.register_handler([](const Forged&) { throw std::runtime_error("line one\nline two\x1b[31m"); });
  mediator.dispatch(Forged{});
  const auto records = log.matching("mediator", "failed");
  REQUIRE(records.size() == 1);
  const std::string& message = records[0].message;
  CHECK(message.find('\n') == std::string::npos);
  CHECK(message.find('\x1b') == std::string::npos);
  CHECK(message.find("'Forged\\nspakky::event [info] mediator: all good'") != std::string::npos);
  CHECK(message.find("failed: line one\\nline two\\x1b[31m") != std::string::npos);
}

TEST_CASE("a handler throwing a non-standard exception is logged as such", "[observability][mediator][log]") {
  LogCapture log;
  ev::EventMediator mediator;
  auto a = mediator.register_handler([](const Ping&) { throw 7; });
  mediator.dispatch(Ping{});
  const auto records = log.matching("mediator", "failed");
  REQUIRE(records.size() == 1);
  CHECK(records[0].message.find("failed: a non-standard exception") != std::string::npos);
}

TEST_CASE("the async mediator reports dispatches and failures the same way", "[observability][mediator][async]") {
  CountingMetrics metrics;
  LogCapture log;
  ev::AsyncEventMediator<> mediator;
  auto a = mediator.register_handler([](const Ping&) -> ev::Task<> {
    co_await ev::Task<>([]() -> ev::Task<> { co_return; }());
    throw std::runtime_error("after a suspension");
  });
  ev::sync_wait(mediator.dispatch(Ping{}));
  ev::sync_wait(mediator.dispatch(Pong{}));
  CHECK(metrics.dispatched == 2);
  CHECK(metrics.handler_failures == 1);
  const auto records = log.matching("mediator", "failed: after a suspension");
  REQUIRE(records.size() == 1);
  CHECK(records[0].level == ev::LogLevel::error);
}

TEST_CASE("a silenced log drops handler failures; dispatch goes on", "[observability][mediator][log]") {
  LogCapture log(ev::LogLevel::off);
  ev::EventMediator mediator;
  int after = 0;
  auto a = mediator.register_handler([](const Ping&) { throw std::runtime_error("x"); });
  auto b = mediator.register_handler([&](const Ping&) { ++after; });
  mediator.dispatch(Ping{});
  CHECK(after == 1);
  CHECK(log.size() == 0);
}

TEST_CASE("dispatches from many threads are each reported exactly once", "[observability][mediator][threads]") {
  CountingMetrics metrics;
  LogCapture log(ev::LogLevel::off);
  ev::EventMediator mediator;
  std::atomic<int> handled{0};
  auto a = mediator.register_handler([&](const Ping&) { handled.fetch_add(1, std::memory_order_relaxed); });
  auto b = mediator.register_handler([](const Ping& p) {
    if (p.event_id().low() % 2 == 0) throw std::runtime_error("even");
  });
  constexpr int kThreads = 4;
  constexpr int kEach = 500;
  std::atomic<int> thrown{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        const Ping ping;
        if (ping.event_id().low() % 2 == 0) thrown.fetch_add(1, std::memory_order_relaxed);
        if (i % 2 == 0) mediator.dispatch(ping);
        else (void)mediator.dispatch_with_outcome(ping);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(metrics.dispatched == kThreads * kEach);
  CHECK(handled == kThreads * kEach);
  CHECK(metrics.handler_failures == static_cast<std::size_t>(thrown.load()));
}

namespace {
// Distinct event types, enough to make a mediator's type table grow (it starts at 16 places,
// half of them usable).
template <int N>
struct Numbered final : ev::AbstractDomainEvent {};

template <int... N>
void dispatch_each(ev::EventMediator& mediator, std::integer_sequence<int, N...>) {
  (mediator.dispatch(Numbered<N>{}), ...);
}

template <int... N>
std::vector<ev::Subscription> register_each(ev::EventMediator& mediator, std::atomic<int>& calls,
                                            std::integer_sequence<int, N...>) {
  std::vector<ev::Subscription> subs;
  (subs.push_back(mediator.register_handler([&calls](const Numbered<N>&) { ++calls; })), ...);
  return subs;
}

// Counts dispatches; installed and uninstalled by hand.
struct DispatchCounter final : ev::MetricsObserver {
  void on_dispatched(const ev::AbstractEvent&) noexcept override { ++dispatched; }
  std::atomic<long> dispatched{0};
};
}  // namespace

TEST_CASE("an observer installed after a type's first dispatches sees every later one, and none once uninstalled",
          "[observability][mediator]") {
  ev::EventMediator mediator;
  std::atomic<int> calls{0};
  auto sub = mediator.register_handler([&](const Ping&) { ++calls; });
  for (int i = 0; i < 3; ++i) mediator.dispatch(Ping{});  // the type's fast path is warm
  mediator.dispatch(Pong{});                                // a type without handlers, too
  {
    CountingMetrics metrics;
    mediator.dispatch(Ping{});
    mediator.dispatch(Pong{});
    (void)mediator.dispatch_with_outcome(Ping{});
    CHECK(metrics.dispatched == 3);
  }
  DispatchCounter after;  // not installed: the scoped one put nullptr back
  mediator.dispatch(Ping{});
  CHECK(after.dispatched == 0);
  CHECK(calls == 6);  // observed or not, every dispatch ran the handler
}

TEST_CASE("a mediator built while an observer is installed reports, also after its type table grew",
          "[observability][mediator]") {
  CountingMetrics metrics;
  ev::EventMediator mediator;
  std::atomic<int> calls{0};
  constexpr auto types = std::make_integer_sequence<int, 40>{};
  auto subs = register_each(mediator, calls, types);  // grows the table twice while observed
  dispatch_each(mediator, types);
  CHECK(calls == 40);
  CHECK(metrics.dispatched == 40);
}

TEST_CASE("mediators destroyed while an observer is installed leave the later installs unharmed",
          "[observability][mediator]") {
  DispatchCounter counter;
  {
    CountingMetrics metrics;
    auto doomed = std::make_unique<ev::EventMediator>();
    doomed->dispatch(Ping{});
    doomed.reset();  // its registry stops watching the observer
  }
  ev::EventMediator mediator;
  ev::set_metrics_observer(&counter);
  mediator.dispatch(Ping{});
  ev::set_metrics_observer(nullptr);
  mediator.dispatch(Ping{});
  CHECK(counter.dispatched == 1);
}

TEST_CASE("installing and uninstalling the observer while threads dispatch, add types and build mediators loses no call",
          "[observability][mediator][concurrency][stress]") {
  DispatchCounter counter;
  ev::EventMediator mediator;
  std::atomic<long> handled{0};
  auto sub = mediator.register_handler([&](const Ping&) { ++handled; });
  std::atomic<bool> stop{false};
  std::atomic<long> dispatched{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      while (!stop) {
        mediator.dispatch(Ping{});
        ++dispatched;
      }
    });
  }
  std::atomic<int> calls{0};
  threads.emplace_back([&] {  // new types: the table grows and is swapped while observed or not
    for (int round = 0; round < 20 && !stop; ++round) {
      ev::EventMediator fresh;  // built and destroyed while another thread installs
      auto subs = register_each(fresh, calls, std::make_integer_sequence<int, 24>{});
      dispatch_each(fresh, std::make_integer_sequence<int, 24>{});
      auto more = register_each(mediator, calls, std::make_integer_sequence<int, 24>{});
      dispatch_each(mediator, std::make_integer_sequence<int, 24>{});
      for (auto& s : more) s.cancel();
    }
  });
  for (int i = 0; i < 2000; ++i) ev::set_metrics_observer(i % 2 == 0 ? &counter : nullptr);
  ev::set_metrics_observer(nullptr);
  stop = true;
  for (auto& t : threads) t.join();
  CHECK(handled == dispatched);  // every dispatch ran the handler once, observed or not
  CHECK(counter.dispatched <= dispatched + 20 * 48);
  // Installed again, with the threads gone: every dispatch reports.
  const long before = counter.dispatched;
  ev::set_metrics_observer(&counter);
  mediator.dispatch(Ping{});
  dispatch_each(mediator, std::make_integer_sequence<int, 24>{});
  ev::set_metrics_observer(nullptr);
  CHECK(counter.dispatched == before + 25);
}
