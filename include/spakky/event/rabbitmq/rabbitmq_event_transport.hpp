#pragma once
/// @file
/// RabbitMqEventTransport: the synchronous IEventTransport over RabbitMQ (librabbitmq-c).

#include <spakky/event/error.hpp>
#include <spakky/event/event_publisher.hpp>
#include <spakky/event/rabbitmq/amqp_url.hpp>
#include <spakky/event/rabbitmq/detail/amqp_connection.hpp>
#include <spakky/event/rabbitmq/transport_options.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace spakky::event {

/// Sends every message to one exchange with the event name as routing key: persistent,
/// `type` = event name, `content_type` from the options, the Headers as an AMQP field table
/// of strings.
///
/// Delivery (RabbitMqDeliveryMode): `confirmed` (default) returns from send() only after the
/// broker confirmed the message; `unconfirmed` returns once it is written to the socket
/// (at-most-once). For many confirms in flight at once, use AsyncRabbitMqEventTransport.
/// Confirmed sends are `mandatory` (RabbitMqTransportOptions::mandatory, default on): a
/// message that no queue is bound for fails its send with TransportError instead of being
/// confirmed and dropped, so a send the broker could not route is never reported as sent.
///
/// Connection: one AMQP connection, opened by the first send (or by connect()), declaring
/// the exchange. A connection found dropped (broker restarted, closed by the broker) is
/// replaced by the next send; while the broker is unreachable, each send fails with
/// TransportError within RabbitMqTransportOptions::connect_timeout. A message is never
/// retried after it may have reached the broker, except that a publish which fails to even
/// be written on a connection that had gone stale is written once more on a new one.
///
/// Threads: librabbitmq-c is blocking and not thread-safe, so sends are serialized by a mutex
/// on the one connection. Use one transport per thread (or the async transport) for
/// parallel sends.
///
/// **Example**
/// @code
/// spakky::event::RabbitMqEventTransport transport({.url = "amqp://guest:guest@localhost:5672/",
///                                                  .exchange = "shop.events"});
/// spakky::event::DirectEventBus bus(transport, serializer);
/// bus.send(OrderPlaced("o-1"));   // returns once the broker has confirmed it
/// @endcode
class RabbitMqEventTransport final : public IEventTransport {
public:
  /// Reads the options (throws EventError for an invalid URL); does not connect yet.
  explicit RabbitMqEventTransport(RabbitMqTransportOptions options = {})
      : options_(std::move(options)), settings_(detail::rabbitmq::connect_settings(options_)) {}

  RabbitMqEventTransport(const RabbitMqEventTransport&) = delete;
  RabbitMqEventTransport& operator=(const RabbitMqEventTransport&) = delete;

  /// Publishes one message (see the class comment for when it returns). Throws TransportError
  /// if the broker cannot be reached, refuses, cannot route (mandatory) or does not confirm
  /// the message, or a header name cannot be sent (empty or longer than 255 bytes).
  void send(std::string_view event_name, std::string_view payload, const Headers& headers) override {
    const std::lock_guard lock(mutex_);
    table_.clear();
    if (const std::string_view bad = table_.add_all(headers); !bad.empty()) {
      throw TransportError(event_name, "header name '" + std::string(bad) +
                                           "' cannot be sent (empty or longer than 255 bytes)");
    }
    const amqp_basic_properties_t properties =
        detail::rabbitmq::message_properties(event_name, options_.content_type, options_.persistent, table_);

    const bool mandatory = options_.mandatory && options_.delivery_mode == RabbitMqDeliveryMode::confirmed;
    bool fresh = false;
    if (!connection_ || !connection_->usable() || !still_connected(options_.delivery_mode)) {
      open(event_name);
      fresh = true;
    }
    try {
      connection_->publish(options_.exchange, event_name, properties, payload, mandatory);
    } catch (const detail::rabbitmq::ConnectionLost& error) {
      connection_.reset();
      if (fresh) throw TransportError(event_name, error.what());
      open(event_name);  // the old connection had gone stale: nothing reached the broker
      try {
        connection_->publish(options_.exchange, event_name, properties, payload, mandatory);
      } catch (const detail::rabbitmq::ConnectionLost& again) {
        connection_.reset();
        throw TransportError(event_name, again.what());
      }
    }
    ++published_;
    if (options_.delivery_mode == RabbitMqDeliveryMode::confirmed) await_confirm(event_name, published_);
  }

  /// Connects now (and declares the exchange) if not connected; throws TransportError if it
  /// cannot. Optional: send() connects by itself.
  void connect() {
    const std::lock_guard lock(mutex_);
    if (!connection_ || !connection_->usable() || !still_connected(RabbitMqDeliveryMode::confirmed)) open("<connect>");
  }

  /// Closes the connection (the next send opens a new one).
  void close() noexcept {
    const std::lock_guard lock(mutex_);
    connection_.reset();
  }

