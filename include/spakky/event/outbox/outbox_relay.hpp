#pragma once
/// @file
/// OutboxRelay: sends the outbox's pending rows through any IEventTransport, in commit order
/// per partition key, and records each row's fate.
///
/// - A row is marked sent only after the transport's send() returned (for a confirmed
///   transport: after the broker's confirm). A crash between the two sends it again: the
///   relay is at-least-once; an idempotent consumer (SqliteInbox, PostgresInbox) makes the
///   effect exactly-once.
/// - One key's rows go one at a time in commit order: only a key's head row is ever claimed,
///   and a failed head holds the key's later rows back while it backs off (exponential,
///   capped at max_backoff).
/// - A row that failed max_attempts times, or that can never be sent (unreadable headers; an
///   event name or payload the validating serializer rejects), is parked with its reason: it
///   stays in the table, its key stays blocked, on_parked reports it, and requeue() or a
///   manual fix releases it. Nothing is ever deleted unsent or skipped silently.
/// - Sent rows are deleted, or kept for `sent_retention` and purged after it.
/// - The relay thread wakes at once on notify() (call it after a commit in this process), on
///   the store's cross-process notification (PostgreSQL LISTEN/NOTIFY), and else polls every
///   poll_interval.
///
/// **Example**
/// @code
/// spakky::event::SqliteOutboxRelayStore store("orders.db");
/// spakky::event::RabbitMqEventTransport transport(url, {.confirm = true});
/// spakky::event::OutboxRelay relay(store, transport);
/// relay.start();            // its own thread; relay.stop() or the destructor end it
/// @endcode

#include <spakky/event/bus/header_injection.hpp>
#include <spakky/event/detail/escape.hpp>
#include <spakky/event/error.hpp>
#include <spakky/event/async_event_publisher.hpp>
#include <spakky/event/event_publisher.hpp>
#include <spakky/event/outbox/detail/header_codec.hpp>
#include <spakky/event/outbox/relay_store.hpp>
#include <spakky/event/serializer.hpp>
#include <spakky/event/task.hpp>

#include <algorithm>
#include <cerrno>
#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace spakky::event {

/// How an OutboxRelay behaves.
struct OutboxRelayOptions {
  std::size_t batch_size = 100;                       ///< rows claimed per pass (distinct keys)
  std::int64_t max_attempts = 10;                     ///< failed sends before a row is parked
  std::chrono::milliseconds initial_backoff{100};     ///< wait after the first failure
  std::chrono::milliseconds max_backoff{30'000};      ///< cap of the doubling back-off
  std::chrono::milliseconds poll_interval{500};       ///< fallback when nothing wakes the relay
  std::chrono::milliseconds error_backoff{200};       ///< wait after a store error (reconnect)
  std::chrono::seconds sent_retention{0};             ///< keep sent rows this long (0: delete)
  /// If set, each row is read back with it before sending; a row it rejects is parked.
  const IEventSerializer* validate_with = nullptr;
  /// Called on the relay's thread for each row it parks.
  std::function<void(const ParkedRow&)> on_parked = {};
  /// Called on the relay's thread with a store error the loop survived (it retries).
  std::function<void(std::exception_ptr)> on_error = {};
};

/// Counters since the relay was made.
struct OutboxRelayStats {
  std::uint64_t sent = 0;     ///< rows the transport confirmed
  std::uint64_t retried = 0;  ///< failed sends that will be tried again
  std::uint64_t parked = 0;   ///< rows parked
  std::uint64_t errors = 0;   ///< store errors survived by the loop
};

namespace detail {

/// A coroutine that starts at once and frees itself at its end: one send of a relay batch.
struct DetachedSend {
  struct promise_type {
    DetachedSend get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }  // send_async catches everything
  };
};

/// Counts the sends of a pass down; notifies under the lock, so that the waiter cannot return
/// (and destroy it) while the last sender still touches it.
class SendCountdown {
public:
  explicit SendCountdown(std::ptrdiff_t count) noexcept : left_(count) {}
  void count_down() {
    const std::lock_guard lock(mutex_);
    if (--left_ == 0) done_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mutex_);
    done_.wait(lock, [this] { return left_ == 0; });
  }

private:
  std::mutex mutex_;
  std::condition_variable done_;
  std::ptrdiff_t left_;
};

}  // namespace detail

