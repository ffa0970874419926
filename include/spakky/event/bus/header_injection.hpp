#pragma once
/// @file
/// Header injectors and the preparation of an outgoing message, shared by DirectEventBus and
/// AsyncDirectEventBus: serialize, inject headers, drop bearer tokens.

#include <spakky/event/error.hpp>
#include <spakky/event/event.hpp>
#include <spakky/event/event_publisher.hpp>
#include <spakky/event/serializer.hpp>

#include <cstddef>
#include <exception>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace spakky::event {

/// Adds headers to an outgoing message (trace context, tenant, ...).
using HeaderInjector = std::function<void(const AbstractIntegrationEvent& event, Headers& headers)>;

namespace detail {

constexpr char ascii_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

constexpr bool iequals_prefix(std::string_view text, std::string_view prefix) noexcept {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (ascii_lower(text[i]) != ascii_lower(prefix[i])) return false;
  }
  return true;
}

/// An `Authorization` header (any case) carrying a bearer token (`Bearer ` in any case).
constexpr bool is_bearer_authorization(std::string_view name, std::string_view value) noexcept {
  return name.size() == 13 && iequals_prefix(name, "authorization") && iequals_prefix(value, "bearer ");
}

/// A message ready for a transport.
struct OutgoingMessage {
  std::string_view event_name;
  std::string payload;
  Headers headers;
};

/// The header-injection path of every bus.
class HeaderInjection {
public:
  void add(HeaderInjector injector) { injectors_.push_back(std::move(injector)); }

  /// Runs every injector in order, then removes bearer tokens: they must never leave.
  [[nodiscard]] Headers headers_for(const AbstractIntegrationEvent& event) const {
    Headers headers;
    for (const auto& injector : injectors_) injector(event, headers);
    std::erase_if(headers, [](const auto& header) { return is_bearer_authorization(header.first, header.second); });
    return headers;
  }

private:
  std::vector<HeaderInjector> injectors_;
};

/// Serializes and injects headers; any serializer failure becomes a SerializationError.
inline OutgoingMessage prepare_message(const AbstractIntegrationEvent& event, const IEventSerializer& serializer,
                                       const HeaderInjection& injection) {
  OutgoingMessage message{event.event_name(), {}, {}};
  try {
    message.payload = serializer.serialize(event);
  } catch (const SerializationError&) {
    throw;
  } catch (const std::exception& e) {
    throw SerializationError(message.event_name, e.what());
  } catch (...) {
    throw SerializationError(message.event_name, "the serializer threw a non-standard exception");
  }
  message.headers = injection.headers_for(event);
  return message;
}

/// Rethrows a transport's failure as a TransportError (a TransportError passes unchanged).
/// Shared by the synchronous and the asynchronous bus.
[[noreturn]] inline void rethrow_as_transport_error(std::string_view event_name, std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const TransportError&) {
    throw;
  } catch (const std::exception& e) {
    throw TransportError(event_name, e.what());
  } catch (...) {
    throw TransportError(event_name, "the transport threw a non-standard exception");
  }
}

}  // namespace detail
}  // namespace spakky::event
