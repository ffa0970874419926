#pragma once
/// @file
/// OrderedMap: a string-keyed map that keeps its keys in the order they were first inserted,
/// as a Python dict does. As an event field it is a JSON object whose keys JsonEventSerializer
/// writes in that order and reads in the payload's order, so `{"z":3,"a":1,"m":2}` reads and
/// writes back byte for byte, where a std::map field sorts its keys (`{"a":1,"m":2,"z":3}`).
/// This header does not include nlohmann_json: a domain header can use it freely.
///
/// **Example**
/// @code
/// struct PricesChanged final : spakky::event::AbstractIntegrationEvent {
///   spakky::event::OrderedMap<double> prices;   // dict[str, float], in the order it came
/// };
/// SPAKKY_EVENT_JSON_FIELDS(PricesChanged, prices)
///
/// event.prices["widget"] = 12.5;
/// event.prices["gadget"] = 3.0;                  // written {"widget":12.5,"gadget":3.0}
/// @endcode

#include <cstddef>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace spakky::event {

namespace detail::json {
struct OrderedMapAccess;
}  // namespace detail::json

/// A map from std::string to T that keeps its keys in insertion order. Lookups compare keys
/// one by one: it is meant for the handful of keys an event carries, not as an index.
template <class T>
class OrderedMap {
public:
  using key_type = std::string;                                             ///< keys are strings, as in JSON
  using mapped_type = T;                                                    ///< the value type
  using value_type = std::pair<const std::string, T>;                       ///< one entry
  using size_type = std::size_t;                                            ///< a count of entries
  using iterator = typename std::vector<value_type>::iterator;              ///< walks entries in order
  using const_iterator = typename std::vector<value_type>::const_iterator;  ///< walks entries in order

  /// An empty map.
  OrderedMap() = default;
  /// The entries in the given order; a key given again is ignored, as std::map does.
  OrderedMap(std::initializer_list<std::pair<std::string, T>> entries) {
    entries_.reserve(entries.size());
    for (const auto& [key, value] : entries) emplace(key, value);
  }

  /// The first entry, in insertion order.
  [[nodiscard]] iterator begin() noexcept { return entries_.begin(); }
  /// The first entry, in insertion order.
  [[nodiscard]] const_iterator begin() const noexcept { return entries_.begin(); }
  /// Past the last entry.
  [[nodiscard]] iterator end() noexcept { return entries_.end(); }
  /// Past the last entry.
  [[nodiscard]] const_iterator end() const noexcept { return entries_.end(); }
  /// The number of keys.
  [[nodiscard]] size_type size() const noexcept { return entries_.size(); }
  /// True if there are no keys.
  [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }
  /// Removes every entry.
  void clear() noexcept { entries_.clear(); }
  /// Makes room for `count` entries.
  void reserve(size_type count) { entries_.reserve(count); }

  /// The entry with `key`, or end().
  [[nodiscard]] iterator find(std::string_view key) noexcept {
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->first == key) return it;
    }
    return entries_.end();
  }
  /// The entry with `key`, or end().
  [[nodiscard]] const_iterator find(std::string_view key) const noexcept {
    return const_cast<OrderedMap&>(*this).find(key);
  }
  /// True if the map has `key`.
  [[nodiscard]] bool contains(std::string_view key) const noexcept { return find(key) != end(); }

  /// The value under `key`; std::out_of_range if there is none.
  [[nodiscard]] T& at(std::string_view key) {
    const auto it = find(key);
    if (it == end()) throw std::out_of_range("OrderedMap::at: no such key");
    return it->second;
  }
  /// The value under `key`; std::out_of_range if there is none.
  [[nodiscard]] const T& at(std::string_view key) const { return const_cast<OrderedMap&>(*this).at(key); }

  /// The value under `key`, appended value-initialized at the end if the key is new.
  T& operator[](std::string key) { return emplace(std::move(key), T{}).first->second; }

  /// Appends `key` with `value` if the key is new; else leaves the map as it is. The entry
  /// with `key`, and whether it was appended.
  std::pair<iterator, bool> emplace(std::string key, T value) {
    if (const auto it = find(key); it != end()) return {it, false};
    entries_.emplace_back(std::move(key), std::move(value));
    return {entries_.end() - 1, true};
  }

  /// Assigns `value` to `key` where the key is, or appends it if the key is new.
  std::pair<iterator, bool> insert_or_assign(std::string key, T value) {
    if (const auto it = find(key); it != end()) {
      it->second = std::move(value);
      return {it, false};
    }
    entries_.emplace_back(std::move(key), std::move(value));
    return {entries_.end() - 1, true};
  }

  /// Removes `key`, keeping the order of the others. The number of entries removed (0 or 1).
  size_type erase(std::string_view key) {
    const auto it = find(key);
    if (it == end()) return 0;
    // The keys are const (as in std::map): the rest is rebuilt rather than shifted.
    std::vector<value_type> rest;
    rest.reserve(entries_.size() - 1);
    for (auto& entry : entries_) {
      if (&entry != &*it) rest.emplace_back(entry.first, std::move(entry.second));
    }
    entries_.swap(rest);
    return 1;
  }

  /// Equal if the same keys are in the same order with equal values.
  friend bool operator==(const OrderedMap& a, const OrderedMap& b) { return a.entries_ == b.entries_; }

private:
  friend struct detail::json::OrderedMapAccess;  // appends keys a parse already made unique

  std::vector<value_type> entries_;
};

}  // namespace spakky::event
