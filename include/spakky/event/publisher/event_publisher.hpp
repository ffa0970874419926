#pragma once
/// @file
/// EventPublisher: routes domain events to a dispatcher and integration events to a bus.

#include <spakky/event/error.hpp>
#include <spakky/event/event_dispatcher.hpp>
#include <spakky/event/event_publisher.hpp>

#include <typeindex>
#include <typeinfo>

namespace spakky::event {

namespace detail {
/// The routing rule shared by EventPublisher and AsyncEventPublisher: which side an event goes
/// to, or the error that says why it cannot go anywhere.
enum class PublishTarget { dispatcher, bus };

inline PublishTarget publish_target(const AbstractEvent& event, bool has_bus) {
  switch (event.kind()) {
    case EventKind::domain: return PublishTarget::dispatcher;
    case EventKind::integration:
      if (!has_bus) throw EventBusNotConfiguredError(event.event_name());
      return PublishTarget::bus;
    case EventKind::other: break;
  }
  throw UnknownEventTypeError(std::type_index(typeid(event)), event.event_name());
}
}  // namespace detail

/// Routes events by kind. All collaborators are taken by reference and must outlive it.
///
/// **Example**
/// @code
/// EventPublisher publisher(mediator, bus);
/// publisher.publish(UserCreated{"u-1", "kim"});   // -> mediator.dispatch
/// publisher.publish(OrderPlaced{"o-1"});          // -> bus.send
/// @endcode
class EventPublisher final : public IEventPublisher {
public:
  using IEventPublisher::publish;  // keeps the deleted template overload visible

  /// Without a bus: publishing an integration event throws EventBusNotConfiguredError.
  explicit EventPublisher(IEventDispatcher& dispatcher) noexcept : dispatcher_(dispatcher) {}
  /// Domain events go to `dispatcher`, integration events to `bus`; both must outlive it.
  EventPublisher(IEventDispatcher& dispatcher, IEventBus& bus) noexcept : dispatcher_(dispatcher), bus_(&bus) {}

  void publish(const AbstractEvent& event) override {
    if (detail::publish_target(event, bus_ != nullptr) == detail::PublishTarget::dispatcher) {
      dispatcher_.dispatch(event);
    } else {
      bus_->send(static_cast<const AbstractIntegrationEvent&>(event));
    }
  }

private:
  IEventDispatcher& dispatcher_;
  IEventBus* bus_ = nullptr;
};

}  // namespace spakky::event
