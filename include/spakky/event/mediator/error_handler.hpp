#pragma once
/// @file
/// ErrorHandler: where mediators send the failures of handlers.

#include <spakky/event/detail/handler_registry.hpp>
#include <spakky/event/detail/lean_std.hpp>
#include <spakky/event/dispatch_outcome.hpp>
#include <spakky/event/event.hpp>

#include <cstdio>
#include <exception>
#include <string>

namespace spakky::event {

/// Receives a handler's failure: the event and what the handler threw.
using ErrorHandler = std::function<void(const AbstractEvent& event, std::exception_ptr error)>;

namespace detail {

/// The default: one line on stderr naming the event.
inline void write_failure_to_stderr(const AbstractEvent& event, std::exception_ptr error) {
  std::string what = "unknown exception";
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  const auto name = event.event_name();
  std::fprintf(stderr, "spakky::event: a handler of '%.*s' (%s) failed: %s\n", static_cast<int>(name.size()),
               name.data(), event.event_id().to_string().c_str(), what.c_str());
}

/// Holds the error handler; read only on the failure path, so a mutex is fine here.
class FailureSink {
public:
  void set(ErrorHandler handler) {
    auto fresh = handler ? std::make_shared<const ErrorHandler>(std::move(handler)) : nullptr;
    const std::lock_guard lock(mutex_);
    handler_ = std::move(fresh);
  }

  /// Counts the failure into `outcome` (if any) and tells the error handler. Never throws.
  void report(const AbstractEvent& event, std::exception_ptr error, DispatchOutcome* outcome) const noexcept {
    if (outcome != nullptr) {
      if (outcome->handlers_failed++ == 0) outcome->first_failure = error;
    }
    try {
      std::shared_ptr<const ErrorHandler> handler;
      {
        const std::lock_guard lock(mutex_);
        handler = handler_;
      }
      if (handler) (*handler)(event, error);
      else write_failure_to_stderr(event, error);
    } catch (...) {
      // An error handler that throws is ignored: dispatch never throws.
    }
  }

private:
  mutable std::mutex mutex_;
  std::shared_ptr<const ErrorHandler> handler_;
};

}  // namespace detail
}  // namespace spakky::event
