#pragma once
/// @file
/// A loopback broker for tests and examples (SPEC §10): InMemoryEventTransport delivers every
/// message it is sent to the InMemoryEventConsumers attached to it, in the same process and on
/// the sending thread. A consumer decodes each message by its event name, dispatches it to its
/// handlers, redelivers it when a handler fails (up to a limit) and then, like a broker's
/// dead-letter queue, parks it with the reason in an inspectable list.
///
/// **Example**
/// @code
/// spakky::event::JsonEventSerializer serializer;
/// serializer.register_event<OrderPlaced>();
/// spakky::event::InMemoryEventTransport transport;
/// spakky::event::InMemoryEventConsumer consumer(transport, serializer);
/// auto sub = consumer.register_handler([](const OrderPlaced& e) { ship(e.order_id); });
///
/// spakky::event::DirectEventBus bus(transport, serializer);
/// bus.send(OrderPlaced("o-1"));           // ship("o-1") has run when send returns
/// assert(consumer.dead_letters().empty());
/// @endcode

#include <spakky/event/async_event_publisher.hpp>
#include <spakky/event/consumer/consumer_reports.hpp>
#include <spakky/event/consumer/integration_event_consumer.hpp>
#include <spakky/event/event_publisher.hpp>
#include <spakky/event/observability/metrics.hpp>
#include <spakky/event/serializer.hpp>
#include <spakky/event/task.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace spakky::event {

class InMemoryEventConsumer;

/// A message a consumer gave up on, and why.
struct DeadLetter {
  IncomingMessage message;  ///< as last delivered (delivery_attempt: how often it was tried)
  std::string reason;       ///< the deserializer's or the last failing handler's message
};

namespace detail {

/// A consumer's place on a transport. The mutex is held while a message is delivered to the
/// consumer, so that detaching (the consumer's destructor) waits for a delivery running on
/// another thread.
struct InMemoryEndpoint {
  std::mutex mutex;
  InMemoryEventConsumer* consumer = nullptr;  // null once detached
};

}  // namespace detail

/// The sending side of the loopback broker. `send` hands the message to every attached
/// consumer bound to its event name (a consumer binds the names of the event types it has
/// handlers for, or every name once it has a catch-all handler), and returns when they have
/// handled it. A message no consumer is bound to is dropped, as a broker drops an unroutable
/// message; unrouted() counts them.
///
/// Thread-safe. Messages a handler sends through the same transport while handling one are
/// queued and delivered, in order, once the current message is done (no re-entrant delivery,
/// no unbounded recursion). Consumers must be destroyed before the transport.
class InMemoryEventTransport final : public IEventTransport {
public:
  InMemoryEventTransport() = default;
  InMemoryEventTransport(const InMemoryEventTransport&) = delete;
  InMemoryEventTransport& operator=(const InMemoryEventTransport&) = delete;

  /// Delivers the message to the bound consumers before returning (see the class comment for
  /// sends from inside a handler). Handler failures are the consumers' business (retry, dead
  /// letter): they never make send fail.
  void send(std::string_view event_name, std::string_view payload, const Headers& headers) override;

  /// Messages sent so far.
  [[nodiscard]] std::size_t sent() const {
    const std::lock_guard lock(mutex_);
    return sent_;
  }
  /// Messages no consumer was bound to.
  [[nodiscard]] std::size_t unrouted() const {
    const std::lock_guard lock(mutex_);
    return unrouted_;
  }

private:
  friend class InMemoryEventConsumer;

  /// Messages sent from inside a delivery of this transport on this thread, delivered after it.
  struct DeliveryFrame {
    const InMemoryEventTransport* transport;
    std::deque<IncomingMessage>* queue;
    DeliveryFrame* previous;
  };
  static DeliveryFrame*& top_frame() noexcept {
    thread_local DeliveryFrame* top = nullptr;
    return top;
  }

