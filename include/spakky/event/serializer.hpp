#pragma once
/// @file
/// IEventSerializer: turns integration events into payloads and back.

#include <spakky/event/detail/lean_memory.hpp>
#include <spakky/event/detail/lean_std.hpp>
#include <spakky/event/event.hpp>

#include <string>
#include <string_view>

namespace spakky::event {

/// Encodes integration events for a transport and decodes them by event name.
class IEventSerializer {
public:
  virtual ~IEventSerializer() = default;
  /// The payload for `event`; SerializationError if its type is unknown to this serializer.
  [[nodiscard]] virtual std::string serialize(const AbstractIntegrationEvent& event) const = 0;
  /// The event named `event_name` read from `payload`; InvalidMessageError if it cannot be read.
  [[nodiscard]] virtual std::unique_ptr<AbstractIntegrationEvent> deserialize(std::string_view event_name,
                                                                              std::string_view payload) const = 0;
};

}  // namespace spakky::event
