#pragma once
/// @file
/// Escaping of text that comes from outside (event names, header values, broker replies)
/// before it reaches an error message or a log: one line, printable ASCII, bounded length.

#include <cstddef>
#include <string>
#include <string_view>

namespace spakky::event::detail {

/// The longest piece of outside text an error message or a log line quotes.
inline constexpr std::size_t max_quoted_bytes = 256;

/// `text` with every byte outside printable ASCII written as `\n`, `\r`, `\t` or `\xNN`
/// and a backslash doubled, cut after `max_bytes` input bytes (then "..." follows), so that
/// a hostile name can neither split a log line nor flood it.
inline std::string escape_for_log(std::string_view text, std::size_t max_bytes = max_quoted_bytes) {
  static constexpr char hex[] = "0123456789abcdef";
  const bool cut = text.size() > max_bytes;
  if (cut) text = text.substr(0, max_bytes);
  std::string out;
  out.reserve(text.size() + (cut ? 3 : 0));
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    switch (c) {
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      case '\\': out += "\\\\"; continue;
      default: break;
    }
    if (byte < 0x20 || byte >= 0x7f) {
      out += "\\x";
      out += hex[byte >> 4];
      out += hex[byte & 0xf];
    } else {
      out += c;
    }
  }
  if (cut) out += "...";
  return out;
}

}  // namespace spakky::event::detail
