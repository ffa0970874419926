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
/// - The loop (thread or task) wakes at once on notify() (call it after a commit in this
///   process), on the store's cross-process notification (PostgreSQL LISTEN/NOTIFY), and
///   else polls every poll_interval.
/// - Stopping (stop(), or a stop request to a task) lets the sends in flight finish: they
///   complete (over an asynchronous transport, the confirms in flight are awaited) and their
///   results are recorded; no row starts sending after the request.
///
/// **Example**
/// @code
/// spakky::event::SqliteOutboxRelayStore store("orders.db");
/// spakky::event::RabbitMqEventTransport transport({.exchange = "shop.events"});  // confirmed
/// spakky::event::OutboxRelay relay(store, transport);
/// relay.start();            // its own thread; relay.stop() or the destructor end it
/// // or, as a task:  co_await relay.run(stop_token);   (Task<>)
/// //                 asio::co_spawn(io, relay.run<asio::awaitable<void>>(token), ...);
/// //                 (with <spakky/event/outbox/asio_outbox_relay.hpp>)
/// @endcode

#include <spakky/event/bus/header_injection.hpp>
#include <spakky/event/detail/escape.hpp>
#include <spakky/event/error.hpp>
#include <spakky/event/async_event_publisher.hpp>
#include <spakky/event/event_publisher.hpp>
#include <spakky/event/observability/log.hpp>
#include <spakky/event/observability/metrics.hpp>
#include <spakky/event/outbox/detail/header_codec.hpp>
#include <spakky/event/outbox/relay_store.hpp>
#include <spakky/event/serializer.hpp>
#include <spakky/event/task.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <condition_variable>
#include <exception>
#include <functional>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_set>
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
  const IEventSerializer* validate_with = nullptr;        ///< if set, rows are read back before sending; rejects are parked
  std::function<void(const ParkedRow&)> on_parked = {};  ///< called on the relay's thread for each row it parks
  std::function<void(std::exception_ptr)> on_error = {};  ///< called on the relay's thread with a store error it survived (it retries)
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
    void unhandled_exception() noexcept { std::terminate(); }  // send_detached catches everything
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

/// One relay pass: the rows claimed, the headers each is sent with (none: parked without
/// trying), each row's result (none: not tried, a stop came first; such a row is left as it
/// was), and the failures of asynchronous sends.
struct RelayPass {
  std::vector<OutboxRow> rows;
  std::vector<std::optional<Headers>> headers;
  std::vector<std::optional<RowResult>> results;
  std::vector<std::optional<std::string>> errors;
  std::size_t to_send = 0;  ///< rows with headers
};

/// The asynchronous sends of one pass, which share it: all_sent() runs once, after the last
/// send completed, on that send's thread (or on the launcher's, if every send completed
/// before launch_sends returned).
class AsyncSendBatch {
public:
  explicit AsyncSendBatch(RelayPass p) noexcept : pass(std::move(p)) {}
  AsyncSendBatch(const AsyncSendBatch&) = delete;
  AsyncSendBatch& operator=(const AsyncSendBatch&) = delete;
  virtual ~AsyncSendBatch() = default;

  RelayPass pass;

  void hold() noexcept { left_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    // acq_rel: every send's error is visible to whoever runs all_sent().
    if (left_.fetch_sub(1, std::memory_order_acq_rel) == 1) all_sent();
  }

private:
  virtual void all_sent() noexcept = 0;
  std::atomic<std::ptrdiff_t> left_{1};  // launch_sends' own hold
};

/// An AsyncSendBatch that calls `on_done()` when all its sends completed.
template <class OnDone>
class AsyncSendBatchWith final : public AsyncSendBatch {
public:
  AsyncSendBatchWith(RelayPass p, OnDone on_done) : AsyncSendBatch(std::move(p)), on_done_(std::move(on_done)) {}

private:
  void all_sent() noexcept override { on_done_(); }
  OnDone on_done_;
};

/// Why a send failed, from the exception being handled (call it in a catch block).
inline std::string send_failure_reason() {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "the transport threw a non-standard exception";
  }
}

