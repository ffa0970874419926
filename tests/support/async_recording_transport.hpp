#pragma once
// An IAsyncEventTransport<> that records every message handed to it, can be told to fail, and
// can be told to suspend each send until the test completes it (from any thread).

#include "support/recording_transport.hpp"  // SentMessage, NonStdTransportFailure

#include <spakky/event/async_event_publisher.hpp>
#include <spakky/event/error.hpp>
#include <spakky/event/task.hpp>

#include <coroutine>
#include <cstddef>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace test_support {

/// Records (event_name, payload, headers) per successful send; thread-safe.
///
/// A send copies the message when it starts and again when it completes (after the suspension,
/// if any), and records it only if both copies are equal: the bus must keep the views and the
/// headers valid until the transport's task completes (ASan sees a use after free, the copies
/// see a change).
class AsyncRecordingTransport final : public spakky::event::IAsyncEventTransport<> {
public:
  enum class Failure {
    none,                 ///< record the message
    transport_error,      ///< throw TransportError(event_name, message) from the task
    runtime_error,        ///< throw std::runtime_error(message) from the task
    non_std,              ///< throw NonStdTransportFailure{} from the task
    runtime_error_early,  ///< throw std::runtime_error(message) from send() itself, before any task
  };

  /// Makes every following send fail (without recording) until told Failure::none.
  void fail_with(Failure failure, std::string message = "broker unreachable") {
    const std::lock_guard lock(mutex_);
    failure_ = failure;
    message_ = std::move(message);
  }

  /// With true, every following send suspends until complete_one() resumes it.
  void suspend_sends(bool suspend) {
    const std::lock_guard lock(mutex_);
    suspend_ = suspend;
  }

  /// How many sends are suspended now.
  [[nodiscard]] std::size_t pending() const {
    const std::lock_guard lock(mutex_);
    return pending_.size();
  }

  /// Resumes the oldest suspended send on the calling thread; false if there was none.
  bool complete_one() {
    std::coroutine_handle<> handle;
    {
      const std::lock_guard lock(mutex_);
      if (pending_.empty()) return false;
      handle = pending_.front();
      pending_.pop_front();
    }
    handle.resume();
    return true;
  }

  spakky::event::Task<> send(std::string_view event_name, std::string_view payload,
                             const spakky::event::Headers& headers) override {
    bool early = false;
    std::string message;
    {
      const std::lock_guard lock(mutex_);
      ++attempts_;
      early = failure_ == Failure::runtime_error_early;
      message = message_;
    }
    if (early) throw std::runtime_error(message);
    return run(event_name, payload, headers);
  }

  /// The messages recorded so far, in order.
  [[nodiscard]] std::vector<SentMessage> sent() const {
    const std::lock_guard lock(mutex_);
    return sent_;
  }

  /// How many times send() was called, failed calls included.
  [[nodiscard]] std::size_t attempts() const {
    const std::lock_guard lock(mutex_);
    return attempts_;
  }

  /// How many sends found their message changed between start and completion.
  [[nodiscard]] std::size_t changed_while_sending() const {
    const std::lock_guard lock(mutex_);
    return changed_;
  }

private:
  struct Suspend {
    AsyncRecordingTransport* transport;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> handle) const {
      AsyncRecordingTransport* owner = transport;  // nothing of this awaiter is touched once queued
      const std::lock_guard lock(owner->mutex_);
      owner->pending_.push_back(handle);
    }
    void await_resume() const noexcept {}
  };

  spakky::event::Task<> run(std::string_view event_name, std::string_view payload,
                            const spakky::event::Headers& headers) {
    const SentMessage at_start{std::string(event_name), std::string(payload), headers};
    bool suspend = false;
    {
      const std::lock_guard lock(mutex_);
      suspend = suspend_;
    }
    if (suspend) co_await Suspend{this};
    // Read the message again after the suspension: it must still be the same.
    const SentMessage at_end{std::string(event_name), std::string(payload), headers};
    Failure failure = Failure::none;
    std::string message;
    {
      const std::lock_guard lock(mutex_);
      failure = failure_;
      message = message_;
      if (at_end.event_name != at_start.event_name || at_end.payload != at_start.payload ||
          at_end.headers != at_start.headers) {
        ++changed_;
      }
    }
    switch (failure) {
      case Failure::none:
      case Failure::runtime_error_early: break;
      case Failure::transport_error: throw spakky::event::TransportError(event_name, message);
      case Failure::runtime_error: throw std::runtime_error(message);
      case Failure::non_std: throw NonStdTransportFailure{};
    }
    const std::lock_guard lock(mutex_);
    sent_.push_back(at_end);
  }

  mutable std::mutex mutex_;
  std::vector<SentMessage> sent_;
  std::deque<std::coroutine_handle<>> pending_;
  std::size_t attempts_ = 0;
  std::size_t changed_ = 0;
  bool suspend_ = false;
  Failure failure_ = Failure::none;
  std::string message_ = "broker unreachable";
};

}  // namespace test_support
