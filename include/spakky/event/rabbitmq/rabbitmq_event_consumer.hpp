#pragma once
/// @file
/// RabbitMqEventConsumer: receives integration events from a RabbitMQ queue and dispatches
/// them to the handlers registered on it, acknowledging, retrying or dead-lettering each.

#include <spakky/event/consumer/integration_event_consumer.hpp>
#include <spakky/event/error.hpp>
#include <spakky/event/event_publisher.hpp>
#include <spakky/event/rabbitmq/amqp_url.hpp>
#include <spakky/event/rabbitmq/detail/amqp_connection.hpp>
#include <spakky/event/serializer.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace spakky::event {

/// Header carrying the delivery attempt of a message the consumer republished for a retry
/// (absent on the first delivery, which is attempt 1).
inline constexpr std::string_view rabbitmq_delivery_attempt_header = "x-spakky-delivery-attempt";
/// Header of a dead-lettered message: why it was dead-lettered.
inline constexpr std::string_view rabbitmq_death_reason_header = "x-spakky-death-reason";
/// Header of a retried or dead-lettered message: the exchange it first arrived through.
inline constexpr std::string_view rabbitmq_original_exchange_header = "x-spakky-original-exchange";
/// Header of a retried or dead-lettered message: the routing key it first arrived with.
inline constexpr std::string_view rabbitmq_original_routing_key_header = "x-spakky-original-routing-key";

/// Options of RabbitMqEventConsumer. Aggregate: set the fields you need by name; `queue` is
/// required.
struct RabbitMqConsumerOptions {
  /// amqp://user:password@host:port/vhost (see AmqpUrl).
  std::string url = "amqp://guest:guest@localhost:5672/";
  /// The exchange the transports publish to; declared durable with exchange_type.
  std::string exchange = "spakky.events";
  std::string exchange_type = "topic";
  bool declare_exchange = true;
  /// This consumer's queue, declared durable. Consumers sharing a queue share its messages.
  std::string queue{};
  /// Routing keys bound besides the registered event names (e.g. "#" on a topic exchange
  /// for a consumer that only has a catch-all handler).
  std::vector<std::string> binding_keys{};
  /// Where messages that cannot be handled go, declared durable; default `<queue>.dead-letter`.
  std::string dead_letter_queue{};
  /// How many unacknowledged messages the broker sends ahead (basic.qos).
  std::uint16_t prefetch = 32;
  /// A message whose handlers fail is delivered at most this many times (attempts 1..N),
  /// then dead-lettered.
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
  /// Bound on the broker's confirm of a retry or dead-letter copy.
  std::chrono::milliseconds confirm_timeout{30000};
  /// Wait before the first reconnect after a failure; doubled after each failed attempt...
  std::chrono::milliseconds reconnect_delay{100};
  /// ...up to this bound.
  std::chrono::milliseconds max_reconnect_delay{5000};
  /// AMQP heartbeat in seconds (detects a broker that vanished without closing the socket).
  int heartbeat_seconds = 30;
  /// Shown by the broker for this connection.
  std::string connection_name = "spakky-event consumer";
};

/// What a consumer has done so far (monotonic counters).
struct RabbitMqConsumerStats {
  std::uint64_t acked = 0;          ///< handled (every handler succeeded, or none was registered)
  std::uint64_t retried = 0;        ///< republished for another attempt after a handler failed
  std::uint64_t requeued = 0;       ///< given back to the queue because no handler took it
  std::uint64_t dead_lettered = 0;  ///< sent to the dead-letter queue
  std::uint64_t connections = 0;    ///< sessions started (1 + reconnects)
};

