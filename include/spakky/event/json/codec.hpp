#pragma once
/// @file
/// The value codec behind JsonEventSerializer (internal): writes the field types an event may
/// have straight to JSON text (json/writer.hpp), and reads them from the DOM of a parsed
/// payload, an nlohmann::ordered_json (which keeps keys in insertion order).
///
/// Supported field types: std::string, bool, integers and floating point (range-checked on
/// read: see read), std::optional<T> (null when empty; a missing key reads as empty), EventId
/// (UUID string), Timestamp (ISO 8601 UTC, as pydantic writes it), sequence containers
/// (std::vector, std::deque, std::list), std::array, string-keyed maps (OrderedMap keeps the
/// payload's key order; std::map sorts, std::unordered_map scatters), structs listed with
/// SPAKKY_EVENT_JSON_FIELDS (nested objects), free-form JSON (nlohmann::json and
/// nlohmann::ordered_json: any JSON value, written as it is), and anything
/// nlohmann::ordered_json converts itself (enums, or a user's to_json/from_json).
///
/// Writing counts nesting levels (the event's object is level 1) and refuses a value deeper
/// than the limit before it recurses into it (JsonWriteError); reading relies on the parse
/// (json/parse.hpp) having refused deeper input: both recurse once per level.

#include <spakky/event/detail/timestamp_format.hpp>
#include <spakky/event/detail/timestamp_parse.hpp>
#include <spakky/event/event.hpp>
#include <spakky/event/event_id.hpp>
#include <spakky/event/json/fields.hpp>
#include <spakky/event/json/number_format.hpp>
#include <spakky/event/json/ordered_map.hpp>
#include <spakky/event/json/writer.hpp>

#include <nlohmann/json.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace spakky::event::detail::json {

using Json = nlohmann::ordered_json;
using JsonObject = Json::object_t;
using JsonArray = Json::array_t;

/// Where a value sits in the payload, for error messages: `address.city`, `tags[1]`.
struct JsonPath {
  JsonPath(const JsonPath* parent_path, std::string_view member) noexcept : parent(parent_path), key(member) {}
  JsonPath(const JsonPath* parent_path, std::size_t element) noexcept
      : parent(parent_path), index(element), is_index(true) {}

  const JsonPath* parent = nullptr;
  std::string_view key;
  std::size_t index = 0;
  bool is_index = false;

  [[nodiscard]] std::string str() const {
    std::string out = parent != nullptr ? parent->str() : std::string();
    if (is_index) {
      out += '[' + std::to_string(index) + ']';
    } else {
      if (!out.empty()) out += '.';
      out += key;
    }
    return out;
  }
};

/// A value of the payload could not be read into its field.
class JsonReadError : public std::runtime_error {
public:
  JsonReadError(const JsonPath& path, std::string_view what)
      : std::runtime_error("field '" + path.str() + "': " + std::string(what)) {}
};

template <class T>
inline constexpr bool always_false = false;


template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

template <class T>
struct is_ordered_map : std::false_type {};
template <class T>
struct is_ordered_map<OrderedMap<T>> : std::true_type {};

/// Fills an OrderedMap from a parsed object without searching it for each key (the parse
/// already made the keys unique): linear in the number of keys.
struct OrderedMapAccess {
  template <class T>
  static auto& entries(OrderedMap<T>& map) noexcept {
    return map.entries_;
  }
};

template <class T>
struct is_std_array : std::false_type {};
template <class T, std::size_t N>
struct is_std_array<std::array<T, N>> : std::true_type {};

template <class T>
concept StringKeyedMap = requires(T& map, std::string key, typename T::mapped_type value) {
  typename T::key_type;
  typename T::mapped_type;
  map.emplace(std::move(key), std::move(value));
  map.clear();
} && std::is_same_v<typename T::key_type, std::string>;

template <class T>
concept Sequence = !std::is_same_v<T, std::string> && !JsonValue<T> && !StringKeyedMap<T> && !is_std_array<T>::value &&
                   requires(T& seq, typename T::value_type value) {
                     seq.begin();
                     seq.end();
                     seq.push_back(std::move(value));
                     seq.clear();
                   };

template <class T>
concept Integer = std::is_integral_v<T> && !std::is_same_v<T, bool>;

[[noreturn]] inline void wrong_type(const Json& in, const JsonPath& path, std::string_view expected) {
  throw JsonReadError(path, "expected " + std::string(expected) + ", got " + std::string(in.type_name()));
}

/// The value under `key`, or null. `hint` is where the search starts (the position after the
/// previous field): payloads written in declaration order are read in one pass.
inline const Json* find(const JsonObject& object, std::string_view key, std::size_t& hint) noexcept {
  const std::size_t n = object.size();
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t at = hint + i;
    if (at >= n) at -= n;
    const auto& entry = *(object.begin() + static_cast<std::ptrdiff_t>(at));
    if (entry.first == key) {
      hint = at + 1;
      return &entry.second;
    }
  }
  return nullptr;
}

