#pragma once
/// @file
/// The options of the RabbitMQ consumers (RabbitMqEventConsumer, AsyncRabbitMqEventConsumer),
/// what they count, and the headers they write on the copies they publish.

#include <spakky/event/consumer/async_integration_event_consumer.hpp>
#include <spakky/event/rabbitmq/transport_options.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace spakky::event {

/// Header carrying the delivery attempt of a message the consumer republished (absent on the
/// first delivery, which is attempt 1).
inline constexpr std::string_view rabbitmq_delivery_attempt_header = "x-spakky-delivery-attempt";
/// Header carrying how often the broker gave the message back unsettled (the consumer lost
/// its connection, or its process died, before it acked the message); absent when never.
inline constexpr std::string_view rabbitmq_redeliveries_header = "x-spakky-redeliveries";
/// Header of a dead-lettered message: why it was dead-lettered.
inline constexpr std::string_view rabbitmq_death_reason_header = "x-spakky-death-reason";
/// Header of a retried or dead-lettered message: the exchange it first arrived through.
inline constexpr std::string_view rabbitmq_original_exchange_header = "x-spakky-original-exchange";
/// Header of a retried or dead-lettered message: the routing key it first arrived with.
inline constexpr std::string_view rabbitmq_original_routing_key_header = "x-spakky-original-routing-key";
/// Header a quorum queue sets on a message it delivers again: how often it came back before.
inline constexpr std::string_view rabbitmq_quorum_delivery_count_header = "x-delivery-count";

