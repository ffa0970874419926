// The other translation unit of async_bench: every asynchronous dispatch is made here,
// through IAsyncEventDispatcher<Task<>>& (AsyncEventMediator is never included), so that
// nothing is devirtualized or inlined. Built without LTO (see CMakeLists.txt).

#include "async_common.hpp"

#include <spakky/event/async_event_dispatcher.hpp>
#include <spakky/event/task.hpp>

namespace bench {

namespace {

spakky::event::Task<> dispatch_loop(AsyncDispatcher& dispatcher, const spakky::event::AbstractEvent& event,
                                    std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) co_await dispatcher.dispatch(event);
}

}  // namespace

void async_dispatch_n(AsyncDispatcher& dispatcher, const spakky::event::AbstractEvent& event, std::int64_t n) {
  spakky::event::sync_wait(dispatch_loop(dispatcher, event, n));
}

void async_sync_wait_n(AsyncDispatcher& dispatcher, const spakky::event::AbstractEvent& event, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) spakky::event::sync_wait(dispatcher.dispatch(event));
}

}  // namespace bench