template <class T>
void write(std::string& out, const T& value, Depth depth);
template <class T>
void read(const Json& in, T& value, const JsonPath& path);

/// Appends `,"name":value` for each listed field of `value`, in the listed order; `depth` is
/// the level of the fields. (The names are C++ identifiers: nothing to escape.)
template <class T>
void write_fields(std::string& out, const T& value, Depth depth) {
  std::apply(
      [&](const auto&... field) {
        ((out += ",\"", out += field.name, out += "\":", write(out, value.*field.member, depth)), ...);
      },
      json_fields_v<T>);
}

/// 2^exponent (exponent >= 0), at compile time.
constexpr double power_of_two(int exponent) noexcept {
  double result = 1;
  for (; exponent > 0; --exponent) result *= 2;
  return result;
}

/// `number` as a `T`. A non-zero number that becomes 0 in T, or whose magnitude rounds beyond
/// T's largest (to infinity), is out of range; rounding and subnormal results are not errors.
/// (A double itself cannot be out of range here: the parse refused such numbers.)
template <class T>
T narrow_floating(double number, const JsonPath& path) {
  if constexpr (sizeof(T) >= sizeof(double)) {
    return static_cast<T>(number);
  } else {
    using limits = std::numeric_limits<T>;
    // Halfway between T's largest and the next power of two: from there on, T rounds to infinity.
    constexpr double overflow =
        power_of_two(limits::max_exponent) - power_of_two(limits::max_exponent - limits::digits - 1);
    const double magnitude = std::fabs(number);
    // Between T's largest and `overflow`, the number rounds to T's largest (a cast would be
    // undefined: the value lies beyond T's range).
    const T narrowed = magnitude <= static_cast<double>(limits::max()) ? static_cast<T>(number)
                       : number < 0                                     ? limits::lowest()
                                                                        : limits::max();
    if (magnitude >= overflow || (narrowed == 0 && number != 0)) {
      throw JsonReadError(path, "number " + format_number(number) + " out of range for a float");
    }
    return narrowed;
  }
}

template <class T>
void read_field_into(const JsonObject& object, T& value, const auto& field, const JsonPath* parent,
                     std::size_t& hint) {
  using Member = typename std::remove_cvref_t<decltype(field)>::member_type;
  const JsonPath path(parent, field.name);
  const Json* found = find(object, field.name, hint);
  if (found == nullptr) {
    if constexpr (is_optional<Member>::value) {
      (value.*field.member).reset();  // like pydantic's `x: Optional[T] = None`
      return;
    } else {
      throw JsonReadError(path, "missing");
    }
  }
  read(*found, value.*field.member, path);
}

/// Reads the listed fields of `value` from `object`; keys that are not listed are ignored.
template <class T>
void read_fields(const JsonObject& object, T& value, const JsonPath* parent) {
  std::size_t hint = 0;
  std::apply([&](const auto&... field) { (read_field_into(object, value, field, parent, hint), ...); },
             json_fields_v<T>);
}

template <class T>
void write(std::string& out, const T& value, Depth depth) {
  if constexpr (HasJsonFields<T>) {
    const Depth inner = depth.open();
    const std::size_t open_at = out.size();
    write_fields(out, value, inner);
    if (out.size() == open_at) {
      out += "{}";
    } else {
      out[open_at] = '{';  // the first field's leading comma
      out += '}';
    }
  } else if constexpr (is_optional<T>::value) {
    if (value.has_value()) {
      write(out, *value, depth);
    } else {
      out += "null";
    }
  } else if constexpr (std::is_same_v<T, std::string>) {
    write_string(out, value);
  } else if constexpr (std::is_same_v<T, bool>) {
    out += value ? "true" : "false";
  } else if constexpr (Integer<T>) {
    write_integer(out, value);
  } else if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    write_floating(out, value);
  } else if constexpr (std::is_floating_point_v<T>) {
    // pydantic's floats are doubles: a long double is written (and read) as one.
    write_floating(out, static_cast<double>(value));
  } else if constexpr (std::is_same_v<T, EventId>) {
    out += '"';
    out += value.to_string();
    out += '"';
  } else if constexpr (std::is_same_v<T, Timestamp>) {
    out += '"';
    out += format_timestamp(value);
    out += '"';
  } else if constexpr (JsonValue<T>) {
    write_json_value(out, value, depth);
  } else if constexpr (Sequence<T> || is_std_array<T>::value) {
    write_array(out, value, depth, [](std::string& o, const auto& element, Depth d) { write(o, element, d); });
  } else if constexpr (StringKeyedMap<T>) {
    write_object(out, value, depth, [](std::string& o, const auto& element, Depth d) { write(o, element, d); });
  } else if constexpr (std::is_constructible_v<Json, const T&>) {
    // nlohmann's own conversions: enums, a user's to_json(ordered_json&, const T&).
    write_json_value(out, Json(value), depth);
  } else {
    static_assert(always_false<T>,
                  "JsonEventSerializer cannot write this field type: list a struct's fields with "
                  "SPAKKY_EVENT_JSON_FIELDS, or give it to_json/from_json for nlohmann::ordered_json");
  }
}

