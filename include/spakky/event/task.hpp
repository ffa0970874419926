#pragma once
/// @file
/// Task<T>: the library's default awaitable, a lazy, move-only coroutine task; and sync_wait,
/// which runs one to completion on the calling thread.
///
/// **Example**
/// @code
/// spakky::event::Task<int> answer() { co_return 42; }
/// spakky::event::Task<> twice() { int a = co_await answer(); co_await log(a); }
/// int main() { spakky::event::sync_wait(twice()); }
/// @endcode
///
/// A task starts when it is awaited. Awaiting one resumes it on the awaiting thread; when it
/// completes without suspending, the awaiter goes on without suspending either (an atomic
/// handshake rather than symmetric transfer: g++ 12 does not turn symmetric transfer into a
/// guaranteed tail call at -O0 or under ASan, and a loop of synchronously completing awaits
/// would overflow the stack there). When it suspends, the awaiter is resumed by whichever
/// thread completes it.

#include <spakky/event/detail/coroutine_chain.hpp>
#include <spakky/event/detail/frame_pool.hpp>
#include <spakky/event/detail/lean_std.hpp>

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <variant>

#include <sched.h>

namespace spakky::event {

template <class T = void>
class Task;

namespace detail {

struct TaskAccess;

/// True for the promise of sync_wait's own coroutine (defined below).
template <class Promise>
constexpr bool is_sync_wait_promise = requires { typename Promise::is_sync_wait_promise; };

/// Yields the awaiter of `a` as `co_await a` would (member or free operator co_await, or `a`).
template <class A>
decltype(auto) get_awaiter(A&& a) {
  if constexpr (requires { std::forward<A>(a).operator co_await(); }) {
    return std::forward<A>(a).operator co_await();
  } else if constexpr (requires { operator co_await(std::forward<A>(a)); }) {
    return operator co_await(std::forward<A>(a));
  } else {
    return std::forward<A>(a);
  }
}

/// Where a Task<> started by TaskAccess::start_inline reports that it finished without
/// suspending; its frame then frees itself at its final suspend point.
struct InlineCompletion {
  bool done = false;
  std::exception_ptr error;  // what the task threw, if anything
};

class TaskPromiseBase {
public:
  struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    template <class Promise>
    void await_suspend(std::coroutine_handle<Promise> handle) const noexcept {
      TaskPromiseBase& promise = handle.promise();
      promise.end_segment();
      // If the awaiter already registered (we suspended on the way), resume it; otherwise the
      // awaiter is still inside await_suspend and will go on by itself.
      if (promise.state_.exchange(true, std::memory_order_acq_rel)) promise.continuation_.resume();
    }
    void await_resume() const noexcept {}
  };

  /// Wraps everything a Task awaits so that the thread it resumes on knows the chain it runs.
  template <class Awaiter>
  struct ChainAwaiter {
    Awaiter inner;
    TaskPromiseBase& promise;

    bool await_ready() { return inner.await_ready(); }
    template <class Promise>
    auto await_suspend(std::coroutine_handle<Promise> handle) {
      // Before handing the handle over: once it is, the frame may run (or end) elsewhere, and
      // it no longer finishes inline (its starter has gone on; see TaskAccess::start_inline).
      promise.end_segment();
      promise.inline_sink_ = nullptr;
      return inner.await_suspend(handle);
    }
    decltype(auto) await_resume() {
      promise.begin_segment();
      return inner.await_resume();
    }
  };

  std::suspend_always initial_suspend() const noexcept { return {}; }
  FinalAwaiter final_suspend() const noexcept { return {}; }

  // Frames come from a per-thread pool: a dispatch makes one per handler call.
  static void* operator new(std::size_t size) { return FramePool::allocate(size); }
  static void operator delete(void* frame, std::size_t size) noexcept { FramePool::deallocate(frame, size); }

  template <class A>
  auto await_transform(A&& awaitable) {
    using Awaiter = decltype(get_awaiter(std::forward<A>(awaitable)));
    return ChainAwaiter<Awaiter>{get_awaiter(std::forward<A>(awaitable)), *this};
  }

  /// Registers the awaiter; false if the task completed already (the awaiter need not suspend).
  bool try_set_continuation(std::coroutine_handle<> continuation) noexcept {
    continuation_ = continuation;
    return !state_.exchange(true, std::memory_order_acq_rel);
  }

