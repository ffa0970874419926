#pragma once
/// @file
/// W3C Trace Context (https://www.w3.org/TR/trace-context/) for outgoing messages: a
/// HeaderInjector fed from the user's own tracing writes `traceparent` (and `tracestate`),
/// and a consumer reads them back from a message's headers to continue the trace.
///
/// **Example**
/// @code
/// bus.add_header_injector(spakky::event::trace_context_injector([]() -> std::optional<TraceContext> {
///   const auto span = my_tracer::current_span();          // whatever the application uses
///   if (!span) return std::nullopt;                        // no trace: no header
///   return TraceContext{span->trace_id_hex(), span->span_id_hex(), span->sampled() ? 1 : 0};
/// }));
/// // headers: traceparent = 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
/// @endcode

#include <spakky/event/bus/header_injection.hpp>
#include <spakky/event/detail/lean_std.hpp>
#include <spakky/event/event_publisher.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace spakky::event {

/// One span's identity as W3C Trace Context carries it.
struct TraceContext {
  std::string trace_id;     ///< 32 hex digits, not all zero
  std::string span_id;      ///< 16 hex digits (the parent-id of the receiving side), not all zero
  std::uint8_t flags = 1;   ///< trace-flags; bit 0 = sampled
  std::string trace_state;  ///< vendor data for `tracestate`; empty: no such header

  /// True if the sampled flag is set.
  [[nodiscard]] bool sampled() const noexcept { return (flags & 1u) != 0; }
  /// Same ids, flags and state.
  friend bool operator==(const TraceContext&, const TraceContext&) = default;
};

/// The name of the W3C header that carries trace id, parent span id and flags.
inline constexpr std::string_view traceparent_header = "traceparent";
/// The name of the W3C header that carries vendor trace state.
inline constexpr std::string_view tracestate_header = "tracestate";

namespace detail {

/// `digits` hex digits (either case) that are not all zero, written in lower case; else nullopt.
inline std::optional<std::string> normalized_trace_hex(std::string_view text, std::size_t digits) {
  if (text.size() != digits) return std::nullopt;
  std::string out(text);
  bool all_zero = true;
  for (char& c : out) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
    if (c != '0') all_zero = false;
  }
  if (all_zero) return std::nullopt;
  return out;
}

/// A tracestate value that can travel as a header: printable ASCII, at most 512 characters
/// (the W3C limit a receiver must accept), not empty.
inline bool valid_trace_state(std::string_view state) noexcept {
  if (state.empty() || state.size() > 512) return false;
  for (char c : state) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

}  // namespace detail

/// `00-<trace-id>-<span-id>-<flags>` (ids in lower case), or nullopt if either id is invalid:
/// wrong length, not hex, or all zero.
[[nodiscard]] inline std::optional<std::string> format_traceparent(const TraceContext& context) {
  auto trace = detail::normalized_trace_hex(context.trace_id, 32);
  auto span = detail::normalized_trace_hex(context.span_id, 16);
  if (!trace || !span) return std::nullopt;
  constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(55);
  out += "00-";
  out += *trace;
  out += '-';
  out += *span;
  out += '-';
  out += digits[context.flags >> 4];
  out += digits[context.flags & 0xF];
  return out;
}

/// Reads a `traceparent` value (version 00; later versions by their first four fields, as the
/// W3C rules say), with `tracestate` if given; nullopt if it is not valid.
[[nodiscard]] inline std::optional<TraceContext> parse_traceparent(std::string_view traceparent,
                                                                   std::string_view tracestate = {}) {
  // version "-" trace-id "-" parent-id "-" trace-flags: 2+1+32+1+16+1+2 = 55 characters.
  if (traceparent.size() < 55 || traceparent[2] != '-' || traceparent[35] != '-' || traceparent[52] != '-') {
    return std::nullopt;
  }
  const int v1 = detail::hex_value(traceparent[0]);
  const int v0 = detail::hex_value(traceparent[1]);
  if (v1 < 0 || v0 < 0 || traceparent[0] != detail::ascii_lower(traceparent[0]) || traceparent[1] != detail::ascii_lower(traceparent[1])) {
    return std::nullopt;
  }
  const int version = v1 * 16 + v0;
  if (version == 0xff) return std::nullopt;
  if (version == 0 && traceparent.size() != 55) return std::nullopt;
  if (version != 0 && traceparent.size() > 55 && traceparent[55] != '-') return std::nullopt;
  // Received ids must already be lower case.
  for (char c : traceparent.substr(0, 55)) {
    if (c >= 'A' && c <= 'F') return std::nullopt;
  }
  auto trace = detail::normalized_trace_hex(traceparent.substr(3, 32), 32);
  auto span = detail::normalized_trace_hex(traceparent.substr(36, 16), 16);
  const int f1 = detail::hex_value(traceparent[53]);
  const int f0 = detail::hex_value(traceparent[54]);
  if (!trace || !span || f1 < 0 || f0 < 0) return std::nullopt;
  TraceContext context{std::move(*trace), std::move(*span), static_cast<std::uint8_t>(f1 * 16 + f0), {}};
  if (detail::valid_trace_state(tracestate)) context.trace_state = std::string(tracestate);
  return context;
}

/// The trace context a message carries in its headers, if any (e.g. a consumer's
/// current_message()->headers).
[[nodiscard]] inline std::optional<TraceContext> trace_context_from(const Headers& headers) {
  const auto parent = headers.find(traceparent_header);
  if (parent == headers.end()) return std::nullopt;
  const auto state = headers.find(tracestate_header);
  return parse_traceparent(parent->second, state == headers.end() ? std::string_view{} : std::string_view(state->second));
}

/// Where an injector gets the current trace context from: the user's tracing. nullopt: the
/// message is sent without trace headers.
using TraceContextSource = std::function<std::optional<TraceContext>()>;

/// A HeaderInjector writing `traceparent` (and `tracestate`, when the context has a valid one)
/// from `source`, called once per message. An invalid context writes neither header.
[[nodiscard]] inline HeaderInjector trace_context_injector(TraceContextSource source) {
  return [source = std::move(source)](const AbstractIntegrationEvent&, Headers& headers) {
    if (!source) return;
    const std::optional<TraceContext> context = source();
    if (!context) return;
    std::optional<std::string> traceparent = format_traceparent(*context);
    if (!traceparent) return;
    headers.insert_or_assign(std::string(traceparent_header), std::move(*traceparent));
    if (detail::valid_trace_state(context->trace_state)) {
      headers.insert_or_assign(std::string(tracestate_header), context->trace_state);
    }
  };
}

}  // namespace spakky::event