/// Sends row `i` of the batch and records a failure; the batch lives until the send is done.
inline DetachedSend send_detached(IAsyncEventTransport<Task<>>& transport, std::shared_ptr<AsyncSendBatch> batch,
                                  std::size_t i) {
  RelayPass& pass = batch->pass;
  try {
    co_await transport.send(pass.rows[i].event_name, pass.rows[i].payload, *pass.headers[i]);
  } catch (...) {
    pass.errors[i] = send_failure_reason();
  }
  batch->release();
}

/// Starts every send of the batch's pass at once (a key has at most one row in a pass).
inline void launch_sends(IAsyncEventTransport<Task<>>& transport, const std::shared_ptr<AsyncSendBatch>& batch) {
  const RelayPass& pass = batch->pass;
  for (std::size_t i = 0; i < pass.rows.size(); ++i) {
    if (!pass.headers[i]) continue;
    batch->hold();
    send_detached(transport, batch, i);
  }
  batch->release();
}

/// One send of a rolling relay: the row, what it is sent with, and how its send ended.
struct RollingSend {
  OutboxRow row;
  Headers headers;
  std::optional<std::string> error;  ///< set if the send failed
};

/// The sends of a rolling relay that completed and are not recorded yet. Shared by the relay
/// and every send in flight (the last owner frees it).
class RollingSends {
public:
  /// Called by a send when it completed (on the transport's thread, or on the launcher's).
  void completed(std::unique_ptr<RollingSend> send) {
    const std::lock_guard lock(mutex_);
    done_.push_back(std::move(send));
    changed_.notify_all();
  }
  /// Waits until at least one send completed; returns every send completed since the last call.
  std::vector<std::unique_ptr<RollingSend>> wait_completed() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return !done_.empty(); });
    return std::exchange(done_, {});
  }

private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::unique_ptr<RollingSend>> done_;
};

/// Sends one row of a rolling relay and hands it back to `sends` when the send completed.
inline DetachedSend send_rolling(IAsyncEventTransport<Task<>>& transport, std::shared_ptr<RollingSends> sends,
                                 std::unique_ptr<RollingSend> send) {
  try {
    co_await transport.send(send->row.event_name, send->row.payload, send->headers);
  } catch (...) {
    send->error = send_failure_reason();
  }
  sends->completed(std::move(send));
}

/// The thread that resumes a relay task after its waits (Task<> has no executor of its own).
/// Each job runs a blocking step, then resumes a coroutine. Destroyed on its own thread (a
/// resumed coroutine destroyed the relay), it detaches; its state lives until it ends.
class ResumeThread {
public:
  ResumeThread() : state_(std::make_shared<State>()) {
    thread_ = std::thread([state = state_] { run(*state); });
  }
  ResumeThread(const ResumeThread&) = delete;
  ResumeThread& operator=(const ResumeThread&) = delete;
  ~ResumeThread() {
    {
      const std::lock_guard lock(state_->mutex);
      state_->quit = true;
    }
    state_->ready.notify_one();
    if (thread_.get_id() == std::this_thread::get_id()) {
      thread_.detach();
    } else {
      thread_.join();
    }
  }

  /// Runs `before()` (may be empty), then resumes `handle`, on the thread.
  void post(std::coroutine_handle<> handle, std::function<void()> before = {}) {
    {
      const std::lock_guard lock(state_->mutex);
      state_->jobs.push_back(Job{handle, std::move(before)});
    }
    state_->ready.notify_one();
  }

private:
  struct Job {
    std::coroutine_handle<> handle;
    std::function<void()> before;
  };
  struct State {
    std::mutex mutex;
    std::condition_variable ready;
    std::deque<Job> jobs;
    bool quit = false;
  };

  static void run(State& state) {
    for (;;) {
      Job job;
      {
        std::unique_lock lock(state.mutex);
        state.ready.wait(lock, [&] { return state.quit || !state.jobs.empty(); });
        if (state.quit) return;  // the relay is gone: nothing may touch it any more
        job = std::move(state.jobs.front());
        state.jobs.pop_front();
      }
      if (job.before) job.before();
      job.handle.resume();
    }
  }

