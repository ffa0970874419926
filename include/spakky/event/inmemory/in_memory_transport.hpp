#pragma once
/// @file
/// A loopback broker for tests and examples: InMemoryEventTransport delivers every
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
#include <spakky/event/consumer/async_integration_event_consumer.hpp>
#include <spakky/event/consumer/consumer_reports.hpp>
#include <spakky/event/consumer/integration_event_consumer.hpp>
#include <spakky/event/consumer/settlement.hpp>
#include <spakky/event/event_publisher.hpp>
#include <spakky/event/observability/metrics.hpp>
#include <spakky/event/serializer.hpp>
#include <spakky/event/task.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
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
template <class Awaitable = Task<>>
class AsyncInMemoryEventConsumer;

/// A message a consumer gave up on, and why.
struct DeadLetter {
  IncomingMessage message;  ///< as last delivered (delivery_attempt: how often it was tried)
  std::string reason;       ///< the deserializer's or the last failing handler's message
};

namespace detail {

/// What the transport hands messages to: a synchronous or a coroutine consumer.
class InMemoryReceiver {
public:
  /// True if messages named `event_name` go to this consumer.
  [[nodiscard]] virtual bool receives(std::string_view event_name) const = 0;
  /// Takes one message over (the synchronous consumer handles it before returning).
  virtual void receive(const IncomingMessage& message) = 0;

protected:
  ~InMemoryReceiver() = default;
};

/// A consumer's place on a transport. The mutex is held while a message is delivered to the
/// consumer, so that detaching (the consumer's destructor) waits for a delivery running on
/// another thread.
struct InMemoryEndpoint {
  std::mutex mutex;
  InMemoryReceiver* consumer = nullptr;  // null once detached
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
  template <class Awaitable>
  friend class AsyncInMemoryEventConsumer;

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

