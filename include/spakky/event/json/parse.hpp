#pragma once
/// @file
/// Parsing a payload into the DOM the codec reads (internal): nlohmann's parser, which is
/// iterative, driving a DOM builder of our own that is iterative too and refuses, while it
/// parses, what must never reach the codec:
///
/// - nesting deeper than a limit, refused when the level opens: the codec, copies of values
///   and dumps recurse once per level, so nothing after the parse may see a deeper value;
/// - a number that is not zero but that a double holds as 0 (`1e-400`; nlohmann itself
///   refuses what overflows to infinity).
///
/// Keys are appended without nlohmann::ordered_map's linear search for a duplicate (which made
/// an object of n keys cost n² / 2 comparisons); duplicates are settled once per object, as
/// Python's json and nlohmann do: the last value wins, at the place of the first.

#include <spakky/event/json/codec.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace spakky::event::detail::json {

/// The payload is not JSON, or holds what the codec must not read.
class JsonParseError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// A piece of the payload quoted in an error message: at most 32 bytes.
inline std::string quote_token(std::string_view token) {
  constexpr std::size_t max_bytes = 32;
  return token.size() <= max_bytes ? std::string(token) : std::string(token.substr(0, max_bytes)) + "...";
}

/// True if the mantissa of a JSON number (the part before its exponent) has a digit other than 0.
inline bool has_nonzero_mantissa(std::string_view number) noexcept {
  for (const char c : number) {
    if (c == 'e' || c == 'E') return false;
    if (c >= '1' && c <= '9') return true;
  }
  return false;
}

/// The SAX handler nlohmann's parser drives (see the file comment).
class DomBuilder final {
public:
  DomBuilder(Json& root, std::size_t max_depth) noexcept : root_(root), max_depth_(max_depth) {}

  bool null() { return put(nullptr); }
  bool boolean(bool value) { return put(value); }
  bool number_integer(Json::number_integer_t value) { return put(value); }
  bool number_unsigned(Json::number_unsigned_t value) { return put(value); }
  bool number_float(Json::number_float_t value, const Json::string_t& text) {
    if (value == 0 && has_nonzero_mantissa(text)) {
      return fail("number " + quote_token(text) + " out of range for a double");
    }
    return put(value);
  }
  bool string(Json::string_t& value) { return put(std::move(value)); }
  bool binary(Json::binary_t& /*value*/) { return fail("binary value"); }  // never from JSON text

  bool start_object(std::size_t /*elements*/) { return open(Json::value_t::object); }
  bool key(Json::string_t& key) {
    auto& entries = static_cast<Entries&>(open_.back()->get_ref<JsonObject&>());
    slot_ = &entries.emplace_back(std::piecewise_construct, std::forward_as_tuple(std::move(key)), std::forward_as_tuple())
                 .second;
    return true;
  }
  bool end_object() {
    settle_duplicates(open_.back()->get_ref<JsonObject&>());
    open_.pop_back();
    return true;
  }
  bool start_array(std::size_t /*elements*/) { return open(Json::value_t::array); }
  bool end_array() {
    open_.pop_back();
    return true;
  }

  bool parse_error(std::size_t /*position*/, const std::string& token, const Json::exception& error) {
    // 406 is nlohmann's "number overflow" (a number a double holds only as infinity).
    reason_ = error.id == 406 ? "number " + quote_token(token) + " out of range for a double"
                              : std::string("malformed JSON: ") + error.what();
    return false;
  }

  /// Why the parse stopped (empty if it did not).
  [[nodiscard]] const std::string& reason() const noexcept { return reason_; }

private:
  using Entries = std::vector<std::pair<const std::string, Json>>;

  /// Where the next value goes: the root, the end of the innermost array, or the value of the
  /// key just read. Only the innermost open container grows, so the pointers in open_ (each
  /// to the last element of its parent) stay valid.
  Json& place() {
    if (open_.empty()) return root_;
    Json& top = *open_.back();
    if (top.is_array()) return top.get_ref<JsonArray&>().emplace_back();
    return *slot_;
  }

  template <class V>
  bool put(V&& value) {
    place() = Json(std::forward<V>(value));
    return true;
  }

  bool open(Json::value_t type) {
    if (open_.size() >= max_depth_) return fail("nested deeper than " + std::to_string(max_depth_) + " levels");
    Json& container = place();
    container = Json(type);
    open_.push_back(&container);
    return true;
  }

  bool fail(std::string reason) {
    reason_ = std::move(reason);
    return false;
  }

  static void settle_duplicates(JsonObject& object) {
    auto& entries = static_cast<Entries&>(object);
    const std::size_t n = entries.size();
    if (n < 2) return;
    bool duplicated = false;
    if (n <= 16) {
      for (std::size_t i = 1; i < n && !duplicated; ++i) {
        for (std::size_t j = 0; j < i; ++j) {
          if (entries[i].first == entries[j].first) {
            duplicated = true;
            break;
          }
        }
      }
    }
    if (!duplicated && n <= 16) return;
    // Large objects (or a duplicate found): one pass with an index by key.
    std::unordered_map<std::string_view, std::size_t> first_at;
    first_at.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      if (!first_at.emplace(entries[i].first, i).second) duplicated = true;
    }
    if (!duplicated) return;
    Entries settled;
    settled.reserve(first_at.size());
    std::vector<std::size_t> position(n);
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t first = first_at.find(entries[i].first)->second;
      if (first == i) {
        position[i] = settled.size();
        settled.emplace_back(entries[i].first, std::move(entries[i].second));
      } else {
        settled[position[first]].second = std::move(entries[i].second);
      }
    }
    entries.swap(settled);
  }

  Json& root_;
  std::size_t max_depth_;
  std::vector<Json*> open_;  // the containers being filled, outermost first
  Json* slot_ = nullptr;     // the value of the key just read
  std::string reason_;
};

/// The DOM of `payload`. JsonParseError if it is not one JSON value, nests deeper than
/// `max_depth` levels (an array or object at the top is level 1), or holds a non-zero number
/// that a double holds only as 0 or infinity.
inline Json parse_payload(std::string_view payload, std::size_t max_depth) {
  Json root;
  DomBuilder builder(root, max_depth);
  if (!Json::sax_parse(payload.data(), payload.data() + payload.size(), &builder)) {
    throw JsonParseError(builder.reason());
  }
  return root;
}

}  // namespace spakky::event::detail::json