template <class T>
void read(const Json& in, T& value, const JsonPath& path) {
  if constexpr (HasJsonFields<T>) {
    if (!in.is_object()) wrong_type(in, path, "an object");
    read_fields(in.get_ref<const JsonObject&>(), value, &path);
  } else if constexpr (is_optional<T>::value) {
    if (in.is_null()) {
      value.reset();
    } else {
      read(in, value.emplace(), path);
    }
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!in.is_string()) wrong_type(in, path, "a string");
    value = in.get_ref<const std::string&>();
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!in.is_boolean()) wrong_type(in, path, "a boolean");
    value = in.get<bool>();
  } else if constexpr (Integer<T>) {
    if (in.is_number_unsigned()) {
      const auto number = in.get<std::uint64_t>();
      if (!std::in_range<T>(number)) throw JsonReadError(path, "integer " + std::to_string(number) + " out of range");
      value = static_cast<T>(number);
    } else if (in.is_number_integer()) {
      const auto number = in.get<std::int64_t>();
      if (!std::in_range<T>(number)) throw JsonReadError(path, "integer " + std::to_string(number) + " out of range");
      value = static_cast<T>(number);
    } else {
      wrong_type(in, path, "an integer");
    }
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!in.is_number()) wrong_type(in, path, "a number");
    value = narrow_floating<T>(in.get<double>(), path);
  } else if constexpr (std::is_same_v<T, EventId>) {
    if (!in.is_string()) wrong_type(in, path, "a UUID string");
    const auto id = EventId::try_parse(in.get_ref<const std::string&>());
    if (!id) throw JsonReadError(path, "not a UUID");
    value = *id;
  } else if constexpr (std::is_same_v<T, Timestamp>) {
    if (!in.is_string()) wrong_type(in, path, "an ISO 8601 date-time string");
    std::string_view why;
    const auto at = parse_timestamp(in.get_ref<const std::string&>(), &why);
    if (!at) throw JsonReadError(path, "not an ISO 8601 date-time with a UTC offset (" + std::string(why) + ")");
    value = *at;
  } else if constexpr (JsonValue<T>) {
    value = T(in);  // recurses once per level: the parse bounded the depth
  } else if constexpr (Sequence<T>) {
    if (!in.is_array()) wrong_type(in, path, "an array");
    const auto& array = in.get_ref<const JsonArray&>();
    value.clear();
    if constexpr (requires { value.reserve(array.size()); }) value.reserve(array.size());
    for (std::size_t i = 0; i < array.size(); ++i) {
      typename T::value_type element{};
      read(array[i], element, JsonPath(&path, i));
      value.push_back(std::move(element));
    }
  } else if constexpr (is_std_array<T>::value) {
    if (!in.is_array()) wrong_type(in, path, "an array");
    const auto& array = in.get_ref<const JsonArray&>();
    if (array.size() != value.size()) {
      throw JsonReadError(path, "expected " + std::to_string(value.size()) + " elements, got " +
                                    std::to_string(array.size()));
    }
    for (std::size_t i = 0; i < array.size(); ++i) read(array[i], value[i], JsonPath(&path, i));
  } else if constexpr (is_ordered_map<T>::value) {
    if (!in.is_object()) wrong_type(in, path, "an object");
    const auto& object = in.get_ref<const JsonObject&>();
    auto& entries = OrderedMapAccess::entries(value);
    entries.clear();
    entries.reserve(object.size());
    for (const auto& [key, element] : object) {
      typename T::mapped_type mapped{};
      read(element, mapped, JsonPath(&path, std::string_view(key)));
      entries.emplace_back(key, std::move(mapped));
    }
  } else if constexpr (StringKeyedMap<T>) {
    if (!in.is_object()) wrong_type(in, path, "an object");
    value.clear();
    for (const auto& [key, element] : in.get_ref<const JsonObject&>()) {
      typename T::mapped_type mapped{};
      read(element, mapped, JsonPath(&path, std::string_view(key)));
      value.emplace(key, std::move(mapped));
    }
  } else if constexpr (requires { in.get_to(value); }) {
    try {
      in.get_to(value);
    } catch (const nlohmann::json::exception& e) {
      throw JsonReadError(path, e.what());
    }
  } else {
    static_assert(always_false<T>,
                  "JsonEventSerializer cannot read this field type: list a struct's fields with "
                  "SPAKKY_EVENT_JSON_FIELDS, or give it to_json/from_json for nlohmann::ordered_json");
  }
}

}  // namespace spakky::event::detail::json
