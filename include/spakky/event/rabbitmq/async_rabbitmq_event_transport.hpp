#pragma once
/// @file
/// AsyncRabbitMqEventTransport: the asynchronous IAsyncEventTransport<Task<>> over RabbitMQ,
/// keeping many publisher confirms in flight on its own worker thread.

#include <spakky/event/async_event_publisher.hpp>
#include <spakky/event/error.hpp>
#include <spakky/event/event_publisher.hpp>
#include <spakky/event/rabbitmq/amqp_url.hpp>
#include <spakky/event/rabbitmq/detail/amqp_connection.hpp>
#include <spakky/event/rabbitmq/detail/wake_pipe.hpp>
#include <spakky/event/rabbitmq/transport_options.hpp>
#include <spakky/event/task.hpp>

#include <poll.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <map>
#include <optional>
#include <set>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace spakky::event {

/// The asynchronous RabbitMQ transport: the same messages as RabbitMqEventTransport, sent by
/// a worker thread that owns its own connection.
///
/// Delivery modes (the three ways spakky-event hands a message to RabbitMQ):
/// - RabbitMqEventTransport, `confirmed` (default): a synchronous send returns after the
///   broker confirmed that one message; one round trip per message.
/// - RabbitMqEventTransport, `unconfirmed`: returns once written; fast, at-most-once.
/// - this transport, `confirmed` (default): many messages are published back to back and
///   their confirms collected as they come (basic.ack / basic.nack, single or `multiple`);
///   each awaitable completes when its own message is confirmed, and fails with
///   TransportError if it is nacked, not confirmed within confirm_timeout, or the connection
///   drops first. At most max_in_flight messages await their confirm at once. With
///   `unconfirmed`, an awaitable completes once its message is written.
///
/// Confirmed sends are `mandatory` (RabbitMqTransportOptions::mandatory, default on): a
/// message no queue is bound for fails its awaitable with TransportError, never completes it
/// as sent. The broker's basic.return carries no delivery tag; it is matched to the messages
/// in flight by exchange, routing key and body, and if several in flight are byte-for-byte
/// the same, all of them fail (one of them may in fact have been routed: a duplicate on
/// retry, never a loss).
///
/// Topology, heartbeats and connection.blocked as RabbitMqEventTransport: the worker sends the
/// heartbeats of an idle connection; while the broker blocks publishing it publishes nothing
/// and, after blocked_timeout, fails what waits (queued or awaiting a confirm) with
/// TransportError.
///
/// Threads: the awaiting coroutine is resumed on the worker thread. Do not block there (in
/// particular, never sync_wait on this transport, or destroy it, from such a continuation);
/// hand heavy work to your own executor. send() may be called from any thread. A broker
/// outage fails the sends of that moment promptly; the next send reconnects.
///
/// Reports as RabbitMqEventTransport (on_sent, on_confirmed, on_reconnected), on the worker.
///
/// Lifetime: the views and headers given to send() must stay valid until its awaitable has
/// completed (AsyncDirectEventBus ensures it). The destructor lets the messages already
/// queued finish (bounded by confirm_timeout), fails what is left, then joins the worker.
///
/// **Example**
/// @code
/// spakky::event::AsyncRabbitMqEventTransport transport({.exchange = "shop.events"});
/// spakky::event::AsyncDirectEventBus<> bus(transport, serializer);
/// co_await bus.send(event);   // resumes on the transport's worker once confirmed
/// @endcode
class AsyncRabbitMqEventTransport final : public IAsyncEventTransport<Task<>> {
public:
  /// Reads the options (throws EventError for an invalid URL) and starts the worker; it
  /// connects on the first send.
  explicit AsyncRabbitMqEventTransport(RabbitMqTransportOptions options = {})
      : options_(std::move(options)), settings_(detail::rabbitmq::connect_settings(options_)) {
    if (options_.topology == RabbitMqTopology::exchange && options_.exchange.empty()) {
      throw EventError("AsyncRabbitMqEventTransport: the exchange name is empty (the exchange topology needs one)");
    }
    if (options_.max_in_flight == 0) options_.max_in_flight = 1;
    worker_ = std::thread([this] { run(); });
  }

  AsyncRabbitMqEventTransport(const AsyncRabbitMqEventTransport&) = delete;
  AsyncRabbitMqEventTransport& operator=(const AsyncRabbitMqEventTransport&) = delete;

