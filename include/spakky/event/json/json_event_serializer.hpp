#pragma once
/// @file
/// JsonEventSerializer: integration events as the JSON the Python package (pydantic v2) writes
/// for the same dataclass, so services in both languages read each other's messages.
///
/// **Example**
/// @code
/// struct OrderPlaced final : spakky::event::AbstractIntegrationEvent {
///   OrderPlaced(std::string id, double amount) : order_id(std::move(id)), amount(amount) {}
///   OrderPlaced(spakky::event::EventId id, spakky::event::Timestamp at) : AbstractIntegrationEvent(id, at) {}
///   std::string order_id;
///   double amount = 0;
/// };
/// SPAKKY_EVENT_JSON_FIELDS(OrderPlaced, order_id, amount)
///
/// spakky::event::JsonEventSerializer serializer;
/// serializer.register_event<OrderPlaced>();
/// std::string payload = serializer.serialize(OrderPlaced("o-1", 12.5));
/// // {"event_id":"0b7c3f4e-...","timestamp":"2026-11-26T10:50:57.123456Z","order_id":"o-1","amount":12.5}
/// auto event = serializer.deserialize("OrderPlaced", payload);   // same id, timestamp and fields
/// @endcode
///
/// How an event is rebuilt: with its public constructor `E(EventId, Timestamp)` (which passes
/// both to the base's protected constructor of the same shape), the fields then assigned from
/// the payload. An event without that constructor but default-constructible works too: it is
/// default-constructed (a fresh id is made and dropped) and then given the message's id and
/// timestamp.

#include <spakky/event/detail/timestamp_format.hpp>
#include <spakky/event/error.hpp>
#include <spakky/event/event.hpp>
#include <spakky/event/event_id.hpp>
#include <spakky/event/json/codec.hpp>
#include <spakky/event/json/fields.hpp>
#include <spakky/event/json/parse.hpp>
#include <spakky/event/serializer.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <typeindex>
#include <typeinfo>

namespace spakky::event {

namespace detail::json {

/// Carries an id and a timestamp into an event's base by assignment (see make_event).
struct IdentityCarrier final : AbstractIntegrationEvent {
  IdentityCarrier(EventId id, Timestamp at) noexcept : AbstractIntegrationEvent(id, at) {}
};

template <class E>
inline constexpr bool rebuildable = std::is_constructible_v<E, EventId, Timestamp> || std::is_default_constructible_v<E>;

/// A new E carrying `id` and `at`, its fields default or empty.
template <class E>
std::unique_ptr<E> make_event(EventId id, Timestamp at) {
  if constexpr (std::is_constructible_v<E, EventId, Timestamp>) {
    return std::make_unique<E>(id, at);
  } else {
    auto event = std::make_unique<E>();
    // AbstractIntegrationEvent's implicit copy assignment is public and copies only the base:
    // the id, the timestamp and the kind.
    static_cast<AbstractIntegrationEvent&>(*event) = IdentityCarrier(id, at);
    return event;
  }
}

template <class E>
std::string encode(const AbstractIntegrationEvent& base, std::size_t max_depth) {
  const E& event = static_cast<const E&>(base);
  const Depth fields = Depth{1, max_depth}.open();  // the event's own object is level 1
  std::string out;
  out.reserve(256);
  out += R"({"event_id":")";
  out += event.event_id().to_string();
  out += R"(","timestamp":")";
  out += format_timestamp(event.timestamp());
  out += '"';
  write_fields(out, event, fields);
  out += '}';
  return out;
}

template <class E>
std::unique_ptr<AbstractIntegrationEvent> decode(const JsonObject& object) {
  std::size_t hint = 0;
  const JsonPath id_path(nullptr, "event_id");
  const Json* id_value = find(object, "event_id", hint);
  if (id_value == nullptr) throw JsonReadError(id_path, "missing");
  EventId id;
  read(*id_value, id, id_path);

  const JsonPath at_path(nullptr, "timestamp");
  const Json* at_value = find(object, "timestamp", hint);
  if (at_value == nullptr) throw JsonReadError(at_path, "missing");
  Timestamp at;
  read(*at_value, at, at_path);

  std::unique_ptr<E> event = make_event<E>(id, at);
  read_fields(object, *event, nullptr);
  return event;
}

}  // namespace detail::json

