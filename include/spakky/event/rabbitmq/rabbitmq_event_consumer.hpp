#pragma once
/// @file
/// RabbitMqEventConsumer: receives integration events from RabbitMQ and dispatches them to the
/// handlers registered on it, one at a time, acknowledging, retrying or dead-lettering each.

#include <spakky/event/consumer/integration_event_consumer.hpp>
#include <spakky/event/rabbitmq/consumer_options.hpp>
#include <spakky/event/rabbitmq/detail/consumer_engine.hpp>
#include <spakky/event/serializer.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <utility>

namespace spakky::event {

/// A broker consumer over RabbitMQ: an IntegrationEventConsumer (register handlers for
/// integration events on it, as on any IEventConsumer) whose run loop feeds it a queue.
///
/// On connect it declares the exchange, its queue and the dead-letter queue (all durable) and
/// binds the queue to the exchange with every registered event name (and binding_keys);
/// handlers registered later are bound while it runs. With RabbitMqTopology::queue_per_event
/// (RabbitMqConsumerOptions::python_spakky()) it reads instead the queue named after each event
/// it has handlers for, as the Python spakky-rabbitmq plugin lays them out (an existing queue
/// is used as it is, a missing one declared durable), each with its `<name>.dead-letter` queue.
/// Queue arguments (queue_type, message_ttl, max_length, overflow) apply when the consumer
/// declares the queue; a queue or exchange that exists with other settings is reported
/// (connection error handler) with the option to set. Each delivery becomes an
/// IncomingMessage: the event name is the `type` property (the transports set it) or else the
/// routing key; the headers are the AMQP headers (scalar values as text, the consumer's own
/// `x-spakky-*` headers left out); delivery_attempt counts the attempts (below). Handlers can
/// read it through current_message(). Then, by IntegrationEventConsumer::handle():
/// - every handler succeeded: basic.ack;
/// - a handler failed: a copy with the attempt incremented is published to the queue and
///   confirmed by the broker, and only then is the original acked; after
///   max_delivery_attempts the message is dead-lettered instead;
/// - unreadable (malformed payload, unknown event name, wrong types): dead-lettered at once.
/// Dead-lettering publishes the message (same payload, properties and header table, every
/// AMQP field type kept, nested tables and arrays included, bearer tokens left out, plus
/// x-spakky-death-reason and the original exchange and routing key) to the dead-letter
/// queue, waits for the broker's confirm, then acks the original: nothing is dropped. Retry
/// copies carry the headers the same way. A bearer token is an `Authorization` or
/// `Proxy-Authorization` header (names compared ignoring case and whitespace) whose value
/// holds a `Bearer ` credential: the bus's rule.
///
/// Reports (observability/metrics.hpp, the log as component `rabbitmq.consumer`): each retry
/// (on_retried, warn), each dead letter (on_dead_lettered, error), each acked message
/// (on_consumed) and each reconnect (on_reconnected, info); the async consumer too.
///
/// **Redeliveries count.** A message the broker gives back unsettled (the connection dropped,
/// e.g. a missed heartbeat, or the consumer's process died, e.g. killed by the message's own
/// handler) counts as a delivery attempt, so max_delivery_attempts also ends a crash loop:
/// - on a classic queue the broker only flags such a message `redelivered`; before any
///   handler runs on it, the consumer publishes a copy with the attempt (and
///   x-spakky-redeliveries) raised, waits for its confirm, and acks the original. The count is
///   then in the broker, durable: it survives the next crash. The copy goes to the queue's
///   tail and is handled when it comes back;
/// - on a quorum queue (queue_type "quorum") the broker's x-delivery-count is added to the
///   attempt, and the message is handled in place;
/// - past max_delivery_attempts it is dead-lettered, the reason saying the attempts were
///   exhausted, without running a handler again.
/// The broker cannot tell a message the consumer was handling from one it merely held
/// (prefetch): every message held at a crash or connection loss counts it. So that a crashing
/// message does not take the same neighbours down again, a message that came back this way is
/// handled alone: the consumer stops consuming, puts back what else it holds (a copy with its
/// counts unchanged, to the queue's tail; no attempt counted), runs it, and then takes one
/// message at a time (prefetch 1) until a message arrives that never came back.
/// A clean stop() lets the message being handled finish and settles it, then puts back the
/// messages it holds but has not started the same way, so a stop counts no attempt. (Retries and put-backs reorder: the queue's order is not kept.)
///
/// The rule that decides between ack, retry, put-back and dead letter is decide_settlement(),
/// shared with every consumer; AsyncRabbitMqEventConsumer is this consumer with coroutine
/// handlers, many at once (the same engine).
///
/// **Long handlers.** librabbitmq-c sends heartbeats only while the connection is read, and it
/// is not thread-safe. While a handler runs, a helper thread of the consumer takes the
/// connection (a mutex: the run loop never touches it during a handler) every quarter of the
/// heartbeat interval and reads what arrived, which also sends the heartbeats that are due, so
/// a handler longer than the heartbeat timeout keeps its connection. The broker's own
/// delivery acknowledgement timeout (consumer_timeout, 30 minutes by default) still bounds a
/// single handler.
///
/// A message no handler takes is never acknowledged (RabbitMqConsumerOptions::unhandled):
/// - `requeue` (default): if the consumer still has other handlers, the message is republished
///   to the queue with the attempt incremented (for another consumer of the queue, or a
///   handler registered again) and, after max_delivery_attempts, dead-lettered with the reason;
///   if it has no handler left at all (a shutdown that ended the subscriptions first), the
///   consumer stops consuming and puts the message back (no attempt counted), until a handler
///   is registered again, so the queue keeps what waits in it.
/// - `dead_letter`: dead-lettered at once with the reason.
/// Either way the routing key of a type found without a handler is unbound from the queue
/// (unless it is one of binding_keys), so no new messages of it are routed there.
///
/// Register handlers before start() / run(): the consumer consumes only while it has handlers.
/// Do not destroy the consumer while run() runs on a thread of yours: stop() it and let run()
/// return first.
///
/// At-least-once: a message may be delivered again (a retry, or a redelivery after the
/// connection dropped before the ack). **Handlers must be idempotent**: a redelivery reruns
/// every handler of the event, including the ones that already succeeded.
///
/// The run loop survives broker restarts: on a dropped connection it reconnects with a
/// backoff (reconnect_delay doubling up to max_reconnect_delay) and resumes; unacked messages
/// come back from the broker (counted, as above).
///
/// **Example**
/// @code
/// spakky::event::RabbitMqEventConsumer consumer(serializer, {.url = url, .exchange = "shop.events",
///                                                            .queue = "billing"});
/// auto sub = consumer.register_handler([&](const OrderPlaced& e) { bill(e); });
/// consumer.start();   // its own thread; or consumer.run() on yours
/// ...
/// consumer.stop();
/// @endcode
class RabbitMqEventConsumer final : public IntegrationEventConsumer {
public:
  /// Reports a connection failure of the run loop (it reconnects after it).
  using ConnectionErrorHandler = detail::rabbitmq::ConsumerEngine::ConnectionErrorHandler;