/// Sends pending outbox rows. run_once()/drain() work on the caller's thread; start() runs the
/// loop on the relay's own thread. Store and transport must outlive the relay.
///
/// With a synchronous IEventTransport the rows of a pass go one after the other; with an
/// IAsyncEventTransport<Task<>> (AsyncRabbitMqEventTransport: many confirms in flight) the
/// heads of all keys in the pass are sent at once and the pass waits for every confirm
/// before it records the results. Either way a key has at most one row in flight.
class OutboxRelay {
public:
  /// A relay over a synchronous transport.
  OutboxRelay(IOutboxRelayStore& store, IEventTransport& transport, OutboxRelayOptions options = {})
      : OutboxRelay(store, &transport, nullptr, std::move(options)) {}
  /// A relay over an asynchronous transport (see the class comment).
  OutboxRelay(IOutboxRelayStore& store, IAsyncEventTransport<Task<>>& transport, OutboxRelayOptions options = {})
      : OutboxRelay(store, nullptr, &transport, std::move(options)) {}

private:
  OutboxRelay(IOutboxRelayStore& store, IEventTransport* transport, IAsyncEventTransport<Task<>>* async_transport,
              OutboxRelayOptions options)
      : store_(store), transport_(transport), async_transport_(async_transport), options_(std::move(options)),
        wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (wake_fd_ < 0) throw std::system_error(errno, std::generic_category(), "OutboxRelay: eventfd");
    if (options_.batch_size == 0) options_.batch_size = 1;
    if (options_.max_attempts < 1) options_.max_attempts = 1;
  }

public:
  OutboxRelay(const OutboxRelay&) = delete;
  OutboxRelay& operator=(const OutboxRelay&) = delete;
  /// Stops the thread (if started) after its current pass.
  ~OutboxRelay() {
    stop();
    ::close(wake_fd_);
  }

  /// One pass: claims up to batch_size head rows, sends each, records the results. Returns
  /// how many were sent. Throws OutboxStoreError (the claim is abandoned: the rows stay
  /// pending). Not to be called while the relay's thread runs.
  std::size_t run_once() {
    std::vector<OutboxRow> rows = store_.claim(options_.batch_size);
    if (rows.empty()) return 0;
    std::vector<RowResult> results;
    std::size_t sent = 0;
    try {
      results = async_transport_ != nullptr ? send_all_async(rows) : send_all(rows);
      for (const RowResult& result : results) sent += result.outcome == RowResult::Outcome::sent ? 1 : 0;
      store_.finish(rows, results, options_.sent_retention.count() > 0);
    } catch (...) {
      store_.abandon();
      throw;
    }
    std::vector<ParkedRow> newly_parked;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (results[i].outcome == RowResult::Outcome::park) {
        newly_parked.push_back(ParkedRow{rows[i].id, rows[i].event_id, rows[i].event_name, rows[i].partition_key,
                                         rows[i].attempts + 1, results[i].error});
      }
    }
    {
      const std::lock_guard lock(stats_mutex_);
      stats_.sent += sent;
      for (const auto& r : results) {
        if (r.outcome == RowResult::Outcome::retry) ++stats_.retried;
        if (r.outcome == RowResult::Outcome::park) ++stats_.parked;
      }
    }
    if (options_.on_parked) {
      for (const ParkedRow& row : newly_parked) options_.on_parked(row);
    }
    return sent;
  }

  /// run_once() until a pass sends nothing; returns the total sent. Rows waiting out a
  /// back-off are left for later.
  std::size_t drain() {
    std::size_t total = 0;
    while (const std::size_t sent = run_once()) total += sent;
    return total;
  }

  /// Runs the loop on a new thread. Throws std::logic_error if it runs already.
  void start() {
    const std::lock_guard lock(control_mutex_);
    if (thread_.joinable()) throw std::logic_error("OutboxRelay::start: already started");
    stopping_.store(false, std::memory_order_relaxed);
    thread_ = std::thread([this] { loop(); });
  }

  /// Ends the loop after its current pass and joins the thread; no-op if not started.
  void stop() {
    const std::lock_guard lock(control_mutex_);
    if (!thread_.joinable()) return;
    stopping_.store(true, std::memory_order_relaxed);
    notify();
    thread_.join();
  }

  /// Wakes the loop now (call it after committing outbox rows in this process). Thread-safe,
  /// async-signal-safe.
  void notify() noexcept {
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto written = ::write(wake_fd_, &one, sizeof one);
  }

  /// Counters so far. Thread-safe.
  [[nodiscard]] OutboxRelayStats stats() const {
    const std::lock_guard lock(stats_mutex_);
    return stats_;
  }

  /// The back-off after the `attempts`-th failure: initial_backoff doubled per failure, capped.
  [[nodiscard]] std::chrono::milliseconds backoff_after(std::int64_t attempts) const noexcept {
    auto delay = options_.initial_backoff;
    for (std::int64_t i = 1; i < attempts && delay < options_.max_backoff; ++i) delay *= 2;
    return std::min(delay, options_.max_backoff);
  }