/// Writes integration events as JSON objects `{"event_id":..., "timestamp":..., <fields>}`
/// (fields in the order listed with SPAKKY_EVENT_JSON_FIELDS, absent optionals as null,
/// non-ASCII as raw UTF-8, timestamps and floats as pydantic spells them) and reads them back
/// by event name.
///
/// Floats: a double is written byte for byte as pydantic 2 writes it (shortest round-trip
/// digits: `1e-9`, `0.00001`, `1000000000000000.0`, `1e+16`, `-0.0`; json/number_format.hpp).
/// A `float` field is written with the shortest digits that read back as that float (`0.1f`
/// as `0.1`, not as its exact value `0.10000000149011612`), which pydantic reads and writes
/// back unchanged. An infinite or NaN value is a SerializationError (pydantic would write
/// null, which no float field reads back). Reading accepts `Z` and `+HH:MM` offsets (converted to UTC), any number of fraction
/// digits (truncated to microseconds) or none, ignores keys it does not know, and reads a
/// missing std::optional field as empty.
///
/// Nesting is bounded both ways (max_depth(), 128 levels by default, the event's own object
/// counting as level 1): deserialize refuses a deeper payload while parsing, before anything
/// recursive runs, and serialize refuses a deeper value (a recursive field type such as
/// `struct Category { std::string name; std::vector<Category> children; };`) before it
/// recurses into it. Both count alike: what serialize writes, deserialize with the same limit
/// reads. The codec recurses once per level: a limit far above the default needs the stack
/// for it.
///
/// Numbers are read into the field's type only if it holds them: an integer outside the
/// type's range, and a non-zero number that becomes 0 or infinity in a floating-point type
/// (`1e-50` or `1e50` for a float, `1e-400` or `1e309` anywhere), are InvalidMessageError;
/// rounding (`16777217` into a float) and subnormal results are not errors.
///
/// Register every event type once, before use; after that serialize and deserialize may be
/// called from any number of threads.
class JsonEventSerializer final : public IEventSerializer {
public:
  /// The default bound on the size of a payload deserialize accepts: 1 MiB.
  static constexpr std::size_t default_max_payload_bytes = std::size_t{1} << 20;

  /// The default bound on nesting, both ways: 128 levels.
  static constexpr std::size_t default_max_depth = 128;

  /// `max_payload_bytes` bounds what deserialize reads (a larger payload is an
  /// InvalidMessageError before any parsing).
  explicit JsonEventSerializer(std::size_t max_payload_bytes = default_max_payload_bytes) noexcept
      : max_payload_bytes_(max_payload_bytes) {}
  // The name index points into the type index: moving keeps the nodes, copying would not.
  JsonEventSerializer(const JsonEventSerializer&) = delete;
  JsonEventSerializer& operator=(const JsonEventSerializer&) = delete;
  /// Takes over `other`'s registered types.
  JsonEventSerializer(JsonEventSerializer&&) noexcept = default;
  /// Takes over `other`'s registered types.
  JsonEventSerializer& operator=(JsonEventSerializer&&) noexcept = default;
  ~JsonEventSerializer() override = default;

  /// Teaches the serializer E, under its event name (event_name_of<E>()). Registering the same
  /// type twice is a no-op; another type under the same name is an EventError.
  template <IntegrationEvent E>
  JsonEventSerializer& register_event() {
    static_assert(detail::HasJsonFields<E>,
                  "list the event's fields with SPAKKY_EVENT_JSON_FIELDS(Event, field...) at namespace "
                  "scope, in the event's namespace (an event without fields: SPAKKY_EVENT_JSON_FIELDS(Event))");
    static_assert(detail::json_field_names_are_valid<E>(),
                  "SPAKKY_EVENT_JSON_FIELDS lists a field twice, or one called event_id or timestamp");
    static_assert(!std::is_abstract_v<E> && detail::json::rebuildable<E>,
                  "JsonEventSerializer rebuilds events with a public constructor E(EventId, Timestamp) "
                  "(forwarding to the base's protected one) or, failing that, a public default constructor");
    const std::string_view name = event_name_of<E>();
    const std::type_index type(typeid(E));
    if (const auto found = by_name_.find(name); found != by_name_.end()) {
      if (found->second->type == type) return *this;
      throw EventError("JsonEventSerializer: the event name '" + std::string(name) +
                       "' is already registered for another type");
    }
    Entry& entry = by_type_.insert_or_assign(type, Entry{std::string(name), type, &detail::json::encode<E>,
                                                         &detail::json::decode<E>})
                       .first->second;
    by_name_.emplace(entry.name, &entry);
    return *this;
  }

