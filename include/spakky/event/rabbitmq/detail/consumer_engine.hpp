#pragma once
/// @file
/// The engine of the RabbitMQ consumers: one connection's life (declare, bind, consume,
/// reconnect), counting delivery attempts, and carrying out decide_settlement() (ack, retry
/// copy, put back, dead letter, each copy confirmed before the original is acked). The
/// synchronous RabbitMqEventConsumer and the coroutine AsyncRabbitMqEventConsumer differ only
/// in how they start handling a message (Launch) and how many may run at once.

#include <spakky/event/consumer/async_integration_event_consumer.hpp>
#include <spakky/event/consumer/consumer_reports.hpp>
#include <spakky/event/consumer/integration_event_consumer.hpp>
#include <spakky/event/consumer/settlement.hpp>
#include <spakky/event/detail/escape.hpp>
#include <spakky/event/error.hpp>
#include <spakky/event/event_publisher.hpp>
#include <spakky/event/rabbitmq/consumer_options.hpp>
#include <spakky/event/rabbitmq/detail/amqp_connection.hpp>
#include <spakky/event/rabbitmq/detail/field_table.hpp>
#include <spakky/event/rabbitmq/detail/keeper_thread.hpp>
#include <spakky/event/rabbitmq/detail/wake_pipe.hpp>

#include <poll.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace spakky::event::detail::rabbitmq {

/// See the file comment. Every public member but run() may be called from any thread.
class ConsumerEngine {
public:
  /// Reports a connection failure of the run loop (it reconnects after it).
  using ConnectionErrorHandler = std::function<void(const std::string& reason)>;
  /// Starts handling a message; finish(job, ...) must follow once, on any thread (maybe before
  /// it returns).
  using Launch = std::function<void(std::uint64_t job, std::shared_ptr<const IncomingMessage> message)>;

  /// `consumer` gives the handlers and names; `name` is used in errors ("RabbitMqEventConsumer").
  ConsumerEngine(BrokerConsumerBase& consumer, RabbitMqConsumerOptions options, std::size_t max_in_flight, Launch launch,
                 const char* name)
      : consumer_(consumer),
        options_(std::move(options)),
        settings_(connect_settings(options_)),
        launch_(std::move(launch)),
        name_(name) {
    const bool by_exchange = options_.topology == RabbitMqTopology::exchange;
    if (by_exchange && options_.queue.empty()) throw EventError(name_ + ": the queue name is empty");
    if (by_exchange && options_.exchange.empty()) throw EventError(name_ + ": the exchange name is empty");
    if (by_exchange && options_.dead_letter_queue.empty()) options_.dead_letter_queue = options_.queue + ".dead-letter";
    if (options_.max_delivery_attempts == 0) options_.max_delivery_attempts = 1;
    if (options_.poll_interval.count() <= 0) options_.poll_interval = std::chrono::milliseconds(1);
    max_in_flight_ = std::max<std::size_t>(max_in_flight, 1);
    consumer_.set_unhandled_policy(options_.unhandled);
  }

  ConsumerEngine(const ConsumerEngine&) = delete;
  ConsumerEngine& operator=(const ConsumerEngine&) = delete;

  ~ConsumerEngine() {
    stop();
  }

  void set_connection_error_handler(ConnectionErrorHandler handler) { on_connection_error_ = std::move(handler); }

