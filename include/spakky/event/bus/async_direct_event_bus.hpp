#pragma once
/// @file
/// AsyncDirectEventBus: DirectEventBus for an asynchronous transport.

#include <spakky/event/async_event_publisher.hpp>
#include <spakky/event/bus/header_injection.hpp>
#include <spakky/event/detail/lean_memory.hpp>
#include <spakky/event/serializer.hpp>
#include <spakky/event/task.hpp>

#include <exception>
#include <utility>

namespace spakky::event {

/// Serializes each event, adds the injected headers and awaits the transport's send; the
/// message stays alive until the transport has finished with it. Fails as DirectEventBus does
/// (SerializationError, also for CR, LF or NUL in the event name or a header; TransportError).
template <class Awaitable = Task<>>
class AsyncDirectEventBus final : public IAsyncEventBus<Awaitable> {
public:
  /// Sends through `transport` what `serializer` writes; both must outlive the bus.
  AsyncDirectEventBus(IAsyncEventTransport<Awaitable>& transport, const IEventSerializer& serializer) noexcept
      : transport_(transport), serializer_(serializer) {}

  /// Adds an injector; injectors run in the order added. Bearer tokens are removed after them.
  void add_header_injector(HeaderInjector injector) { injection_.add(std::move(injector)); }

  using IAsyncEventBus<Awaitable>::send;  // the shared_ptr overload

  Awaitable send(const AbstractIntegrationEvent& event) override {
    const detail::OutgoingMessage message = detail::prepare_message(event, serializer_, injection_);
    std::exception_ptr failure;
    try {
      co_await transport_.send(message.event_name, message.payload, message.headers);
    } catch (...) {
      failure = std::current_exception();
    }
    if (failure) detail::rethrow_as_transport_error(message.event_name, failure);
  }

private:
  IAsyncEventTransport<Awaitable>& transport_;
  const IEventSerializer& serializer_;
  detail::HeaderInjection injection_;
};

}  // namespace spakky::event