  ~AsyncRabbitMqEventTransport() override {
    {
      const std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake();
    worker_.join();
  }

  /// Publishes one message; the task completes (on the worker thread) when it is confirmed,
  /// or fails with TransportError.
  Task<> send(std::string_view event_name, std::string_view payload, const Headers& headers) override {
    co_await SendAwaiter{*this, Request{event_name, payload, &headers, {}, {}, clock::now()}};
  }

  /// The options it was made with.
  [[nodiscard]] const RabbitMqTransportOptions& options() const noexcept { return options_; }

  /// Connections opened so far (1 + reconnects).
  [[nodiscard]] std::uint64_t connections() const noexcept { return connections_.load(); }

private:
  using clock = std::chrono::steady_clock;

  struct Request {
    std::string_view event_name;
    std::string_view payload;
    const Headers* headers = nullptr;
    std::coroutine_handle<> continuation;
    std::exception_ptr error;
    clock::time_point started{};  // when send() was called: on_confirmed's latency
  };

  struct SendAwaiter {
    AsyncRabbitMqEventTransport& transport;
    Request request;

    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> continuation) {
      request.continuation = continuation;
      return transport.enqueue(request);  // the worker may resume us before this returns
    }
    void await_resume() const {
      if (request.error) std::rethrow_exception(request.error);
    }
  };

  struct InFlight {
    Request* request;
    clock::time_point published;
    std::string returned;  // why the broker handed it back (basic.return), if it did
  };

  /// Hands a request to the worker; false (with the error set) if the transport is closing.
  bool enqueue(Request& request) {
    bool was_empty = false;
    {
      const std::lock_guard lock(mutex_);
      if (stopping_) {
        request.error = std::make_exception_ptr(TransportError(request.event_name, "the transport is closing"));
        return false;
      }
      was_empty = queue_.empty();
      queue_.push_back(&request);
    }
    if (was_empty) wake();
    return true;
  }

  void wake() noexcept { wake_.wake(); }

  // ---- everything below runs on the worker thread only ----