  void attach(std::shared_ptr<detail::InMemoryEndpoint> endpoint) {
    const std::lock_guard lock(mutex_);
    endpoints_.push_back(std::move(endpoint));
  }
  void detach(const detail::InMemoryEndpoint* endpoint) {
    const std::lock_guard lock(mutex_);
    std::erase_if(endpoints_, [&](const auto& e) { return e.get() == endpoint; });
  }

  void deliver(const IncomingMessage& message);

  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<detail::InMemoryEndpoint>> endpoints_;
  std::size_t sent_ = 0;
  std::size_t unrouted_ = 0;
};

/// The receiving side of the loopback broker: an IEventConsumer for integration events,
/// attached to one InMemoryEventTransport for its lifetime.
///
/// For each message it is bound to: decode by event name, dispatch to the handlers; a handler
/// failure redelivers the message at once (delivery_attempt + 1) until `max_delivery_attempts`
/// deliveries have failed, then it goes to the dead-letter list with the last failure's
/// message. Handlers must be idempotent: a redelivery reruns the handlers that already
/// succeeded. An unreadable message (unknown name, bad payload) goes to the dead-letter list at
/// once. Handlers read the message being handled (headers, delivery_attempt) through
/// current_message().
///
/// A message no handler takes (its handlers were cancelled) is never acknowledged: with
/// UnhandledMessagePolicy::requeue (the default) it is redelivered like a failure and, no
/// handler taking it, dead-lettered after `max_delivery_attempts`; with `dead_letter` at once.
/// Its name is unbound then, so later messages of that name are not routed here (the
/// transport counts them as unrouted) until a handler for it is registered again.
///
/// Each redelivery is logged at warn and each dead letter at error (component "inmemory", the
/// event name and reason escaped), and reported to the metrics observer (on_retried,
/// on_dead_lettered, on_consumed; the transport reports on_sent).
///
/// The destructor detaches the consumer and waits for a delivery to it running on another
/// thread; do not destroy a consumer from inside one of its own handlers.
class InMemoryEventConsumer final : public IntegrationEventConsumer {
public:
  /// The default number of deliveries of a failing message before it is dead-lettered.
  static constexpr std::uint32_t default_max_delivery_attempts = 3;

  /// Attaches to `transport`; `serializer` decodes what arrives. Both must outlive the consumer.
  InMemoryEventConsumer(InMemoryEventTransport& transport, const IEventSerializer& serializer,
                        std::uint32_t max_delivery_attempts = default_max_delivery_attempts)
      : IntegrationEventConsumer(serializer),
        transport_(transport),
        max_attempts_(std::max<std::uint32_t>(max_delivery_attempts, 1)),
        endpoint_(std::make_shared<detail::InMemoryEndpoint>()) {
    endpoint_->consumer = this;
    transport_.attach(endpoint_);
  }
  InMemoryEventConsumer(const InMemoryEventConsumer&) = delete;
  InMemoryEventConsumer& operator=(const InMemoryEventConsumer&) = delete;

  ~InMemoryEventConsumer() override {
    transport_.detach(endpoint_.get());
    const std::lock_guard lock(endpoint_->mutex);  // waits for a delivery in progress
    endpoint_->consumer = nullptr;
  }

  /// True if messages named `event_name` are delivered to this consumer: a handler for it (or
  /// a catch-all) is registered, as far as the consumer knows (see the class comment).
  [[nodiscard]] bool is_bound(std::string_view event_name) const { return bound_to(event_name); }

  /// How many deliveries of a failing message are made before it is dead-lettered.
  [[nodiscard]] std::uint32_t max_delivery_attempts() const noexcept { return max_attempts_; }

  /// The messages given up on, oldest first.
  [[nodiscard]] std::vector<DeadLetter> dead_letters() const {
    const std::lock_guard lock(state_mutex_);
    return dead_letters_;
  }
  /// Empties the dead-letter list.
  void clear_dead_letters() {
    const std::lock_guard lock(state_mutex_);
    dead_letters_.clear();
  }
  /// Messages whose handlers all succeeded (acknowledged), redeliveries not counted twice.
  [[nodiscard]] std::size_t acknowledged() const {
    const std::lock_guard lock(state_mutex_);
    return acknowledged_;
  }

private:
  friend class InMemoryEventTransport;

