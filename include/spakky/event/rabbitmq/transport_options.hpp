#pragma once
/// @file
/// The options of RabbitMqEventTransport and AsyncRabbitMqEventTransport, and their delivery
/// modes.

#include <chrono>
#include <cstddef>
#include <string>
#include <utility>

namespace spakky::event {

/// What a RabbitMQ transport waits for before it reports a message as sent.
enum class RabbitMqDeliveryMode {
  /// The default. The channel is in publisher-confirm mode: a send completes only after the
  /// broker has confirmed that message (basic.ack: routed, and written to disk for a durable
  /// queue). A nack, a dropped connection or no confirm within confirm_timeout is a
  /// TransportError, and so (with `mandatory`, the default) is a message no queue takes:
  /// nothing is reported as sent that the broker did not take.
  confirmed,
  /// Fast, at-most-once, opt-in: a send completes once the message is written to the socket.
  /// A message in flight when the connection drops is lost without an error.
  unconfirmed,
};

/// How events are laid out on the broker (transports and consumers must agree).
enum class RabbitMqTopology {
  /// spakky-event's own, the default: every message goes to one exchange (`exchange`, of
  /// `exchange_type`, durable) with the event name as routing key; each consumer has a queue of
  /// its own, bound with the names of the events it has handlers for.
  exchange,
  /// The Python package spakky-rabbitmq's: each event has a durable queue named after it
  /// (`OrderPlaced`), reached through the default exchange, or, when `exchange` is not empty,
  /// through that exchange declared as pika declares one by default (type "direct", not
  /// durable) with the queue bound by the event name; its consumers read the queue named after
  /// each event. A C++ and a Python spakky service then exchange events on one broker, both
  /// ways. An existing queue is used as it is (the plugin's consumer declares it not durable,
  /// its transport durable); a missing one is declared durable, as the plugin's transport does.
  queue_per_event,
};

/// Options of the RabbitMQ transports. Aggregate: set the fields you need by name.
///
/// **Example**
/// @code
/// spakky::event::RabbitMqEventTransport transport({.url = "amqp://app:secret@mq:5672/", .exchange = "orders"});
/// @endcode
struct RabbitMqTransportOptions {
  /// amqp://user:password\@host:port/vhost (see AmqpUrl).
  std::string url = "amqp://guest:guest@localhost:5672/";
  /// Where messages go (see RabbitMqTopology; python_spakky() sets up the Python plugin's).
  RabbitMqTopology topology = RabbitMqTopology::exchange;
  /// The exchange every message goes to, with the event name as routing key. With
  /// queue_per_event it may be empty: the default exchange.
  std::string exchange = "spakky.events";
  /// Its type ("topic" or "direct"), declared on connect.
  std::string exchange_type = "topic";
  /// Whether the exchange is declared durable.
  bool exchange_durable = true;
  /// Declare the exchange on connect (off: it must exist). An exchange that exists with another
  /// type or durability makes sends fail with a TransportError that says what to set.
  bool declare_exchange = true;
  /// Confirmed (send returns once the broker confirmed) or fire-and-forget.
  RabbitMqDeliveryMode delivery_mode = RabbitMqDeliveryMode::confirmed;
  /// Confirmed mode: publish with the AMQP `mandatory` flag, so that a message no queue is
  /// bound for comes back (basic.return) and its send fails with TransportError: a send the
  /// broker could not route is never reported as sent. Off: the broker confirms such a
  /// message and drops it. Unconfirmed mode could not report it, and never sets the flag.
  bool mandatory = true;
  /// delivery_mode 2: the broker keeps the message on disk in durable queues.
  bool persistent = true;
  /// The content_type property of every message.
  std::string content_type = "application/json";
  /// Bound on opening a connection (TCP connect, then the AMQP handshake): how long a send
  /// can take to fail while the broker is away.
  std::chrono::milliseconds connect_timeout{5000};
  /// Bound on each declare round trip.
  std::chrono::milliseconds rpc_timeout{10000};
  /// Bound on waiting for a confirm (confirmed mode).
  std::chrono::milliseconds confirm_timeout{30000};
  /// AMQP heartbeat in seconds (0: off). The transport keeps an idle connection alive itself
  /// (a helper thread of the synchronous transport, the worker of the async one, sends the
  /// heartbeats), so it is not dropped between sends however long they are apart.
  int heartbeat_seconds = 30;
  /// How long a send waits while the broker blocks publishing (connection.blocked: a memory
  /// or disk alarm) before it fails with TransportError. Also bounds the wait for a confirm
  /// that the block holds up.
  std::chrono::milliseconds blocked_timeout{10000};
  /// Shown by the broker for this connection (rabbitmqctl list_connections client_properties).
  std::string connection_name = "spakky-event transport";
  /// Async transport only: how many messages may await their confirm at once; further sends
  /// wait in the queue until confirms come back.
  std::size_t max_in_flight = 4096;

  /// Options that send as the Python spakky-rabbitmq plugin does: topology queue_per_event,
  /// through the default exchange, or through `exchange` declared with pika's defaults
  /// (type "direct", not durable).
  static RabbitMqTransportOptions python_spakky(std::string url, std::string exchange = {}) {
    RabbitMqTransportOptions options;
    options.url = std::move(url);
    options.topology = RabbitMqTopology::queue_per_event;
    options.exchange = std::move(exchange);
    options.exchange_type = "direct";
    options.exchange_durable = false;
    return options;
  }
};

}  // namespace spakky::event