  bool mark_started() noexcept { return !std::exchange(started_, true); }

  [[nodiscard]] const void* chain() const noexcept { return chain_; }
  void set_chain(const void* chain) noexcept { chain_ = chain; }
  /// Joins the chain running on this thread (or starts one rooted at `frame`).
  void join_chain(const void* frame) noexcept {
    const void* running = current_coroutine_chain();
    chain_ = running != nullptr ? running : frame;
  }
  /// A segment of this coroutine starts running on this thread.
  void begin_segment() noexcept {
    outer_chain_ = std::exchange(current_coroutine_chain(), chain_);
  }
  /// The segment ends (the coroutine suspends or finishes): the thread's chain is restored.
  void end_segment() noexcept { current_coroutine_chain() = outer_chain_; }

private:
  friend struct TaskAccess;
  template <class>
  friend class TaskPromise;

  InlineCompletion* inline_sink_ = nullptr;  // set while start_inline runs the task
  std::coroutine_handle<> continuation_;
  std::atomic<bool> state_{false};
  bool started_ = false;
  const void* chain_ = nullptr;
  const void* outer_chain_ = nullptr;
};

template <class T>
class TaskPromise final : public TaskPromiseBase {
public:
  Task<T> get_return_object() noexcept;
  void unhandled_exception() noexcept { result_.template emplace<2>(std::current_exception()); }
  template <class U>
    requires std::is_convertible_v<U&&, T>
  void return_value(U&& value) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
    result_.template emplace<1>(std::forward<U>(value));
  }
  T& result() & {
    if (result_.index() == 2) std::rethrow_exception(std::get<2>(result_));
    return std::get<1>(result_);
  }
  T&& result() && {
    if (result_.index() == 2) std::rethrow_exception(std::get<2>(result_));
    return std::move(std::get<1>(result_));
  }

private:
  std::variant<std::monostate, T, std::exception_ptr> result_;
};

template <class T>
class TaskPromise<T&> final : public TaskPromiseBase {
public:
  Task<T&> get_return_object() noexcept;
  void unhandled_exception() noexcept { error_ = std::current_exception(); }
  void return_value(T& value) noexcept { value_ = std::addressof(value); }
  T& result() {
    if (error_) std::rethrow_exception(error_);
    return *value_;
  }

private:
  T* value_ = nullptr;
  std::exception_ptr error_;
};

template <>
class TaskPromise<void> final : public TaskPromiseBase {
public:
  /// FinalAwaiter, but a task run by start_inline that did not suspend hands its outcome to
  /// the starter and does not suspend: its frame is destroyed there and then.
  struct InlineFinalAwaiter : FinalAwaiter {
    TaskPromise& promise;
    bool await_ready() const noexcept {
      InlineCompletion* sink = promise.inline_sink_;
      if (sink == nullptr) return false;
      sink->done = true;
      if (promise.error_) [[unlikely]] sink->error = std::move(promise.error_);
      return true;
    }
  };

  Task<void> get_return_object() noexcept;
  InlineFinalAwaiter final_suspend() noexcept { return {{}, *this}; }
  void unhandled_exception() noexcept { error_ = std::current_exception(); }
  void return_void() noexcept {}
  void result() const {
    if (error_) std::rethrow_exception(error_);
  }

private:
  std::exception_ptr error_;
};

}  // namespace detail

/// A task that is awaited after being moved from, or a second time.
class TaskMisuseError : public std::logic_error {
public:
  using std::logic_error::logic_error;
};

/// A lazy coroutine task producing T (void, a value or a reference). Move-only; destroying a
/// task that was never awaited destroys its coroutine and what it captured.
template <class T>
class [[nodiscard]] Task {
public:
  /// The coroutine's promise (what makes a function returning Task<T> a coroutine).
  using promise_type = detail::TaskPromise<T>;
  /// What co_await on the task gives.
  using value_type = T;

  /// An empty task: valid() is false.
  Task() noexcept = default;
  /// Takes over the coroutine `handle` (made by the promise).
  explicit Task(std::coroutine_handle<promise_type> handle) noexcept : handle_(handle) {}
  /// Takes over `other`'s coroutine; `other` becomes empty.
  Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  /// Destroys this task's coroutine (if any) and takes over `other`'s.
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      if (handle_) handle_.destroy();
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  /// Destroys the coroutine, if this task holds one.
  ~Task() {
    if (handle_) handle_.destroy();
  }

