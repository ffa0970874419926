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
#include <stdexcept>
#include <string>
#include <thread>
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