  /// Handles one message until it is acknowledged or dead-lettered, reporting each outcome to
  /// the metrics observer and the log (component "inmemory").
  void receive(IncomingMessage message) {
    const auto received = std::chrono::steady_clock::now();
    for (;;) {
      HandlingResult result = handle(message);
      if (result.disposition == Disposition::ack) {
        {
          const std::lock_guard lock(state_mutex_);
          ++acknowledged_;
        }
        detail::report_consumed(message, received);
        return;
      }
      const bool again = result.disposition == Disposition::retry || result.disposition == Disposition::requeue;
      if (again && message.delivery_attempt < max_attempts_) {
        detail::report_redelivery("inmemory", message, result.reason);
        ++message.delivery_attempt;
        continue;
      }
      if (result.disposition == Disposition::requeue) {
        result.reason = "not handled on any of " + std::to_string(max_attempts_) + " delivery attempts: " + result.reason;
      }
      detail::report_dead_letter("inmemory", message, result.reason);
      const std::lock_guard lock(state_mutex_);
      dead_letters_.push_back(DeadLetter{std::move(message), std::move(result.reason)});
      return;
    }
  }

  InMemoryEventTransport& transport_;
  const std::uint32_t max_attempts_;
  std::shared_ptr<detail::InMemoryEndpoint> endpoint_;

  mutable std::mutex state_mutex_;
  std::vector<DeadLetter> dead_letters_;
  std::size_t acknowledged_ = 0;
};

inline void InMemoryEventTransport::send(std::string_view event_name, std::string_view payload, const Headers& headers) {
  IncomingMessage message{std::string(event_name), std::string(payload), headers, 1};
  {
    const std::lock_guard lock(mutex_);
    ++sent_;
  }
  if (MetricsObserver* observer = metrics_observer()) observer->on_sent(event_name);
  // Inside a delivery of this transport on this thread: queue it behind the current message.
  for (DeliveryFrame* frame = top_frame(); frame != nullptr; frame = frame->previous) {
    if (frame->transport == this) {
      frame->queue->push_back(std::move(message));
      return;
    }
  }
  std::deque<IncomingMessage> queue;
  queue.push_back(std::move(message));
  DeliveryFrame frame{this, &queue, top_frame()};
  top_frame() = &frame;
  struct Pop {
    DeliveryFrame* previous;
    ~Pop() { top_frame() = previous; }
  } pop{frame.previous};
  while (!queue.empty()) {
    deliver(queue.front());
    queue.pop_front();
  }
}

inline void InMemoryEventTransport::deliver(const IncomingMessage& message) {
  std::vector<std::shared_ptr<detail::InMemoryEndpoint>> endpoints;
  {
    const std::lock_guard lock(mutex_);
    endpoints = endpoints_;
  }
  bool routed = false;
  for (const auto& endpoint : endpoints) {
    const std::lock_guard lock(endpoint->mutex);
    InMemoryEventConsumer* consumer = endpoint->consumer;
    if (consumer == nullptr || !consumer->is_bound(message.event_name)) continue;
    routed = true;
    consumer->receive(message);
  }
  if (!routed) {
    const std::lock_guard lock(mutex_);
    ++unrouted_;
  }
}

/// IAsyncEventTransport over an InMemoryEventTransport, for AsyncDirectEventBus: the awaitable
/// completes once the consumers have handled the message (delivery is synchronous).
template <class Awaitable = Task<>>
class AsyncInMemoryEventTransport final : public IAsyncEventTransport<Awaitable> {
public:
  /// `transport` must outlive this object.
  explicit AsyncInMemoryEventTransport(InMemoryEventTransport& transport) noexcept : transport_(transport) {}

  Awaitable send(std::string_view event_name, std::string_view payload, const Headers& headers) override {
    transport_.send(event_name, payload, headers);
    co_return;
  }

private:
  InMemoryEventTransport& transport_;
};

}  // namespace spakky::event