  /// True if this task holds a coroutine (it was not moved from).
  [[nodiscard]] bool valid() const noexcept { return static_cast<bool>(handle_); }

  /// What co_await on a task awaits: runs the task, and resumes the awaiting coroutine when
  /// the task is done.
  struct Awaiter {
    std::coroutine_handle<promise_type> handle;  ///< the task's coroutine

    /// Never ready: the task starts in await_suspend.
    bool await_ready() const noexcept { return false; }
    /// Runs the task up to its first suspension; false if it finished (resume at once).
    template <class AwaiterPromise>
    bool await_suspend(std::coroutine_handle<AwaiterPromise> awaiter) noexcept {
      promise_type& promise = handle.promise();
      if constexpr (std::is_base_of_v<detail::TaskPromiseBase, AwaiterPromise>) {
        promise.set_chain(awaiter.promise().chain());  // awaited by a Task: the same chain
      } else if constexpr (detail::is_sync_wait_promise<AwaiterPromise>) {
        promise.join_chain(handle.address());  // sync_wait blocks the running chain, if any
      } else {
        promise.set_chain(handle.address());  // any other coroutine: a chain of its own
      }
      promise.begin_segment();
      handle.resume();  // runs the task up to its first suspension or to its end
      return promise.try_set_continuation(awaiter);
    }
    /// The task's result, or its exception rethrown.
    decltype(auto) await_resume() {
      if constexpr (std::is_reference_v<T> || std::is_void_v<T>) {
        return handle.promise().result();
      } else {
        return std::move(handle.promise()).result();
      }
    }
  };

  /// Starts the task; throws TaskMisuseError if it was moved from or awaited already.
  Awaiter operator co_await() & { return start(); }
  /// Starts the task (an rvalue: `co_await make_task()`); as the lvalue overload.
  Awaiter operator co_await() && { return start(); }

private:
  friend struct detail::TaskAccess;

  Awaiter start() {
    if (!handle_) throw TaskMisuseError("co_await on a Task that was moved from");
    if (!handle_.promise().mark_started()) throw TaskMisuseError("co_await on a Task that was awaited already");
    return Awaiter{handle_};
  }

  std::coroutine_handle<promise_type> handle_;
};

namespace detail {
/// The dispatch loop's way into Task<>: start a handler's task inline and, only if it
/// suspends, await it as a coroutine would.
struct TaskAccess {
  /// Starts `task` on this thread as part of the chain `chain` (the one running here). True if
  /// it finished without suspending: its frame is gone, `task` is left empty and `done.error`
  /// holds what it threw. False if it suspended: await it with await_started(). Throws
  /// TaskMisuseError for an empty or already started task, as co_await does.
  static bool start_inline(Task<>& task, const void* chain, InlineCompletion& done) {
    const auto handle = task.start().handle;
    TaskPromise<void>& promise = handle.promise();
    // begin_segment() without its thread-local write: the running chain stays `chain`.
    promise.chain_ = chain;
    promise.outer_chain_ = chain;
    promise.inline_sink_ = &done;
    done.done = false;
    handle.resume();
    if (!done.done) return false;
    task.handle_ = {};
    return true;
  }

  /// Awaits a task that start_inline() started and that suspended.
  struct StartedAwaiter {
    std::coroutine_handle<TaskPromise<void>> handle;
    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> awaiter) noexcept {
      return handle.promise().try_set_continuation(awaiter);
    }
    void await_resume() const { handle.promise().result(); }
  };
  static StartedAwaiter await_started(Task<>& task) noexcept { return {task.handle_}; }
};

template <class T>
Task<T> TaskPromise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<TaskPromise>::from_promise(*this));
}
template <class T>
Task<T&> TaskPromise<T&>::get_return_object() noexcept {
  return Task<T&>(std::coroutine_handle<TaskPromise>::from_promise(*this));
}
inline Task<void> TaskPromise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<TaskPromise>::from_promise(*this));
}
}  // namespace detail

/// Rebinds an awaitable type to another result type: Task<void> -> Task<R>,
/// asio::awaitable<void, Ex> -> asio::awaitable<R, Ex>. Specialise it for other shapes.
template <class Awaitable, class R>
struct rebind_awaitable;

