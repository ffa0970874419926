#pragma once
/// @file
/// AsyncRabbitMqEventConsumer<A>: receives integration events from RabbitMQ and hands them to
/// coroutine handlers (Task<>, asio::awaitable<void>, ...), many messages at once.

#include <spakky/event/consumer/async_integration_event_consumer.hpp>
#include <spakky/event/error.hpp>
#include <spakky/event/rabbitmq/consumer_options.hpp>
#include <spakky/event/rabbitmq/detail/consumer_engine.hpp>
#include <spakky/event/serializer.hpp>
#include <spakky/event/task.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <utility>

namespace spakky::event {

/// The coroutine counterpart of RabbitMqEventConsumer, on the same engine: the same
/// topologies, declarations, attempt counting, retries, dead letters (decide_settlement),
/// redelivery handling and reconnects, described there. What differs:
///
/// - Handlers return `Awaitable` and up to max_in_flight messages are handled at once (the
///   broker sends `prefetch` ahead); each is acknowledged when its handlers have all
///   succeeded, whatever the order in which they finish.
/// - With `partition_key` set, the messages of one key are handled one at a time in the order
///   they came, while other keys run concurrently (a retried message goes to the queue's tail
///   and loses its place). A message that came back from a crash still runs alone.
/// - Handlers are started by the launcher: by default (Task<>) on the consumer's thread, where
///   a task runs until it first suspends (do not block there: hand blocking work to an
///   executor); for asio::awaitable<void>, co_spawn them on your io_context (see
///   HandlingLauncher). Completions come back to the consumer's thread through a queue.
/// - Handlers read their message with message_of(event).
/// - stop() stops taking messages, puts back what it holds but has not started, and lets what
///   runs finish (settling it) for at most shutdown_timeout; then it closes the connection, so
///   the broker requeues what is still unacknowledged. run() returns (and the destructor
///   ends) only once no handler of it runs any more.
///
/// **Example**
/// @code
/// spakky::event::AsyncRabbitMqEventConsumer<> consumer(serializer, {.url = url, .exchange = "shop.events",
///                                                                   .queue = "shipping", .prefetch = 64});
/// auto sub = consumer.register_handler([](const OrderPlaced& e) -> spakky::event::Task<> { co_await ship(e); });
/// consumer.start();
/// @endcode
template <class Awaitable = Task<>>
class AsyncRabbitMqEventConsumer final : public AsyncIntegrationEventConsumer<Awaitable> {
public:
  /// Called with each connection error the run loop survives (it reconnects).
  using ConnectionErrorHandler = detail::rabbitmq::ConsumerEngine::ConnectionErrorHandler;

  /// Reads the options (throws EventError for an invalid URL, an empty queue name with the
  /// exchange topology, or a missing launcher for an awaitable other than Task<>); does not
  /// connect yet. `serializer` must outlive the consumer.
  AsyncRabbitMqEventConsumer(const IEventSerializer& serializer, RabbitMqConsumerOptions options,
                             HandlingLauncher<Awaitable> launcher = detail::default_launcher<Awaitable>())
      : AsyncIntegrationEventConsumer<Awaitable>(serializer),
        launcher_(checked(std::move(launcher))),
        engine_(*this, options, in_flight_of(options),
                [this](std::uint64_t job, std::shared_ptr<const IncomingMessage> message) {
                  launcher_(this->handle(std::move(message)),
                            [this, job](std::exception_ptr error, HandlingResult result) {
                              engine_.finish(job, std::move(error), std::move(result));
                            });
                },
                "AsyncRabbitMqEventConsumer") {}

  AsyncRabbitMqEventConsumer(const AsyncRabbitMqEventConsumer&) = delete;
  AsyncRabbitMqEventConsumer& operator=(const AsyncRabbitMqEventConsumer&) = delete;

  /// Stops the run loop (as stop()) and joins the thread start() made.
  ~AsyncRabbitMqEventConsumer() override { engine_.stop(); }

  /// Where connection errors the run loop survives go (default: nowhere).
  void set_connection_error_handler(ConnectionErrorHandler handler) {
    engine_.set_connection_error_handler(std::move(handler));
  }
  /// Consumes on the calling thread until stop(); see the class comment for what stop waits for.
  void run() { engine_.run(); }
  /// Runs run() on a thread of the consumer's own.
  void start() { engine_.start(); }
  /// Asks the run loop to stop; from another thread, also joins the thread of start(), which
  /// waits for the handlers that run. From a handler, call request_stop() instead (stop()
  /// there would wait for that very handler).
  void stop() noexcept { engine_.stop(); }
  /// Asks the run loop to stop and returns at once (safe from a handler, on any thread).
  void request_stop() noexcept { engine_.request_stop(); }
  /// True while the consumer is consuming (its queues declared and bound).
  [[nodiscard]] bool consuming() const { return engine_.consuming(); }
  /// Waits until the consumer is consuming; false on timeout.
  bool wait_until_consuming(std::chrono::milliseconds timeout) const { return engine_.wait_until_consuming(timeout); }
  /// Counters since the consumer was made.
  [[nodiscard]] RabbitMqConsumerStats stats() const noexcept { return engine_.stats(); }
  /// The options it was made with.
  [[nodiscard]] const RabbitMqConsumerOptions& options() const noexcept { return engine_.options(); }

protected:
  void on_bindings_changed() override { engine_.bindings_changed(); }

private:
  static HandlingLauncher<Awaitable> checked(HandlingLauncher<Awaitable> launcher) {
    if (!launcher) throw EventError("AsyncRabbitMqEventConsumer: no launcher for this awaitable type");
    return launcher;
  }

  static std::size_t in_flight_of(const RabbitMqConsumerOptions& options) {
    if (options.max_in_flight > 0) return options.max_in_flight;
    return options.prefetch > 0 ? options.prefetch : 64;
  }

  HandlingLauncher<Awaitable> launcher_;    // before engine_: outlives the jobs it starts
  detail::rabbitmq::ConsumerEngine engine_;
};

}  // namespace spakky::event
