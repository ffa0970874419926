// The library's log as its code writes to it: levels, the threshold (silencing), and the
// default stderr line.

#include <spakky/event/observability/log_record.hpp>
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

TEST_CASE("level names are the ones the default sink writes", "[log]") {
  CHECK(ev::to_string(ev::LogLevel::debug) == "debug");
  CHECK(ev::to_string(ev::LogLevel::info) == "info");
  CHECK(ev::to_string(ev::LogLevel::warn) == "warn");
  CHECK(ev::to_string(ev::LogLevel::error) == "error");
  CHECK(ev::to_string(ev::LogLevel::off) == "off");
}
