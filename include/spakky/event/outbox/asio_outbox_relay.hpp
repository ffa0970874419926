#pragma once
/// @file
/// OutboxRelay::run<asio::awaitable<void>>: the relay's loop as a coroutine on a standalone Asio
/// executor (needs <asio.hpp>, C++20 coroutines on: clang++ 14 wants ASIO_HAS_CO_AWAIT=1 and
/// ASIO_HAS_STD_COROUTINE=1). The library itself does not depend on Asio: only this header does.
///
/// Every pass runs on the task's executor: the waits between passes are a steady_timer raced
/// against the relay's notify() descriptor and the store's notification descriptor (PostgreSQL
/// LISTEN); an asynchronous transport's sends complete on the transport's thread and the task
/// is posted back to its executor. A synchronous transport's sends block the executor's thread
/// while they run: prefer an asynchronous transport. Drive the task from one thread (an
/// io_context run by one thread, or a strand), and keep that executor running until the task
/// completed (request the stop, then let it finish: the confirms in flight are awaited).
///
/// **Example**
/// @code
/// asio::io_context io;
/// spakky::event::OutboxRelay relay(store, transport);   // an AsyncRabbitMqEventTransport
/// std::stop_source stop;
/// asio::co_spawn(io, relay.run<asio::awaitable<void>>(stop.get_token()), asio::detached);
/// io.run();   // until stop.request_stop() let the task end
/// @endcode

#include <spakky/event/outbox/outbox_relay.hpp>

#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/experimental/deferred.hpp>
#include <asio/experimental/parallel_group.hpp>
#include <asio/post.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

namespace spakky::event {

namespace detail {

/// A descriptor Asio waits on but does not own: released, never closed, when it goes.
template <class Executor>
class BorrowedDescriptor {
public:
  BorrowedDescriptor(const Executor& executor, int fd) : descriptor_(executor, fd) {}
  BorrowedDescriptor(const BorrowedDescriptor&) = delete;
  BorrowedDescriptor& operator=(const BorrowedDescriptor&) = delete;
  ~BorrowedDescriptor() { (void)descriptor_.release(); }
  asio::posix::basic_stream_descriptor<Executor>& get() noexcept { return descriptor_; }

private:
  asio::posix::basic_stream_descriptor<Executor> descriptor_;
};

/// An asynchronous pass's completion: posts the task's handler to its executor (co_spawn keeps
/// that executor's work count up until the task completes).
template <class Handler>
struct PostWhenSent {
  std::optional<Handler> handler;
  void operator()() noexcept { asio::post(std::move(*handler)); }
};

}  // namespace detail

/// The asio::awaitable family (see the file comment).
template <class Executor>
struct OutboxRelayDriver<asio::awaitable<void, Executor>> {
  /// async_initiate's initiation: starts the pass's sends, completing the handler after the last.
  struct LaunchSends {
    IAsyncEventTransport<Task<>>& transport;
    detail::RelayPass& pass;
    std::shared_ptr<detail::AsyncSendBatch>& batch;

    template <class Handler>
    void operator()(Handler&& handler) const {
      using OnDone = detail::PostWhenSent<std::decay_t<Handler>>;
      auto made = std::make_shared<detail::AsyncSendBatchWith<OnDone>>(
          std::move(pass), OnDone{std::optional<std::decay_t<Handler>>(std::forward<Handler>(handler))});
      batch = made;
      detail::launch_sends(transport, made);
    }
  };

  explicit OutboxRelayDriver(OutboxRelay& r) noexcept : relay(r) {}

  /// Waits until notify(), a store notification (when `listen`), `timeout`, or a stop request
  /// (which calls notify()).
  asio::awaitable<void, Executor> wait(std::chrono::milliseconds timeout, bool listen) {
    int store_fd = -1;
    if (listen) {
      store_fd = relay.store_.notification_fd();
      // Read by the connection during the last pass: its socket no longer shows it.
      if (store_fd >= 0 && relay.consume_store_notifications()) co_return;
    }
    const Executor executor = co_await asio::this_coro::executor;
    asio::basic_waitable_timer<std::chrono::steady_clock, asio::wait_traits<std::chrono::steady_clock>, Executor> timer(
        executor, timeout);
    detail::BorrowedDescriptor<Executor> wake(executor, relay.wake_fd_);
    using asio::experimental::deferred;
    constexpr auto readable = asio::posix::descriptor_base::wait_read;
    if (store_fd >= 0) {
      detail::BorrowedDescriptor<Executor> store(executor, store_fd);
      const auto result =
          co_await asio::experimental::make_parallel_group(timer.async_wait(deferred),
                                                           wake.get().async_wait(readable, deferred),
                                                           store.get().async_wait(readable, deferred))
              .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable_t<Executor>{});
      if (!std::get<3>(result)) relay.consume_store_notifications();  // (order, timer, wake, store)
    } else {
      co_await asio::experimental::make_parallel_group(timer.async_wait(deferred),
                                                       wake.get().async_wait(readable, deferred))
          .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable_t<Executor>{});
    }
    relay.drain_wake_fd();
  }

  /// Sends the pass's rows at once through the asynchronous transport; returns the pass with
  /// its results set, back on this executor.
  asio::awaitable<detail::RelayPass, Executor> send_all(IAsyncEventTransport<Task<>>& transport,
                                                        detail::RelayPass pass) {
    std::shared_ptr<detail::AsyncSendBatch> batch;
    co_await asio::async_initiate<const asio::use_awaitable_t<Executor>&, void()>(
        LaunchSends{transport, pass, batch}, asio::use_awaitable_t<Executor>{});
    detail::RelayPass done = std::move(batch->pass);
    relay.complete_async_results(done);
    co_return done;
  }

  OutboxRelay& relay;
};

}  // namespace spakky::event