/// A broker consumer over RabbitMQ: an IntegrationEventConsumer (register handlers for
/// integration events on it, as on any IEventConsumer) whose run loop feeds it a queue.
///
/// On connect it declares the exchange, its queue and the dead-letter queue (all durable) and
/// binds the queue to the exchange with every registered event name (and binding_keys);
/// handlers registered later are bound while it runs. Each delivery becomes an
/// IncomingMessage: the event name is the `type` property (the transports set it) or else the
/// routing key; the headers are the AMQP headers (scalar values as text, the consumer's own
/// `x-spakky-*` headers left out); delivery_attempt counts the retries. Handlers can read it
/// through current_message(). Then, by IntegrationEventConsumer::handle():
/// - every handler succeeded: basic.ack;
/// - a handler failed: a copy with the attempt incremented is published to the queue and
///   confirmed by the broker, and only then is the original acked; after
///   max_delivery_attempts the message is dead-lettered instead;
/// - unreadable (malformed payload, unknown event name, wrong types): dead-lettered at once.
/// Dead-lettering publishes the message (same payload, properties and headers, plus
/// x-spakky-death-reason and the original exchange and routing key) to the dead-letter
/// queue, waits for the broker's confirm, then acks the original: nothing is dropped.
///
/// A message no handler takes is never acknowledged (RabbitMqConsumerOptions::unhandled):
/// - `requeue` (default): if the consumer still has other handlers, the message is republished
///   to the queue with the attempt incremented (for another consumer of the queue, or a
///   handler registered again) and, after max_delivery_attempts, dead-lettered with the reason;
///   if it has no handler left at all (a shutdown that ended the subscriptions first), the
///   message is republished unchanged (no attempt counted) and the consumer stops consuming
///   until a handler is registered again, so the queue keeps what waits in it.
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
/// come back from the broker.
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
  using ConnectionErrorHandler = std::function<void(const std::string& reason)>;

  /// Reads the options (throws EventError for an invalid URL or an empty queue name); does
  /// not connect yet. `serializer` must outlive the consumer.
  RabbitMqEventConsumer(const IEventSerializer& serializer, RabbitMqConsumerOptions options)
      : IntegrationEventConsumer(serializer), options_(std::move(options)), settings_(detail::rabbitmq::connect_settings(options_)) {
    if (options_.queue.empty()) throw EventError("RabbitMqEventConsumer: the queue name is empty");
    if (options_.dead_letter_queue.empty()) options_.dead_letter_queue = options_.queue + ".dead-letter";
    if (options_.max_delivery_attempts == 0) options_.max_delivery_attempts = 1;
    if (options_.poll_interval.count() <= 0) options_.poll_interval = std::chrono::milliseconds(1);
    set_unhandled_policy(options_.unhandled);
  }

  RabbitMqEventConsumer(const RabbitMqEventConsumer&) = delete;
  RabbitMqEventConsumer& operator=(const RabbitMqEventConsumer&) = delete;

  /// Stops the run loop and joins the thread start() made.
  ~RabbitMqEventConsumer() override { stop(); }

  /// Where connection failures are reported (default: one line on stderr). Set it before
  /// start() / run(); it is called on the consumer's thread.
  void set_connection_error_handler(ConnectionErrorHandler handler) { on_connection_error_ = std::move(handler); }

  /// Consumes on the calling thread until stop() is called (from another thread or from a
  /// handler); returns within about poll_interval after that (once the message being handled
  /// is done). Returns at once if stop() was called before (only start() clears that). Throws
  /// EventError if the consumer is running already.
  void run() {
    if (running_.exchange(true)) throw EventError("RabbitMqEventConsumer: already running");
    run_thread_.store(std::this_thread::get_id());
    struct Finish {
      RabbitMqEventConsumer& self;
      ~Finish() {
        self.connection_.reset();
        self.buffered_.clear();
        self.set_consuming(false);
        self.run_thread_.store(std::thread::id());
        self.running_.store(false);
      }
    } finish{*this};
    auto delay = options_.reconnect_delay;
    while (!stop_requested()) {
      try {
        session(delay);
        return;  // stopped
      } catch (const detail::rabbitmq::ConnectionLost& error) {
        report(error.what(), delay);
      } catch (const std::exception& error) {
        report(std::string("unexpected error: ") + error.what(), delay);
      }
      connection_.reset();
      buffered_.clear();  // not acked: the broker delivers them again
      set_consuming(false);
      sleep_unless_stopped(delay);
      delay = std::min(delay * 2, std::max(options_.max_reconnect_delay, options_.reconnect_delay));
    }
  }

  /// Runs run() on a thread of the consumer's own, clearing an earlier stop(). Throws
  /// EventError if it runs already.
  void start() {
    const std::lock_guard lock(thread_mutex_);
    if (running_.load()) throw EventError("RabbitMqEventConsumer: already running");
    if (thread_.joinable()) thread_.join();  // a run that ended by itself (stop() from a handler)
    stop_.store(false);
    thread_ = std::thread([this] { run(); });
  }

  /// Asks the run loop to stop; from another thread, also joins the thread of start().
  /// From a handler (the consumer's own thread) it only asks: the loop ends once the handler
  /// has returned and its message is settled. Idempotent.
  void stop() noexcept {
    {
      const std::lock_guard lock(state_mutex_);
      stop_.store(true);
    }
    state_changed_.notify_all();
    if (run_thread_.load() == std::this_thread::get_id()) return;
    const std::lock_guard lock(thread_mutex_);
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  }

  /// True while the queue is declared, bound and being consumed (not while the consumer has
  /// no handler: see the class comment).
  [[nodiscard]] bool consuming() const {
    const std::lock_guard lock(state_mutex_);
    return consuming_;
  }

  /// Waits until the consumer is consuming (its queue declared and bound); false on timeout.
  bool wait_until_consuming(std::chrono::milliseconds timeout) const {
    std::unique_lock lock(state_mutex_);
    return state_changed_.wait_for(lock, timeout, [&] { return consuming_; });
  }

  [[nodiscard]] RabbitMqConsumerStats stats() const noexcept {
    RabbitMqConsumerStats result;
    result.acked = acked_.load();
    result.retried = retried_.load();
    result.requeued = requeued_.load();
    result.dead_lettered = dead_lettered_.load();
    result.connections = connections_.load();
    return result;
  }

  [[nodiscard]] const RabbitMqConsumerOptions& options() const noexcept { return options_; }

