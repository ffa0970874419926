#pragma once
/// @file
/// DirectEventBus: serializes integration events and hands them to a transport at once.

#include <spakky/event/bus/header_injection.hpp>
#include <spakky/event/event_publisher.hpp>
#include <spakky/event/serializer.hpp>

#include <exception>
#include <utility>

namespace spakky::event {

/// Serializes each event, adds the injected headers and sends it through the transport.
/// Collaborators are taken by reference and must outlive the bus. Add injectors before use.
class DirectEventBus final : public IEventBus {
public:
  /// Sends through `transport` what `serializer` writes; both must outlive the bus.
  DirectEventBus(IEventTransport& transport, const IEventSerializer& serializer) noexcept
      : transport_(transport), serializer_(serializer) {}

  /// Adds an injector; injectors run in the order added. Bearer tokens are removed after them.
  void add_header_injector(HeaderInjector injector) { injection_.add(std::move(injector)); }

  /// transport.send(event.event_name(), payload, headers). Throws SerializationError (also for
  /// CR, LF or NUL in the event name or a header: nothing is sent) or TransportError (other
  /// transport exceptions are wrapped in one).
  void send(const AbstractIntegrationEvent& event) override {
    const auto message = detail::prepare_message(event, serializer_, injection_);
    try {
      transport_.send(message.event_name, message.payload, message.headers);
    } catch (...) {
      detail::rethrow_as_transport_error(message.event_name, std::current_exception());
    }
  }

private:
  IEventTransport& transport_;
  const IEventSerializer& serializer_;
  detail::HeaderInjection injection_;
};

}  // namespace spakky::event
