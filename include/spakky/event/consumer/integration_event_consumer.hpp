#pragma once
/// @file
/// IntegrationEventConsumer: the part every broker consumer shares (in-memory, RabbitMQ):
/// it is an IEventConsumer for integration events, decodes a received message by its event
/// name and dispatches it through an internal EventMediator, reporting what the broker
/// should do with the message.

#include <spakky/event/dispatch_outcome.hpp>
#include <spakky/event/error.hpp>
#include <spakky/event/event_consumer.hpp>
#include <spakky/event/event_publisher.hpp>
#include <spakky/event/mediator/event_mediator.hpp>
#include <spakky/event/serializer.hpp>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace spakky::event {

/// One message as a broker consumer received it. Handlers can read it through
/// IntegrationEventConsumer::current_message() while they run.
struct IncomingMessage {
  std::string event_name;
  std::string payload;
  Headers headers;
  /// 1 for the first delivery, 2 for the first redelivery, ...
  std::uint32_t delivery_attempt = 1;
};

/// What the broker should do with a message after it was handled.
enum class Disposition {
  ack,          ///< every handler succeeded (or none was registered)
  retry,        ///< a handler failed: deliver again (handlers must be idempotent)
  dead_letter,  ///< unreadable: never deliverable, park it with the reason
};

/// The result of handling one message.
struct HandlingResult {
  Disposition disposition = Disposition::ack;
  std::string reason;        ///< why, for retry and dead_letter
  DispatchOutcome outcome;   ///< what the handlers did (empty for dead_letter)
};

/// Base of broker consumers: registration (IEventConsumer) and the decode-and-dispatch step.
/// Only integration events (and their catch-all) can be registered; every registered event
/// name is what the broker should route to this consumer (event_names()).
class IntegrationEventConsumer : public IEventConsumer {
public:
  explicit IntegrationEventConsumer(const IEventSerializer& serializer) : serializer_(serializer) {}

  Subscription subscribe(ErasedEventHandler handler) override {
    if (handler.kind() != EventKind::integration) {
      throw EventError("a broker consumer takes integration-event handlers only; '" +
                       std::string(handler.event_name()) + "' is not an integration event");
    }
    if (!handler.is_catch_all()) {
      const std::lock_guard lock(names_mutex_);
      const std::string name(handler.event_name());
      if (std::find(names_.begin(), names_.end(), name) == names_.end()) names_.push_back(name);
    }
    return mediator_.subscribe(std::move(handler));
  }

  /// The names of the event types handlers were registered for, in registration order.
  [[nodiscard]] std::vector<std::string> event_names() const {
    const std::lock_guard lock(names_mutex_);
    return names_;
  }

  /// Where handler failures are reported (besides the retry they cause).
  void set_error_handler(ErrorHandler handler) { mediator_.set_error_handler(std::move(handler)); }

  /// The message being handled on this consumer, for its handlers; null outside a handler.
  [[nodiscard]] const IncomingMessage* current_message() const noexcept { return current_; }

  /// Decodes `message` by its event name and dispatches it to the handlers; never throws for
  /// a bad message or a failing handler. Calls from different threads are serialised (one
  /// message at a time); a handler may cause a nested call on its own thread.
  HandlingResult handle(const IncomingMessage& message) {
    const std::lock_guard lock(handle_mutex_);
    HandlingResult result;
    std::unique_ptr<AbstractIntegrationEvent> event;
    try {
      event = serializer_.deserialize(message.event_name, message.payload);
      if (!event) throw InvalidMessageError(message.event_name, "the serializer returned no event");
    } catch (const std::exception& e) {
      result.disposition = Disposition::dead_letter;
      result.reason = e.what();
      return result;
    } catch (...) {
      result.disposition = Disposition::dead_letter;
      result.reason = "the serializer threw a non-standard exception";
      return result;
    }
    // A handler may make the broker deliver to this consumer again on this very thread (a
    // synchronous broker): the lock is recursive and the outer message is restored after.
    const IncomingMessage* outer = std::exchange(current_, &message);
    result.outcome = mediator_.dispatch_with_outcome(*event);
    current_ = outer;
    if (!result.outcome.succeeded()) {
      result.disposition = Disposition::retry;
      result.reason = describe(result.outcome.first_failure);
    }
    return result;
  }

private:
  static std::string describe(const std::exception_ptr& error) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      return e.what();
    } catch (...) {
      return "a handler threw a non-standard exception";
    }
  }

  const IEventSerializer& serializer_;
  EventMediator mediator_;
  mutable std::mutex names_mutex_;
  std::vector<std::string> names_;
  std::recursive_mutex handle_mutex_;
  const IncomingMessage* current_ = nullptr;
};

}  // namespace spakky::event
