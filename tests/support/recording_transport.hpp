#pragma once
// A transport that records every message handed to it, and can be told to fail.

#include <spakky/event/error.hpp>
#include <spakky/event/event_publisher.hpp>

#include <cstddef>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace test_support {

/// One call of IEventTransport::send, copied.
struct SentMessage {
  std::string event_name;
  std::string payload;
  spakky::event::Headers headers;
};

/// Thrown by RecordingTransport for Failure::non_std: derives from nothing.
struct NonStdTransportFailure {
  int code = 42;
};

/// Records (event_name, payload, headers) per successful send; thread-safe.
class RecordingTransport final : public spakky::event::IEventTransport {
public:
  enum class Failure {
    none,             ///< record the message
    transport_error,  ///< throw TransportError(event_name, message)
    runtime_error,    ///< throw std::runtime_error(message)
    non_std,          ///< throw NonStdTransportFailure{}
  };

  /// Makes every following send fail (without recording) until told Failure::none.
  void fail_with(Failure failure, std::string message = "broker unreachable") {
    const std::lock_guard lock(mutex_);
    failure_ = failure;
    message_ = std::move(message);
  }

  void send(std::string_view event_name, std::string_view payload,
            const spakky::event::Headers& headers) override {
    const std::lock_guard lock(mutex_);
    ++attempts_;
    switch (failure_) {
      case Failure::none: break;
      case Failure::transport_error: throw spakky::event::TransportError(event_name, message_);
      case Failure::runtime_error: throw std::runtime_error(message_);
      case Failure::non_std: throw NonStdTransportFailure{};
    }
    sent_.push_back({std::string(event_name), std::string(payload), headers});
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

private:
  mutable std::mutex mutex_;
  std::vector<SentMessage> sent_;
  std::size_t attempts_ = 0;
  Failure failure_ = Failure::none;
  std::string message_;
};

}  // namespace test_support
