#pragma once
/// @file
/// The error types of spakky-event. Every message names the event by its event_name, escaped
/// (detail::escape_for_log): names and reasons may come from a hostile message.

#include <spakky/event/detail/escape.hpp>

#include <stdexcept>
#include <string>
#include <string_view>
#include <typeindex>

namespace spakky::event {

/// Base of every error this library throws.
class EventError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// An event that is neither a domain nor an integration event was published.
class UnknownEventTypeError : public EventError {
public:
  /// Names the rejected event (escaped) and keeps its dynamic type.
  UnknownEventTypeError(std::type_index type, std::string_view event_name)
      : EventError("event '" + detail::escape_for_log(event_name) +
                   "' is neither a domain nor an integration event"),
        type_(type) {}
  /// The dynamic type of the rejected event.
  [[nodiscard]] std::type_index event_type() const noexcept { return type_; }

private:
  std::type_index type_;
};

/// An integration event was published through a publisher that has no bus.
class EventBusNotConfiguredError : public EventError {
public:
  /// Names the event that could not be published (escaped).
  explicit EventBusNotConfiguredError(std::string_view event_name)
      : EventError("cannot publish integration event '" + detail::escape_for_log(event_name) +
                   "': no event bus configured") {}
};

/// A message could not be read: unknown event name, malformed or oversized payload.
class InvalidMessageError : public EventError {
public:
  /// Names the message's event (escaped) and says what is wrong with it (escaped).
  InvalidMessageError(std::string_view event_name, std::string_view reason)
      : EventError("invalid message for event '" + detail::escape_for_log(event_name) +
                   "': " + detail::escape_for_log(reason, 4096)) {}
};

/// An event could not be serialized (e.g. its type is not registered with the serializer).
class SerializationError : public EventError {
public:
  /// Names the event (escaped) and says why it could not be serialized (escaped).
  SerializationError(std::string_view event_name, std::string_view reason)
      : EventError("cannot serialize event '" + detail::escape_for_log(event_name) +
                   "': " + detail::escape_for_log(reason, 4096)) {}
};

/// A transport could not hand the message to its broker.
class TransportError : public EventError {
public:
  /// Names the event (escaped) and says why the send failed (escaped).
  TransportError(std::string_view event_name, std::string_view reason)
      : EventError("cannot send event '" + detail::escape_for_log(event_name) + "': " + detail::escape_for_log(reason, 4096)) {}
};

}  // namespace spakky::event
