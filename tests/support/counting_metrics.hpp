#pragma once
// A MetricsObserver that counts every report (atomics: reports come from any thread) and
// keeps the event names of the rarer ones, installed for its lifetime.

#include <spakky/event/observability/metrics.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

namespace test_support {

class CountingMetrics final : public spakky::event::MetricsObserver {
public:
  CountingMetrics() : installed_(*this) {}

  void on_dispatched(const spakky::event::AbstractEvent&) noexcept override { ++dispatched; }
  void on_handler_failed(const spakky::event::AbstractEvent& event) noexcept override {
    ++handler_failures;
    remember("failed " + std::string(event.event_name()));
  }
  void on_sent(std::string_view name) noexcept override {
    ++sent;
    remember("sent " + std::string(name));
  }
  void on_confirmed(std::string_view name, std::chrono::nanoseconds latency) noexcept override {
    ++confirmed;
    if (latency.count() >= 0) ++confirmed_with_latency;
    remember("confirmed " + std::string(name));
  }
  void on_retried(std::string_view name, std::size_t attempt) noexcept override {
    ++retried;
    remember("retried " + std::string(name) + " " + std::to_string(attempt));
  }
  void on_dead_lettered(std::string_view name, std::string_view reason) noexcept override {
    ++dead_lettered;
    remember("dead-lettered " + std::string(name) + ": " + std::string(reason));
  }
  void on_consumed(std::string_view name, std::chrono::nanoseconds) noexcept override {
    ++consumed;
    remember("consumed " + std::string(name));
  }
  void on_reconnected(std::string_view component) noexcept override {
    ++reconnected;
    remember("reconnected " + std::string(component));
  }
  void on_outbox_pending(std::size_t rows) noexcept override { last_pending = rows; ++pending_reports; }
  void on_relay_lag(std::chrono::nanoseconds lag) noexcept override {
    ++relay_lags;
    if (lag.count() >= 0) ++relay_lags_non_negative;
    auto longest = longest_relay_lag_ns.load();
    while (lag.count() > longest && !longest_relay_lag_ns.compare_exchange_weak(longest, lag.count())) {
    }
  }

  /// The named reports, in order.
  std::vector<std::string> log() const {
    const std::lock_guard lock(mutex_);
    return log_;
  }

  std::atomic<std::size_t> dispatched{0}, handler_failures{0}, sent{0}, confirmed{0}, confirmed_with_latency{0},
      retried{0}, dead_lettered{0}, consumed{0}, reconnected{0}, pending_reports{0}, last_pending{0}, relay_lags{0},
      relay_lags_non_negative{0};
  std::atomic<std::chrono::nanoseconds::rep> longest_relay_lag_ns{0};

private:
  void remember(std::string entry) noexcept {
    try {
      const std::lock_guard lock(mutex_);
      log_.push_back(std::move(entry));
    } catch (...) {
    }
  }
  mutable std::mutex mutex_;
  std::vector<std::string> log_;
  spakky::event::ScopedMetricsObserver installed_;
};

}  // namespace test_support