  void run() {
    if (running_.exchange(true)) throw EventError(name_ + ": already running");
    run_thread_.store(std::this_thread::get_id());
    std::unique_lock io(io_mutex_);
    io_ = &io;
    struct Finish {
      ConsumerEngine& self;
      std::unique_lock<std::mutex>& io;
      ~Finish() {
        if (!io.owns_lock()) io.lock();
        self.connection_.reset();  // the broker requeues what is still unacknowledged
        self.buffered_.clear();
        self.drain_jobs();         // handlers still running reference the consumer
        self.running_here_ = 0;
        ++self.session_;
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
    reconnecting_ = false;
    while (!stop_requested()) {
      try {
        session(delay);
        return;  // stopped
      } catch (const ConnectionLost& error) {
        report(error.what(), delay);
      } catch (const std::exception& error) {
        report(std::string("unexpected error: ") + error.what(), delay);
      }
      reconnecting_ = true;
      connection_.reset();
      buffered_.clear();  // not acked: the broker delivers them again
      ++session_;         // the deliveries of jobs still running are gone with the connection
      running_here_ = 0;
      set_consuming(false);
      io.unlock();
      sleep_unless_stopped(delay);
      io.lock();
      delay = std::min(delay * 2, std::max(options_.max_reconnect_delay, options_.reconnect_delay));
    }
  }

  void start() {
    const std::lock_guard lock(thread_mutex_);
    if (running_.load()) throw EventError(name_ + ": already running");
    if (thread_.joinable()) thread_.join();  // a run that ended by itself (stop() from a handler)
    stop_.store(false);
    thread_ = std::thread([this] { run(); });
  }

  void stop() noexcept {
    {
      const std::lock_guard lock(state_mutex_);
      stop_.store(true);
    }
    state_changed_.notify_all();
    wake();
    if (run_thread_.load() == std::this_thread::get_id()) return;
    const std::lock_guard lock(thread_mutex_);
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  }

  /// The handling of `job` completed (any thread): the run loop settles its message.
  void finish(std::uint64_t job, std::exception_ptr error, HandlingResult result) {
    // Everything under the lock: once the run loop sees this entry it may settle it, end, and
    // the consumer may be destroyed, so nothing of the engine is touched after the unlock.
    const std::lock_guard lock(finished_mutex_);
    const bool first = finished_.empty();
    finished_.push_back(Finished{job, std::move(error), std::move(result)});
    finished_changed_.notify_all();
    // A wake-up only for a run loop asleep in poll() (it takes the whole list when it wakes);
    // its own thread needs none. See wait_for_work() for why none is missed.
    if (first && sleeping_.load() && run_thread_.load() != std::this_thread::get_id()) wake();
  }

  /// Asks the run loop to stop, without waiting for it.
  void request_stop() noexcept {
    {
      const std::lock_guard lock(state_mutex_);
      stop_.store(true);
    }
    state_changed_.notify_all();
    wake();
  }

  void bindings_changed() {
    bindings_changed_.store(true, std::memory_order_release);
    wake();
  }

  [[nodiscard]] bool consuming() const {
    const std::lock_guard lock(state_mutex_);
    return consuming_;
  }

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

private:
  /// What a delivery counts: its attempt (1 for the first delivery) and how often the broker
  /// gave it back unsettled, this delivery's own redelivery included.
  struct Counts {
    std::uint64_t attempt = 1;
    std::uint64_t redeliveries = 0;
  };

  /// A delivery, copied out of librabbitmq's buffers.
  struct Delivery {
    std::uint64_t tag = 0;
    bool redelivered = false;  // the broker's flag: delivered before, not settled then
    std::string exchange;
    std::string routing_key;
    std::string queue;         // the queue it came from
    amqp_flags_t flags = 0;
    std::string type, content_type, content_encoding, message_id, correlation_id, app_id;
    std::uint8_t delivery_mode = AMQP_DELIVERY_PERSISTENT;
    std::uint8_t priority = 0;
    std::uint64_t timestamp = 0;
    FieldTable headers;  // as received, every field kind
    std::string body_;   // until prepare() moves it into the message
    std::shared_ptr<IncomingMessage> message;  // what handlers see
    Counts counts;
    std::string key;     // partition key
    std::chrono::steady_clock::time_point received;  // when it arrived (on_consumed's duration)
  };

  struct Job {
    Delivery delivery;
    std::uint64_t session = 0;
    bool came_back = false;
  };

  struct Finished {
    std::uint64_t job;
    std::exception_ptr error;
    HandlingResult result;
  };

  /// Header values a copy carries instead of the original's (and in addition to them).
  struct Override {
    std::string_view name;
    std::string value;
  };

  [[nodiscard]] bool stop_requested() const noexcept { return stop_.load(std::memory_order_acquire); }

  void wake() noexcept { wake_.wake(); }

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
                 ::spakky::event::detail::escape_for_log(options_.queue.empty() ? std::string("<queue per event>") : options_.queue).c_str(), ::spakky::event::detail::escape_for_log(message, 4096).c_str());
  }

  // ---- the keeper: services the connection while a handler runs --------------------------

  /// The heartbeat the consumer asks for (the URL's `heartbeat` overrides the option).
  [[nodiscard]] int configured_heartbeat() const noexcept {
    return settings_.url.heartbeat_seconds >= 0 ? settings_.url.heartbeat_seconds : settings_.heartbeat_seconds;
  }

  /// Starts the keeper: if the run loop has let go of the connection (it does only while a
  /// handler runs), it reads what arrived on it.
  void start_keeper() {
    if (configured_heartbeat() <= 0) return;  // no heartbeats: a long handler loses nothing
    keeper_.start([this] {
      const std::unique_lock io(io_mutex_, std::try_to_lock);
      if (io.owns_lock()) service_connection();
    });
  }

