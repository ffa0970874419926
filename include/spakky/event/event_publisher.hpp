#pragma once
/// @file
/// The publishing interfaces: IEventPublisher routes, IEventBus sends integration events,
/// IEventTransport carries serialized payloads; Headers travel with them.

#include <spakky/event/detail/lean_std.hpp>
#include <spakky/event/event.hpp>

#include <map>
#include <string>
#include <string_view>

namespace spakky::event {

/// Message headers (trace context and the like); ordered, looked up by string_view.
using Headers = std::map<std::string, std::string, std::less<>>;

/// Publishes events: domain events to the in-process dispatcher, integration events to a bus.
class IEventPublisher {
public:
  virtual ~IEventPublisher() = default;
  /// Routes `event` by its kind.
  virtual void publish(const AbstractEvent& event) = 0;
  /// An event type that is neither a domain nor an integration event cannot be published.
  template <Event E>
    requires(!DomainEvent<E> && !IntegrationEvent<E> && !std::is_same_v<E, AbstractEvent>)
  void publish(const E& event) = delete;
};

/// Sends integration events out of the process.
class IEventBus {
public:
  virtual ~IEventBus() = default;
  /// Serializes `event` and hands it to a transport; throws TransportError or SerializationError.
  virtual void send(const AbstractIntegrationEvent& event) = 0;
};

/// Moves serialized events to a broker. Signals failure with TransportError.
class IEventTransport {
public:
  virtual ~IEventTransport() = default;
  /// Sends one message: routed by `event_name`, carrying `payload` and `headers`.
  virtual void send(std::string_view event_name, std::string_view payload, const Headers& headers) = 0;
};

}  // namespace spakky::event
