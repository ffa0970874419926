#pragma once
/// @file
/// IntegrationEventConsumer: the part every synchronous broker consumer shares (in-memory,
/// RabbitMQ): it is an IEventConsumer for integration events, decodes a received message by
/// its event name and dispatches it through an internal EventMediator, reporting what the
/// broker should do with the message. BrokerConsumerBase: what it shares with the coroutine
/// consumers (async_integration_event_consumer.hpp).

#include <spakky/event/detail/escape.hpp>
#include <spakky/event/dispatch_outcome.hpp>
#include <spakky/event/error.hpp>
#include <spakky/event/event_consumer.hpp>
#include <spakky/event/event_publisher.hpp>
#include <spakky/event/mediator/event_mediator.hpp>
#include <spakky/event/serializer.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace spakky::event {

/// One message as a broker consumer received it. Handlers can read it through
/// IntegrationEventConsumer::current_message() (coroutine handlers:
/// AsyncIntegrationEventConsumer::message_of()) while they run.
struct IncomingMessage {
  std::string event_name;  ///< the event name the message was sent under (from the wire)
  std::string payload;     ///< the serialized event (JSON)
  Headers headers;         ///< the message's headers (traceparent, ...)
  /// 1 for the first delivery, 2 for the first redelivery, ...
  std::uint32_t delivery_attempt = 1;
};

/// What the broker should do with a message after it was handled.
enum class Disposition {
  ack,          ///< every handler that took it succeeded
  retry,        ///< a handler failed: deliver again (handlers must be idempotent)
  requeue,      ///< no handler took it (UnhandledMessagePolicy::requeue): give it back
  dead_letter,  ///< unreadable, or no handler took it (policy dead_letter): park it with the reason
};

/// What a consumer does with a message that no handler took: its event type's handlers were
/// all cancelled (a Subscription or HandlerBundle gone while the consumer runs, as in every
/// shutdown that ends the subscriptions first), or none was ever registered on this consumer.
/// Such a message is never acknowledged as handled.
enum class UnhandledMessagePolicy {
  /// The default: give it back to the broker, for another consumer of the queue or a later
  /// run. Each time counts as a delivery attempt, so a message no consumer ever takes ends in
  /// the dead-letter queue after max_delivery_attempts (a consumer left with no handler at all
  /// stops consuming instead; see RabbitMqEventConsumer).
  requeue,
  /// Dead-letter it at once, with the reason.
  dead_letter,
};

/// The result of handling one message.
struct HandlingResult {
  Disposition disposition = Disposition::ack;  ///< what the broker should do with the message
  std::string reason;                          ///< why, for retry, requeue and dead_letter
  DispatchOutcome outcome;                     ///< what the handlers did (empty for dead_letter)
};

/// What every broker consumer shares, synchronous (IntegrationEventConsumer) or coroutine
/// (AsyncIntegrationEventConsumer<A>): which event names it is bound to, the
/// UnhandledMessagePolicy, decoding a message, and turning what a dispatch did into a
/// HandlingResult.
///
/// A cancelled handler does not tell its consumer: the consumer finds out when a message
/// arrives that no handler takes. Then the message is requeued or dead-lettered
/// (UnhandledMessagePolicy, never acknowledged), and its event name is dropped from
/// event_names() (a broker consumer unbinds it) unless a handler was registered meanwhile; a
/// catch-all found gone unbinds the catch-all. Registering a handler again binds its name again.
class BrokerConsumerBase {
public:
  BrokerConsumerBase(const BrokerConsumerBase&) = delete;
  BrokerConsumerBase& operator=(const BrokerConsumerBase&) = delete;
  virtual ~BrokerConsumerBase() = default;

  /// The names of the event types handlers are registered for (as far as the consumer knows:
  /// see the class comment), in registration order.
  [[nodiscard]] std::vector<std::string> event_names() const {
    const std::lock_guard lock(names_mutex_);
    return names_;
  }

  /// True if a catch-all handler is registered (as far as the consumer knows).
  [[nodiscard]] bool has_catch_all() const {
    const std::lock_guard lock(names_mutex_);
    return catch_all_;
  }

  /// True if any handler is registered (as far as the consumer knows).
  [[nodiscard]] bool has_handlers() const {
    const std::lock_guard lock(names_mutex_);
    return catch_all_ || !names_.empty();
  }

  /// What handling makes of a message no handler took (default: requeue).
  void set_unhandled_policy(UnhandledMessagePolicy policy) noexcept { unhandled_policy_.store(policy); }
  /// The current policy for messages no handler took (set_unhandled_policy).
  [[nodiscard]] UnhandledMessagePolicy unhandled_policy() const noexcept { return unhandled_policy_.load(); }

protected:
  /// A consumer decoding with `serializer`, which must outlive it.
  explicit BrokerConsumerBase(const IEventSerializer& serializer) : serializer_(serializer) {}

  /// Registers `handler` through `subscribe` (which hands it to the consumer's mediator) and
  /// binds its name. Throws EventError for a handler of anything but an integration event.
  template <class Handler, class Subscribe>
  Subscription add_route(Handler handler, Subscribe&& subscribe) {
    if (handler.kind() != EventKind::integration) {
      throw EventError("a broker consumer takes integration-event handlers only; '" +
                       detail::escape_for_log(handler.event_name()) + "' is not an integration event");
    }
    const bool catch_all = handler.is_catch_all();
    const std::string name(handler.event_name());
    Subscription subscription;
    {
      // Registered under the lock, with the generation bumped: conclude() never drops a name
      // whose handler was registered after its dispatch found none.
      const std::lock_guard lock(names_mutex_);
      subscription = subscribe(std::move(handler));
      ++generation_;
      if (catch_all) {
        catch_all_ = true;
      } else if (std::find(names_.begin(), names_.end(), name) == names_.end()) {
        names_.push_back(name);
      }
    }
    on_bindings_changed();
    return subscription;
  }

