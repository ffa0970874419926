#pragma once
/// @file
/// The {fmt} front end of the library's log: `log(LogLevel::warn, "inmemory", "...{}", ...)`
/// formats only records whose level is enabled and hands them to the sink (log_sink.hpp).
/// Outside text (event names, header values, broker replies) goes in through
/// `detail::quoted(text)`, escaped by detail::escape_for_log when the record is formatted.

#include <spakky/event/detail/escape.hpp>
#include <spakky/event/observability/log_record.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>

namespace spakky::event {

namespace detail {

/// Outside text in a log message: formatted escaped (escape_for_log), and only if the record
/// is written at all.
struct LogQuoted {
  std::string_view text;  ///< the raw text; must live until the log call returns
};

/// Marks `text` as outside text for a log message: `log(..., "'{}'", detail::quoted(name))`.
[[nodiscard]] inline LogQuoted quoted(std::string_view text) noexcept { return LogQuoted{text}; }

/// The non-template part of log(): one copy of the formatting code for every call site.
inline void vlog(LogLevel level, std::string_view component, fmt::string_view format, fmt::format_args args) noexcept {
  try {
    const std::string message = fmt::vformat(format, args);
    write_log(level, component, message);
  } catch (...) {
    // A format or allocation failure loses the record; logging never throws.
  }
}

}  // namespace detail

/// Formats a record with {fmt} and hands it to the log sink, if `level` is enabled (otherwise
/// the arguments are not formatted). Never throws.
///
/// **Example**
/// @code
/// spakky::event::log(spakky::event::LogLevel::warn, "inmemory", "retrying '{}' (attempt {})",
///                    spakky::event::detail::quoted(name), attempt);
/// @endcode
template <class... Args>
void log(LogLevel level, std::string_view component, fmt::format_string<Args...> format, Args&&... args) noexcept {
  if (!log_enabled(level)) return;
  detail::vlog(level, component, format, fmt::make_format_args(args...));
}

}  // namespace spakky::event

// A specialization in another library's namespace, which Doxygen cannot place: left out.
/// @cond
/// Formats detail::LogQuoted: the text escaped by detail::escape_for_log (`{}` only: no format
/// spec, so that only <fmt/core.h> is needed).
template <>
struct fmt::formatter<spakky::event::detail::LogQuoted> {
  /// Accepts the empty spec of `{}`.
  constexpr auto parse(fmt::format_parse_context& ctx) -> decltype(ctx.begin()) { return ctx.begin(); }

  /// Writes the escaped text.
  template <class FormatContext>
  auto format(const spakky::event::detail::LogQuoted& quoted, FormatContext& ctx) const -> decltype(ctx.out()) {
    const std::string escaped = spakky::event::detail::escape_for_log(quoted.text);
    return std::copy(escaped.begin(), escaped.end(), ctx.out());
  }
};
/// @endcond
