// The metrics observer: installing, uninstalling, the scoped installer, and an observer that
// overrides nothing.

#include <spakky/event/observability/metrics.hpp>

#include "support/events.hpp"

#include <catch2/catch.hpp>

#include <chrono>

namespace ev = spakky::event;
using namespace test_events;

namespace {
struct Dispatches final : ev::MetricsObserver {
  int count = 0;
  void on_dispatched(const ev::AbstractEvent&) noexcept override { ++count; }
};
}  // namespace

TEST_CASE("no observer is installed until one is set", "[metrics]") {
  CHECK(ev::metrics_observer() == nullptr);
}

TEST_CASE("set_metrics_observer installs an observer and nullptr uninstalls it", "[metrics]") {
  Dispatches observer;
  ev::set_metrics_observer(&observer);
  CHECK(ev::metrics_observer() == &observer);
  ev::set_metrics_observer(nullptr);
  CHECK(ev::metrics_observer() == nullptr);
}

TEST_CASE("ScopedMetricsObserver puts the previous observer back", "[metrics]") {
  Dispatches outer;
  Dispatches inner;
  {
    ev::ScopedMetricsObserver a(outer);
    CHECK(ev::metrics_observer() == &outer);
    {
      ev::ScopedMetricsObserver b(inner);
      CHECK(ev::metrics_observer() == &inner);
    }
    CHECK(ev::metrics_observer() == &outer);
  }
  CHECK(ev::metrics_observer() == nullptr);
}

TEST_CASE("an observer that overrides nothing accepts every report and does nothing", "[metrics]") {
  struct Empty final : ev::MetricsObserver {};
  Empty empty;
  ev::MetricsObserver& observer = empty;
  const Ping ping;
  observer.on_dispatched(ping);
  observer.on_handler_failed(ping);
  observer.on_sent("Ping");
  observer.on_confirmed("Ping", std::chrono::milliseconds(1));
  observer.on_retried("Ping", 1);
  observer.on_dead_lettered("Ping", "boom");
  observer.on_consumed("Ping", std::chrono::milliseconds(1));
  observer.on_reconnected("rabbitmq.consumer");
  observer.on_outbox_pending(3);
  observer.on_relay_lag(std::chrono::milliseconds(5));
  SUCCEED("every default is a no-op");
}
