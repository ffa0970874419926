#pragma once
/// @file
/// The asynchronous publishing interfaces: every operation returns an awaitable of type
/// `Awaitable` (Task<> by default; any coroutine type, e.g. asio::awaitable<void>).
///
/// An operation taking an event by reference needs the event to live until the returned
/// awaitable has completed. The overloads taking std::shared_ptr keep it alive themselves:
/// use them to spawn work and forget about it.

#include <spakky/event/detail/lean_memory.hpp>
#include <spakky/event/detail/lean_std.hpp>
#include <spakky/event/event.hpp>
#include <spakky/event/event_publisher.hpp>
#include <spakky/event/task.hpp>

#include <stdexcept>
#include <string_view>
#include <type_traits>

namespace spakky::event {

/// Async counterpart of IEventPublisher.
template <class Awaitable = Task<>>
class IAsyncEventPublisher {
public:
  /// The coroutine type of every operation (Task<> by default).
  using awaitable_type = Awaitable;
  virtual ~IAsyncEventPublisher() = default;
  /// Routes `event` by its kind; `event` must outlive the returned awaitable.
  virtual Awaitable publish(const AbstractEvent& event) = 0;
  /// publish(), keeping the event alive until the awaitable completes.
  Awaitable publish(std::shared_ptr<const AbstractEvent> event) {
    if (!event) throw std::invalid_argument("publish: null event");
    co_await publish(*event);
  }
  /// An event type that is neither a domain nor an integration event cannot be published.
  template <Event E>
    requires(!DomainEvent<E> && !IntegrationEvent<E> && !std::is_same_v<E, AbstractEvent>)
  Awaitable publish(const E& event) = delete;
};

/// Async counterpart of IEventBus.
template <class Awaitable = Task<>>
class IAsyncEventBus {
public:
  /// The coroutine type of every operation (Task<> by default).
  using awaitable_type = Awaitable;
  virtual ~IAsyncEventBus() = default;
  /// Serializes and sends `event`; `event` must outlive the returned awaitable.
  virtual Awaitable send(const AbstractIntegrationEvent& event) = 0;
  /// send(), keeping the event alive until the awaitable completes.
  Awaitable send(std::shared_ptr<const AbstractIntegrationEvent> event) {
    if (!event) throw std::invalid_argument("send: null event");
    co_await send(*event);
  }
};

/// Async counterpart of IEventTransport. The views and headers stay valid until the
/// returned awaitable completes.
template <class Awaitable = Task<>>
class IAsyncEventTransport {
public:
  /// The coroutine type of every operation (Task<> by default).
  using awaitable_type = Awaitable;
  virtual ~IAsyncEventTransport() = default;
  /// Sends one serialized event; fails (in the awaitable) with TransportError if the broker
  /// did not take it.
  virtual Awaitable send(std::string_view event_name, std::string_view payload, const Headers& headers) = 0;
};

}  // namespace spakky::event
