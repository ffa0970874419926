#pragma once
// A tiny IEventSerializer for tests: knows only the event types added to it, and writes
//   <event name>|<event id>|<timestamp, microseconds since the epoch>|<encoded fields>

#include <spakky/event/error.hpp>
#include <spakky/event/event.hpp>
#include <spakky/event/serializer.hpp>

#include <charconv>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <typeindex>
#include <typeinfo>
#include <utility>

namespace test_support {

/// Serializes registered integration event types; SerializationError for any other type and
/// InvalidMessageError for unknown names or unreadable payloads.
class TestSerializer final : public spakky::event::IEventSerializer {
public:
  /// Encodes the event's own fields (may throw, to simulate a failing serializer).
  template <class E>
  using Encode = std::function<std::string(const E&)>;
  /// Rebuilds the event from its id, timestamp and encoded fields.
  template <class E>
  using Decode = std::function<std::unique_ptr<E>(spakky::event::EventId, spakky::event::Timestamp, std::string_view)>;

  /// Teaches the serializer E, under event_name_v<E>. Without `decode`, deserialize rejects E.
  template <spakky::event::IntegrationEvent E>
  TestSerializer& add(Encode<E> encode, Decode<E> decode = {}) {
    Entry entry;
    entry.name = std::string(spakky::event::event_name_v<E>);
    entry.encode = [encode = std::move(encode)](const spakky::event::AbstractIntegrationEvent& event) {
      return encode(static_cast<const E&>(event));
    };
    if (decode) {
      entry.decode = [decode = std::move(decode)](spakky::event::EventId id, spakky::event::Timestamp at,
                                                  std::string_view fields)
          -> std::unique_ptr<spakky::event::AbstractIntegrationEvent> { return decode(id, at, fields); };
    }
    by_name_.insert_or_assign(entry.name, std::type_index(typeid(E)));
    by_type_.insert_or_assign(std::type_index(typeid(E)), std::move(entry));
    return *this;
  }

  [[nodiscard]] std::string serialize(const spakky::event::AbstractIntegrationEvent& event) const override {
    const auto found = by_type_.find(std::type_index(typeid(event)));
    if (found == by_type_.end()) {
      throw spakky::event::SerializationError(event.event_name(), "type not registered with TestSerializer");
    }
    return found->second.name + '|' + event.event_id().to_string() + '|' +
           std::to_string(event.timestamp().time_since_epoch().count()) + '|' + found->second.encode(event);
  }

  [[nodiscard]] std::unique_ptr<spakky::event::AbstractIntegrationEvent> deserialize(
      std::string_view event_name, std::string_view payload) const override {
    const auto name = by_name_.find(event_name);
    if (name == by_name_.end()) throw spakky::event::InvalidMessageError(event_name, "unknown event name");
    const Entry& entry = by_type_.at(name->second);
    if (!entry.decode) throw spakky::event::InvalidMessageError(event_name, "not decodable");

    // <name>|<id>|<micros>|<fields>
    const std::string prefix = entry.name + '|';
    if (payload.substr(0, prefix.size()) != prefix) throw spakky::event::InvalidMessageError(event_name, "name mismatch");
    payload.remove_prefix(prefix.size());
    const auto id_end = payload.find('|');
    if (id_end == std::string_view::npos) throw spakky::event::InvalidMessageError(event_name, "no id");
    const auto id = spakky::event::EventId::try_parse(payload.substr(0, id_end));
    if (!id) throw spakky::event::InvalidMessageError(event_name, "bad id");
    payload.remove_prefix(id_end + 1);
    const auto at_end = payload.find('|');
    if (at_end == std::string_view::npos) throw spakky::event::InvalidMessageError(event_name, "no timestamp");
    std::int64_t micros = 0;
    const auto [end, error] = std::from_chars(payload.data(), payload.data() + at_end, micros);
    if (error != std::errc{} || end != payload.data() + at_end) {
      throw spakky::event::InvalidMessageError(event_name, "bad timestamp");
    }
    payload.remove_prefix(at_end + 1);
    return entry.decode(*id, spakky::event::Timestamp{std::chrono::microseconds{micros}}, payload);
  }

private:
  struct Entry {
    std::string name;
    std::function<std::string(const spakky::event::AbstractIntegrationEvent&)> encode;
    std::function<std::unique_ptr<spakky::event::AbstractIntegrationEvent>(
        spakky::event::EventId, spakky::event::Timestamp, std::string_view)>
        decode;
  };

  std::map<std::type_index, Entry> by_type_;
  std::map<std::string, std::type_index, std::less<>> by_name_;
};

}  // namespace test_support
