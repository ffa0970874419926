// The library's log sink: levels and threshold, the default stderr line, a custom sink,
// silencing, and a sink that throws or is replaced while other threads log.

#include <spakky/event/observability/log_sink.hpp>

#include "support/log_capture.hpp"
#include "support/stderr_capture.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace ev = spakky::event;
using test_support::LogCapture;
using test_support::StderrCapture;

namespace {
// Puts the default sink and threshold back however a test ends.
struct RestoreDefaults {
  ~RestoreDefaults() {
    ev::set_log_sink(nullptr);
    ev::set_log_level(ev::LogLevel::info);
  }
};
}  // namespace

TEST_CASE("by default records from info up go to stderr, one line each with level and component", "[log]") {
  RestoreDefaults restore;
  CHECK(ev::log_level() == ev::LogLevel::info);
  StderrCapture capture;
  ev::write_log(ev::LogLevel::debug, "inmemory", "not shown");
  ev::write_log(ev::LogLevel::info, "rabbitmq", "connected");
  ev::write_log(ev::LogLevel::error, "mediator", "a handler failed");
  const std::string text = capture.text();
  CHECK(text == "spakky::event [info] rabbitmq: connected\nspakky::event [error] mediator: a handler failed\n");
}

TEST_CASE("the threshold drops records below it; off silences everything", "[log]") {
  RestoreDefaults restore;
  ev::set_log_level(ev::LogLevel::warn);
  CHECK_FALSE(ev::log_enabled(ev::LogLevel::info));
  CHECK(ev::log_enabled(ev::LogLevel::warn));
  CHECK(ev::log_enabled(ev::LogLevel::error));
  {
    StderrCapture capture;
    ev::write_log(ev::LogLevel::info, "x", "dropped");
    ev::write_log(ev::LogLevel::warn, "x", "kept");
    CHECK(capture.text() == "spakky::event [warn] x: kept\n");
  }
  ev::set_log_level(ev::LogLevel::off);
  for (auto level : {ev::LogLevel::debug, ev::LogLevel::info, ev::LogLevel::warn, ev::LogLevel::error}) {
    CHECK_FALSE(ev::log_enabled(level));
  }
  StderrCapture capture;
  ev::write_log(ev::LogLevel::error, "x", "silenced");
  CHECK(capture.text().empty());
}

TEST_CASE("a record at level off is never written, whatever the threshold", "[log]") {
  LogCapture log(ev::LogLevel::debug);
  CHECK_FALSE(ev::log_enabled(ev::LogLevel::off));
  ev::write_log(ev::LogLevel::off, "x", "never");
  CHECK(log.size() == 0);
}

TEST_CASE("a custom sink receives level, component and message instead of stderr", "[log]") {
  StderrCapture stderr_capture;
  {
    LogCapture log(ev::LogLevel::debug);
    ev::write_log(ev::LogLevel::debug, "outbox", "relay pass: 3 rows");
    const auto records = log.records();
    REQUIRE(records.size() == 1);
    CHECK(records[0].level == ev::LogLevel::debug);
    CHECK(records[0].component == "outbox");
    CHECK(records[0].message == "relay pass: 3 rows");
  }
  CHECK(stderr_capture.text().empty());
}

TEST_CASE("an empty sink restores the default stderr sink", "[log]") {
  RestoreDefaults restore;
  int custom = 0;
  ev::set_log_sink([&](const ev::LogRecord&) { ++custom; });
  ev::set_log_sink(nullptr);
  StderrCapture capture;
  ev::write_log(ev::LogLevel::warn, "x", "back on stderr");
  CHECK(custom == 0);
  CHECK(capture.text() == "spakky::event [warn] x: back on stderr\n");
}

TEST_CASE("a sink that throws loses its record and the caller goes on", "[log]") {
  RestoreDefaults restore;
  int calls = 0;
  ev::set_log_sink([&](const ev::LogRecord&) {
    ++calls;
    throw std::runtime_error("sink down");
  });
  CHECK_NOTHROW(ev::write_log(ev::LogLevel::error, "x", "lost"));
  CHECK_NOTHROW(ev::write_log(ev::LogLevel::error, "x", "lost too"));
  CHECK(calls == 2);
}

TEST_CASE("level names are the ones the default sink writes", "[log]") {
  CHECK(ev::to_string(ev::LogLevel::debug) == "debug");
  CHECK(ev::to_string(ev::LogLevel::info) == "info");
  CHECK(ev::to_string(ev::LogLevel::warn) == "warn");
  CHECK(ev::to_string(ev::LogLevel::error) == "error");
  CHECK(ev::to_string(ev::LogLevel::off) == "off");
}

TEST_CASE("records logged from many threads while the sink is replaced each reach one sink whole", "[log][threads]") {
  RestoreDefaults restore;
  ev::set_log_level(ev::LogLevel::debug);
  constexpr int threads = 4;
  constexpr int per_thread = 2000;
  std::atomic<int> first{0};
  std::atomic<int> second{0};
  std::atomic<int> torn{0};
  const auto sink_counting = [&](std::atomic<int>& into) {
    return [&into, &torn](const ev::LogRecord& record) {
      if (record.component != "worker" || record.message != "tick") ++torn;
      ++into;
    };
  };
  ev::set_log_sink(sink_counting(first));
  std::atomic<bool> go{false};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < per_thread; ++i) ev::write_log(ev::LogLevel::debug, "worker", "tick");
    });
  }
  go.store(true);
  for (int i = 0; i < 200; ++i) ev::set_log_sink(sink_counting(i % 2 == 0 ? second : first));
  for (std::thread& w : workers) w.join();
  CHECK(first.load() + second.load() == threads * per_thread);
  CHECK(torn.load() == 0);
}