protected:
  /// The run loop binds new names and unbinds the names found without a handler.
  void on_bindings_changed() override { bindings_changed_.store(true, std::memory_order_release); }

private:
  /// A delivery, copied out of librabbitmq's buffers.
  struct Delivery {
    std::uint64_t tag = 0;
    std::string exchange;
    std::string routing_key;
    amqp_flags_t flags = 0;
    std::string type, content_type, content_encoding, message_id, correlation_id, app_id;
    std::uint8_t delivery_mode = AMQP_DELIVERY_PERSISTENT;
    std::uint8_t priority = 0;
    std::uint64_t timestamp = 0;
    Headers headers;  // every scalar header, ours included
    std::string body;
  };

  [[nodiscard]] bool stop_requested() const noexcept { return stop_.load(std::memory_order_acquire); }

  void set_consuming(bool value) {
    {
      const std::lock_guard lock(state_mutex_);
      consuming_ = value;
    }
    state_changed_.notify_all();
  }

  void sleep_unless_stopped(std::chrono::milliseconds delay) {
    std::unique_lock lock(state_mutex_);
    state_changed_.wait_for(lock, delay, [&] { return stop_.load(); });
  }

  void report(const std::string& reason, std::chrono::milliseconds delay) {
    const std::string message = reason + "; reconnecting in " + std::to_string(delay.count()) + " ms";
    if (on_connection_error_) {
      try {
        on_connection_error_(message);
      } catch (...) {  // a reporting failure must not stop the consumer
      }
      return;
    }
    std::fprintf(stderr, "[spakky-event] RabbitMQ consumer of '%s': %s\n", options_.queue.c_str(), message.c_str());
  }

  /// One connection's life: declare, bind, consume until stop() (returns) or a failure
  /// (throws ConnectionLost).
  void session(std::chrono::milliseconds& delay) {
    connection_ = std::make_unique<detail::rabbitmq::Connection>(settings_);
    auto& connection = *connection_;
    if (options_.declare_exchange) connection.declare_exchange(options_.exchange, options_.exchange_type);
    connection.declare_queue(options_.queue);
    connection.declare_queue(options_.dead_letter_queue);
    bound_.clear();
    bindings_changed_.store(false);
    sync_bindings();
    connection.set_prefetch(options_.prefetch);
    connection.select_confirms();
    published_ = 0;
    consumer_tag_.clear();
    connections_.fetch_add(1);
    delay = options_.reconnect_delay;

    while (!stop_requested()) {
      if (bindings_changed_.exchange(false, std::memory_order_acq_rel)) sync_bindings();
      // Consume only while there is a handler: a consumer left with none keeps its hands off
      // the queue (what it still holds is put back as it comes up, see process()).
      if (!has_handlers()) {
        pause();
      } else if (consumer_tag_.empty()) {
        consumer_tag_ = connection.consume(options_.queue);
        set_consuming(true);
      }
      if (!buffered_.empty()) {
        Delivery delivery = std::move(buffered_.front());
        buffered_.pop_front();
        process(delivery);
        continue;
      }
      amqp_frame_t frame;
      if (connection.next_frame(frame, options_.poll_interval)) on_frame(frame);
    }
  }

  /// Stops consuming (if it was): the broker sends no more; what it sent before still comes.
  void pause() {
    if (consumer_tag_.empty()) return;
    set_consuming(false);
    connection_->cancel_consume(consumer_tag_);
    consumer_tag_.clear();
  }

  /// Binds the queue with every registered event name and binding key, and unbinds the
  /// names no handler is left for.
  void sync_bindings() {
    std::vector<std::string> keys = event_names();
    keys.insert(keys.end(), options_.binding_keys.begin(), options_.binding_keys.end());
    const std::set<std::string> wanted(keys.begin(), keys.end());
    for (const std::string& key : keys) {
      if (bound_.count(key) != 0) continue;
      connection_->bind_queue(options_.queue, options_.exchange, key);
      bound_.insert(key);
    }
    for (auto it = bound_.begin(); it != bound_.end();) {
      if (wanted.count(*it) != 0) {
        ++it;
        continue;
      }
      connection_->unbind_queue(options_.queue, options_.exchange, *it);
      it = bound_.erase(it);
    }
  }

  /// Handles a frame that arrived on the connection: a delivery is buffered, a confirm noted.
  void on_frame(const amqp_frame_t& frame) {
    auto& connection = *connection_;
    if (frame.frame_type != AMQP_FRAME_METHOD) {
      connection.release_buffers();
      return;
    }
    switch (frame.payload.method.id) {
      case AMQP_BASIC_DELIVER_METHOD: {
        const auto* deliver = static_cast<const amqp_basic_deliver_t*>(frame.payload.method.decoded);
        Delivery delivery;
        delivery.tag = deliver->delivery_tag;
        delivery.exchange = detail::rabbitmq::view(deliver->exchange);
        delivery.routing_key = detail::rabbitmq::view(deliver->routing_key);
        amqp_message_t message;
        connection.read_message(message);
        copy_message(message, delivery);
        amqp_destroy_message(&message);
        buffered_.push_back(std::move(delivery));
        break;
      }
      case AMQP_BASIC_ACK_METHOD: {
        const auto* ack = static_cast<const amqp_basic_ack_t*>(frame.payload.method.decoded);
        note_confirm(ack->delivery_tag, ack->multiple != 0, false);
        break;
      }
      case AMQP_BASIC_NACK_METHOD: {
        const auto* nack = static_cast<const amqp_basic_nack_t*>(frame.payload.method.decoded);
        note_confirm(nack->delivery_tag, nack->multiple != 0, true);
        break;
      }
      case AMQP_BASIC_RETURN_METHOD: {  // a copy we published reached no queue
        amqp_message_t message;
        connection.read_message(message);  // its content follows; nothing of it is needed
        amqp_destroy_message(&message);
        if (awaited_tag_ != 0) returned_ = true;
        break;
      }
      case AMQP_BASIC_CANCEL_METHOD:
        connection.release_buffers();
        connection.lost("the broker cancelled the consumer of queue '" + options_.queue + "' (queue deleted?)");
      default:
        break;
    }
    connection.release_buffers();
  }

  static void copy_message(const amqp_message_t& message, Delivery& delivery) {
    using detail::rabbitmq::view;
    const amqp_basic_properties_t& p = message.properties;
    delivery.flags = p._flags;
    if (p._flags & AMQP_BASIC_TYPE_FLAG) delivery.type = view(p.type);
    if (p._flags & AMQP_BASIC_CONTENT_TYPE_FLAG) delivery.content_type = view(p.content_type);
    if (p._flags & AMQP_BASIC_CONTENT_ENCODING_FLAG) delivery.content_encoding = view(p.content_encoding);
    if (p._flags & AMQP_BASIC_MESSAGE_ID_FLAG) delivery.message_id = view(p.message_id);
    if (p._flags & AMQP_BASIC_CORRELATION_ID_FLAG) delivery.correlation_id = view(p.correlation_id);
    if (p._flags & AMQP_BASIC_APP_ID_FLAG) delivery.app_id = view(p.app_id);
    if (p._flags & AMQP_BASIC_DELIVERY_MODE_FLAG) delivery.delivery_mode = p.delivery_mode;
    if (p._flags & AMQP_BASIC_PRIORITY_FLAG) delivery.priority = p.priority;
    if (p._flags & AMQP_BASIC_TIMESTAMP_FLAG) delivery.timestamp = p.timestamp;
    if (p._flags & AMQP_BASIC_HEADERS_FLAG) detail::rabbitmq::read_headers(p.headers, delivery.headers);
    delivery.body = view(message.body);
  }

  void note_confirm(std::uint64_t tag, bool multiple, bool refused) {
    if (awaited_tag_ == 0) return;
    if (tag == awaited_tag_ || (multiple && tag >= awaited_tag_)) confirm_ = refused ? Confirm::refused : Confirm::acked;
  }

  static std::uint32_t attempt_of(const Headers& headers) {
    const auto found = headers.find(rabbitmq_delivery_attempt_header);
    if (found == headers.end()) return 1;
    std::uint32_t attempt = 0;
    const std::string& text = found->second;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), attempt);
    if (error != std::errc{} || end != text.data() + text.size() || attempt == 0) return 1;
    return attempt;
  }

  void process(Delivery& delivery) {
    IncomingMessage message;
    message.event_name = delivery.type.empty() ? delivery.routing_key : delivery.type;
    message.payload = std::move(delivery.body);
    for (const auto& [name, value] : delivery.headers) {
      if (name.rfind("x-spakky-", 0) != 0) message.headers.emplace(name, value);
    }
    message.delivery_attempt = attempt_of(delivery.headers);

    const HandlingResult result = handle(message);
    switch (result.disposition) {
      case Disposition::ack:
        connection_->ack(delivery.tag);
        acked_.fetch_add(1);
        return;
      case Disposition::retry:
        if (message.delivery_attempt < options_.max_delivery_attempts) {
          Headers headers = delivery.headers;
          headers.insert_or_assign(std::string(rabbitmq_delivery_attempt_header),
                                   std::to_string(message.delivery_attempt + 1));
          keep_origin(delivery, headers);
          republish(delivery, message, options_.queue, headers);
          connection_->ack(delivery.tag);
          retried_.fetch_add(1);
          return;
        }
        dead_letter(delivery, message,
                    "handler failed on all " + std::to_string(options_.max_delivery_attempts) +
                        " delivery attempts; last error: " + result.reason);
        return;
      case Disposition::requeue:
        if (!has_handlers()) {
          // No handler at all: stop consuming first (or the copy could come straight back),
          // then give the message back as it came, without counting an attempt.
          pause();
          Headers headers = delivery.headers;
          keep_origin(delivery, headers);
          republish(delivery, message, options_.queue, headers);
          connection_->ack(delivery.tag);
          requeued_.fetch_add(1);
          return;
        }
        if (message.delivery_attempt < options_.max_delivery_attempts) {
          Headers headers = delivery.headers;
          headers.insert_or_assign(std::string(rabbitmq_delivery_attempt_header),
                                   std::to_string(message.delivery_attempt + 1));
          keep_origin(delivery, headers);
          republish(delivery, message, options_.queue, headers);
          connection_->ack(delivery.tag);
          requeued_.fetch_add(1);
          return;
        }
        dead_letter(delivery, message,
                    "not handled on any of " + std::to_string(options_.max_delivery_attempts) +
                        " delivery attempts: " + result.reason);
        return;
      case Disposition::dead_letter:
        dead_letter(delivery, message, result.reason);
        return;
    }
  }

  static void keep_origin(const Delivery& delivery, Headers& headers) {
    headers.try_emplace(std::string(rabbitmq_original_exchange_header), delivery.exchange);
    headers.try_emplace(std::string(rabbitmq_original_routing_key_header), delivery.routing_key);
  }

  void dead_letter(const Delivery& delivery, const IncomingMessage& message, const std::string& reason) {
    Headers headers = delivery.headers;
    constexpr std::size_t max_reason = 4096;
    headers.insert_or_assign(std::string(rabbitmq_death_reason_header), reason.substr(0, max_reason));
    keep_origin(delivery, headers);
    republish(delivery, message, options_.dead_letter_queue, headers);
    connection_->ack(delivery.tag);
    dead_lettered_.fetch_add(1);
  }

  /// Publishes a copy of `delivery` to `queue` (through the default exchange, mandatory) and
  /// waits for the broker's confirm; a refusal, a return (the queue is gone) or a timeout
  /// drops the connection (the original is then redelivered, and the queues are declared
  /// again on reconnect), so nothing is acked that no queue took.
  void republish(const Delivery& delivery, const IncomingMessage& message, const std::string& queue,
                 const Headers& headers) {
    auto& connection = *connection_;
    table_.clear();
    for (const auto& [name, value] : headers) table_.add(name, value);  // names came from AMQP: they fit
    amqp_basic_properties_t properties{};
    properties._flags = delivery.flags | AMQP_BASIC_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
    properties._flags &= ~static_cast<amqp_flags_t>(AMQP_BASIC_HEADERS_FLAG);
    properties.type = detail::rabbitmq::bytes(message.event_name);
    properties.content_type = detail::rabbitmq::bytes(delivery.content_type);
    properties.content_encoding = detail::rabbitmq::bytes(delivery.content_encoding);
    properties.message_id = detail::rabbitmq::bytes(delivery.message_id);
    properties.correlation_id = detail::rabbitmq::bytes(delivery.correlation_id);
    properties.app_id = detail::rabbitmq::bytes(delivery.app_id);
    properties.delivery_mode = delivery.delivery_mode;
    properties.priority = delivery.priority;
    properties.timestamp = delivery.timestamp;
    // Properties of the original this copy does not carry (reply_to, expiration, user_id, ...)
    // are dropped rather than sent empty.
    properties._flags &= AMQP_BASIC_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG |
                         AMQP_BASIC_CONTENT_ENCODING_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG |
                         AMQP_BASIC_CORRELATION_ID_FLAG | AMQP_BASIC_APP_ID_FLAG | AMQP_BASIC_PRIORITY_FLAG |
                         AMQP_BASIC_TIMESTAMP_FLAG;
    if (!table_.empty()) {
      properties._flags |= AMQP_BASIC_HEADERS_FLAG;
      properties.headers = table_.table();
    }
    connection.publish("", queue, properties, message.payload, /*mandatory=*/true);
    awaited_tag_ = ++published_;
    confirm_ = Confirm::waiting;
    returned_ = false;
    const auto deadline = std::chrono::steady_clock::now() + options_.confirm_timeout;
    while (confirm_ == Confirm::waiting) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) connection.lost("the broker did not confirm the copy sent to queue '" + queue + "'");
      amqp_frame_t frame;
      if (connection.next_frame(frame, left)) on_frame(frame);
    }
    awaited_tag_ = 0;
    if (confirm_ == Confirm::refused) connection.lost("the broker refused the copy sent to queue '" + queue + "'");
    if (returned_) connection.lost("the copy sent to queue '" + queue + "' reached no queue (deleted?)");
  }

  enum class Confirm { waiting, acked, refused };

  RabbitMqConsumerOptions options_;
  detail::rabbitmq::ConnectSettings settings_;
  ConnectionErrorHandler on_connection_error_;

  // Run-loop thread only.
  std::unique_ptr<detail::rabbitmq::Connection> connection_;
  std::deque<Delivery> buffered_;
  std::set<std::string> bound_;
  std::string consumer_tag_;  // empty while not consuming
  std::uint64_t published_ = 0;
  std::uint64_t awaited_tag_ = 0;
  Confirm confirm_ = Confirm::waiting;
  bool returned_ = false;  // the awaited copy came back unroutable (basic.return)
  detail::rabbitmq::HeaderTable table_;

  std::atomic<bool> bindings_changed_{false};
  std::atomic<bool> running_{false};
  std::atomic<std::thread::id> run_thread_{};
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> acked_{0}, retried_{0}, requeued_{0}, dead_lettered_{0}, connections_{0};

  mutable std::mutex state_mutex_;
  mutable std::condition_variable state_changed_;
  bool consuming_ = false;  // guarded by state_mutex_

  std::mutex thread_mutex_;
  std::thread thread_;
};

}  // namespace spakky::event
