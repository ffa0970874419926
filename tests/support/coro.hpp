#pragma once
// Coroutine helpers for the tests of Task and the Async* types:
// - Trigger: a one-shot manual event a coroutine can co_await; whoever calls set() resumes it.
// - Threads: starts threads and joins them all at scope exit (also threads started by threads).
// - ResumeOnNewThread: an awaiter that resumes the awaiting coroutine on a brand-new thread.
// - Executor: one worker thread; `co_await executor.schedule()` continues there.
// - Spawned / start(): starts an awaitable eagerly on this thread, without blocking; the test
//   polls done() with a deadline, and destroying a Spawned destroys a suspended coroutine chain.
// Nothing here asserts: Catch2 is used on the main thread only.

#include "support/sync.hpp"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <chrono>
#include <coroutine>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace test_support {

/// A one-shot event for one waiting coroutine. set() resumes the waiter (if any) on the calling
/// thread; a coroutine awaiting a set Trigger does not suspend.
class Trigger {
public:
  Trigger() = default;
  Trigger(const Trigger&) = delete;
  Trigger& operator=(const Trigger&) = delete;

  struct Awaiter {
    Trigger* trigger;
    bool await_ready() const noexcept { return trigger->state_.load(std::memory_order_acquire) == set_marker(); }
    bool await_suspend(std::coroutine_handle<> handle) noexcept {
      void* expected = nullptr;
      // False (go on without suspending) if set() came in between.
      return trigger->state_.compare_exchange_strong(expected, handle.address(), std::memory_order_acq_rel,
                                                     std::memory_order_acquire);
    }
    void await_resume() const noexcept {}
  };
  Awaiter operator co_await() noexcept { return Awaiter{this}; }

  /// Sets the trigger and resumes the waiting coroutine, if any, on this thread.
  void set() noexcept {
    void* previous = state_.exchange(set_marker(), std::memory_order_acq_rel);
    if (previous != nullptr && previous != set_marker()) std::coroutine_handle<>::from_address(previous).resume();
  }
  /// True while a coroutine is suspended on this trigger.
  [[nodiscard]] bool waiting() const noexcept {
    void* state = state_.load(std::memory_order_acquire);
    return state != nullptr && state != set_marker();
  }
  [[nodiscard]] bool is_set() const noexcept { return state_.load(std::memory_order_acquire) == set_marker(); }
  /// Waits (with a deadline) until a coroutine is suspended on this trigger.
  [[nodiscard]] bool wait_for_waiter(std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    return eventually([&] { return waiting(); }, timeout);
  }
  /// Forgets a waiter that will never be resumed (its coroutine was destroyed).
  void forget() noexcept { state_.store(nullptr, std::memory_order_release); }

private:
  static void* set_marker() noexcept {
    static char marker;
    return &marker;
  }
  std::atomic<void*> state_{nullptr};
};

/// Threads started by a test; joined (all of them, also those started meanwhile) at scope exit.
class Threads {
public:
  Threads() = default;
  Threads(const Threads&) = delete;
  Threads& operator=(const Threads&) = delete;
  ~Threads() { join_all(); }

  template <class F>
  void spawn(F f) {
    const std::lock_guard lock(mutex_);
    threads_.emplace_back(std::move(f));
  }

  void join_all() {
    for (;;) {
      std::vector<std::thread> batch;
      {
        const std::lock_guard lock(mutex_);
        batch.swap(threads_);
      }
      if (batch.empty()) return;
      for (auto& thread : batch) thread.join();
    }
  }

private:
  std::mutex mutex_;
  std::vector<std::thread> threads_;
};

/// co_await ResumeOnNewThread{threads}: suspends, and a new thread resumes the coroutine.
struct ResumeOnNewThread {
  Threads* threads;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> handle) const {
    Threads* owner = threads;  // nothing of this awaiter is touched once the thread runs
    owner->spawn([handle] { handle.resume(); });
  }
  void await_resume() const noexcept {}
};

/// One worker thread resuming coroutines in FIFO order. Its destructor resumes whatever is
/// still queued, then joins.
class Executor {
public:
  Executor() : worker_([this] { run(); }) {}
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;
  ~Executor() {
    {
      const std::lock_guard lock(mutex_);
      stop_ = true;
    }
    ready_.notify_one();
    worker_.join();
  }

  struct Schedule {
    Executor* executor;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> handle) const {
      Executor* owner = executor;  // nothing of this awaiter is touched once queued
      owner->post(handle);
    }
    void await_resume() const noexcept {}
  };
  /// co_await executor.schedule(): continues on the worker thread.
  Schedule schedule() noexcept { return Schedule{this}; }

  [[nodiscard]] std::thread::id thread_id() const noexcept { return worker_.get_id(); }

private:
  void post(std::coroutine_handle<> handle) {
    {
      const std::lock_guard lock(mutex_);
      queue_.push_back(handle);
    }
    ready_.notify_one();
  }
  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      ready_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopped and drained
      auto handle = queue_.front();
      queue_.pop_front();
      lock.unlock();
      handle.resume();
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::coroutine_handle<>> queue_;
  bool stop_ = false;
  std::thread worker_;  // last: starts after the members it uses
};

/// An eagerly started coroutine that nobody awaits: the test polls done() and may destroy it
/// while it is suspended (which destroys everything it awaits, frame by frame).
class Spawned {
public:
  struct promise_type {
    std::atomic<bool> done{false};
    std::exception_ptr error;

    Spawned get_return_object() noexcept { return Spawned(std::coroutine_handle<promise_type>::from_promise(*this)); }
    std::suspend_never initial_suspend() const noexcept { return {}; }
    auto final_suspend() const noexcept {
      struct Signal {
        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<promise_type> handle) const noexcept {
          handle.promise().done.store(true, std::memory_order_release);  // last touch of the frame
        }
        void await_resume() const noexcept {}
      };
      return Signal{};
    }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { error = std::current_exception(); }
  };

  Spawned() noexcept = default;
  explicit Spawned(std::coroutine_handle<promise_type> handle) noexcept : handle_(handle) {}
  Spawned(Spawned&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  Spawned& operator=(Spawned&& other) noexcept {
    if (this != &other) {
      reset();
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  ~Spawned() { reset(); }

  [[nodiscard]] bool done() const noexcept {
    return handle_ && handle_.promise().done.load(std::memory_order_acquire);
  }
  /// Waits (with a deadline) until the coroutine has finished, on whichever thread.
  [[nodiscard]] bool wait(std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    return eventually([&] { return done(); }, timeout);
  }
  /// What the coroutine threw (call after done()).
  [[nodiscard]] std::exception_ptr error() const noexcept { return handle_ ? handle_.promise().error : nullptr; }
  /// Destroys the coroutine (suspended or finished).
  void reset() noexcept {
    if (handle_) std::exchange(handle_, {}).destroy();
  }
  /// Gives the coroutine up without destroying it (only for a test that found it stuck).
  void leak() noexcept { handle_ = {}; }

private:
  std::coroutine_handle<promise_type> handle_;
};

/// Starts awaiting `awaitable` now, on this thread; returns when it first suspends or ends.
template <class Awaitable>
Spawned start(Awaitable awaitable) {
  co_await std::move(awaitable);
}

}  // namespace test_support