  void attach(const std::shared_ptr<detail::InMemoryEndpoint>& endpoint) {
    const std::lock_guard lock(mutex_);
    endpoints_.push_back(endpoint);
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
class InMemoryEventConsumer final : public IntegrationEventConsumer, private detail::InMemoryReceiver {
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

  [[nodiscard]] bool receives(std::string_view event_name) const override { return bound_to(event_name); }

  /// Handles one message until it is acknowledged or dead-lettered (decide_settlement: there
  /// is no queue to put a message back in, so one no handler took is redelivered too).
  void receive(const IncomingMessage& received) override {
    const auto received_at = std::chrono::steady_clock::now();
    IncomingMessage message = received;
    for (;;) {
      HandlingResult result = handle(message);
      const SettlementDecision decision =
          decide_settlement(result, message.delivery_attempt, max_attempts_, /*can_put_back=*/false);
      if (decision.action == Settlement::redeliver) {
        detail::report_redelivery("inmemory", message, result.reason);
        message.delivery_attempt = static_cast<std::uint32_t>(decision.next_attempt);
        continue;
      }
      if (decision.action == Settlement::ack) {
        detail::report_consumed(message, received_at);
        const std::lock_guard lock(state_mutex_);
        ++acknowledged_;
        return;
      }
      // The last failing handler's own message, as it was (the documented DeadLetter::reason).
      std::string reason = result.disposition == Disposition::retry ? std::move(result.reason) : decision.reason;
      detail::report_dead_letter("inmemory", message, reason);
      const std::lock_guard lock(state_mutex_);
      dead_letters_.push_back(DeadLetter{std::move(message), std::move(reason)});
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

/// Options of AsyncInMemoryEventConsumer. Aggregate: set the fields you need by name.
template <class Awaitable = Task<>>
struct AsyncInMemoryConsumerOptions {
  /// Deliveries of a failing message before it is dead-lettered.
  std::uint32_t max_delivery_attempts = 3;
  /// How many messages are handled at once; more wait (in the order they came).
  std::size_t max_in_flight = 64;
  /// Set: the messages of one key are handled one at a time, in the order they came (see
  /// PartitionKey); different keys run concurrently.
  PartitionKey partition_key{};
  /// How handling coroutines are started (default for Task<>: on the sending thread; see
  /// HandlingLauncher). Required for other awaitables.
  HandlingLauncher<Awaitable> launcher = detail::default_launcher<Awaitable>();
};

/// The coroutine counterpart of InMemoryEventConsumer: handlers return `Awaitable`, and up to
/// max_in_flight messages are handled at once. The transport's send hands it the message and
/// returns once the message has started (or waits its turn); wait_idle() waits until every
/// message received is settled. Retries and dead-lettering follow the same rule
/// (decide_settlement) as InMemoryEventConsumer: a failing message is delivered again at once
/// (its partition key kept busy meanwhile), then dead-lettered. Handlers read their message
/// through message_of(event).
///
/// The destructor detaches the consumer and waits until every message it received is settled
/// (so handlers must end); do not destroy it from one of its own handlers.
///
/// **Example**
/// @code
/// spakky::event::AsyncInMemoryEventConsumer<> consumer(transport, serializer, {.partition_key = by_order});
/// auto sub = consumer.register_handler([](const OrderPlaced& e) -> spakky::event::Task<> { co_await ship(e); });
/// @endcode
template <class Awaitable>
class AsyncInMemoryEventConsumer final : public AsyncIntegrationEventConsumer<Awaitable>,
                                         private detail::InMemoryReceiver {
public:
  /// The options aggregate (AsyncInMemoryConsumerOptions).
  using Options = AsyncInMemoryConsumerOptions<Awaitable>;

  /// Attaches to `transport`; both it and `serializer` must outlive the consumer. Throws
  /// EventError if no launcher is given for an awaitable other than Task<>.
  AsyncInMemoryEventConsumer(InMemoryEventTransport& transport, const IEventSerializer& serializer, Options options = {})
      : AsyncIntegrationEventConsumer<Awaitable>(serializer),
        transport_(transport),
        options_(std::move(options)),
        endpoint_(std::make_shared<detail::InMemoryEndpoint>()) {
    if (!options_.launcher) throw EventError("AsyncInMemoryEventConsumer: no launcher for this awaitable type");
    options_.max_delivery_attempts = std::max<std::uint32_t>(options_.max_delivery_attempts, 1);
    options_.max_in_flight = std::max<std::size_t>(options_.max_in_flight, 1);
    endpoint_->consumer = this;
    transport_.attach(endpoint_);
  }
  AsyncInMemoryEventConsumer(const AsyncInMemoryEventConsumer&) = delete;
  AsyncInMemoryEventConsumer& operator=(const AsyncInMemoryEventConsumer&) = delete;

  ~AsyncInMemoryEventConsumer() override {
    transport_.detach(endpoint_.get());
    {
      const std::lock_guard lock(endpoint_->mutex);  // waits for a delivery in progress
      endpoint_->consumer = nullptr;
    }
    std::unique_lock lock(mutex_);
    settled_.wait(lock, [&] { return idle(); });
  }

  /// True if messages named `event_name` are delivered to this consumer.
  [[nodiscard]] bool is_bound(std::string_view event_name) const { return this->bound_to(event_name); }

  /// Waits until every message received so far is settled; false if `timeout` passed first.
  bool wait_idle(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return settled_.wait_for(lock, timeout, [&] { return idle(); });
  }

  /// Messages being handled now.
  [[nodiscard]] std::size_t in_flight() const {
    const std::lock_guard lock(mutex_);
    return in_flight_;
  }
  /// The messages given up on, oldest first.
  [[nodiscard]] std::vector<DeadLetter> dead_letters() const {
    const std::lock_guard lock(mutex_);
    return dead_letters_;
  }
  /// Messages whose handlers all succeeded.
  [[nodiscard]] std::size_t acknowledged() const {
    const std::lock_guard lock(mutex_);
    return acknowledged_;
  }

private:
  struct Job {
    std::shared_ptr<const IncomingMessage> message;
    std::string key;
    std::chrono::steady_clock::time_point received = std::chrono::steady_clock::now();  // for on_consumed
  };

  [[nodiscard]] bool receives(std::string_view event_name) const override { return this->bound_to(event_name); }

  /// Nothing waits, runs or is being started (guarded by mutex_): the object may go.
  [[nodiscard]] bool idle() const noexcept { return pending_.empty() && in_flight_ == 0 && !pumping_ && reserved_ == 0; }

  void receive(const IncomingMessage& message) override {
    Job job{std::make_shared<const IncomingMessage>(message), {}};
    if (options_.partition_key) job.key = options_.partition_key(*job.message);
    {
      const std::lock_guard lock(mutex_);
      pending_.push_back(std::move(job));
    }
    pump();
  }

  /// Starts what may start (oldest first; a message whose key is busy waits, others go past
  /// it), on this thread, until max_in_flight run. One thread pumps at a time; the others
  /// leave their work to it.
  void pump(bool reserved = false) {
    std::unique_lock lock(mutex_);
    if (reserved) --reserved_;
    if (pumping_) {
      settled_.notify_all();  // idle() may hold now; nothing of `this` is touched after the lock
      return;
    }
    pumping_ = true;
    while (in_flight_ < options_.max_in_flight) {
      const auto next = std::find_if(pending_.begin(), pending_.end(), [&](const Job& j) { return locks_.free(j.key); });
      if (next == pending_.end()) break;
      Job job = std::move(*next);
      pending_.erase(next);
      locks_.take(job.key);
      ++in_flight_;
      lock.unlock();
      start(std::move(job));
      lock.lock();
    }
    pumping_ = false;
    settled_.notify_all();
  }

  void start(Job job) {
    auto shared = std::make_shared<Job>(std::move(job));
    try {
      options_.launcher(this->handle(shared->message), [this, shared](std::exception_ptr error, HandlingResult result) {
        finished(*shared, error, std::move(result));
      });
    } catch (...) {
      finished(*shared, std::current_exception(), {});
    }
  }

  /// A handling coroutine completed (on any thread): settle its message by the shared rule.
  void finished(Job& job, std::exception_ptr error, HandlingResult result) {
    if (error) {
      result.disposition = Disposition::retry;
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        result.reason = e.what();
      } catch (...) {
        result.reason = "the handling coroutine threw a non-standard exception";
      }
    }
    const IncomingMessage& message = *job.message;
    const SettlementDecision decision =
        decide_settlement(result, message.delivery_attempt, options_.max_delivery_attempts, /*can_put_back=*/false);
    // Reported before the settlement is carried out (and outside the lock): wait_idle() returns
    // only once the observer and the log have it.
    if (decision.action == Settlement::ack) {
      detail::report_consumed(message, job.received);
    } else if (decision.action == Settlement::redeliver) {
      detail::report_redelivery("inmemory", message, result.reason);
    } else {
      detail::report_dead_letter("inmemory", message,
                                 result.disposition == Disposition::retry ? result.reason : decision.reason);
    }
    {
      const std::lock_guard lock(mutex_);
      --in_flight_;
      locks_.release(job.key);
      if (decision.action == Settlement::ack) {
        ++acknowledged_;
      } else if (decision.action == Settlement::redeliver) {
        auto again = std::make_shared<IncomingMessage>(message);
        again->delivery_attempt = static_cast<std::uint32_t>(decision.next_attempt);
        pending_.push_front(Job{std::move(again), std::move(job.key), job.received});  // at once, before its key's next
      } else {
        std::string reason = result.disposition == Disposition::retry ? std::move(result.reason) : decision.reason;
        dead_letters_.push_back(DeadLetter{message, std::move(reason)});
      }
      settled_.notify_all();
      // Nothing pending: `this` may be destroyed as soon as the lock is released (the
      // destructor waits for idle()), so nothing is touched after it. Otherwise the pump to
      // come is reserved first, which keeps the object alive until it ran.
      if (pending_.empty()) return;
      ++reserved_;
    }
    pump(/*reserved=*/true);
  }

  InMemoryEventTransport& transport_;
  Options options_;
  std::shared_ptr<detail::InMemoryEndpoint> endpoint_;

  mutable std::mutex mutex_;
  std::condition_variable settled_;
  std::deque<Job> pending_;       // guarded by mutex_: received, not started
  std::size_t in_flight_ = 0;     // guarded by mutex_
  detail::PartitionLocks locks_;  // guarded by mutex_
  bool pumping_ = false;          // guarded by mutex_
  std::size_t reserved_ = 0;      // guarded by mutex_: pumps about to run (see finished())
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
    detail::InMemoryReceiver* consumer = endpoint->consumer;
    if (consumer == nullptr || !consumer->receives(message.event_name)) continue;
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