  void run() {
    std::vector<Request*> batch;
    bool stopping = false;
    clock::time_point stop_deadline{};
    for (;;) {
      wake_.drain();
      batch.clear();
      const bool blocked = check_blocked();
      {
        const std::lock_guard lock(mutex_);
        std::size_t room = options_.max_in_flight > in_flight_.size() ? options_.max_in_flight - in_flight_.size() : 0;
        if (blocked) room = 0;  // nothing is written while the broker blocks publishing
        const std::size_t take = std::min(room, queue_.size());
        batch.assign(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(take));
        queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(take));
        if (stopping_ && !stopping) {
          stopping = true;
          stop_deadline = clock::now() + options_.confirm_timeout;
        }
        if (stopping && queue_.empty() && batch.empty() && in_flight_.empty()) break;
      }
      if (!batch.empty()) publish(batch);
      read_confirms();
      expire();
      if (stopping && clock::now() >= stop_deadline) {
        fail_in_flight("the transport closed before the broker confirmed the message");
        fail_queued("the transport closed before the message was sent");
      }
      resume_done();
      wait_for_work();
    }
    resume_done();
    connection_.reset();
  }

  /// Blocks until a request arrives, the broker sends something, or it is time to check the
  /// confirm deadlines (and send heartbeats).
  void wait_for_work() {
    {
      const std::lock_guard lock(mutex_);
      const bool blocked = connection_ && connection_->blocked();
      if (!blocked && !queue_.empty() && in_flight_.size() < options_.max_in_flight) return;  // more to take now
    }
    pollfd fds[2]{};
    fds[0].fd = wake_.read_fd();
    fds[0].events = POLLIN;
    nfds_t count = 1;
    if (connection_) {
      if (connection_->readable()) return;
      fds[1].fd = connection_->fd();
      fds[1].events = POLLIN;
      count = 2;
    }
    // Confirm deadlines are checked every 100 ms while messages are in flight; an idle
    // connection is only woken for heartbeats (if any) or what the broker sends.
    int timeout_ms = -1;
    if (!in_flight_.empty() || blocked_since_) {
      timeout_ms = 100;
    } else if (connection_ && keepalive_ms_ > 0) {
      timeout_ms = keepalive_ms_;
    }
    ::poll(fds, count, timeout_ms);
  }

  void open() {
    connection_.reset();
    routed_.clear();
    blocked_since_.reset();
    auto connection = std::make_unique<detail::rabbitmq::Connection>(settings_);
    try {
      if (options_.declare_exchange && !options_.exchange.empty()) {
        connection->declare_exchange(options_.exchange, options_.exchange_type, options_.exchange_durable);
      }
    } catch (const detail::rabbitmq::ChannelRefused& refused) {
      const std::string advice = detail::rabbitmq::mismatch_advice(refused, "RabbitMqTransportOptions");
      if (advice.empty()) throw;
      throw detail::rabbitmq::ConnectionLost(advice + " (" + refused.what() + ")");
    }
    if (options_.delivery_mode == RabbitMqDeliveryMode::confirmed) connection->select_confirms();
    connection_ = std::move(connection);
    published_ = 0;
    keepalive_ms_ = amqp_get_heartbeat(connection_->state()) * 250;
    last_service_ = clock::now();
    if (connections_.fetch_add(1) > 0) detail::rabbitmq::report_reconnected("rabbitmq.transport");
  }

  /// queue_per_event: the queue named after the event exists (declared if missing) and is
  /// bound to a named exchange; once per name and connection.
  void route(std::string_view event_name) {
    if (options_.topology != RabbitMqTopology::queue_per_event) return;
    const std::string name(event_name);
    if (routed_.count(name) != 0) return;
    connection_->ensure_queue(name, detail::rabbitmq::QueueSpec{});
    if (!options_.exchange.empty()) connection_->bind_queue(name, options_.exchange, name);
    routed_.insert(name);
  }

  /// True while the broker blocks publishing; once that lasted blocked_timeout, fails what
  /// waits for it (queued sends, and confirms it holds up: the connection is replaced).
  bool check_blocked() {
    if (!connection_ || !connection_->blocked()) {
      blocked_since_.reset();
      return false;
    }
    if (!blocked_since_) blocked_since_ = clock::now();
    if (clock::now() - *blocked_since_ >= options_.blocked_timeout) {
      const std::string reason = "the broker blocks publishing (connection.blocked: " + connection_->blocked_reason() +
                                 ") and did not unblock within " + std::to_string(options_.blocked_timeout.count()) +
                                 " ms";
      fail_queued(reason);
      if (!in_flight_.empty()) lose_connection(reason);
      blocked_since_ = clock::now();  // what comes later waits its own blocked_timeout
    }
    return connection_ && connection_->blocked();
  }

  void publish(const std::vector<Request*>& batch) {
    // A connection that dropped since the last batch is replaced before anything is written.
    if (connection_) {
      read_confirms();
      if (connection_ && !connection_->usable()) lose_connection("the connection dropped");
    }
    if (!connection_) {
      try {
        open();
      } catch (const detail::rabbitmq::ConnectionLost& error) {
        for (Request* request : batch) fail(*request, error.what());
        return;
      }
    }
    if (connection_->blocked()) {  // found blocked while reading above: these wait for it
      const std::lock_guard lock(mutex_);
      queue_.insert(queue_.begin(), batch.begin(), batch.end());
      return;
    }
    const bool confirmed = options_.delivery_mode == RabbitMqDeliveryMode::confirmed;
    const bool mandatory = confirmed && options_.mandatory;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      Request& request = *batch[i];
      table_.clear();
      if (const std::string_view bad = table_.add_all(*request.headers); !bad.empty()) {
        fail(request, "header name '" + std::string(bad) + "' cannot be sent (empty or longer than 255 bytes)");
        continue;
      }
      const amqp_basic_properties_t properties = detail::rabbitmq::message_properties(
          request.event_name, options_.content_type, options_.persistent, table_);
      try {
        route(request.event_name);
        connection_->publish(options_.exchange, request.event_name, properties, request.payload, mandatory);
      } catch (const detail::rabbitmq::ConnectionLost& error) {
        lose_connection(error.what());
        for (std::size_t j = i; j < batch.size(); ++j) fail(*batch[j], error.what());
        return;
      }
      if (confirmed) {
        in_flight_.emplace(++published_, InFlight{&request, clock::now(), {}});
      } else {
        if (MetricsObserver* observer = metrics_observer()) observer->on_sent(request.event_name);
        done_.push_back(&request);
      }
    }
  }

  /// Completes the requests whose confirms have arrived (without waiting for more).
  void read_confirms() {
    if (!connection_) return;
    try {
      amqp_frame_t frame;
      // An idle connection is read once per quarter heartbeat anyway: librabbitmq sends the
      // heartbeats that are due when it is read.
      bool service = keepalive_ms_ > 0 && clock::now() - last_service_ >= std::chrono::milliseconds(keepalive_ms_);
      if (service) last_service_ = clock::now();
      while ((std::exchange(service, false) || connection_->readable()) &&
             connection_->next_frame(frame, std::chrono::milliseconds(0))) {
        if (frame.frame_type == AMQP_FRAME_METHOD && frame.channel == detail::rabbitmq::Connection::channel) {
          if (frame.payload.method.id == AMQP_BASIC_ACK_METHOD) {
            const auto* ack = static_cast<const amqp_basic_ack_t*>(frame.payload.method.decoded);
            confirm(ack->delivery_tag, ack->multiple != 0, false);
          } else if (frame.payload.method.id == AMQP_BASIC_NACK_METHOD) {
            const auto* nack = static_cast<const amqp_basic_nack_t*>(frame.payload.method.decoded);
            confirm(nack->delivery_tag, nack->multiple != 0, true);
          } else if (frame.payload.method.id == AMQP_BASIC_RETURN_METHOD) {
            mark_returned(connection_->read_return(frame));  // its confirm follows
          }
        }
        connection_->release_buffers();
      }
    } catch (const detail::rabbitmq::ConnectionLost& error) {
      lose_connection(error.what());
    }
  }

  /// Marks the message(s) in flight a basic.return is about: every one with the same
  /// exchange, routing key and body (see the class comment).
  void mark_returned(const detail::rabbitmq::Connection::Returned& returned) {
    if (returned.exchange != options_.exchange) return;
    for (auto& [tag, in_flight] : in_flight_) {
      const Request& request = *in_flight.request;
      if (in_flight.returned.empty() && request.event_name == returned.routing_key && request.payload == returned.body) {
        in_flight.returned = returned.reason;
      }
    }
  }

  void confirm(std::uint64_t tag, bool multiple, bool refused) {
    const auto settle = [&](InFlight& in_flight) {
      Request& request = *in_flight.request;
      if (refused) {
        request.error = std::make_exception_ptr(
            TransportError(request.event_name, "the broker refused the message (basic.nack)"));
      } else if (!in_flight.returned.empty()) {
        request.error = std::make_exception_ptr(TransportError(request.event_name, in_flight.returned));
      } else if (MetricsObserver* observer = metrics_observer()) {
        observer->on_sent(request.event_name);
        observer->on_confirmed(request.event_name, clock::now() - request.started);
      }
      done_.push_back(&request);
    };
    if (multiple) {
      const auto end = in_flight_.upper_bound(tag);
      for (auto it = in_flight_.begin(); it != end; ++it) settle(it->second);
      in_flight_.erase(in_flight_.begin(), end);
    } else if (const auto it = in_flight_.find(tag); it != in_flight_.end()) {
      settle(it->second);
      in_flight_.erase(it);
    }
  }

  /// Fails every message once the oldest one waits for its confirm longer than
  /// confirm_timeout; the connection is replaced, since a late confirm could not be matched.
  void expire() {
    if (in_flight_.empty()) return;
    if (clock::now() - in_flight_.begin()->second.published >= options_.confirm_timeout) {
      lose_connection("the broker did not confirm the message within " +
                      std::to_string(options_.confirm_timeout.count()) + " ms");
    }
  }

  void lose_connection(const std::string& reason) {
    connection_.reset();
    fail_in_flight("the connection dropped before the broker confirmed the message: " + reason);
  }

  void fail_in_flight(const std::string& reason) {
    for (auto& [tag, in_flight] : in_flight_) fail(*in_flight.request, reason);
    in_flight_.clear();
  }

  void fail_queued(const std::string& reason) {
    std::vector<Request*> queued;
    {
      const std::lock_guard lock(mutex_);
      queued.swap(queue_);
    }
    for (Request* request : queued) fail(*request, reason);
  }

  void fail(Request& request, const std::string& reason) {
    request.error = std::make_exception_ptr(TransportError(request.event_name, reason));
    done_.push_back(&request);
  }

  /// Resumes the awaiting coroutines, outside any lock; they may send again.
  void resume_done() {
    std::vector<Request*> done;
    done.swap(done_);
    for (Request* request : done) request->continuation.resume();  // `request` is gone after this
  }

  RabbitMqTransportOptions options_;
  detail::rabbitmq::ConnectSettings settings_;
  detail::rabbitmq::WakePipe wake_;

  std::mutex mutex_;
  std::vector<Request*> queue_;  // guarded by mutex_
  bool stopping_ = false;        // guarded by mutex_

  // Worker thread only.
  std::unique_ptr<detail::rabbitmq::Connection> connection_;
  std::uint64_t published_ = 0;
  std::map<std::uint64_t, InFlight> in_flight_;
  std::vector<Request*> done_;
  detail::rabbitmq::HeaderTable table_;
  std::set<std::string> routed_;  // queue_per_event: names whose queue is known on this connection
  std::optional<clock::time_point> blocked_since_;
  int keepalive_ms_ = 0;  // a quarter of the negotiated heartbeat (0: none)
  clock::time_point last_service_{};
  std::atomic<std::uint64_t> connections_{0};

  std::thread worker_;  // last: starts after everything above is constructed
};

}  // namespace spakky::event
