#pragma once
/// @file
/// What async_bench shares with its other translation unit (async_targets.cpp): the
/// coroutine handler and the helpers through which every asynchronous dispatch is made.
///
/// As in dispatch_targets.cpp, the helpers see only the interface (IAsyncEventDispatcher<>),
/// never AsyncEventMediator: every dispatch is a real virtual call, nothing is inlined into
/// the caller, and each helper call makes `n` dispatches.

#include "bench_common.hpp"

#include <spakky/event/task.hpp>

#include <cstdint>

namespace spakky::event {
template <class Awaitable>
class IAsyncEventDispatcher;
}  // namespace spakky::event

namespace bench {

/// AddToSink as a Task<> handler that completes without suspending: the same add, then
/// co_return. Each call is one coroutine (one frame).
struct AddToSinkAsync {
  spakky::event::Task<> operator()(const Ping& e) const {
    sink = sink + e.value;
    co_return;
  }
};

using AsyncDispatcher = spakky::event::IAsyncEventDispatcher<spakky::event::Task<>>;

/// One sync_wait around a Task<> coroutine that co_awaits `n` dispatches in turn: the cost
/// of the asynchronous dispatch itself, as seen from inside a coroutine.
[[gnu::noinline]] void async_dispatch_n(AsyncDispatcher& dispatcher, const spakky::event::AbstractEvent& event,
                                        std::int64_t n);
/// `n` times sync_wait(dispatcher.dispatch(event)): what a synchronous caller pays.
[[gnu::noinline]] void async_sync_wait_n(AsyncDispatcher& dispatcher, const spakky::event::AbstractEvent& event,
                                         std::int64_t n);

}  // namespace bench
