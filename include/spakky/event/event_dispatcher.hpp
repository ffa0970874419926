#pragma once
/// @file
/// IEventDispatcher: where events are dispatched to their handlers.

#include <spakky/event/dispatch_outcome.hpp>
#include <spakky/event/event.hpp>

namespace spakky::event {

/// Dispatches an event to the handlers registered for it.
class IEventDispatcher {
public:
  virtual ~IEventDispatcher() = default;
  /// Calls every handler of the event's dynamic type. Never throws for a failing handler.
  virtual void dispatch(const AbstractEvent& event) = 0;
};

}  // namespace spakky::event
