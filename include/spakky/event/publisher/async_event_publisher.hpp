#pragma once
/// @file
/// AsyncEventPublisher: EventPublisher's routing for asynchronous dispatchers and buses.

#include <spakky/event/async_event_dispatcher.hpp>
#include <spakky/event/async_event_publisher.hpp>
#include <spakky/event/detail/lean_memory.hpp>
#include <spakky/event/publisher/event_publisher.hpp>
#include <spakky/event/task.hpp>

namespace spakky::event {

/// Routes events by kind, as EventPublisher does, awaiting the dispatcher or the bus.
template <class Awaitable = Task<>>
class AsyncEventPublisher final : public IAsyncEventPublisher<Awaitable> {
public:
  using IAsyncEventPublisher<Awaitable>::publish;  // the shared_ptr and the deleted overloads

  /// Without a bus: publishing an integration event fails with EventBusNotConfiguredError.
  explicit AsyncEventPublisher(IAsyncEventDispatcher<Awaitable>& dispatcher) noexcept : dispatcher_(dispatcher) {}
  /// Domain events go to `dispatcher`, integration events to `bus`; both must outlive it.
  AsyncEventPublisher(IAsyncEventDispatcher<Awaitable>& dispatcher, IAsyncEventBus<Awaitable>& bus) noexcept
      : dispatcher_(dispatcher), bus_(&bus) {}

  Awaitable publish(const AbstractEvent& event) override {
    if (detail::publish_target(event, bus_ != nullptr) == detail::PublishTarget::dispatcher) {
      co_await dispatcher_.dispatch(event);
    } else {
      co_await bus_->send(static_cast<const AbstractIntegrationEvent&>(event));
    }
  }

private:
  IAsyncEventDispatcher<Awaitable>& dispatcher_;
  IAsyncEventBus<Awaitable>* bus_ = nullptr;
};

}  // namespace spakky::event
