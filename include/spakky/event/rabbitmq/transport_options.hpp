#pragma once
/// @file
/// The options of RabbitMqEventTransport and AsyncRabbitMqEventTransport, and their delivery
/// modes.

#include <chrono>
#include <cstddef>
#include <string>

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

/// Options of the RabbitMQ transports. Aggregate: set the fields you need by name.
///
/// **Example**
/// @code
/// spakky::event::RabbitMqEventTransport transport({.url = "amqp://app:secret@mq:5672/", .exchange = "orders"});
/// @endcode
struct RabbitMqTransportOptions {
  /// amqp://user:password@host:port/vhost (see AmqpUrl).
  std::string url = "amqp://guest:guest@localhost:5672/";
  /// The exchange every message goes to, with the event name as routing key.
  std::string exchange = "spakky.events";
  /// Its type ("topic" or "direct"); it is declared durable with this type on connect.
  std::string exchange_type = "topic";
  /// Declare the exchange on connect (off: it must exist).
  bool declare_exchange = true;
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
  /// AMQP heartbeat in seconds; 0 (the default) turns heartbeats off.
  int heartbeat_seconds = 0;
  /// Shown by the broker for this connection (rabbitmqctl list_connections client_properties).
  std::string connection_name = "spakky-event transport";
  /// Async transport only: how many messages may await their confirm at once; further sends
  /// wait in the queue until confirms come back.
  std::size_t max_in_flight = 4096;
};

}  // namespace spakky::event