  std::shared_ptr<State> state_;
  std::thread thread_;
};

}  // namespace detail

/// How an OutboxRelay task of the coroutine family `Awaitable` waits between passes and awaits
/// an asynchronous transport's sends. Defined here for Task<>; for asio::awaitable<void> in
/// <spakky/event/outbox/asio_outbox_relay.hpp>; specialise it for another family.
template <class Awaitable>
struct OutboxRelayDriver;

/// Sends pending outbox rows. Three ways to run it, one at a time:
/// - run_once()/drain(): one pass, or until nothing is left to send now, on the caller's thread;
/// - start()/stop(): the loop on the relay's own thread;
/// - run(stop_token): the loop as a coroutine task (Task<>, or asio::awaitable<void> with
///   <spakky/event/outbox/asio_outbox_relay.hpp>) that a caller awaits or an event loop drives;
///   it suspends between passes and completes after a stop request.
///
/// Store and transport must outlive the relay; the relay must outlive its task.
///
/// With a synchronous IEventTransport the rows of a pass go one after the other (and block the
/// thread running the pass); with an IAsyncEventTransport<Task<>> (AsyncRabbitMqEventTransport:
/// many confirms in flight) the heads of all keys in the pass are sent at once and the pass
/// records the results once every send has completed. Over an asynchronous transport and a
/// store whose claims hold nothing (SQLite), drain() and the thread **roll** instead of
/// running passes: up to batch_size sends stay in flight, and each batch of completed sends
/// is recorded and followed at once by a claim of the new heads (see drain()). run_once() and
/// the task (run()) always run passes. Either way a key has at most one row in flight, and a
/// key's next row is claimed only after its previous row's result was recorded.
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
  /// Stops the thread (if started) after its current pass. A task must have completed.
  ~OutboxRelay() {
    stop();
    resume_thread_.reset();
    ::close(wake_fd_);
  }

  /// One pass: claims up to batch_size head rows, sends each, records the results. Returns
  /// how many were sent. Throws OutboxStoreError (the claim is abandoned: the rows stay
  /// pending). Not to be called while the relay's thread or task runs.
  std::size_t run_once() { return run_pass(NeverStop{}); }

  /// Sends until nothing is left to send now; returns the total sent. Rows waiting out a
  /// back-off are left for later.
  ///
  /// Over a synchronous transport, or a store whose claims hold locks (PostgreSQL): run_once()
  /// until a pass sends nothing. Over an asynchronous transport and a store whose claims hold
  /// nothing (IOutboxRelayStore::claims_hold_nothing(): SQLite) it **rolls**: up to
  /// batch_size sends stay in flight; whenever some completed, their results are recorded (one
  /// finish() for all completed since the last one), the store is claimed again (rows still in
  /// flight skipped) and the new heads are sent, so a key whose confirm came back early goes on
  /// while other keys' sends are in flight. It ends when nothing is in flight and a claim finds
  /// nothing new to send. Within one drain() a row whose send failed is not tried again (it is
  /// left for later, like a row waiting out its back-off): drain() ends.
  std::size_t drain() {
    if (rolls()) return roll(NeverStop{}, /*try_each_row_once=*/true, [] {});
    std::size_t total = 0;
    while (const std::size_t sent = run_once()) total += sent;
    return total;
  }

  /// Runs the loop on a new thread. Throws std::logic_error if it runs already (also as a task).
  void start() {
    const std::lock_guard lock(control_mutex_);
    if (thread_.joinable() || task_running_) throw std::logic_error("OutboxRelay::start: the relay runs already");
    stopping_.store(false, std::memory_order_relaxed);
    thread_ = std::thread([this] { loop(); });
  }

  /// Ends the loop after its sends in flight completed and were recorded, and joins the
  /// thread; no-op if not started.
  void stop() {
    const std::lock_guard lock(control_mutex_);
    if (!thread_.joinable()) return;
    stopping_.store(true, std::memory_order_relaxed);
    notify();
    thread_.join();
  }

  /// The relay's loop as a coroutine task of the family `Awaitable`: Task<> (the default), or
  /// asio::awaitable<void> with <spakky/event/outbox/asio_outbox_relay.hpp>.
  ///
  /// Runs passes (it does not roll: see the class comment), suspending (never blocking its
  /// thread) between them until notify(), a store notification (PostgreSQL NOTIFY), the poll
  /// interval, or a stop request on `stop`, whichever comes first. After a stop request it finishes the pass in
  /// flight, recording each row's result (a row is marked sent only after its send
  /// completed; over an asynchronous transport it waits for the confirms in flight), and
  /// completes. A store error is reported to on_error and retried after error_backoff.
  ///
  /// Task<>: the task starts when awaited, running its first pass on the awaiting thread; it
  /// is resumed after each wait, and after an asynchronous transport's sends, on the relay's
  /// resume thread (the database work stays off the transport's thread), so a synchronous
  /// transport's sends block that thread, not the awaiter's. Its awaiter is resumed there too.
  ///
  /// Fails with std::logic_error if the relay's thread or another task runs.
  template <class Awaitable = Task<>>
  Awaitable run(std::stop_token stop = {});

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
  template <class>
  friend struct OutboxRelayDriver;

  /// run_once() is never stopped half-way through a pass.
  struct NeverStop {
    bool operator()() const noexcept { return false; }
  };

  /// The blocking pass of run_once() and of the thread; a synchronous transport's sends stop
  /// (before the next row) once `stop_requested()`.
  template <class StopRequested>
  std::size_t run_pass(StopRequested stop_requested) {
    detail::RelayPass pass = claim_pass();
    if (pass.rows.empty()) return 0;
    try {
      if (async_transport_ != nullptr && pass.to_send > 0) {
        // Blocks this thread until every send of the pass completed (on the transport's thread).
        detail::SendCountdown done(1);
        auto batch = std::make_shared<detail::AsyncSendBatchWith<CountDown>>(std::move(pass), CountDown{&done});
        detail::launch_sends(*async_transport_, batch);
        done.wait();
        pass = std::move(batch->pass);
        complete_async_results(pass);
      } else {
        send_each(pass, stop_requested);
      }
      return record_pass(pass);
    } catch (...) {
      store_.abandon();
      throw;
    }
  }

  /// Whether the blocking paths (drain(), the thread) roll instead of running passes.
  [[nodiscard]] bool rolls() const noexcept {
    return async_transport_ != nullptr && store_.claims_hold_nothing();
  }

  /// Rolls (see drain()) on the calling thread until nothing is in flight and a claim finds
  /// nothing new to send, or until `stop_requested()`: then nothing more is launched, and the
  /// sends in flight complete and are recorded. `between()` runs after each record. With
  /// `try_each_row_once`, a row whose send failed is not sent again by this roll. Returns how
  /// many rows were sent. A store error: the sends in flight complete (and are recorded if the
  /// store lets them be), then it is rethrown; unrecorded rows stay pending.
  template <class StopRequested, class Between>
  std::size_t roll(StopRequested stop_requested, bool try_each_row_once, Between between) {
    const auto sends = std::make_shared<detail::RollingSends>();
    std::unordered_set<std::int64_t> in_flight;  // row ids
    std::unordered_set<std::int64_t> failed_ids;  // with try_each_row_once: not sent again
    std::size_t sent = 0;
    // Records the sends completed since the last call; waits for one if none has.
    const auto record_completed = [&] {
      std::vector<std::unique_ptr<detail::RollingSend>> done = sends->wait_completed();
      std::vector<OutboxRow> rows;
      std::vector<RowResult> results;
      rows.reserve(done.size());
      results.reserve(done.size());
      for (auto& send : done) {
        in_flight.erase(send->row.id);
        results.push_back(result_of_send(send->row, send->error));
        if (send->error && try_each_row_once) failed_ids.insert(send->row.id);
        rows.push_back(std::move(send->row));
      }
      sent += record(rows, results);
    };
    try {
      bool claim_due = true;
      for (;;) {
        const bool stopping = stop_requested();
        if (claim_due && !stopping && in_flight.size() < options_.batch_size) {
          claim_due = claim_and_launch(sends, in_flight, failed_ids);
        }
        if (in_flight.empty()) {
          if (claim_due && !stopping) continue;  // rows were parked unsent: more may be claimable
          break;
        }
        record_completed();
        claim_due = true;  // recorded rows make their keys' next rows heads
        between();
      }
    } catch (...) {
      // A row must never be in flight twice: let every send end before anything else claims.
      while (!in_flight.empty()) {
        try {
          record_completed();
        } catch (...) {  // the store is broken: those rows stay pending and are sent again later
        }
      }
      throw;
    }
    return sent;
  }

  /// Claims the heads not in flight (nor in `skip`), launches up to the free window's worth;
  /// rows that can never be sent are parked at once. Returns true if it parked rows (a claim
  /// again may then find more), false if it launched all it could.
  bool claim_and_launch(const std::shared_ptr<detail::RollingSends>& sends, std::unordered_set<std::int64_t>& in_flight,
                        const std::unordered_set<std::int64_t>& skip) {
    std::vector<OutboxRow> rows = store_.claim(options_.batch_size + in_flight.size() + skip.size());
    std::vector<OutboxRow> parked_rows;
    std::vector<RowResult> parked_results;
    std::vector<std::unique_ptr<detail::RollingSend>> to_send;
    for (OutboxRow& row : rows) {
      if (in_flight.size() + to_send.size() >= options_.batch_size) break;
      if (in_flight.count(row.id) != 0 || skip.count(row.id) != 0) continue;
      auto prepared = prepare(row);
      if (auto* parked = std::get_if<RowResult>(&prepared)) {
        parked_results.push_back(std::move(*parked));
        parked_rows.push_back(std::move(row));
      } else {
        to_send.push_back(std::make_unique<detail::RollingSend>(
            detail::RollingSend{std::move(row), std::move(std::get<Headers>(prepared)), std::nullopt}));
      }
    }
    if (!parked_rows.empty()) record(parked_rows, parked_results);
    for (auto& send : to_send) {
      in_flight.insert(send->row.id);
      detail::send_rolling(*async_transport_, sends, std::move(send));
    }
    return !parked_rows.empty();
  }

  /// The blocking pass's completion of an asynchronous pass.
  struct CountDown {
    detail::SendCountdown* done;
    void operator()() const noexcept { done->count_down(); }
  };

  /// Marks the relay as running a task for its lifetime; throws if it runs already.
  class TaskScope {
  public:
    explicit TaskScope(OutboxRelay& relay) : relay_(relay) {
      const std::lock_guard lock(relay_.control_mutex_);
      if (relay_.thread_.joinable() || relay_.task_running_) {
        throw std::logic_error("OutboxRelay::run: the relay runs already");
      }
      relay_.task_running_ = true;
    }
    TaskScope(const TaskScope&) = delete;
    TaskScope& operator=(const TaskScope&) = delete;
    ~TaskScope() {
      const std::lock_guard lock(relay_.control_mutex_);
      relay_.task_running_ = false;
    }

  private:
    OutboxRelay& relay_;
  };

  /// The thread's stop request.
  struct ThreadStopRequested {
    const std::atomic<bool>* stopping;
    bool operator()() const noexcept { return stopping->load(std::memory_order_relaxed); }
  };

  /// A task's stop request.
  struct TaskStopRequested {
    const std::stop_token* token;
    bool operator()() const noexcept { return token->stop_requested(); }
  };

  /// Calls notify() when a stop is requested.
  struct NotifyOnStop {
    OutboxRelay* relay;
    void operator()() const noexcept { relay->notify(); }
  };

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

  /// Claims the head rows and prepares them; rows that can never be sent get their result.
  detail::RelayPass claim_pass() {
    detail::RelayPass pass;
    pass.rows = store_.claim(options_.batch_size);
    try {
      const std::size_t count = pass.rows.size();
      pass.headers.resize(count);
      pass.results.resize(count);
      pass.errors.resize(count);
      for (std::size_t i = 0; i < count; ++i) {
        auto prepared = prepare(pass.rows[i]);
        if (auto* parked = std::get_if<RowResult>(&prepared)) {
          pass.results[i] = std::move(*parked);
        } else {
          pass.headers[i] = std::move(std::get<Headers>(prepared));
          ++pass.to_send;
        }
      }
    } catch (...) {
      store_.abandon();
      throw;
    }
    return pass;
  }

  /// Sends the pass's rows one after the other through the synchronous transport; once
  /// `stop_requested()`, the rows not started yet are left untried.
  template <class StopRequested>
  void send_each(detail::RelayPass& pass, StopRequested& stop_requested) {
    for (std::size_t i = 0; i < pass.rows.size(); ++i) {
      if (!pass.headers[i]) continue;
      if (stop_requested()) return;
      try {
        transport_->send(pass.rows[i].event_name, pass.rows[i].payload, *pass.headers[i]);
        pass.results[i] = RowResult{RowResult::Outcome::sent, {}, {}};
      } catch (...) {
        pass.results[i] = failed(pass.rows[i], detail::send_failure_reason());
      }
    }
  }

  /// The results of an asynchronous pass whose sends all completed.
  void complete_async_results(detail::RelayPass& pass) const {
    for (std::size_t i = 0; i < pass.rows.size(); ++i) {
      if (!pass.headers[i]) continue;
      pass.results[i] = result_of_send(pass.rows[i], pass.errors[i]);
    }
  }

  /// A completed asynchronous send's result: sent, or failed with the transport's reason.
  [[nodiscard]] RowResult result_of_send(const OutboxRow& row, const std::optional<std::string>& error) const {
    return error ? failed(row, *error) : RowResult{RowResult::Outcome::sent, {}, {}};
  }

  /// Records the tried rows of the pass in the store (ending the claim; untried rows stay as
  /// they were), counts them, reports parked rows. Returns how many rows were sent.
  std::size_t record_pass(detail::RelayPass& pass) {
    const bool all_tried = std::all_of(pass.results.begin(), pass.results.end(),
                                       [](const std::optional<RowResult>& r) { return r.has_value(); });
    std::vector<OutboxRow> tried_rows;
    std::vector<RowResult> results;
    results.reserve(pass.rows.size());
    for (std::size_t i = 0; i < pass.rows.size(); ++i) {
      if (!pass.results[i]) continue;
      results.push_back(std::move(*pass.results[i]));
      if (!all_tried) tried_rows.push_back(std::move(pass.rows[i]));
    }
    return record(all_tried ? pass.rows : tried_rows, results);
  }

  /// Records results[i] for rows[i] in the store (ending a pass's claim), counts them,
  /// reports lags, failures and parked rows. Returns how many rows were sent.
  std::size_t record(std::span<const OutboxRow> rows, std::span<const RowResult> results) {
    store_.finish(rows, results, options_.sent_retention.count() > 0);
    report_lag(rows, results);
    log_failures(rows, results);
    std::size_t sent = 0;
    {
      const std::lock_guard lock(stats_mutex_);
      for (const RowResult& result : results) {
        switch (result.outcome) {
          case RowResult::Outcome::sent: ++sent; break;
          case RowResult::Outcome::retry: ++stats_.retried; break;
          case RowResult::Outcome::park: ++stats_.parked; break;
        }
      }
      stats_.sent += sent;
    }
    log(LogLevel::debug, "outbox", "relay pass: {} sent, {} tried", sent, results.size());
    if (options_.on_parked) {
      for (std::size_t i = 0; i < rows.size(); ++i) {
        if (results[i].outcome != RowResult::Outcome::park) continue;
        const OutboxRow& row = rows[i];
        options_.on_parked(
            ParkedRow{row.id, row.event_id, row.event_name, row.partition_key, row.attempts + 1, results[i].error});
      }
    }
    return sent;
  }

  /// Logs a failed send the relay retries (warn) and a row it parks (error); outside text
  /// (event name, key, the transport's reason) escaped.
  static void log_failures(std::span<const OutboxRow> rows, std::span<const RowResult> results) noexcept {
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const OutboxRow& row = rows[i];
      switch (results[i].outcome) {
        case RowResult::Outcome::sent: break;
        case RowResult::Outcome::retry:
          log(LogLevel::warn, "outbox", "sending row {} ('{}', key '{}') failed (attempt {}), retrying in {} ms: {}",
              row.id, detail::quoted(row.event_name), detail::quoted(row.partition_key), row.attempts + 1,
              results[i].retry_after.count(), detail::quoted(results[i].error));
          break;
        case RowResult::Outcome::park:
          log(LogLevel::error, "outbox", "row {} ('{}', key '{}') parked, its key waits: {}", row.id,
              detail::quoted(row.event_name), detail::quoted(row.partition_key), detail::quoted(results[i].error));
          break;
      }
    }
  }

  /// Reports each sent row's lag (from its creation to now, the mark) to the metrics observer.
  static void report_lag(std::span<const OutboxRow> rows, std::span<const RowResult> results) noexcept {
    MetricsObserver* observer = metrics_observer();
    if (observer == nullptr) return;
    const auto now = std::chrono::system_clock::now();
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (results[i].outcome != RowResult::Outcome::sent) continue;
      // A clock stepped back, or a store that does not know the time: never a negative lag.
      observer->on_relay_lag(std::max(std::chrono::nanoseconds::zero(),
                                      std::chrono::duration_cast<std::chrono::nanoseconds>(now - rows[i].created_at)));
    }
  }

  /// When a loop last did its once-a-second chores (purge, backlog report).
  struct Upkeep {
    std::chrono::steady_clock::time_point last_purge = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point last_unsent_report = last_purge - std::chrono::seconds(1);  // due at once
  };

  /// The loop's chores between passes: purges sent rows kept past their retention, and reports
  /// the store's unsent rows to the metrics observer, each at most once a second (the report
  /// only while an observer is installed: counting reads every unsent row's index entry).
  void upkeep(Upkeep& due) {
    const auto now = std::chrono::steady_clock::now();
    if (options_.sent_retention.count() > 0 && now - due.last_purge > std::chrono::seconds(1)) {
      store_.purge_sent(options_.sent_retention);
      due.last_purge = std::chrono::steady_clock::now();
    }
    MetricsObserver* observer = metrics_observer();
    if (observer == nullptr || now - due.last_unsent_report < std::chrono::seconds(1)) return;
    due.last_unsent_report = now;
    if (const auto unsent = store_.unsent_count()) observer->on_outbox_pending(*unsent);
  }

  /// Counts a store error the loop survives and reports it.
  void count_error(std::exception_ptr error) {
    {
      const std::lock_guard lock(stats_mutex_);
      ++stats_.errors;
    }
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      log(LogLevel::warn, "outbox", "relay store error, retrying in {} ms: {}", options_.error_backoff.count(),
          detail::quoted(e.what()));
    } catch (...) {
      log(LogLevel::warn, "outbox", "relay store error (a non-standard exception), retrying in {} ms",
          options_.error_backoff.count());
    }
    if (options_.on_error) options_.on_error(std::move(error));
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
    Upkeep due;
    while (!stopping_.load(std::memory_order_relaxed)) {
      std::size_t sent = 0;
      bool failed = false;
      try {
        if (rolls()) {
          // A roll may go on for as long as rows keep coming: purge and report as it goes.
          sent = roll(ThreadStopRequested{&stopping_}, /*try_each_row_once=*/false, [&] { upkeep(due); });
        } else {
          sent = run_pass(ThreadStopRequested{&stopping_});
        }
        upkeep(due);
      } catch (...) {
        failed = true;
        count_error(std::current_exception());
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
    if (fds[0].revents != 0) drain_wake_fd();
    if (count == 2 && fds[1].revents != 0) consume_store_notifications();
  }

  /// Resets the notify() counter (the descriptor is non-blocking).
  void drain_wake_fd() noexcept {
    std::uint64_t value = 0;
    [[maybe_unused]] const auto got = ::read(wake_fd_, &value, sizeof value);
  }

  bool consume_store_notifications() noexcept {
    try {
      return store_.consume_notifications();
    } catch (...) {
      return true;  // the next pass meets the same problem in claim() and reports it
    }
  }

  /// The thread that resumes Task<> runs, made on the first one.
  detail::ResumeThread& resume_thread() {
    if (!resume_thread_) resume_thread_ = std::make_unique<detail::ResumeThread>();
    return *resume_thread_;
  }

  IOutboxRelayStore& store_;
  IEventTransport* transport_;
  IAsyncEventTransport<Task<>>* async_transport_;
  OutboxRelayOptions options_;
  int wake_fd_;
  std::atomic<bool> stopping_{false};
  std::mutex control_mutex_;
  std::thread thread_;
  bool task_running_ = false;  // guarded by control_mutex_
  std::unique_ptr<detail::ResumeThread> resume_thread_;
  mutable std::mutex stats_mutex_;
  OutboxRelayStats stats_;
};

