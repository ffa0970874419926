#pragma once
/// @file
/// SPAKKY_EVENT_JSON_FIELDS: lists the fields of an event (or of a plain struct nested in one)
/// in declaration order, for JsonEventSerializer. This header does not include nlohmann_json:
/// a domain header can list its events' fields without depending on the JSON library.
///
/// **Example**
/// @code
/// namespace shop {
/// struct Address {
///   std::string city;
///   std::string zip_code;
/// };
/// struct OrderPlaced final : spakky::event::AbstractIntegrationEvent {
///   OrderPlaced(std::string id, double amount) : order_id(std::move(id)), amount(amount) {}
///   /// Rebuilds an event read from a message; the serializer then fills in the fields.
///   OrderPlaced(spakky::event::EventId id, spakky::event::Timestamp at) : AbstractIntegrationEvent(id, at) {}
///   std::string order_id;
///   double amount = 0;
///   Address address;
///   std::optional<std::string> coupon;
/// };
/// SPAKKY_EVENT_JSON_FIELDS(Address, city, zip_code)
/// SPAKKY_EVENT_JSON_FIELDS(OrderPlaced, order_id, amount, address, coupon)
/// }  // namespace shop
/// @endcode

#include <cstddef>
#include <string_view>
#include <tuple>
#include <utility>

namespace spakky::event::detail {

/// One listed field: its JSON key and the data member it maps to.
template <class Owner, class Member>
struct JsonField {
  using member_type = Member;
  std::string_view name;
  Member Owner::*member;
};

template <class Owner, class Member>
constexpr JsonField<Owner, Member> json_field(std::string_view name, Member Owner::*member) noexcept {
  return {name, member};
}

/// True if T's fields were listed with SPAKKY_EVENT_JSON_FIELDS (found by argument-dependent
/// lookup in T's namespace).
template <class T>
concept HasJsonFields = requires { spakky_event_json_fields(static_cast<const T*>(nullptr)); };

/// The tuple of JsonField listed for T, as a constant.
template <HasJsonFields T>
inline constexpr auto json_fields_v = spakky_event_json_fields(static_cast<const T*>(nullptr));

template <class T>
constexpr bool json_field_names_are_valid_impl() noexcept {
  constexpr auto& fields = json_fields_v<T>;
  return std::apply(
      [](const auto&... field) {
        const std::string_view names[] = {std::string_view("event_id"), std::string_view("timestamp"),
                                          field.name...};
        constexpr std::size_t count = sizeof...(field) + 2;
        for (std::size_t i = 0; i < count; ++i) {
          for (std::size_t j = i + 1; j < count; ++j) {
            if (names[i] == names[j] && j >= 2) return false;
          }
        }
        return true;
      },
      fields);
}

/// True if no two fields of T share a key and none is called `event_id` or `timestamp`
/// (the keys every event payload starts with).
template <class T>
constexpr bool json_field_names_are_valid() noexcept {
  if constexpr (!HasJsonFields<T>) {
    return true;  // reported on its own
  } else {
    return json_field_names_are_valid_impl<T>();
  }
}

}  // namespace spakky::event::detail

// NOTE: a FOR_EACH over __VA_ARGS__ without a numbered macro per arity: __VA_OPT__ (C++20)
// stops the recursion, the EXPAND levels rescan it (up to 256 fields).
#define SPAKKY_EVENT_DETAIL_PARENS ()
#define SPAKKY_EVENT_DETAIL_EXPAND(...) \
  SPAKKY_EVENT_DETAIL_EXPAND4(SPAKKY_EVENT_DETAIL_EXPAND4(SPAKKY_EVENT_DETAIL_EXPAND4(SPAKKY_EVENT_DETAIL_EXPAND4(__VA_ARGS__))))
#define SPAKKY_EVENT_DETAIL_EXPAND4(...) \
  SPAKKY_EVENT_DETAIL_EXPAND3(SPAKKY_EVENT_DETAIL_EXPAND3(SPAKKY_EVENT_DETAIL_EXPAND3(SPAKKY_EVENT_DETAIL_EXPAND3(__VA_ARGS__))))
#define SPAKKY_EVENT_DETAIL_EXPAND3(...) \
  SPAKKY_EVENT_DETAIL_EXPAND2(SPAKKY_EVENT_DETAIL_EXPAND2(SPAKKY_EVENT_DETAIL_EXPAND2(SPAKKY_EVENT_DETAIL_EXPAND2(__VA_ARGS__))))
#define SPAKKY_EVENT_DETAIL_EXPAND2(...) \
  SPAKKY_EVENT_DETAIL_EXPAND1(SPAKKY_EVENT_DETAIL_EXPAND1(SPAKKY_EVENT_DETAIL_EXPAND1(SPAKKY_EVENT_DETAIL_EXPAND1(__VA_ARGS__))))
#define SPAKKY_EVENT_DETAIL_EXPAND1(...) __VA_ARGS__

#define SPAKKY_EVENT_DETAIL_FOR_EACH(macro, type, ...) \
  __VA_OPT__(SPAKKY_EVENT_DETAIL_EXPAND(SPAKKY_EVENT_DETAIL_FOR_EACH_HELPER(macro, type, __VA_ARGS__)))
#define SPAKKY_EVENT_DETAIL_FOR_EACH_HELPER(macro, type, first, ...) \
  macro(type, first) __VA_OPT__(, SPAKKY_EVENT_DETAIL_FOR_EACH_AGAIN SPAKKY_EVENT_DETAIL_PARENS(macro, type, __VA_ARGS__))
#define SPAKKY_EVENT_DETAIL_FOR_EACH_AGAIN() SPAKKY_EVENT_DETAIL_FOR_EACH_HELPER

#define SPAKKY_EVENT_DETAIL_JSON_FIELD(type, field) ::spakky::event::detail::json_field(#field, &type::field)

/// Lists the data members of `Type` that go on the wire, in the order they are written.
/// Write it at namespace scope, in the namespace of `Type`, after the type:
/// `SPAKKY_EVENT_JSON_FIELDS(OrderPlaced, order_id, amount, address)`. The same macro serves
/// events (JsonEventSerializer writes `event_id` and `timestamp` before the fields) and plain
/// structs used as field types (written as nested objects). A type without fields:
/// `SPAKKY_EVENT_JSON_FIELDS(Ping)`.
#define SPAKKY_EVENT_JSON_FIELDS(Type, ...)                                                             \
  [[maybe_unused]] constexpr auto spakky_event_json_fields(const Type*) noexcept {                      \
    return ::std::make_tuple(SPAKKY_EVENT_DETAIL_FOR_EACH(SPAKKY_EVENT_DETAIL_JSON_FIELD, Type, __VA_ARGS__)); \
  }