  /// register_event for each of Es.
  template <IntegrationEvent... Es>
  JsonEventSerializer& register_events() {
    (register_event<Es>(), ...);
    return *this;
  }

  /// True if an event type is registered under `event_name`.
  [[nodiscard]] bool knows(std::string_view event_name) const { return by_name_.find(event_name) != by_name_.end(); }

  /// The bound on the payload size deserialize accepts.
  [[nodiscard]] std::size_t max_payload_bytes() const noexcept { return max_payload_bytes_; }
  /// Changes that bound (not while other threads deserialize).
  void set_max_payload_bytes(std::size_t bytes) noexcept { max_payload_bytes_ = bytes; }
  /// How deeply arrays and objects may nest in a payload read or written (the event's own
  /// object is level 1).
  [[nodiscard]] std::size_t max_depth() const noexcept { return max_depth_; }
  /// Changes that bound (not while other threads use the serializer).
  void set_max_depth(std::size_t levels) noexcept { max_depth_ = levels; }

  /// The JSON payload of `event`. SerializationError if its dynamic type is not registered,
  /// a string field is not valid UTF-8, a value nests deeper than max_depth(), a number is
  /// infinite or NaN, or a JSON-valued field holds what JSON text cannot (a binary value).
  [[nodiscard]] std::string serialize(const AbstractIntegrationEvent& event) const override {
    const auto found = by_type_.find(std::type_index(typeid(event)));
    if (found == by_type_.end()) {
      throw SerializationError(event.event_name(), "its type is not registered with this JsonEventSerializer "
                                                   "(call register_event<E>() first)");
    }
    try {
      return found->second.encode(event, max_depth_);
    } catch (const detail::json::JsonWriteError& e) {
      throw SerializationError(event.event_name(), e.what());
    } catch (const nlohmann::json::exception& e) {  // a user's to_json
      throw SerializationError(event.event_name(), e.what());
    }
  }

  /// The event named `event_name` read from `payload`, with the payload's id and timestamp.
  /// InvalidMessageError if the name is unknown, the payload is larger than
  /// max_payload_bytes(), not JSON, nested deeper than max_depth(), not an object, or lacks a
  /// field or has one of the wrong type or range.
  [[nodiscard]] std::unique_ptr<AbstractIntegrationEvent> deserialize(std::string_view event_name,
                                                                      std::string_view payload) const override {
    const auto found = by_name_.find(event_name);
    if (found == by_name_.end()) {
      // The error escapes the name and cuts it (marking the cut): it may be anything a broker delivered.
      throw InvalidMessageError(event_name, "unknown event name (not registered with this JsonEventSerializer)");
    }
    if (payload.size() > max_payload_bytes_) {
      throw InvalidMessageError(event_name, "payload of " + std::to_string(payload.size()) +
                                                " bytes is larger than the limit of " +
                                                std::to_string(max_payload_bytes_) + " bytes");
    }
    detail::json::Json root;
    try {
      root = detail::json::parse_payload(payload, max_depth_);
    } catch (const detail::json::JsonParseError& e) {
      throw InvalidMessageError(event_name, e.what());
    }
    if (!root.is_object()) {
      throw InvalidMessageError(event_name, std::string("expected a JSON object, got ") + root.type_name());
    }
    try {
      return found->second->decode(root.get_ref<const detail::json::JsonObject&>());
    } catch (const detail::json::JsonReadError& e) {
      throw InvalidMessageError(event_name, e.what());
    } catch (const nlohmann::json::exception& e) {
      throw InvalidMessageError(event_name, e.what());
    }
  }

private:
  struct Entry {
    std::string name;
    std::type_index type;
    std::string (*encode)(const AbstractIntegrationEvent&, std::size_t max_depth);
    std::unique_ptr<AbstractIntegrationEvent> (*decode)(const detail::json::JsonObject&);
  };

  std::map<std::type_index, Entry> by_type_;  // node-based: by_name_ points into it
  std::map<std::string_view, const Entry*, std::less<>> by_name_;
  std::size_t max_payload_bytes_;
  std::size_t max_depth_ = default_max_depth;
};

}  // namespace spakky::event