  /// True if a connection is open (it may still turn out to be dropped on the next send).
  [[nodiscard]] bool connected() const {
    const std::lock_guard lock(mutex_);
    return connection_ && connection_->usable();
  }

  [[nodiscard]] const RabbitMqTransportOptions& options() const noexcept { return options_; }

private:
  /// Opens a new connection, declares the exchange and selects confirms.
  void open(std::string_view event_name) {
    connection_.reset();
    try {
      auto connection = std::make_unique<detail::rabbitmq::Connection>(settings_);
      if (options_.declare_exchange) connection->declare_exchange(options_.exchange, options_.exchange_type);
      if (options_.delivery_mode == RabbitMqDeliveryMode::confirmed) connection->select_confirms();
      connection_ = std::move(connection);
      published_ = 0;
    } catch (const detail::rabbitmq::ConnectionLost& error) {
      throw TransportError(event_name, error.what());
    }
  }

  /// Reads what the broker sent since the last send (a close, a late confirm); false if the
  /// connection turned out to be dropped. In unconfirmed mode the socket is polled at most
  /// once a millisecond (a poll per message would cost a tenth of the send); what the library
  /// has buffered already is read every time.
  bool still_connected(RabbitMqDeliveryMode mode) {
    if (mode == RabbitMqDeliveryMode::unconfirmed && !amqp_frames_enqueued(connection_->state()) &&
        !amqp_data_in_buffer(connection_->state())) {
      const auto now = std::chrono::steady_clock::now();
      if (now - last_check_ < std::chrono::milliseconds(1)) return true;
      last_check_ = now;
    }
    try {
      amqp_frame_t frame;
      while (connection_->readable() && connection_->next_frame(frame, std::chrono::milliseconds(0))) {
        connection_->release_buffers();
      }
      return true;
    } catch (const detail::rabbitmq::ConnectionLost&) {
      connection_.reset();
      return false;
    }
  }

  /// Waits for the confirm of `tag`, the only message in flight: a basic.return seen before
  /// it is this message's (the broker sends it before the confirm) and fails the send.
  void await_confirm(std::string_view event_name, std::uint64_t tag) {
    using clock = std::chrono::steady_clock;
    const auto deadline = clock::now() + options_.confirm_timeout;
    std::string returned;  // why the broker handed the message back, if it did
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
      if (left.count() <= 0) {
        connection_.reset();  // a late confirm cannot be matched any more: start afresh
        throw TransportError(event_name, "the broker did not confirm the message within " +
                                             std::to_string(options_.confirm_timeout.count()) + " ms");
      }
      amqp_frame_t frame;
      bool got = false;
      try {
        got = connection_->next_frame(frame, left);
      } catch (const detail::rabbitmq::ConnectionLost& error) {
        connection_.reset();
        throw TransportError(event_name,
                             std::string("the connection dropped before the broker confirmed the message: ") +
                                 error.what());
      }
      if (!got || frame.frame_type != AMQP_FRAME_METHOD || frame.channel != detail::rabbitmq::Connection::channel) {
        if (got) connection_->release_buffers();
        continue;
      }
      if (frame.payload.method.id == AMQP_BASIC_ACK_METHOD) {
        const auto* ack = static_cast<const amqp_basic_ack_t*>(frame.payload.method.decoded);
        const bool covers = ack->delivery_tag == tag || (ack->multiple != 0 && ack->delivery_tag >= tag);
        connection_->release_buffers();
        if (covers && !returned.empty()) throw TransportError(event_name, returned);
        if (covers) return;
      } else if (frame.payload.method.id == AMQP_BASIC_RETURN_METHOD) {
        try {
          returned = connection_->read_return(frame).reason;
        } catch (const detail::rabbitmq::ConnectionLost& error) {
          connection_.reset();
          throw TransportError(event_name, std::string("the connection dropped before the broker confirmed the message: ") +
                                               error.what());
        }
        connection_->release_buffers();
      } else if (frame.payload.method.id == AMQP_BASIC_NACK_METHOD) {
        const auto* nack = static_cast<const amqp_basic_nack_t*>(frame.payload.method.decoded);
        const bool covers = nack->delivery_tag == tag || (nack->multiple != 0 && nack->delivery_tag >= tag);
        connection_->release_buffers();
        if (covers) throw TransportError(event_name, "the broker refused the message (basic.nack)");
      } else {
        connection_->release_buffers();
      }
    }
  }

  RabbitMqTransportOptions options_;
  detail::rabbitmq::ConnectSettings settings_;
  mutable std::mutex mutex_;
  std::unique_ptr<detail::rabbitmq::Connection> connection_;
  std::uint64_t published_ = 0;  // delivery tag of the last publish on this connection
  std::chrono::steady_clock::time_point last_check_{};  // unconfirmed mode: last poll of the socket
  detail::rabbitmq::HeaderTable table_;
};

}  // namespace spakky::event