  /// The event `message` holds, or null with `result` set to dead_letter and the reason
  /// (unreadable: unknown name, malformed payload, wrong types). Never throws.
  std::unique_ptr<AbstractIntegrationEvent> decode(const IncomingMessage& message, HandlingResult& result) const {
    try {
      auto event = serializer_.deserialize(message.event_name, message.payload);
      if (!event) throw InvalidMessageError(message.event_name, "the serializer returned no event");
      return event;
    } catch (const std::exception& e) {
      result.disposition = Disposition::dead_letter;
      result.reason = e.what();
    } catch (...) {
      result.disposition = Disposition::dead_letter;
      result.reason = "the serializer threw a non-standard exception";
    }
    return nullptr;
  }

  /// Registrations so far: taken before a dispatch, given to conclude() after it.
  [[nodiscard]] std::uint64_t generation() const {
    const std::lock_guard lock(names_mutex_);
    return generation_;
  }

  /// Sets the disposition of `result` from its outcome: ack, retry (a handler failed), or for
  /// a message no handler took requeue / dead_letter by the policy, its name unbound.
  void conclude(HandlingResult& result, std::string_view event_name, std::uint64_t generation) {
    if (result.outcome.handlers_run == 0) {
      const std::string name(event_name);
      forget(name, generation);
      result.disposition = unhandled_policy() == UnhandledMessagePolicy::requeue ? Disposition::requeue
                                                                                   : Disposition::dead_letter;
      result.reason = "no handler took event '" + detail::escape_for_log(name) +
                      "' (its handlers were cancelled, or none was registered on this consumer)";
    } else if (!result.outcome.succeeded()) {
      result.disposition = Disposition::retry;
      result.reason = describe(result.outcome.first_failure);
    } else {
      result.disposition = Disposition::ack;
    }
  }

  /// Called after the set of names or the catch-all changed (a registration, or a name found
  /// without a handler), outside any lock of this class: a broker consumer binds or unbinds.
  virtual void on_bindings_changed() {}

  /// True if messages named `event_name` should reach this consumer.
  [[nodiscard]] bool bound_to(std::string_view event_name) const {
    const std::lock_guard lock(names_mutex_);
    return catch_all_ || std::find(names_.begin(), names_.end(), event_name) != names_.end();
  }

private:
  /// A dispatch of `name` found no handler (not even a catch-all): drop the name and the
  /// catch-all, unless a handler was registered since the dispatch began.
  void forget(const std::string& name, std::uint64_t generation) {
    bool changed = false;
    {
      const std::lock_guard lock(names_mutex_);
      if (generation != generation_) return;
      const auto found = std::find(names_.begin(), names_.end(), name);
      if (found != names_.end()) {
        names_.erase(found);
        changed = true;
      }
      changed = changed || catch_all_;
      catch_all_ = false;
    }
    if (changed) on_bindings_changed();
  }

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
  std::atomic<UnhandledMessagePolicy> unhandled_policy_{UnhandledMessagePolicy::requeue};
  mutable std::mutex names_mutex_;
  std::vector<std::string> names_;   // guarded by names_mutex_
  bool catch_all_ = false;           // guarded by names_mutex_
  std::uint64_t generation_ = 0;     // guarded by names_mutex_: registrations so far
};

/// Base of synchronous broker consumers: registration (IEventConsumer) and the
/// decode-and-dispatch step. Only integration events (and their catch-all) can be registered;
/// every registered event name is what the broker should route to this consumer
/// (event_names(); see BrokerConsumerBase for what happens when handlers are cancelled).
class IntegrationEventConsumer : public IEventConsumer, public BrokerConsumerBase {
public:
  /// A consumer decoding with `serializer`, which must outlive it.
  explicit IntegrationEventConsumer(const IEventSerializer& serializer) : BrokerConsumerBase(serializer) {}

  Subscription subscribe(ErasedEventHandler handler) override {
    return add_route(std::move(handler), [this](ErasedEventHandler h) { return mediator_.subscribe(std::move(h)); });
  }

  /// Where handler failures are reported (besides the retry they cause).
  void set_error_handler(ErrorHandler handler) { mediator_.set_error_handler(std::move(handler)); }

  /// The message being handled on this consumer, for its handlers; null outside a handler.
  [[nodiscard]] const IncomingMessage* current_message() const noexcept { return current_; }

  /// Decodes `message` by its event name and dispatches it to the handlers; never throws for
  /// a bad message or a failing handler. A message no handler took is requeued or
  /// dead-lettered by the UnhandledMessagePolicy, and its name unbound (see
  /// BrokerConsumerBase). Calls from different threads are serialised (one message at a
  /// time); a handler may cause a nested call on its own thread.
  HandlingResult handle(const IncomingMessage& message) {
    const std::lock_guard lock(handle_mutex_);
    HandlingResult result;
    const std::unique_ptr<AbstractIntegrationEvent> event = decode(message, result);
    if (!event) return result;
    // A handler may make the broker deliver to this consumer again on this very thread (a
    // synchronous broker): the lock is recursive and the outer message is restored after.
    const std::uint64_t generation = this->generation();
    const IncomingMessage* outer = std::exchange(current_, &message);
    result.outcome = mediator_.dispatch_with_outcome(*event);
    current_ = outer;
    conclude(result, event->event_name(), generation);
    return result;
  }

private:
  EventMediator mediator_;
  std::recursive_mutex handle_mutex_;
  const IncomingMessage* current_ = nullptr;
};

}  // namespace spakky::event
