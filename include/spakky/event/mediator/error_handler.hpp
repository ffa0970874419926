#pragma once
/// @file
/// ErrorHandler: where mediators send the failures of handlers.

#include <spakky/event/detail/escape.hpp>
#include <spakky/event/detail/handler_registry.hpp>
#include <spakky/event/detail/lean_std.hpp>
#include <spakky/event/dispatch_outcome.hpp>
#include <spakky/event/event.hpp>
#include <spakky/event/observability/log_record.hpp>
#include <spakky/event/observability/metrics.hpp>

#include <cstdio>
#include <exception>
#include <string>

namespace spakky::event {

/// Receives a handler's failure: the event and what the handler threw.
using ErrorHandler = std::function<void(const AbstractEvent& event, std::exception_ptr error)>;

namespace detail {

/// The default: one record at error level in the library's log (stderr unless a sink is set),
/// naming the event, its id and what the handler threw, outside text escaped. (Built without
/// {fmt}: this is the mediator's failure path, and its headers do not include {fmt}.)
inline void log_failure(const AbstractEvent& event, std::exception_ptr error) noexcept {
  if (!log_enabled(LogLevel::error)) return;
  try {
    std::string what = "a non-standard exception";
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    std::string message = "a handler of '";
    message += escape_for_log(event.event_name());
    message += "' (event ";
    message += event.event_id().to_string();
    message += ") failed: ";
    message += escape_for_log(what);
    write_log(LogLevel::error, "mediator", message);
  } catch (...) {
    // Out of memory while reporting: the record is lost, dispatch goes on.
  }
}

/// Holds the error handler; read only on the failure path, so a mutex is fine here.
class FailureSink {
public:
  void set(ErrorHandler handler) {
    const std::lock_guard lock(mutex_);
    handler_.swap(handler);  // the old one is destroyed outside the lock
  }

  /// Counts the failure into `outcome` (if any), reports it to the metrics observer and tells
  /// the error handler (by default, the log). Never throws.
  void report(const AbstractEvent& event, std::exception_ptr error, DispatchOutcome* outcome) const noexcept {
    if (outcome != nullptr) {
      if (outcome->handlers_failed++ == 0) outcome->first_failure = error;
    }
    if (MetricsObserver* observer = metrics_observer()) observer->on_handler_failed(event);
    try {
      ErrorHandler handler;  // a copy: the handler runs outside the lock (it may dispatch)
      {
        const std::lock_guard lock(mutex_);
        handler = handler_;
      }
      if (handler) handler(event, error);
      else log_failure(event, error);
    } catch (...) {
      // An error handler that throws (or a copy that runs out of memory) is ignored:
      // dispatch never throws.
    }
  }

private:
  mutable std::mutex mutex_;
  ErrorHandler handler_;
};

}  // namespace detail
}  // namespace spakky::event