  void stop_keeper() noexcept { keeper_.stop(); }

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
    connection_ = std::make_unique<Connection>(settings_);
    keeper_error_.clear();
    auto& connection = *connection_;
    keeper_.set_period(amqp_get_heartbeat(connection.state()) * 250);
    consumers_.clear();
    tag_queues_.clear();
    consuming_now_ = false;
    bound_.clear();
    bindings_changed_.store(false);
    try {
      if (options_.declare_exchange && !options_.exchange.empty()) {
        connection.declare_exchange(options_.exchange, options_.exchange_type, options_.exchange_durable);
      }
      if (options_.topology == RabbitMqTopology::exchange) connection.declare_queue(options_.queue, queue_spec());
      if (!options_.dead_letter_queue.empty()) connection.declare_queue(options_.dead_letter_queue);
      sync_bindings();
    } catch (const ChannelRefused& refused) {
      const std::string advice = mismatch_advice(refused, "RabbitMqConsumerOptions");
      if (advice.empty()) throw;
      connection.lost(advice + " (" + refused.what() + ")");
    }
    connection.select_confirms();
    published_ = 0;
    prefetch_now_ = -1;
    one_at_a_time_ = false;
    connections_.fetch_add(1);
    if (std::exchange(reconnecting_, false)) report_reconnected(log_component);
    delay = options_.reconnect_delay;

