#pragma once
/// @file
/// RabbitMqEventTransport: the synchronous IEventTransport over RabbitMQ (librabbitmq-c).

#include <spakky/event/error.hpp>
#include <spakky/event/event_publisher.hpp>
#include <spakky/event/rabbitmq/amqp_url.hpp>
#include <spakky/event/rabbitmq/detail/amqp_connection.hpp>
#include <spakky/event/rabbitmq/detail/keeper_thread.hpp>
#include <spakky/event/rabbitmq/transport_options.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
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
/// Topology (RabbitMqTransportOptions::topology): the exchange of the options, or with
/// `queue_per_event` the Python spakky-rabbitmq plugin's queue per event
/// (RabbitMqTransportOptions::python_spakky()), whose queue is looked up, and declared if
/// missing, before the first message of each event name on a connection. An exchange that
/// exists with another type or durability fails the send with a TransportError that names the
/// option to set.
///
/// Heartbeats are on (30 s) and the transport keeps the connection alive itself: a helper
/// thread reads the idle connection every quarter of the interval, which sends the heartbeats
/// that are due. While the broker blocks publishing (connection.blocked, a memory or disk
/// alarm), a send waits at most blocked_timeout and then fails with TransportError; it never
/// blocks for good.
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
/// Reports (observability/metrics.hpp): on_sent for each message the broker took (confirmed
/// mode: once confirmed, then on_confirmed), on_reconnected("rabbitmq.transport") and an info
/// record when a connection replaces a lost one (not one dropped by close()).
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
      : options_(std::move(options)), settings_(detail::rabbitmq::connect_settings(options_)) {
    if (options_.topology == RabbitMqTopology::exchange && options_.exchange.empty()) {
      throw EventError("RabbitMqEventTransport: the exchange name is empty (the exchange topology needs one)");
    }
  }

  RabbitMqEventTransport(const RabbitMqEventTransport&) = delete;
  RabbitMqEventTransport& operator=(const RabbitMqEventTransport&) = delete;

  /// Stops the heartbeat thread and closes the connection.
  ~RabbitMqEventTransport() override {
    stop_keeper();
    const std::lock_guard lock(mutex_);
    connection_.reset();
  }

  /// Publishes one message (see the class comment for when it returns). Throws TransportError
  /// if the broker cannot be reached, refuses, cannot route (mandatory) or does not confirm
  /// the message, or a header name cannot be sent (empty or longer than 255 bytes).
  void send(std::string_view event_name, std::string_view payload, const Headers& headers) override {
    const auto started = std::chrono::steady_clock::now();  // on_confirmed's latency
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
    wait_while_blocked(event_name);
    route(event_name);
    try {
      connection_->publish(options_.exchange, event_name, properties, payload, mandatory);
    } catch (const detail::rabbitmq::ConnectionLost& error) {
      connection_.reset();
      if (fresh) throw TransportError(event_name, error.what());
      open(event_name);  // the old connection had gone stale: nothing reached the broker
      route(event_name);
      try {
        connection_->publish(options_.exchange, event_name, properties, payload, mandatory);
      } catch (const detail::rabbitmq::ConnectionLost& again) {
        connection_.reset();
        throw TransportError(event_name, again.what());
      }
    }
    ++published_;
    const bool confirmed = options_.delivery_mode == RabbitMqDeliveryMode::confirmed;
    if (confirmed) await_confirm(event_name, published_);
    if (MetricsObserver* observer = metrics_observer()) {
      observer->on_sent(event_name);
      if (confirmed) observer->on_confirmed(event_name, std::chrono::steady_clock::now() - started);
    }
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
    closed_ = true;  // the next connection is no reconnect
  }

  /// True if a connection is open (it may still turn out to be dropped on the next send).
  [[nodiscard]] bool connected() const {
    const std::lock_guard lock(mutex_);
    return connection_ && connection_->usable();
  }

  /// Connections opened so far (1 + reconnects).
  [[nodiscard]] std::uint64_t connections() const noexcept { return connections_.load(); }

  /// The options it was made with.
  [[nodiscard]] const RabbitMqTransportOptions& options() const noexcept { return options_; }

