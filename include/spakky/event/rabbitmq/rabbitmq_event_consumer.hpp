#pragma once
/// @file
/// RabbitMqEventConsumer: receives integration events from a RabbitMQ queue and dispatches
/// them to the handlers registered on it, acknowledging, retrying or dead-lettering each.

#include <spakky/event/consumer/integration_event_consumer.hpp>
#include <spakky/event/error.hpp>
#include <spakky/event/event_publisher.hpp>
#include <spakky/event/rabbitmq/amqp_url.hpp>
#include <spakky/event/rabbitmq/detail/amqp_connection.hpp>
#include <spakky/event/rabbitmq/detail/field_table.hpp>
#include <spakky/event/serializer.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
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
  /// The queue's x-queue-type when the consumer declares it ("quorum", "classic"); empty:
  /// the broker's default. A quorum queue counts redeliveries itself (x-delivery-count).
  std::string queue_type{};
  /// Routing keys bound besides the registered event names (e.g. "#" on a topic exchange
  /// for a consumer that only has a catch-all handler).
  std::vector<std::string> binding_keys{};
  /// Where messages that cannot be handled go, declared durable; default `<queue>.dead-letter`.
  std::string dead_letter_queue{};
  /// How many unacknowledged messages the broker sends ahead (basic.qos; 0: no limit). A
  /// message that came back from a crash is handled with nothing else held (class comment).
  std::uint16_t prefetch = 32;
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

