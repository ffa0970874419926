#pragma once
/// @file
/// JSON text as pydantic 2 writes it (internal), appended straight to the payload: strings
/// (raw UTF-8, checked; `"`, `\` and control characters escaped as serde_json escapes them),
/// integers, floating-point numbers (json/number_format.hpp) and whole nlohmann JSON values.

#include <spakky/event/json/number_format.hpp>

#include <nlohmann/json.hpp>

#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

namespace spakky::event::detail::json {

/// A value cannot be written: it nests deeper than the limit, or JSON text cannot hold it.
class JsonWriteError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// The nesting level of the value being written (the event's object is level 1) and the limit.
struct Depth {
  std::size_t level;
  std::size_t max;

  /// The level of the elements of a container written at this level; JsonWriteError if the
  /// container itself is too deep.
  [[nodiscard]] Depth open() const {
    if (level > max) throw JsonWriteError("a value is nested deeper than " + std::to_string(max) + " levels");
    return {level + 1, max};
  }
};

/// The length of the well-formed UTF-8 sequence at the start of `text` (not empty), or 0.
inline std::size_t utf8_sequence_length(std::string_view text) noexcept {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const auto continuation = [&](std::size_t i, unsigned char low = 0x80, unsigned char high = 0xbf) {
    return i < text.size() && byte(i) >= low && byte(i) <= high;
  };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return continuation(1) ? 2 : 0;
  if (lead >= 0xe0 && lead <= 0xef) {
    // No overlong forms (E0 80..9F) and no surrogates (ED A0..BF).
    const unsigned char low = lead == 0xe0 ? 0xa0 : 0x80;
    const unsigned char high = lead == 0xed ? 0x9f : 0xbf;
    return continuation(1, low, high) && continuation(2) ? 3 : 0;
  }
  if (lead >= 0xf0 && lead <= 0xf4) {
    // No overlong forms (F0 80..8F) and nothing above U+10FFFF (F4 90..BF).
    const unsigned char low = lead == 0xf0 ? 0x90 : 0x80;
    const unsigned char high = lead == 0xf4 ? 0x8f : 0xbf;
    return continuation(1, low, high) && continuation(2) && continuation(3) ? 4 : 0;
  }
  return 0;
}

/// Appends `text` as a JSON string. JsonWriteError if it is not valid UTF-8.
inline void write_string(std::string& out, std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  std::size_t run = 0;  // start of the bytes not yet appended
  std::size_t i = 0;
  while (i < text.size()) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte >= 0x20 && byte != '"' && byte != '\\' && byte < 0x80) {
      ++i;
      continue;
    }
    if (byte >= 0x80) {
      const std::size_t length = utf8_sequence_length(text.substr(i));
      if (length == 0) {
        throw JsonWriteError("a string is not valid UTF-8 (byte 0x" + std::string{hex[byte >> 4], hex[byte & 0xf]} +
                             " at index " + std::to_string(i) + ")");
      }
      i += length;
      continue;
    }
    out.append(text.data() + run, i - run);
    switch (byte) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        out += "\\u00";
        out += hex[byte >> 4];
        out += hex[byte & 0xf];
        break;
    }
    run = ++i;
  }
  out.append(text.data() + run, text.size() - run);
  out += '"';
}

/// Appends an integer.
template <class I>
void write_integer(std::string& out, I value) {
  std::array<char, 24> text{};
  const auto end = std::to_chars(text.data(), text.data() + text.size(), value).ptr;
  out.append(text.data(), end);
}

/// Appends a floating-point number as pydantic writes it. JsonWriteError if it is not finite
/// (pydantic would write null, which reads back as no number at all).
template <class F>
void write_floating(std::string& out, F value) {
  if (!std::isfinite(value)) {
    throw JsonWriteError("the number " + format_number(value) + " has no JSON form");
  }
  format_finite(out, value);
}

/// nlohmann's own value types, written and read as the JSON value they hold.
template <class T>
concept JsonValue = std::is_same_v<T, nlohmann::json> || std::is_same_v<T, nlohmann::ordered_json>;

/// Appends `[...]`: each element of `range` written by `write_element(out, element, depth)`
/// one level down (the depth is checked before entering it).
template <class Range, class WriteElement>
void write_array(std::string& out, const Range& range, Depth depth, WriteElement write_element) {
  const Depth inner = depth.open();
  out += '[';
  bool first = true;
  for (const auto& element : range) {
    if (!first) out += ',';
    first = false;
    write_element(out, element, inner);
  }
  out += ']';
}

/// Appends `{...}` from the (string key, value) pairs of `range`, as write_array.
template <class Range, class WriteElement>
void write_object(std::string& out, const Range& range, Depth depth, WriteElement write_element) {
  const Depth inner = depth.open();
  out += '{';
  bool first = true;
  for (const auto& [key, element] : range) {
    if (!first) out += ',';
    first = false;
    write_string(out, key);
    out += ':';
    write_element(out, element, inner);
  }
  out += '}';
}

/// Appends a whole JSON value, keys in the value's own order (sorted for nlohmann::json,
/// insertion order for ordered_json). Checks the depth before entering each level, so its
/// own recursion is bounded.
template <JsonValue J>
void write_json_value(std::string& out, const J& value, Depth depth) {
  switch (value.type()) {
    case nlohmann::json::value_t::null: out += "null"; return;
    case nlohmann::json::value_t::boolean: out += value.template get<bool>() ? "true" : "false"; return;
    case nlohmann::json::value_t::number_integer: write_integer(out, value.template get<std::int64_t>()); return;
    case nlohmann::json::value_t::number_unsigned: write_integer(out, value.template get<std::uint64_t>()); return;
    case nlohmann::json::value_t::number_float: write_floating(out, value.template get<double>()); return;
    case nlohmann::json::value_t::string: write_string(out, value.template get_ref<const std::string&>()); return;
    case nlohmann::json::value_t::array: write_array(out, value, depth, write_json_value<J>); return;
    case nlohmann::json::value_t::object:
      write_object(out, value.template get_ref<const typename J::object_t&>(), depth, write_json_value<J>);
      return;
    case nlohmann::json::value_t::binary: throw JsonWriteError("a binary JSON value has no JSON text");
    case nlohmann::json::value_t::discarded:
    default: throw JsonWriteError("a discarded JSON value has no JSON text");
  }
}

}  // namespace spakky::event::detail::json