/// The Task<> family: waits run on the relay's resume thread (poll() on notify(), the store's
/// notification descriptor and the timeout) and resume the task there; an asynchronous
/// pass's last send hands the task to that thread too.
template <>
struct OutboxRelayDriver<Task<>> {
  /// Suspends until the relay's resume thread has waited out `timeout` (or been woken).
  struct WaitAwaiter {
    OutboxRelay& relay;
    std::chrono::milliseconds timeout;
    bool listen;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> handle) {
      OutboxRelay* r = &relay;
      const auto t = timeout;
      const bool l = listen;
      r->resume_thread().post(handle, [r, t, l] { r->wait(t, l); });
    }
    void await_resume() const noexcept {}
  };

  /// Resumes the task on the relay's resume thread.
  struct ResumeOn {
    detail::ResumeThread* thread;
    std::coroutine_handle<> handle;
    void operator()() const { thread->post(handle); }
  };

  /// Sends a pass's rows at once; resumes (on the resume thread) with the pass, its results set.
  struct SendAwaiter {
    OutboxRelay& relay;
    IAsyncEventTransport<Task<>>& transport;
    detail::RelayPass pass;
    std::shared_ptr<detail::AsyncSendBatch> batch;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> handle) {
      auto made = std::make_shared<detail::AsyncSendBatchWith<ResumeOn>>(std::move(pass),
                                                                         ResumeOn{&relay.resume_thread(), handle});
      batch = made;
      // From here on the task may run on the resume thread: touch nothing of this awaiter.
      detail::launch_sends(transport, made);
    }
    detail::RelayPass await_resume() {
      detail::RelayPass done = std::move(batch->pass);
      relay.complete_async_results(done);
      return done;
    }
  };

  explicit OutboxRelayDriver(OutboxRelay& r) : relay(r) { (void)relay.resume_thread(); }

  WaitAwaiter wait(std::chrono::milliseconds timeout, bool listen) { return WaitAwaiter{relay, timeout, listen}; }
  SendAwaiter send_all(IAsyncEventTransport<Task<>>& transport, detail::RelayPass pass) {
    return SendAwaiter{relay, transport, std::move(pass), {}};
  }

  OutboxRelay& relay;
};

template <class Awaitable>
Awaitable OutboxRelay::run(std::stop_token stop) {
  const TaskScope running(*this);
  OutboxRelayDriver<Awaitable> driver(*this);
  const std::stop_callback wake_on_stop(stop, NotifyOnStop{this});
  Upkeep due;
  while (!stop.stop_requested()) {
    std::size_t sent = 0;
    bool failed = false;
    try {
      detail::RelayPass pass = claim_pass();
      if (!pass.rows.empty()) {
        if (async_transport_ != nullptr && pass.to_send > 0) {
          pass = co_await driver.send_all(*async_transport_, std::move(pass));
        } else {
          TaskStopRequested stop_requested{&stop};
          send_each(pass, stop_requested);
        }
        sent = record_pass(pass);
      }
      upkeep(due);
    } catch (...) {
      store_.abandon();  // no-op unless a claim is open
      failed = true;
      count_error(std::current_exception());
    }
    // A stop request lets the pass in flight end (above), then ends the task.
    if (stop.stop_requested()) break;
    if (failed) {
      co_await driver.wait(options_.error_backoff, /*listen=*/false);
    } else if (sent == 0) {
      co_await driver.wait(options_.poll_interval, /*listen=*/true);
    }
  }
}

}  // namespace spakky::event
