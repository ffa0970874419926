#pragma once
/// @file
/// Header injectors and the preparation of an outgoing message, shared by DirectEventBus and
/// AsyncDirectEventBus: serialize, inject headers, refuse CR, LF and NUL (SerializationError),
/// drop bearer tokens (detail::is_bearer_authorization).

#include <spakky/event/detail/authorization.hpp>
#include <spakky/event/detail/lean_std.hpp>
#include <spakky/event/error.hpp>
#include <spakky/event/event.hpp>
#include <spakky/event/event_publisher.hpp>
#include <spakky/event/serializer.hpp>

#include <cstddef>
#include <exception>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace spakky::event {

/// Adds headers to an outgoing message (trace context, tenant, ...).
using HeaderInjector = std::function<void(const AbstractIntegrationEvent& event, Headers& headers)>;

namespace detail {

/// CR, LF or NUL: where a text-based transport (HTTP, STOMP, a log line) would split a header,
/// a frame or a record.
constexpr bool has_line_break_or_nul(std::string_view text) noexcept {
  return text.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

/// Throws SerializationError if the event name contains CR, LF or NUL.
inline void refuse_line_breaks(std::string_view event_name) {
  if (has_line_break_or_nul(event_name)) throw SerializationError(event_name, "the event name contains CR, LF or NUL");
}

/// Throws SerializationError if a header contains CR, LF or NUL. The error quotes the header
/// name (escaped, as every error does), never its value: it may be a secret.
inline void refuse_line_breaks(std::string_view event_name, const Headers& headers) {
  for (const auto& [name, value] : headers) {
    if (has_line_break_or_nul(name)) {
      throw SerializationError(event_name, "header name '" + name + "' contains CR, LF or NUL");
    }
    if (has_line_break_or_nul(value)) {
      throw SerializationError(event_name, "the value of header '" + name + "' contains CR, LF or NUL");
    }
  }
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

  /// Runs every injector in order, refuses CR, LF and NUL (SerializationError), then removes
  /// bearer tokens: they must never leave.
  [[nodiscard]] Headers headers_for(const AbstractIntegrationEvent& event) const {
    Headers headers;
    for (const auto& injector : injectors_) injector(event, headers);
    refuse_line_breaks(event.event_name(), headers);
    std::erase_if(headers, [](const auto& header) { return is_bearer_authorization(header.first, header.second); });
    return headers;
  }

private:
  std::vector<HeaderInjector> injectors_;
};

/// Serializes and injects headers; any serializer failure becomes a SerializationError, and so
/// does CR, LF or NUL in the event name or a header: nothing is sent then.
inline OutgoingMessage prepare_message(const AbstractIntegrationEvent& event, const IEventSerializer& serializer,
                                       const HeaderInjection& injection) {
  OutgoingMessage message{event.event_name(), {}, {}};
  refuse_line_breaks(message.event_name);
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