private:
  /// The headers to send `row` with, or the reason to park it without trying.
  std::variant<Headers, RowResult> prepare(const OutboxRow& row) const {
    auto headers = detail::decode_headers(row.headers);
    if (!headers) return park("unreadable headers: " + detail::escape_for_log(row.headers));
    // What the bus refuses to write must not leave through a row edited by hand either.
    if (detail::has_line_break_or_nul(row.event_name)) return park("the event name contains CR, LF or NUL");
    for (const auto& [name, value] : *headers) {
      if (detail::has_line_break_or_nul(name) || detail::has_line_break_or_nul(value)) {
        return park("header '" + detail::escape_for_log(name) + "' contains CR, LF or NUL");
      }
    }
    if (options_.validate_with != nullptr) {
      try {
        (void)options_.validate_with->deserialize(row.event_name, row.payload);
      } catch (const std::exception& e) {
        return park(std::string("the serializer cannot read it: ") + e.what());
      }
    }
    return std::move(*headers);
  }

  std::vector<RowResult> send_all(const std::vector<OutboxRow>& rows) {
    std::vector<RowResult> results;
    results.reserve(rows.size());
    for (const OutboxRow& row : rows) {
      auto prepared = prepare(row);
      if (auto* parked = std::get_if<RowResult>(&prepared)) {
        results.push_back(std::move(*parked));
        continue;
      }
      try {
        transport_->send(row.event_name, row.payload, std::get<Headers>(prepared));
        results.push_back(RowResult{RowResult::Outcome::sent, {}, {}});
      } catch (const std::exception& e) {
        results.push_back(failed(row, e.what()));
      } catch (...) {
        results.push_back(failed(row, "the transport threw a non-standard exception"));
      }
    }
    return results;
  }

  /// Starts every send of the pass, then waits for all of them (each completes on the
  /// transport's thread).
  std::vector<RowResult> send_all_async(const std::vector<OutboxRow>& rows) {
    std::vector<RowResult> results(rows.size());
    std::vector<std::optional<Headers>> headers(rows.size());
    std::vector<std::optional<std::string>> errors(rows.size());
    std::ptrdiff_t launched = 0;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      auto prepared = prepare(rows[i]);
      if (auto* parked = std::get_if<RowResult>(&prepared)) {
        results[i] = std::move(*parked);
      } else {
        headers[i] = std::move(std::get<Headers>(prepared));
        ++launched;
      }
    }
    detail::SendCountdown done(launched);
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (headers[i]) send_async(rows[i], *headers[i], errors[i], done);
    }
    done.wait();
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (!headers[i]) continue;
      results[i] = errors[i] ? failed(rows[i], *errors[i]) : RowResult{RowResult::Outcome::sent, {}, {}};
    }
    return results;
  }

  detail::DetachedSend send_async(const OutboxRow& row, const Headers& headers, std::optional<std::string>& error,
                                  detail::SendCountdown& done) {
    try {
      co_await async_transport_->send(row.event_name, row.payload, headers);
    } catch (const std::exception& e) {
      error = e.what();
    } catch (...) {
      error = "the transport threw a non-standard exception";
    }
    done.count_down();
  }

  [[nodiscard]] static RowResult park(std::string reason) {
    return RowResult{RowResult::Outcome::park, std::move(reason), {}};
  }

  [[nodiscard]] RowResult failed(const OutboxRow& row, std::string reason) const {
    const std::int64_t attempts = row.attempts + 1;
    if (attempts >= options_.max_attempts) {
      return park("gave up after " + std::to_string(attempts) + " attempts: " + reason);
    }
    return RowResult{RowResult::Outcome::retry, std::move(reason), backoff_after(attempts)};
  }

  void loop() {
    auto last_purge = std::chrono::steady_clock::now();
    while (!stopping_.load(std::memory_order_relaxed)) {
      std::size_t sent = 0;
      bool failed = false;
      try {
        sent = run_once();
        if (options_.sent_retention.count() > 0 &&
            std::chrono::steady_clock::now() - last_purge > std::chrono::seconds(1)) {
          store_.purge_sent(options_.sent_retention);
          last_purge = std::chrono::steady_clock::now();
        }
      } catch (...) {
        failed = true;
        {
          const std::lock_guard lock(stats_mutex_);
          ++stats_.errors;
        }
        if (options_.on_error) options_.on_error(std::current_exception());
      }
      if (stopping_.load(std::memory_order_relaxed)) break;
      // A pass sends at most one row per key: after any progress the next rows of those keys
      // are heads now, so go on at once; sleep only when a pass sent nothing.
      if (failed) {
        wait(options_.error_backoff, /*listen=*/false);
      } else if (sent == 0) {
        wait(options_.poll_interval, /*listen=*/true);
      }
    }
  }

  /// Sleeps until notify(), a store notification or `timeout`.
  void wait(std::chrono::milliseconds timeout, bool listen) {
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {-1, POLLIN, 0}};
    nfds_t count = 1;
    if (listen) {
      const int fd = store_.notification_fd();
      if (fd >= 0) {
        // A notification the store's connection read during the last pass no longer makes its
        // socket readable: it is waiting already, so do not sleep.
        if (consume_store_notifications()) return;
        fds[1].fd = fd;
        count = 2;
      }
    }
    const int ready = ::poll(fds, count, static_cast<int>(timeout.count()));
    if (ready <= 0) return;
    if (fds[0].revents != 0) {
      std::uint64_t value = 0;
      [[maybe_unused]] const auto got = ::read(wake_fd_, &value, sizeof value);
    }
    if (count == 2 && fds[1].revents != 0) consume_store_notifications();
  }

  bool consume_store_notifications() noexcept {
    try {
      return store_.consume_notifications();
    } catch (...) {
      return true;  // the next pass meets the same problem in claim() and reports it
    }
  }

  IOutboxRelayStore& store_;
  IEventTransport* transport_;
  IAsyncEventTransport<Task<>>* async_transport_;
  OutboxRelayOptions options_;
  int wake_fd_;
  std::atomic<bool> stopping_{false};
  std::mutex control_mutex_;
  std::thread thread_;
  mutable std::mutex stats_mutex_;
  OutboxRelayStats stats_;
};

}  // namespace spakky::event
