// Installing the log sink: a custom sink instead of stderr, restoring the default, a sink
// that throws, and a sink replaced while other threads log.

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