  /// Reads the options (throws EventError for an invalid URL or, with the exchange topology,
  /// an empty queue name); does not connect yet. `serializer` must outlive the consumer.
  RabbitMqEventConsumer(const IEventSerializer& serializer, RabbitMqConsumerOptions options)
      : IntegrationEventConsumer(serializer),
        engine_(*this, std::move(options), 1,
                [this](std::uint64_t job, std::shared_ptr<const IncomingMessage> message) {
                  // Inline: the handler runs on the run loop's thread (the keeper holds the
                  // connection meanwhile).
                  HandlingResult result = handle(*message);
                  engine_.finish(job, nullptr, std::move(result));
                },
                "RabbitMqEventConsumer") {}

  RabbitMqEventConsumer(const RabbitMqEventConsumer&) = delete;
  RabbitMqEventConsumer& operator=(const RabbitMqEventConsumer&) = delete;

  /// Stops the run loop and joins the thread start() made.
  ~RabbitMqEventConsumer() override { engine_.stop(); }

  /// Where connection failures are reported (default: one line on stderr). Set it before
  /// start() / run(); it is called on the consumer's thread.
  void set_connection_error_handler(ConnectionErrorHandler handler) {
    engine_.set_connection_error_handler(std::move(handler));
  }

  /// Consumes on the calling thread until stop() is called (from another thread or from a
  /// handler); returns soon after that (once the message being handled is done and settled,
  /// and what the consumer holds is put back). Handlers run on this thread. Returns at once if
  /// stop() was called before (only start() clears that). Throws EventError if the consumer is
  /// running already.
  void run() { engine_.run(); }

  /// Runs run() on a thread of the consumer's own, clearing an earlier stop(). Throws
  /// EventError if it runs already.
  void start() { engine_.start(); }

  /// Asks the run loop to stop; from another thread, also joins the thread of start().
  /// From a handler (the consumer's own thread) it only asks: the loop ends once the handler
  /// has returned and its message is settled. Idempotent.
  void stop() noexcept { engine_.stop(); }

  /// True while the queue is declared, bound and being consumed (not while the consumer has
  /// no handler: see the class comment).
  [[nodiscard]] bool consuming() const { return engine_.consuming(); }

  /// Waits until the consumer is consuming (its queue declared and bound); false on timeout.
  bool wait_until_consuming(std::chrono::milliseconds timeout) const { return engine_.wait_until_consuming(timeout); }

  /// Counters since the consumer was made.
  [[nodiscard]] RabbitMqConsumerStats stats() const noexcept { return engine_.stats(); }

  /// The options it was made with.
  [[nodiscard]] const RabbitMqConsumerOptions& options() const noexcept { return engine_.options(); }

protected:
  /// The run loop binds new names and unbinds the names found without a handler.
  void on_bindings_changed() override { engine_.bindings_changed(); }

private:
  detail::rabbitmq::ConsumerEngine engine_;
};

}  // namespace spakky::event