private:
  /// Opens a new connection, declares the exchange and selects confirms.
  void open(std::string_view event_name) {
    connection_.reset();
    routed_.clear();
    try {
      auto connection = std::make_unique<detail::rabbitmq::Connection>(settings_);
      if (options_.declare_exchange && !options_.exchange.empty()) {
        connection->declare_exchange(options_.exchange, options_.exchange_type, options_.exchange_durable);
      }
      if (options_.delivery_mode == RabbitMqDeliveryMode::confirmed) connection->select_confirms();
      connection_ = std::move(connection);
      published_ = 0;
      if (connections_.fetch_add(1) > 0 && !closed_) detail::rabbitmq::report_reconnected("rabbitmq.transport");
      closed_ = false;
    } catch (const detail::rabbitmq::ChannelRefused& refused) {
      const std::string advice = detail::rabbitmq::mismatch_advice(refused, "RabbitMqTransportOptions");
      throw TransportError(event_name, advice.empty() ? std::string(refused.what())
                                                      : advice + " (" + refused.what() + ")");
    } catch (const detail::rabbitmq::ConnectionLost& error) {
      throw TransportError(event_name, error.what());
    }
    start_keeper();
  }

  /// queue_per_event: the queue named after the event exists (declared durable if it did not)
  /// and, through a named exchange, is bound by the event name; once per name and connection.
  void route(std::string_view event_name) {
    if (options_.topology != RabbitMqTopology::queue_per_event) return;
    const std::string name(event_name);
    if (routed_.count(name) != 0) return;
    try {
      connection_->ensure_queue(name, detail::rabbitmq::QueueSpec{});
      if (!options_.exchange.empty()) connection_->bind_queue(name, options_.exchange, name);
    } catch (const detail::rabbitmq::ConnectionLost& error) {
      connection_.reset();
      throw TransportError(event_name, error.what());
    }
    routed_.insert(name);
  }

  /// Waits (reading the connection) while the broker blocks publishing, at most
  /// blocked_timeout; then throws TransportError.
  void wait_while_blocked(std::string_view event_name) {
    if (!connection_->blocked()) return;
    const auto deadline = std::chrono::steady_clock::now() + options_.blocked_timeout;
    try {
      amqp_frame_t frame;
      while (connection_->blocked()) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
          throw TransportError(event_name, "the broker blocks publishing (connection.blocked: " +
                                               connection_->blocked_reason() + ") and did not unblock within " +
                                               std::to_string(options_.blocked_timeout.count()) + " ms");
        }
        if (connection_->next_frame(frame, std::min(left, std::chrono::milliseconds(100)))) connection_->release_buffers();
      }
    } catch (const detail::rabbitmq::ConnectionLost& error) {
      connection_.reset();
      throw TransportError(event_name, std::string("the connection dropped while the broker blocked publishing: ") +
                                           error.what());
    }
  }

  // ---- the keeper: sends heartbeats on an idle connection ----------------------------------

  /// Starts the keeper: it reads what arrived on the idle connection (a send in progress
  /// holds the mutex and reads it itself), so that a close or connection.blocked is noticed.
  void start_keeper() {
    const int heartbeat = amqp_get_heartbeat(connection_->state());
    keeper_.set_period(heartbeat * 250);
    if (heartbeat <= 0) return;
    keeper_.start([this] {
      const std::unique_lock io(mutex_, std::try_to_lock);
      if (!io.owns_lock() || !connection_ || !connection_->usable()) return;
      try {
        amqp_frame_t frame;
        while (connection_->next_frame(frame, std::chrono::milliseconds(0))) connection_->release_buffers();
      } catch (const detail::rabbitmq::ConnectionLost&) {  // the next send opens a new one
      }
    });
  }

  void stop_keeper() noexcept { keeper_.stop(); }

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
    std::optional<clock::time_point> blocked_until;  // set once connection.blocked holds the confirm up
    for (;;) {
      if (connection_->blocked() && !blocked_until) blocked_until = clock::now() + options_.blocked_timeout;
      if (blocked_until && clock::now() >= *blocked_until && connection_->blocked()) {
        const std::string reason = connection_->blocked_reason();
        connection_.reset();  // a late confirm cannot be matched any more: start afresh
        throw TransportError(event_name, "the broker blocks publishing (connection.blocked: " + reason +
                                             ") and did not confirm the message within " +
                                             std::to_string(options_.blocked_timeout.count()) + " ms");
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
      if (left.count() <= 0) {
        connection_.reset();  // a late confirm cannot be matched any more: start afresh
        throw TransportError(event_name, "the broker did not confirm the message within " +
                                             std::to_string(options_.confirm_timeout.count()) + " ms");
      }
      if (blocked_until) left = std::min(left, std::chrono::milliseconds(100));
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
  std::set<std::string> routed_;  // queue_per_event: names whose queue is known on this connection
  std::atomic<std::uint64_t> connections_{0};
  bool closed_ = false;  // guarded by mutex_: close() dropped the connection, not a failure

  detail::rabbitmq::KeeperThread keeper_;
};

}  // namespace spakky::event