/// Options of RabbitMqEventConsumer and AsyncRabbitMqEventConsumer. Aggregate: set the fields
/// you need by name; `queue` is required with the exchange topology.
struct RabbitMqConsumerOptions {
  /// amqp://user:password\@host:port/vhost (see AmqpUrl).
  std::string url = "amqp://guest:guest@localhost:5672/";
  /// Where messages come from (see RabbitMqTopology; python_spakky() sets up the Python
  /// plugin's). With queue_per_event the consumer reads the queue named after each event it
  /// has handlers for (and each name in binding_keys), declaring it durable if it is missing
  /// and binding it to `exchange` by its name when `exchange` is not empty.
  RabbitMqTopology topology = RabbitMqTopology::exchange;
  /// The exchange the transports publish to; declared with exchange_type and exchange_durable
  /// (queue_per_event: may be empty, the default exchange).
  std::string exchange = "spakky.events";
  std::string exchange_type = "topic";  ///< "topic" or "direct"
  bool exchange_durable = true;         ///< whether the exchange is declared durable
  /// Declare the exchange on connect (off: it must exist). One that exists with another type or
  /// durability is reported (connection error handler) with the option to set.
  bool declare_exchange = true;
  /// This consumer's queue (exchange topology), declared durable. Consumers sharing a queue
  /// share its messages. Unused with queue_per_event.
  std::string queue{};
  /// The queue's x-queue-type when the consumer declares it ("quorum", "classic"); empty:
  /// the broker's default. A quorum queue counts redeliveries itself (x-delivery-count).
  std::string queue_type{};
  /// The queue's x-message-ttl when the consumer declares it: messages older than this are
  /// dropped by the broker; empty: none.
  std::optional<std::chrono::milliseconds> message_ttl{};
  /// The queue's x-max-length when the consumer declares it: beyond it the broker drops the
  /// oldest (or refuses new ones with overflow "reject-publish"); empty: none.
  std::optional<std::int64_t> max_length{};
  /// The queue's x-overflow ("drop-head", "reject-publish"); empty: the broker's default.
  std::string overflow{};
  /// Routing keys bound besides the registered event names (e.g. "#" on a topic exchange
  /// for a consumer that only has a catch-all handler); queue_per_event: more queues to read.
  std::vector<std::string> binding_keys{};
  /// Where messages that cannot be handled go, declared durable; default `<queue>.dead-letter`
  /// (queue_per_event: `<event name>.dead-letter` for each queue read).
  std::string dead_letter_queue{};
  /// How many unacknowledged messages the broker sends ahead (basic.qos, per queue consumed;
  /// 0: no limit). A message that came back from a crash is handled with nothing else held
  /// (class comment).
  std::uint16_t prefetch = 32;
  /// AsyncRabbitMqEventConsumer: how many messages are handled at once (0: prefetch, or 64 if
  /// prefetch is 0). The synchronous consumer handles one at a time.
  std::size_t max_in_flight = 0;
  /// AsyncRabbitMqEventConsumer: set, the messages of one key are handled one at a time in the
  /// order they came (see PartitionKey), different keys concurrently. (Retries and put-backs
  /// go to the queue's tail: a retried message loses its place.)
  PartitionKey partition_key{};
  /// A clean stop() lets the messages being handled finish (and settles them) for at most this
  /// long; then it closes the connection, and the broker requeues what is still unacknowledged.
  std::chrono::milliseconds shutdown_timeout{30000};
  /// A message is delivered to the handlers at most this many times (attempts 1..N): a
  /// handler failure, a message no handler took (requeue) and a redelivery by the broker
  /// (connection lost, process died) each count. Then it is dead-lettered.
  std::uint32_t max_delivery_attempts = 5;
  /// What becomes of a message no handler takes (its handlers were cancelled, or none was
  /// registered for its type): never acknowledged; requeued (counting an attempt) or
  /// dead-lettered at once. See UnhandledMessagePolicy and the class comment.
  UnhandledMessagePolicy unhandled = UnhandledMessagePolicy::requeue;
  /// How often the run loop looks at stop() while idle.
  std::chrono::milliseconds poll_interval{100};
  /// Bound on opening a connection (TCP connect, then the AMQP handshake).
  std::chrono::milliseconds connect_timeout{5000};
  /// Bound on each declare / bind / consume round trip.
  std::chrono::milliseconds rpc_timeout{10000};
  /// Bound on the broker's confirm of a copy the consumer publishes (retry, dead letter).
  std::chrono::milliseconds confirm_timeout{30000};
  /// Wait before the first reconnect after a failure; doubled after each failed attempt...
  std::chrono::milliseconds reconnect_delay{100};
  /// ...up to this bound.
  std::chrono::milliseconds max_reconnect_delay{5000};
  /// AMQP heartbeat in seconds (detects a broker that vanished without closing the socket).
  /// Heartbeats keep flowing while a handler runs, however long (see the class comment).
  int heartbeat_seconds = 30;
  /// Shown by the broker for this connection.
  std::string connection_name = "spakky-event consumer";

  /// Options that read the queues the Python spakky-rabbitmq plugin sends to (topology
  /// queue_per_event): through the default exchange, or through `exchange` declared with
  /// pika's defaults (type "direct", not durable).
  static RabbitMqConsumerOptions python_spakky(std::string url, std::string exchange = {}) {
    RabbitMqConsumerOptions options;
    options.url = std::move(url);
    options.topology = RabbitMqTopology::queue_per_event;
    options.exchange = std::move(exchange);
    options.exchange_type = "direct";
    options.exchange_durable = false;
    return options;
  }
};

/// What a consumer has done so far (monotonic counters).
struct RabbitMqConsumerStats {
  std::uint64_t acked = 0;          ///< handled: every handler that took it succeeded
  std::uint64_t retried = 0;        ///< republished for another attempt after a handler failed
  std::uint64_t requeued = 0;       ///< given back to the queue because no handler took it
  std::uint64_t redelivered = 0;    ///< came back from the broker unsettled, counted as an attempt
  std::uint64_t dead_lettered = 0;  ///< sent to the dead-letter queue
  std::uint64_t connections = 0;    ///< sessions started (1 + reconnects)
};

}  // namespace spakky::event
