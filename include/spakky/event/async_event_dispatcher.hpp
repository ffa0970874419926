#pragma once
/// @file
/// IAsyncEventDispatcher: dispatches an event to handlers that are awaited one after another.

#include <spakky/event/detail/lean_memory.hpp>
#include <spakky/event/detail/lean_std.hpp>
#include <spakky/event/event.hpp>
#include <spakky/event/task.hpp>

#include <stdexcept>

namespace spakky::event {

/// Async counterpart of IEventDispatcher.
template <class Awaitable = Task<>>
class IAsyncEventDispatcher {
public:
  /// The coroutine type of every operation (Task<> by default).
  using awaitable_type = Awaitable;
  virtual ~IAsyncEventDispatcher() = default;
  /// Awaits every handler of the event's dynamic type in turn; `event` must outlive the
  /// returned awaitable. A failing handler is reported, never rethrown.
  virtual Awaitable dispatch(const AbstractEvent& event) = 0;
  /// dispatch(), keeping the event alive until the awaitable completes.
  Awaitable dispatch(std::shared_ptr<const AbstractEvent> event) {
    if (!event) throw std::invalid_argument("dispatch: null event");
    co_await dispatch(*event);
  }
};

}  // namespace spakky::event