/// A broker consumer over RabbitMQ: an IntegrationEventConsumer (register handlers for
/// integration events on it, as on any IEventConsumer) whose run loop feeds it a queue.
///
/// On connect it declares the exchange, its queue and the dead-letter queue (all durable) and
/// binds the queue to the exchange with every registered event name (and binding_keys);
/// handlers registered later are bound while it runs. Each delivery becomes an
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
/// A clean stop() puts back the messages it holds but has not started the same way, so a
/// stop counts no attempt. (Retries and put-backs reorder: the queue's order is not kept.)
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
  /// is done and what the consumer holds is put back). Handlers run on this thread. Returns at
  /// once if stop() was called before (only start() clears that). Throws EventError if the
  /// consumer is running already.
  void run() {
    if (running_.exchange(true)) throw EventError("RabbitMqEventConsumer: already running");
    run_thread_.store(std::this_thread::get_id());
    std::unique_lock io(io_mutex_);
    io_ = &io;
    struct Finish {
      RabbitMqEventConsumer& self;
      std::unique_lock<std::mutex>& io;
      ~Finish() {
        if (!io.owns_lock()) io.lock();
        self.connection_.reset();
        self.buffered_.clear();
        self.io_ = nullptr;
        io.unlock();
        self.stop_keeper();
        self.set_consuming(false);
        self.run_thread_.store(std::thread::id());
        self.running_.store(false);
      }
    } finish{*this, io};
    start_keeper();
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
      io.unlock();
      sleep_unless_stopped(delay);
      io.lock();
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
    result.redelivered = redelivered_.load();
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
    bool redelivered = false;  // the broker's flag: delivered before, not settled then
    std::string exchange;
    std::string routing_key;
    amqp_flags_t flags = 0;
    std::string type, content_type, content_encoding, message_id, correlation_id, app_id;
    std::uint8_t delivery_mode = AMQP_DELIVERY_PERSISTENT;
    std::uint8_t priority = 0;
    std::uint64_t timestamp = 0;
    detail::rabbitmq::FieldTable headers;  // as received, every field kind
    std::string body;
  };

  /// What a delivery counts: its attempt (1 for the first delivery) and how often the broker
  /// gave it back unsettled, this delivery's own redelivery included.
  struct Counts {
    std::uint64_t attempt = 1;
    std::uint64_t redeliveries = 0;
  };

  /// Header values a copy carries instead of the original's (and in addition to them).
  struct Override {
    std::string_view name;
    std::string value;
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
    std::fprintf(stderr, "[spakky-event] RabbitMQ consumer of '%s': %s\n",
                 detail::escape_for_log(options_.queue).c_str(), detail::escape_for_log(message, 4096).c_str());
  }

  // ---- the keeper: services the connection while a handler runs --------------------------

  /// The heartbeat the consumer asks for (the URL's `heartbeat` overrides the option).
  [[nodiscard]] int configured_heartbeat() const noexcept {
    return settings_.url.heartbeat_seconds >= 0 ? settings_.url.heartbeat_seconds : settings_.heartbeat_seconds;
  }

  void start_keeper() {
    if (configured_heartbeat() <= 0) return;  // no heartbeats: a long handler loses nothing
    {
      const std::lock_guard lock(keeper_mutex_);
      keeper_stop_ = false;
    }
    keeper_ = std::thread([this] { keep_alive(); });
  }

  void stop_keeper() noexcept {
    if (!keeper_.joinable()) return;
    {
      const std::lock_guard lock(keeper_mutex_);
      keeper_stop_ = true;
    }
    keeper_wake_.notify_all();
    keeper_.join();
  }

  /// Every quarter of the negotiated heartbeat interval, if the run loop has let go of the
  /// connection (it does only while a handler runs), reads what arrived on it: librabbitmq
  /// sends the heartbeats that are due on every read.
  void keep_alive() {
    std::unique_lock lock(keeper_mutex_);
    while (!keeper_stop_) {
      const int every = keepalive_ms_.load(std::memory_order_relaxed);  // 0: no heartbeats negotiated
      const auto period = std::chrono::milliseconds(every > 0 ? std::max(every, 50) : 1000);
      keeper_wake_.wait_for(lock, period, [&] { return keeper_stop_; });
      if (keeper_stop_) return;
      if (every <= 0) continue;
      lock.unlock();
      {
        const std::unique_lock io(io_mutex_, std::try_to_lock);
        if (io.owns_lock()) service_connection();
      }
      lock.lock();
    }
  }

  /// Reads every frame that has arrived (without waiting); called with io_mutex_ held by the
  /// keeper. A failure marks the connection lost; the run loop finds it so after the handler.
  void service_connection() noexcept {
    if (!connection_ || !connection_->usable()) return;
    try {
      amqp_frame_t frame;
      while (connection_->next_frame(frame, std::chrono::milliseconds(0))) on_frame(frame);
    } catch (...) {
      try {
        throw;
      } catch (const std::exception& error) {
        keeper_error_ = error.what();
      } catch (...) {
        keeper_error_ = "unexpected error";
      }
      if (connection_->usable()) {
        try {
          connection_->lost(keeper_error_);
        } catch (...) {
        }
      }
    }
  }

  // ---- one connection's life ---------------------------------------------------------------

  /// One connection's life: declare, bind, consume until stop() (returns) or a failure
  /// (throws ConnectionLost).
  void session(std::chrono::milliseconds& delay) {
    connection_ = std::make_unique<detail::rabbitmq::Connection>(settings_);
    keeper_error_.clear();
    auto& connection = *connection_;
    keepalive_ms_.store(amqp_get_heartbeat(connection.state()) * 250, std::memory_order_relaxed);
    if (options_.declare_exchange) connection.declare_exchange(options_.exchange, options_.exchange_type);
    connection.declare_queue(options_.queue, options_.queue_type);
    connection.declare_queue(options_.dead_letter_queue);
    bound_.clear();
    bindings_changed_.store(false);
    sync_bindings();
    connection.select_confirms();
    published_ = 0;
    consumer_tag_.clear();
    prefetch_now_ = -1;
    one_at_a_time_ = false;
    connections_.fetch_add(1);
    delay = options_.reconnect_delay;

    while (!stop_requested()) {
      if (bindings_changed_.exchange(false, std::memory_order_acq_rel)) sync_bindings();
      // Consume only while there is a handler: a consumer left with none keeps its hands off
      // the queue (what it still holds is put back as it comes up, see process()).
      if (!has_handlers()) {
        pause();
      } else if (consumer_tag_.empty()) {
        resume();
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
    // A clean stop: give back what this consumer holds but has not started, uncounted (a
    // closed connection would have the broker flag them redelivered, and count them).
    try {
      hold_nothing();
    } catch (const detail::rabbitmq::ConnectionLost&) {  // the broker delivers them again
    }
  }

  /// Starts consuming, with the prefetch of the moment (1 while taking messages one at a time).
  void resume() {
    const std::uint16_t prefetch = one_at_a_time_ ? std::uint16_t{1} : options_.prefetch;
    if (prefetch != prefetch_now_) {
      connection_->set_prefetch(prefetch);  // applies to consumers started after it
      prefetch_now_ = prefetch;
    }
    consumer_tag_ = connection_->consume(options_.queue);
    set_consuming(true);
  }

  /// Stops consuming (if it was): the broker sends no more; what it sent before still comes.
  void pause() {
    if (consumer_tag_.empty()) return;
    set_consuming(false);
    cancel_consumer();
  }

  /// Cancels the consumer (the broker sends nothing more) without telling the world (see
  /// consuming()), and reads everything delivered before the cancel into buffered_.
  void cancel_consumer() {
    if (consumer_tag_.empty()) return;
    connection_->cancel_consume(consumer_tag_);
    consumer_tag_.clear();
    amqp_frame_t frame;
    while (connection_->readable() && connection_->next_frame(frame, std::chrono::milliseconds(0))) on_frame(frame);
  }

  /// Stops the deliveries and puts back every message held but not started.
  void hold_nothing() {
    cancel_consumer();
    while (!buffered_.empty()) {
      Delivery delivery = std::move(buffered_.front());
      buffered_.pop_front();
      put_back(delivery);
    }
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
        delivery.redelivered = deliver->redelivered != 0;
        delivery.exchange = detail::rabbitmq::view(deliver->exchange);
        delivery.routing_key = detail::rabbitmq::view(deliver->routing_key);
        amqp_message_t message;
        connection.read_message(message);
        try {
          copy_message(message, delivery);
        } catch (...) {
          amqp_destroy_message(&message);
          throw;
        }
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
    if (p._flags & AMQP_BASIC_HEADERS_FLAG) delivery.headers = detail::rabbitmq::FieldTable(p.headers);
    delivery.body = view(message.body);
  }

  void note_confirm(std::uint64_t tag, bool multiple, bool refused) {
    if (awaited_tag_ == 0) return;
    if (tag == awaited_tag_ || (multiple && tag >= awaited_tag_)) confirm_ = refused ? Confirm::refused : Confirm::acked;
  }

  // ---- counting attempts ---------------------------------------------------------------------

  static std::uint64_t count_header(const Delivery& delivery, std::string_view name, std::uint64_t otherwise) {
    const amqp_field_value_t* field = delivery.headers.find(name);
    if (field == nullptr) return otherwise;
    return detail::rabbitmq::field_count(*field).value_or(otherwise);
  }

  /// The attempt this delivery is, with every redelivery by the broker counted: our own
  /// headers, plus the quorum queue's x-delivery-count, plus one for a `redelivered` flag
  /// where there is no such count (a classic queue).
  static Counts counts_of(const Delivery& delivery) {
    Counts counts;
    counts.attempt = std::max<std::uint64_t>(count_header(delivery, rabbitmq_delivery_attempt_header, 1), 1);
    counts.redeliveries = count_header(delivery, rabbitmq_redeliveries_header, 0);
    const amqp_field_value_t* quorum = delivery.headers.find(rabbitmq_quorum_delivery_count_header);
    const std::uint64_t returned = quorum != nullptr ? detail::rabbitmq::field_count(*quorum).value_or(0)
                                                     : (delivery.redelivered ? 1 : 0);
    counts.attempt += returned;
    counts.redeliveries += returned;
    return counts;
  }

  /// A delivery whose count is kept by nobody but this flag: it must become durable (a copy
  /// with the count in its headers) before a handler runs on it.
  static bool uncounted_redelivery(const Delivery& delivery) {
    return delivery.redelivered && delivery.headers.find(rabbitmq_quorum_delivery_count_header) == nullptr;
  }

  std::string exhausted(const Counts& counts) const {
    return "delivery attempts exhausted (" + std::to_string(options_.max_delivery_attempts) +
           " allowed): the broker gave the message back unsettled " + std::to_string(counts.redeliveries) +
           " time(s), the consumer having lost its connection or died while it held the message";
  }

  // ---- handling one delivery -----------------------------------------------------------------

  void process(Delivery& delivery) {
    const Counts counts = counts_of(delivery);
    IncomingMessage message;
    message.event_name = delivery.type.empty() ? delivery.routing_key : delivery.type;
    message.payload = std::move(delivery.body);
    Headers all;
    if (delivery.headers.table().num_entries > 0) detail::rabbitmq::read_headers(delivery.headers.table(), all);
    for (auto& [name, value] : all) {
      if (name.rfind("x-spakky-", 0) != 0) message.headers.emplace(name, std::move(value));
    }

    if (counts.attempt > options_.max_delivery_attempts) {
      redelivered_.fetch_add(delivery.redelivered ? 1 : 0);
      dead_letter(delivery, message, exhausted(counts), counts.attempt - 1, counts.redeliveries);
      return;
    }
    if (uncounted_redelivery(delivery)) {
      // Record the redelivery durably before any handler runs: the copy replaces the original.
      redelivered_.fetch_add(1);
      copy_back(delivery, message, counts);
      return;
    }
    const bool came_back = counts.redeliveries > 0;
    if (came_back && !one_at_a_time_) {
      // It may be what crashed the consumer: run it alone, holding nothing else.
      hold_nothing();
      one_at_a_time_ = true;
    }
    message.delivery_attempt = static_cast<std::uint32_t>(std::min<std::uint64_t>(counts.attempt, UINT32_MAX));

    const HandlingResult result = handle_released(message);
    switch (result.disposition) {
      case Disposition::ack:
        connection_->ack(delivery.tag);
        acked_.fetch_add(1);
        break;
      case Disposition::retry:
        if (counts.attempt < options_.max_delivery_attempts) {
          republish(delivery, message, options_.queue, counts.attempt + 1, counts.redeliveries);
          connection_->ack(delivery.tag);
          retried_.fetch_add(1);
        } else {
          dead_letter(delivery, message,
                      "handler failed on all " + std::to_string(options_.max_delivery_attempts) +
                          " delivery attempts; last error: " + result.reason,
                      counts.attempt, counts.redeliveries);
        }
        break;
      case Disposition::requeue:
        if (!has_handlers()) {
          // No handler at all: stop consuming first (or the copy could come straight back),
          // then give the message back, without counting an attempt.
          pause();
          copy_back(delivery, message, counts);
          requeued_.fetch_add(1);
        } else if (counts.attempt < options_.max_delivery_attempts) {
          republish(delivery, message, options_.queue, counts.attempt + 1, counts.redeliveries);
          connection_->ack(delivery.tag);
          requeued_.fetch_add(1);
        } else {
          dead_letter(delivery, message,
                      "not handled on any of " + std::to_string(options_.max_delivery_attempts) +
                          " delivery attempts: " + result.reason,
                      counts.attempt, counts.redeliveries);
        }
        break;
      case Disposition::dead_letter:
        dead_letter(delivery, message, result.reason, counts.attempt, counts.redeliveries);
        break;
    }
    if (one_at_a_time_ && !came_back) {
      // A message that never came back: the crash suspects are through, take many again.
      one_at_a_time_ = false;
      cancel_consumer();  // the loop consumes again with the full prefetch
    }
  }

  /// handle() with the connection released to the keeper while the handlers run; throws
  /// ConnectionLost after it if the keeper found the connection gone meanwhile.
  HandlingResult handle_released(const IncomingMessage& message) {
    io_->unlock();
    struct Relock {  // handle() does not throw; this is for what it might in the future
      std::unique_lock<std::mutex>& io;
      bool armed = true;
      ~Relock() {
        if (armed) io.lock();
      }
    } relock{*io_};
    HandlingResult result = handle(message);
    io_->lock();
    relock.armed = false;
    if (!connection_->usable()) {
      throw detail::rabbitmq::ConnectionLost("connection lost while a handler ran: " + keeper_error_);
    }
    return result;
  }

  /// Gives a delivery back to the queue (its tail) without running a handler: a copy with its
  /// counts as they are now, then the ack of the original.
  void copy_back(const Delivery& delivery, const IncomingMessage& message, const Counts& counts) {
    republish(delivery, message, options_.queue, counts.attempt, counts.redeliveries);
    connection_->ack(delivery.tag);
  }

  /// Puts back a delivery held but not started (no attempt counted for it; a redelivery flag
  /// it came with is recorded), or dead-letters it if its attempts are exhausted.
  void put_back(Delivery& delivery) {
    IncomingMessage message;
    message.event_name = delivery.type.empty() ? delivery.routing_key : delivery.type;
    message.payload = std::move(delivery.body);
    const Counts counts = counts_of(delivery);
    if (delivery.redelivered) redelivered_.fetch_add(1);
    if (counts.attempt > options_.max_delivery_attempts) {
      dead_letter(delivery, message, exhausted(counts), counts.attempt - 1, counts.redeliveries);
      return;
    }
    copy_back(delivery, message, counts);
  }

  void dead_letter(const Delivery& delivery, const IncomingMessage& message, const std::string& reason,
                   std::uint64_t attempt, std::uint64_t redeliveries) {
    constexpr std::size_t max_reason = 4096;
    republish(delivery, message, options_.dead_letter_queue, attempt, redeliveries, reason.substr(0, max_reason));
    connection_->ack(delivery.tag);
    dead_lettered_.fetch_add(1);
  }

  /// Publishes a copy of `delivery` to `queue` (through the default exchange, mandatory) and
  /// waits for the broker's confirm; a refusal, a return (the queue is gone) or a timeout
  /// drops the connection (the original is then redelivered, and the queues are declared
  /// again on reconnect), so nothing is acked that no queue took.
  ///
  /// The copy has the original's properties and header table (every field kind, nested tables
  /// and arrays), minus bearer tokens and the quorum queue's x-delivery-count (the broker's
  /// count of the original, not of the copy), with the counts and `death_reason` (if any) set
  /// and the original exchange and routing key added when not there yet.
  void republish(const Delivery& delivery, const IncomingMessage& message, const std::string& queue,
                 std::uint64_t attempt, std::uint64_t redeliveries, const std::string& death_reason = {}) {
    auto& connection = *connection_;
    std::vector<Override> overrides;
    if (attempt > 1) overrides.push_back({rabbitmq_delivery_attempt_header, std::to_string(attempt)});
    if (redeliveries > 0) overrides.push_back({rabbitmq_redeliveries_header, std::to_string(redeliveries)});
    if (!death_reason.empty()) overrides.push_back({rabbitmq_death_reason_header, death_reason});
    if (delivery.headers.find(rabbitmq_original_exchange_header) == nullptr) {
      overrides.push_back({rabbitmq_original_exchange_header, delivery.exchange});
    }
    if (delivery.headers.find(rabbitmq_original_routing_key_header) == nullptr) {
      overrides.push_back({rabbitmq_original_routing_key_header, delivery.routing_key});
    }
    table_.clear();
    const amqp_table_t& original = delivery.headers.table();
    for (int i = 0; i < original.num_entries; ++i) {
      const amqp_table_entry_t& entry = original.entries[i];
      const std::string_view name = detail::rabbitmq::view(entry.key);
      const bool replaced = std::any_of(overrides.begin(), overrides.end(),
                                        [&](const Override& o) { return o.name == name; });
      const bool dropped = name == rabbitmq_quorum_delivery_count_header ||
                           (name == rabbitmq_delivery_attempt_header && attempt <= 1) ||
                           (name == rabbitmq_redeliveries_header && redeliveries == 0) ||
                           detail::rabbitmq::carries_bearer_token(name, entry.value);
      if (!replaced && !dropped) table_.add_entry(entry);
    }
    for (const Override& o : overrides) table_.add(o.name, o.value);

    amqp_basic_properties_t properties{};
    properties._flags = delivery.flags | AMQP_BASIC_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
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

  // The connection and what goes with it: the run loop's, except while a handler runs (then
  // the keeper may take them). Guarded by io_mutex_.
  std::mutex io_mutex_;
  std::unique_lock<std::mutex>* io_ = nullptr;  // the run loop's hold on io_mutex_
  std::unique_ptr<detail::rabbitmq::Connection> connection_;
  std::deque<Delivery> buffered_;
  std::set<std::string> bound_;
  std::string consumer_tag_;       // empty while not consuming
  int prefetch_now_ = -1;          // the basic.qos in force (-1: none set on this connection)
  bool one_at_a_time_ = false;     // handling messages that came back: prefetch 1
  std::uint64_t published_ = 0;
  std::uint64_t awaited_tag_ = 0;
  Confirm confirm_ = Confirm::waiting;
  bool returned_ = false;  // the awaited copy came back unroutable (basic.return)
  detail::rabbitmq::HeaderTable table_;
  std::string keeper_error_;

  // The keeper thread (while run() runs, if heartbeats are on).
  std::thread keeper_;
  std::mutex keeper_mutex_;
  std::condition_variable keeper_wake_;
  bool keeper_stop_ = false;  // guarded by keeper_mutex_
  std::atomic<int> keepalive_ms_{0};

  std::atomic<bool> bindings_changed_{false};
  std::atomic<bool> running_{false};
  std::atomic<std::thread::id> run_thread_{};
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> acked_{0}, retried_{0}, requeued_{0}, redelivered_{0}, dead_lettered_{0},
      connections_{0};

  mutable std::mutex state_mutex_;
  mutable std::condition_variable state_changed_;
  bool consuming_ = false;  // guarded by state_mutex_

  std::mutex thread_mutex_;
  std::thread thread_;
};

}  // namespace spakky::event