/// Rebinds a template whose first parameter is the result type (Task, asio::awaitable).
template <template <class, class...> class Awaitable, class T, class... Rest, class R>
struct rebind_awaitable<Awaitable<T, Rest...>, R> {
  using type = Awaitable<R, Rest...>;  ///< the same template with result R
};

/// rebind_awaitable<Awaitable, R>::type.
template <class Awaitable, class R>
using rebind_awaitable_t = typename rebind_awaitable<Awaitable, R>::type;

namespace detail {

/// How sync_wait's coroutine tells the waiting thread it has finished. The waiter returns (and
/// destroys this object) only after it has seen `finished`, which the signaller stores as its
/// very last access: the notify before it still finds the object alive.
class SyncWaitSignal {
public:
  void set() noexcept {
    state_.store(notifying, std::memory_order_release);
    state_.notify_one();
    state_.store(finished, std::memory_order_release);
  }
  void wait() noexcept {
    state_.wait(running, std::memory_order_acquire);
    // At most the few instructions between the notify and the last store above.
    while (state_.load(std::memory_order_acquire) != finished) ::sched_yield();
  }

private:
  static constexpr int running = 0, notifying = 1, finished = 2;
  std::atomic<int> state_{running};
};

/// The coroutine behind sync_wait: runs eagerly, then signals the waiting thread.
template <class T>
class SyncWaitTask {
public:
  struct promise_type {
    using is_sync_wait_promise = void;
    SyncWaitSignal* signal = nullptr;  // on the waiting thread's stack, set by run()
    std::exception_ptr error;
    std::add_pointer_t<T> value = nullptr;

    SyncWaitTask get_return_object() noexcept {
      return SyncWaitTask(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    auto final_suspend() const noexcept {
      struct Signal {
        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<promise_type> handle) const noexcept {
          handle.promise().signal->set();
        }
        void await_resume() const noexcept {}
      };
      return Signal{};
    }
    // The yielded object lives in this coroutine's frame until the frame is destroyed, after
    // sync_wait has taken it.
    template <class U = T>
      requires(!std::is_void_v<U>)
    auto yield_value(std::add_rvalue_reference_t<U> result) noexcept {
      value = std::addressof(result);
      return final_suspend();
    }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { error = std::current_exception(); }
  };

  explicit SyncWaitTask(std::coroutine_handle<promise_type> handle) noexcept : handle_(handle) {}
  SyncWaitTask(SyncWaitTask&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  ~SyncWaitTask() {
    if (handle_) handle_.destroy();
  }

  /// Starts the coroutine and blocks until it signals (maybe from another thread).
  void run() {
    SyncWaitSignal signal;
    handle_.promise().signal = &signal;
    handle_.resume();
    signal.wait();
  }
  promise_type& promise() noexcept { return handle_.promise(); }

private:
  std::coroutine_handle<promise_type> handle_;
};

template <class A>
using await_result_t = decltype(std::declval<A>().operator co_await().await_resume());

template <class A>
SyncWaitTask<await_result_t<A&&>> make_sync_wait_task(A&& awaitable) {
  using R = await_result_t<A&&>;
  if constexpr (std::is_void_v<R>) {
    co_await std::forward<A>(awaitable);
  } else {
    co_yield co_await std::forward<A>(awaitable);
  }
}

}  // namespace detail

/// Runs `awaitable` (a Task) to completion on this thread, also when it completes on another
/// thread, and returns its result or rethrows its exception.
template <class A>
decltype(auto) sync_wait(A&& awaitable) {
  using R = detail::await_result_t<A&&>;
  auto waiter = detail::make_sync_wait_task(std::forward<A>(awaitable));
  waiter.run();
  auto& promise = waiter.promise();
  if (promise.error) std::rethrow_exception(promise.error);
  if constexpr (std::is_void_v<R>) {
    return;
  } else if constexpr (std::is_lvalue_reference_v<R>) {
    return static_cast<R>(*promise.value);  // Task<T&>: the referent outlives the task
  } else {
    // Task<T> yields T&& into its own frame, which dies with `waiter`: hand back a T.
    return std::remove_cvref_t<R>(std::move(*promise.value));
  }
}

}  // namespace spakky::event
