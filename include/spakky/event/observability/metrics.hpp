#pragma once
/// @file
/// MetricsObserver: the library's counts and timings (dispatched, handler failures, sent,
/// confirmed, retried, dead-lettered, consumed, reconnects, outbox backlog and relay lag),
/// reported to one observer installed for the process. With none installed, reporting costs
/// a load and a branch (EventMediator::dispatch: nothing, see HandlerRegistry's dispatch
/// table); an observer that overrides nothing costs one virtual call more.

#include <spakky/event/detail/lean_std.hpp>  // std::chrono durations: the mediator includes this header
#include <spakky/event/event.hpp>

#include <atomic>
#include <cstddef>
#include <string_view>

namespace spakky::event {

/// Receives the library's counts and timings. Every method does nothing by default: override
/// those you want. They are called on the thread doing the work, also concurrently from several
/// threads, while that work waits: keep them short (count into atomics; see
/// examples/prometheus_metrics.cpp). Event names are as they came (a consumer's may come from
/// the wire): escape them (detail::escape_for_log) before you print them.
class MetricsObserver {
public:
  MetricsObserver() = default;
  MetricsObserver(const MetricsObserver&) = delete;
  MetricsObserver& operator=(const MetricsObserver&) = delete;
  virtual ~MetricsObserver() = default;

  /// A mediator (EventMediator, AsyncEventMediator) dispatched `event`, whether or not a
  /// handler took it: once per dispatch call.
  virtual void on_dispatched([[maybe_unused]] const AbstractEvent& event) noexcept {}

  /// A handler of `event` threw (reported whatever the error handler does with it).
  virtual void on_handler_failed([[maybe_unused]] const AbstractEvent& event) noexcept {}

  /// A transport handed a message of `event_name` to its broker (a confirmed transport: the
  /// broker confirmed it, and on_confirmed follows).
  virtual void on_sent([[maybe_unused]] std::string_view event_name) noexcept {}

  /// The broker confirmed a message of `event_name`, `latency` after its send began.
  virtual void on_confirmed([[maybe_unused]] std::string_view event_name,
                            [[maybe_unused]] std::chrono::nanoseconds latency) noexcept {}

  /// A consumer will deliver a message of `event_name` again: delivery `attempt` (1 = the
  /// first) failed.
  virtual void on_retried([[maybe_unused]] std::string_view event_name, [[maybe_unused]] std::size_t attempt) noexcept {
  }

  /// A consumer dead-lettered a message of `event_name` for `reason` (escaped text).
  virtual void on_dead_lettered([[maybe_unused]] std::string_view event_name,
                                [[maybe_unused]] std::string_view reason) noexcept {}

  /// A consumer's handlers took a message of `event_name` and it was acknowledged,
  /// `duration` after the consumer received it.
  virtual void on_consumed([[maybe_unused]] std::string_view event_name,
                           [[maybe_unused]] std::chrono::nanoseconds duration) noexcept {}

  /// `component` ("rabbitmq.transport", "rabbitmq.consumer") connected to the broker again
  /// after its connection was lost.
  virtual void on_reconnected([[maybe_unused]] std::string_view component) noexcept {}

  /// An outbox relay's loop (thread or task) counted `rows` rows not sent yet, pending and
  /// parked: at most once a second, and only while an observer is installed.
  virtual void on_outbox_pending([[maybe_unused]] std::size_t rows) noexcept {}

  /// An outbox relay marked a row sent `lag` after the row was written (PostgreSQL: after its
  /// transaction began): once per row sent.
  virtual void on_relay_lag([[maybe_unused]] std::chrono::nanoseconds lag) noexcept {}
};

namespace detail {

// Read on every dispatch: an atomic pointer that needs no run-time initialisation. Typed
// const void* because the mediator's headers instantiate std::atomic<const void*> already,
// and every instantiation adds to what every user of the mediator compiles.
inline std::atomic<const void*> installed_metrics_observer{nullptr};

/// Something that keeps its own copy of the installed observer and is told when it changes:
/// the synchronous mediator's registry, whose dispatch then needs no load of its own for
/// the observer test (see HandlerRegistry::dispatch_table_).
struct ObserverWatch {
  void (*changed)(ObserverWatch& self, const void* observer) noexcept = nullptr;
  ObserverWatch* prev = nullptr;
  ObserverWatch* next = nullptr;
};

// The watches of this module, and the lock that orders installs with watches coming and going.
inline std::mutex observer_watch_mutex;
inline ObserverWatch* observer_watches = nullptr;

/// Links `watch` and tells it the observer installed now (under the lock: no install is missed).
inline void watch_observer(ObserverWatch& watch) noexcept {
  const std::lock_guard lock(observer_watch_mutex);
  watch.next = observer_watches;
  if (observer_watches != nullptr) observer_watches->prev = &watch;
  observer_watches = &watch;
  watch.changed(watch, installed_metrics_observer.load(std::memory_order_relaxed));
}

/// Unlinks `watch`; no call to it starts or runs after this returns.
inline void unwatch_observer(ObserverWatch& watch) noexcept {
  const std::lock_guard lock(observer_watch_mutex);
  if (watch.prev != nullptr) watch.prev->next = watch.next;
  else observer_watches = watch.next;
  if (watch.next != nullptr) watch.next->prev = watch.prev;
}

}  // namespace detail

/// Installs `observer` for the process (for this module, when the library is built into
/// several shared libraries with hidden visibility: install it in each; an EventMediator
/// reports to the observer of the module that constructed it); nullptr uninstalls.
/// The library does not own it: it must outlive every call that may still report to it (a
/// dispatch or send running on another thread), so install one that lives until exit, or
/// uninstall it only once those threads are done. Every dispatch that starts after this
/// returns reports to it.
inline void set_metrics_observer(MetricsObserver* observer) noexcept {
  const std::lock_guard lock(detail::observer_watch_mutex);
  detail::installed_metrics_observer.store(observer, std::memory_order_release);
  for (detail::ObserverWatch* watch = detail::observer_watches; watch != nullptr; watch = watch->next) {
    watch->changed(*watch, observer);
  }
}

/// The installed observer, or nullptr.
[[nodiscard]] inline MetricsObserver* metrics_observer() noexcept {
  const void* observer = detail::installed_metrics_observer.load(std::memory_order_acquire);
  return const_cast<MetricsObserver*>(static_cast<const MetricsObserver*>(observer));
}

/// Installs an observer for its lifetime and puts the previous one back on destruction.
///
/// **Example**
/// @code
/// PrometheusMetrics metrics;   // : spakky::event::MetricsObserver
/// spakky::event::ScopedMetricsObserver installed(metrics);
/// @endcode
class ScopedMetricsObserver {
public:
  /// Installs `observer`, remembering the one installed before.
  explicit ScopedMetricsObserver(MetricsObserver& observer) noexcept : previous_(metrics_observer()) {
    set_metrics_observer(&observer);
  }
  ScopedMetricsObserver(const ScopedMetricsObserver&) = delete;
  ScopedMetricsObserver& operator=(const ScopedMetricsObserver&) = delete;
  /// Puts the previous observer back.
  ~ScopedMetricsObserver() { set_metrics_observer(previous_); }

private:
  MetricsObserver* previous_;
};

}  // namespace spakky::event
