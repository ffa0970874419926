#pragma once
/// @file
/// {fmt} formatters for EventId and events, apart from the core headers so that they do not
/// pay for {fmt}'s include cost.
///
/// `fmt::format("{}", id)` -> "0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9f"
/// `fmt::format("{}", event)` -> "OrderPlaced{id=0b7c3f4e-..., at=2026-11-26T10:50:57.123456Z}"

#include <spakky/event/detail/timestamp_format.hpp>
#include <spakky/event/event.hpp>

#include <fmt/core.h>
#include <fmt/format.h>

#include <type_traits>

// A specialization in another library's namespace, which Doxygen cannot place: left out.
/// @cond
/// Formats an EventId as its canonical 36-character text (string format specs apply).
template <>
struct fmt::formatter<spakky::event::EventId> : fmt::formatter<fmt::string_view> {
  template <class FormatContext>
  auto format(const spakky::event::EventId& id, FormatContext& ctx) const -> decltype(ctx.out()) {
    char text[36];
    id.write(text);
    return fmt::formatter<fmt::string_view>::format(fmt::string_view(text, 36), ctx);
  }
};
/// @endcond

// A specialization in another library's namespace, which Doxygen cannot place: left out.
/// @cond
/// Formats any event as `Name{id=..., at=...}` (string format specs apply).
template <class E>
struct fmt::formatter<E, char, std::enable_if_t<std::is_base_of_v<spakky::event::AbstractEvent, E>>>
    : fmt::formatter<fmt::string_view> {
  template <class FormatContext>
  auto format(const spakky::event::AbstractEvent& event, FormatContext& ctx) const -> decltype(ctx.out()) {
    char id[36];
    event.event_id().write(id);
    const auto name = event.event_name();
    const auto text = fmt::format("{}{{id={}, at={}}}", fmt::string_view(name.data(), name.size()),
                                  fmt::string_view(id, 36), spakky::event::detail::format_timestamp(event.timestamp()));
    return fmt::formatter<fmt::string_view>::format(fmt::string_view(text), ctx);
  }
};
/// @endcond