    while (!stop_requested()) {
      if (bindings_changed_.exchange(false, std::memory_order_acq_rel)) sync_bindings();
      // Consume only while there is a handler: a consumer left with none keeps its hands off
      // the queue (what it still holds is put back as it comes up, see settle()).
      if (!consumer_.has_handlers()) {
        pause();
      } else if (!consuming_now_) {
        resume();
      }
      settle_finished();
      if (start_ready()) continue;
      wait_for_work(options_.poll_interval);
    }
    shut_down();
  }

  /// A clean stop: no more deliveries; what is held but not started goes back uncounted (a
  /// closed connection would have the broker flag it redelivered, and count it); what runs may
  /// finish and is settled, for at most shutdown_timeout.
  void shut_down() {
    try {
      hold_nothing();
      const auto deadline = std::chrono::steady_clock::now() + options_.shutdown_timeout;
      for (;;) {
        settle_finished();
        if (running_here() == 0) break;
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;  // the rest is requeued by the broker when the connection closes
        wait_for_work(std::min(left, options_.poll_interval));
        hold_nothing();  // what arrived meanwhile
      }
    } catch (const ConnectionLost&) {  // the broker delivers them again
    }
  }

  [[nodiscard]] QueueSpec queue_spec() const {
    QueueSpec spec;
    spec.type = options_.queue_type;
    if (options_.message_ttl) spec.message_ttl_ms = options_.message_ttl->count();
    if (options_.max_length) spec.max_length = *options_.max_length;
    spec.overflow = options_.overflow;
    return spec;
  }

  /// Jobs of this session still running.
  [[nodiscard]] std::size_t running_here() const noexcept { return running_here_; }

  /// Waits for something to do: the broker sends, a job finishes, stop() or a binding; then
  /// reads what arrived. What the library holds already is read without a system call; else one
  /// non-blocking read comes before sleeping in poll() (with data streaming in, that read is
  /// the only system call). Every call reads at least once: librabbitmq sends the heartbeats
  /// that are due when it is read.
  void wait_for_work(std::chrono::milliseconds timeout) {
    auto& connection = *connection_;
    const auto held = [&] { return amqp_frames_enqueued(connection.state()) || amqp_data_in_buffer(connection.state()); };
    amqp_frame_t frame;
    bool got = connection.next_frame(frame, std::chrono::milliseconds(0));
    if (!got && !held()) {
      // Asleep from here: finish() wakes us. Set before looking at the list (under its mutex),
      // so a completion is either seen here or its finish() sees sleeping_ and wakes us.
      sleeping_.store(true);
      struct Awake {
        std::atomic<bool>& flag;
        ~Awake() { flag.store(false); }
      } awake{sleeping_};
      {
        const std::lock_guard lock(finished_mutex_);
        if (!finished_.empty()) return;
      }
      const int every = keeper_.period();
      if (every > 0) timeout = std::min(timeout, std::chrono::milliseconds(every));
      pollfd fds[2]{};
      fds[0].fd = wake_.read_fd();
      fds[0].events = POLLIN;
      fds[1].fd = connection.fd();
      fds[1].events = POLLIN;
      ::poll(fds, 2, static_cast<int>(timeout.count()));
      if ((fds[0].revents & POLLIN) != 0) wake_.drain();
      if ((fds[1].revents & (POLLIN | POLLERR | POLLHUP)) == 0) return;
      got = connection.next_frame(frame, std::chrono::milliseconds(0));
    }
    if (!got) return;
    on_frame(frame);
    while (held() && connection.next_frame(frame, std::chrono::milliseconds(0))) on_frame(frame);
  }

  /// Starts consuming, with the prefetch of the moment (1 while taking messages one at a time).
  void resume() {
    const std::uint16_t prefetch = one_at_a_time_ ? std::uint16_t{1} : options_.prefetch;
    if (prefetch != prefetch_now_) {
      connection_->set_prefetch(prefetch);  // applies to consumers started after it
      prefetch_now_ = prefetch;
    }
    for (const std::string& queue : queues()) consume(queue);
    consuming_now_ = true;
    set_consuming(true);
  }

  void consume(const std::string& queue) {
    if (consumers_.count(queue) != 0) return;
    std::string tag = connection_->consume(queue);
    tag_queues_[tag] = queue;
    consumers_[queue] = std::move(tag);
  }

  /// The queues this consumer reads.
  [[nodiscard]] std::vector<std::string> queues() const {
    if (options_.topology == RabbitMqTopology::exchange) return {options_.queue};
    return {bound_.begin(), bound_.end()};
  }

  /// Stops consuming (if it was): the broker sends no more; what it sent before still comes.
  void pause() {
    if (!consuming_now_) return;
    set_consuming(false);
    cancel_consumers();
  }

  /// Cancels the consumers (the broker sends nothing more) without telling the world (see
  /// consuming()), and reads everything delivered before the cancel into buffered_.
  void cancel_consumers() {
    consuming_now_ = false;
    if (consumers_.empty()) return;
    for (const auto& [queue, tag] : consumers_) connection_->cancel_consume(tag);
    consumers_.clear();
    amqp_frame_t frame;
    while (connection_->readable() && connection_->next_frame(frame, std::chrono::milliseconds(0))) on_frame(frame);
  }

  /// Stops the deliveries and puts back every message held but not started.
  void hold_nothing() {
    cancel_consumers();
    while (!buffered_.empty()) {
      Delivery delivery = std::move(buffered_.front());
      buffered_.pop_front();
      put_back(delivery);
    }
  }

  /// Binds (exchange topology) or reads (queue_per_event) every registered event name and
  /// binding key, and unbinds or stops reading the names no handler is left for.
  void sync_bindings() {
    std::vector<std::string> keys = consumer_.event_names();
    keys.insert(keys.end(), options_.binding_keys.begin(), options_.binding_keys.end());
    const std::set<std::string> wanted(keys.begin(), keys.end());
    const bool by_exchange = options_.topology == RabbitMqTopology::exchange;
    for (const std::string& key : keys) {
      if (bound_.count(key) != 0) continue;
      if (by_exchange) {
        connection_->bind_queue(options_.queue, options_.exchange, key);
      } else {
        // The Python plugin's queue, used as it is if it exists (its consumer declares it not
        // durable, its transport durable); declared durable if it is missing.
        connection_->ensure_queue(key, queue_spec());
        if (!options_.exchange.empty()) connection_->bind_queue(key, options_.exchange, key);
        if (options_.dead_letter_queue.empty()) connection_->declare_queue(key + ".dead-letter");
        if (consuming_now_) consume(key);
      }
      bound_.insert(key);
    }
    for (auto it = bound_.begin(); it != bound_.end();) {
      if (wanted.count(*it) != 0) {
        ++it;
        continue;
      }
      if (by_exchange) {
        connection_->unbind_queue(options_.queue, options_.exchange, *it);
      } else if (const auto consumer = consumers_.find(*it); consumer != consumers_.end()) {
        connection_->cancel_consume(consumer->second);
        consumers_.erase(consumer);
      }
      it = bound_.erase(it);
    }
  }

  [[nodiscard]] const std::string& dead_letter_queue_of(const Delivery& delivery) {
    if (!options_.dead_letter_queue.empty()) return options_.dead_letter_queue;
    dead_letter_name_ = delivery.queue + ".dead-letter";
    return dead_letter_name_;
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
        delivery.received = std::chrono::steady_clock::now();
        delivery.tag = deliver->delivery_tag;
        delivery.redelivered = deliver->redelivered != 0;
        delivery.exchange = view(deliver->exchange);
        delivery.routing_key = view(deliver->routing_key);
        if (const auto queue = tag_queues_.find(std::string(view(deliver->consumer_tag))); queue != tag_queues_.end()) {
          delivery.queue = queue->second;
        } else {
          delivery.queue = options_.queue;
        }
        amqp_message_t message;
        connection.read_message(message);
        try {
          copy_message(message, delivery);
        } catch (...) {
          amqp_destroy_message(&message);
          throw;
        }
        amqp_destroy_message(&message);
        prepare(delivery);
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
        connection.lost("the broker cancelled a consumer of this consumer (queue deleted?)");
      default:
        break;
    }
    connection.release_buffers();
  }

  /// What handlers will see of a delivery: its event name (the `type` property, or else the
  /// routing key), payload and headers (the consumer's own x-spakky-* left out); its counts
  /// and partition key.
  void prepare(Delivery& delivery) {
    auto message = std::make_shared<IncomingMessage>();
    message->event_name = delivery.type.empty() ? delivery.routing_key : delivery.type;
    message->payload = std::move(delivery.body_);
    const amqp_table_t& table = delivery.headers.table();
    std::string text;
    for (int i = 0; i < table.num_entries; ++i) {
      const std::string_view name = view(table.entries[i].key);
      if (name.rfind("x-spakky-", 0) == 0 || !field_text(table.entries[i].value, text)) continue;
      message->headers.insert_or_assign(std::string(name), text);
    }
    delivery.counts = counts_of(delivery);
    message->delivery_attempt = static_cast<std::uint32_t>(std::min<std::uint64_t>(delivery.counts.attempt, UINT32_MAX));
    delivery.message = std::move(message);
    if (options_.partition_key) delivery.key = options_.partition_key(*delivery.message);
  }

  static void copy_message(const amqp_message_t& message, Delivery& delivery) {

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
    if (p._flags & AMQP_BASIC_HEADERS_FLAG) delivery.headers = FieldTable(p.headers);
    delivery.body_ = view(message.body);
  }

  void note_confirm(std::uint64_t tag, bool multiple, bool refused) {
    if (awaited_tag_ == 0) return;
    if (tag == awaited_tag_ || (multiple && tag >= awaited_tag_)) confirm_ = refused ? Confirm::refused : Confirm::acked;
  }

  // ---- counting attempts ---------------------------------------------------------------------

  static std::uint64_t count_header(const Delivery& delivery, std::string_view name, std::uint64_t otherwise) {
    const amqp_field_value_t* field = delivery.headers.find(name);
    if (field == nullptr) return otherwise;
    return field_count(*field).value_or(otherwise);
  }

  /// The attempt this delivery is, with every redelivery by the broker counted: our own
  /// headers, plus the quorum queue's x-delivery-count, plus one for a `redelivered` flag
  /// where there is no such count (a classic queue).
  static Counts counts_of(const Delivery& delivery) {
    Counts counts;
    counts.attempt = std::max<std::uint64_t>(count_header(delivery, rabbitmq_delivery_attempt_header, 1), 1);
    counts.redeliveries = count_header(delivery, rabbitmq_redeliveries_header, 0);
    const amqp_field_value_t* quorum = delivery.headers.find(rabbitmq_quorum_delivery_count_header);
    const std::uint64_t returned = quorum != nullptr ? field_count(*quorum).value_or(0)
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

  // ---- handling -----------------------------------------------------------------------------

  [[nodiscard]] std::size_t limit() const noexcept { return one_at_a_time_ ? 1 : max_in_flight_; }

  /// Starts what may start: oldest first, at most limit() at once, a message whose partition
  /// key has one running waits (later ones of other keys go past it). Messages whose attempts
  /// are exhausted, or whose redelivery is not recorded yet, are settled without a handler. A
  /// message that came back from a crash runs alone. True if it did anything.
  bool start_ready() {
    bool progressed = false;
    while (!buffered_.empty() && running_here() < limit()) {
      auto next = std::find_if(buffered_.begin(), buffered_.end(),
                               [&](const Delivery& d) { return locks_.free(d.key); });
      if (next == buffered_.end()) break;
      if (next->counts.attempt > options_.max_delivery_attempts) {
        Delivery delivery = take(next);
        redelivered_.fetch_add(delivery.redelivered ? 1 : 0);
        dead_letter(delivery, exhausted(delivery.counts), delivery.counts.attempt - 1);
        progressed = true;
        continue;
      }
      if (uncounted_redelivery(*next)) {
        // Record the redelivery durably before any handler runs: the copy replaces the original.
        Delivery delivery = take(next);
        redelivered_.fetch_add(1);
        copy_back(delivery);
        progressed = true;
        continue;
      }
      const bool came_back = next->counts.redeliveries > 0;
      if (came_back && !one_at_a_time_) {
        // It may be what crashed the consumer: run it alone, holding nothing else.
        if (running_here() > 0) break;  // once the others are done
        Delivery delivery = take(next);
        hold_nothing();
        one_at_a_time_ = true;
        launch(std::move(delivery), came_back);
        return true;
      }
      launch(take(next), came_back);
      progressed = true;
    }
    return progressed;
  }

  Delivery take(std::deque<Delivery>::iterator it) {
    Delivery delivery = std::move(*it);
    buffered_.erase(it);
    return delivery;
  }

  /// Hands a delivery to the front end's Launch with the connection released to the keeper
  /// meanwhile; throws ConnectionLost after it if the keeper found the connection gone.
  void launch(Delivery delivery, bool came_back) {
    const std::uint64_t id = ++last_job_;
    const std::string key = delivery.key;
    std::shared_ptr<const IncomingMessage> message = delivery.message;
    jobs_.emplace(id, Job{std::move(delivery), session_, came_back});
    ++running_here_;
    locks_.take(key);
    io_->unlock();
    struct Relock {
      std::unique_lock<std::mutex>& io;
      ~Relock() { io.lock(); }
    } relock{*io_};
    try {
      launch_(id, std::move(message));
    } catch (...) {
      finish(id, std::current_exception(), {});
    }
  }

  /// Settles the messages whose handling finished: by decide_settlement().
  void settle_finished() {
    std::vector<Finished>& done = settling_;  // reused: no allocation per message
    done.clear();
    {
      const std::lock_guard lock(finished_mutex_);
      if (finished_.empty()) return check_usable();
      done.swap(finished_);
    }
    for (std::size_t i = 0; i < done.size(); ++i) {
      const auto job = jobs_.find(done[i].job);
      if (job == jobs_.end()) continue;
      Job finished = std::move(job->second);
      jobs_.erase(job);
      locks_.release(finished.delivery.key);
      if (finished.session != session_ || !connection_) continue;  // its delivery went with its connection
      --running_here_;
      try {
        settle(finished, done[i]);
      } catch (...) {
        acks_.clear();  // the connection failed: the broker redelivers these, and the others too
        for (std::size_t j = i + 1; j < done.size(); ++j) {
          if (const auto rest = jobs_.find(done[j].job); rest != jobs_.end()) {
            locks_.release(rest->second.delivery.key);
            jobs_.erase(rest);
          }
        }
        throw;  // run() ends the session: the jobs still running are stale from then on
      }
    }
    done.clear();
    flush_acks();
    check_usable();
  }

  /// Sends the acks of the messages settled in this batch: one basic.ack with `multiple` for
  /// those below every delivery still held or running (all of which are settled), one each for
  /// the rest. Many coroutine handlers finishing together cost one ack instead of one each.
  void flush_acks() {
    if (acks_.empty()) return;
    std::sort(acks_.begin(), acks_.end());
    std::uint64_t lowest_open = UINT64_MAX;
    for (const Delivery& held : buffered_) lowest_open = std::min(lowest_open, held.tag);
    for (const auto& [id, job] : jobs_) {
      if (job.session == session_) lowest_open = std::min(lowest_open, job.delivery.tag);
    }
    const auto split = std::lower_bound(acks_.begin(), acks_.end(), lowest_open);
    const auto below = split - acks_.begin();
    std::vector<std::uint64_t> tags;
    tags.swap(acks_);
    if (below > 0) connection_->ack(*(split - 1), /*multiple=*/below > 1);
    for (auto it = tags.begin() + below; it != tags.end(); ++it) connection_->ack(*it);
    tags.clear();
    acks_.swap(tags);  // keeps the capacity
  }

  /// Throws ConnectionLost if the keeper found the connection gone while a handler ran.
  void check_usable() {
    if (!connection_->usable()) throw ConnectionLost("connection lost while a handler ran: " + keeper_error_);
  }

  void settle(const Job& job, Finished& finished) {
    HandlingResult& result = finished.result;
    if (finished.error) {
      result.disposition = Disposition::retry;
      try {
        std::rethrow_exception(finished.error);
      } catch (const std::exception& e) {
        result.reason = e.what();
      } catch (...) {
        result.reason = "the handling threw a non-standard exception";
      }
    }
    const Delivery& delivery = job.delivery;
    const Counts& counts = delivery.counts;
    const SettlementDecision decision = decide_settlement(result, counts.attempt, options_.max_delivery_attempts,
                                                          /*can_put_back=*/!consumer_.has_handlers());
    switch (decision.action) {
      case Settlement::ack:
        acks_.push_back(delivery.tag);
        acked_.fetch_add(1);
        report_consumed(*delivery.message, delivery.received);
        break;
      case Settlement::redeliver:
        republish(delivery, delivery.queue, decision.next_attempt, counts.redeliveries);
        acks_.push_back(delivery.tag);  // after the copy's confirm
        (result.disposition == Disposition::retry ? retried_ : requeued_).fetch_add(1);
        report_redelivery(log_component, *delivery.message, result.reason);
        break;
      case Settlement::put_back:
        // No handler at all: stop consuming first (or the copy could come straight back),
        // then give the message back, without counting an attempt.
        pause();
        copy_back(delivery);
        requeued_.fetch_add(1);
        break;
      case Settlement::dead_letter:
        // The handler's own message when it failed, as the in-memory consumer reports it
        // (the copy's death reason stays decide_settlement's, which adds the attempt count).
        dead_letter(delivery, decision.reason, counts.attempt, /*ack_now=*/false,
                    result.disposition == Disposition::retry ? result.reason : decision.reason);
        break;
    }
    if (one_at_a_time_ && !job.came_back) {
      // A message that never came back: the crash suspects are through, take many again.
      one_at_a_time_ = false;
      if (consuming_now_) cancel_consumers();  // the loop consumes again with the full prefetch
    }
  }

  /// Waits until no job runs any more (their results are dropped: the run is over).
  void drain_jobs() {
    for (;;) {
      {
        std::unique_lock lock(finished_mutex_);
        for (Finished& done : finished_) {
          if (const auto job = jobs_.find(done.job); job != jobs_.end()) {
            locks_.release(job->second.delivery.key);
            jobs_.erase(job);
          }
        }
        finished_.clear();
        if (jobs_.empty()) return;
        finished_changed_.wait(lock, [&] { return !finished_.empty(); });
      }
    }
  }

  /// Gives a delivery back to its queue (the tail) without running a handler: a copy with its
  /// counts as they are now, then the ack of the original.
  void copy_back(const Delivery& delivery) {
    republish(delivery, delivery.queue, delivery.counts.attempt, delivery.counts.redeliveries);
    connection_->ack(delivery.tag);
  }

  /// Puts back a delivery held but not started (no attempt counted for it; a redelivery flag
  /// it came with is recorded), or dead-letters it if its attempts are exhausted.
  void put_back(const Delivery& delivery) {
    if (delivery.redelivered) redelivered_.fetch_add(1);
    if (delivery.counts.attempt > options_.max_delivery_attempts) {
      dead_letter(delivery, exhausted(delivery.counts), delivery.counts.attempt - 1);
      return;
    }
    copy_back(delivery);
  }

  /// Sends a copy of `delivery` to its dead-letter queue with `reason`, acks the original
  /// (now or with the batch) and reports it (with `reported`, or else `reason`), as the
  /// delivery `attempt` (the deliveries it had).
  void dead_letter(const Delivery& delivery, const std::string& reason, std::uint64_t attempt, bool ack_now = true,
                   std::string_view reported = {}) {
    constexpr std::size_t max_reason = 4096;
    republish(delivery, dead_letter_queue_of(delivery), attempt, delivery.counts.redeliveries,
              reason.substr(0, max_reason));
    if (ack_now) {
      connection_->ack(delivery.tag);
    } else {
      acks_.push_back(delivery.tag);  // with the batch (settle_finished)
    }
    dead_lettered_.fetch_add(1);
    report_dead_lettered(delivery, attempt, reported.empty() ? std::string_view(reason) : reported);
  }

  /// detail::report_dead_letter() for `delivery` after `attempt` deliveries: the message handlers saw
  /// counts the attempt it would have been, one more than those of a message never handled.
  static void report_dead_lettered(const Delivery& delivery, std::uint64_t attempt, std::string_view reason) noexcept {
    const IncomingMessage& message = *delivery.message;
    const auto deliveries = static_cast<std::uint32_t>(std::min<std::uint64_t>(attempt, UINT32_MAX));
    if (message.delivery_attempt == deliveries) {
      return ::spakky::event::detail::report_dead_letter(log_component, message, reason);
    }
    try {
      IncomingMessage counted;  // no payload: the report reads the name and the count only
      counted.event_name = message.event_name;
      counted.delivery_attempt = deliveries;
      ::spakky::event::detail::report_dead_letter(log_component, counted, reason);
    } catch (...) {
      // Out of memory while reporting: the report is lost, the message is still dead-lettered.
    }
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
  void republish(const Delivery& delivery, const std::string& queue,
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
      const std::string_view name = view(entry.key);
      const bool replaced = std::any_of(overrides.begin(), overrides.end(),
                                        [&](const Override& o) { return o.name == name; });
      const bool dropped = name == rabbitmq_quorum_delivery_count_header ||
                           (name == rabbitmq_delivery_attempt_header && attempt <= 1) ||
                           (name == rabbitmq_redeliveries_header && redeliveries == 0) ||
                           carries_bearer_token(name, entry.value);
      if (!replaced && !dropped) table_.add_entry(entry);
    }
    for (const Override& o : overrides) table_.add(o.name, o.value);

    amqp_basic_properties_t properties{};
    properties._flags = delivery.flags | AMQP_BASIC_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
    properties.type = bytes(delivery.message->event_name);
    properties.content_type = bytes(delivery.content_type);
    properties.content_encoding = bytes(delivery.content_encoding);
    properties.message_id = bytes(delivery.message_id);
    properties.correlation_id = bytes(delivery.correlation_id);
    properties.app_id = bytes(delivery.app_id);
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
    connection.publish("", queue, properties, delivery.message->payload, /*mandatory=*/true);
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

  /// The component of the consumers' log records.
  static constexpr std::string_view log_component = "rabbitmq.consumer";

  BrokerConsumerBase& consumer_;
  RabbitMqConsumerOptions options_;
  ConnectSettings settings_;
  Launch launch_;
  std::string name_;
  std::size_t max_in_flight_ = 1;
  ConnectionErrorHandler on_connection_error_;
  WakePipe wake_;

  // The connection and what goes with it: the run loop's, except while a handler is being
  // launched (then the keeper may take them). Guarded by io_mutex_.
  std::mutex io_mutex_;
  std::unique_lock<std::mutex>* io_ = nullptr;  // the run loop's hold on io_mutex_
  std::unique_ptr<Connection> connection_;
  std::deque<Delivery> buffered_;
  std::set<std::string> bound_;                 // bound keys (exchange) or queues read (queue_per_event)
  std::map<std::string, std::string> consumers_;   // queue -> consumer tag, while consuming
  std::map<std::string, std::string> tag_queues_;  // consumer tag -> queue, for this connection
  bool consuming_now_ = false;
  int prefetch_now_ = -1;          // the basic.qos in force (-1: none set on this connection)
  bool one_at_a_time_ = false;     // handling messages that came back: prefetch 1
  std::uint64_t published_ = 0;
  std::uint64_t awaited_tag_ = 0;
  Confirm confirm_ = Confirm::waiting;
  bool returned_ = false;  // the awaited copy came back unroutable (basic.return)
  HeaderTable table_;
  std::string keeper_error_;
  std::string dead_letter_name_;
  std::uint64_t session_ = 0;      // connections so far in this run (jobs of older ones are stale)
  bool reconnecting_ = false;      // run loop only: a connection of this run was lost
  std::size_t running_here_ = 0;   // jobs of this session running
  std::uint64_t last_job_ = 0;
  std::map<std::uint64_t, Job> jobs_;  // running (run loop only)
  ::spakky::event::detail::PartitionLocks locks_;

  std::mutex finished_mutex_;
  std::condition_variable finished_changed_;
  std::vector<Finished> finished_;  // guarded by finished_mutex_
  std::vector<Finished> settling_;  // run loop only
  std::vector<std::uint64_t> acks_; // run loop only: settled in this batch, not acked yet

  // The keeper thread (while run() runs, if heartbeats are on).
  KeeperThread keeper_;

  std::atomic<bool> bindings_changed_{false};
  std::atomic<bool> sleeping_{false};  // the run loop is (about to be) in poll()
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

}  // namespace spakky::event::detail::rabbitmq
