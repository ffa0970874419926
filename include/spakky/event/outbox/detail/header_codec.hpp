#pragma once
/// @file
/// The text form of message headers in an outbox row: one `name=value` per line, with `%`,
/// `=`, control bytes and bytes >= 0x7F written as `%XX`, so any header survives a TEXT column.

#include <spakky/event/event_publisher.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace spakky::event::detail {

inline void append_percent_encoded(std::string& out, std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7F || c == '%' || c == '=') {
      out += '%';
      out += hex[byte >> 4];
      out += hex[byte & 0xF];
    } else {
      out += c;
    }
  }
}

/// Headers as outbox text (empty for no headers).
[[nodiscard]] inline std::string encode_headers(const Headers& headers) {
  std::string out;
  for (const auto& [name, value] : headers) {
    append_percent_encoded(out, name);
    out += '=';
    append_percent_encoded(out, value);
    out += '\n';
  }
  return out;
}

inline int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

inline std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;  // a '%' needs two hex digits after it
    const int high = hex_digit(text[i + 1]);
    const int low = hex_digit(text[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out += static_cast<char>((high << 4) | low);
    i += 2;
  }
  return out;
}

/// Reads encode_headers' output back; nullopt if it is not well formed (a line without `=`, a
/// bad escape, a missing final newline, a name given twice).
[[nodiscard]] inline std::optional<Headers> decode_headers(std::string_view text) {
  Headers headers;
  while (!text.empty()) {
    const auto end = text.find('\n');
    if (end == std::string_view::npos) return std::nullopt;
    const std::string_view line = text.substr(0, end);
    text.remove_prefix(end + 1);
    const auto equals = line.find('=');
    if (equals == std::string_view::npos) return std::nullopt;
    auto name = percent_decode(line.substr(0, equals));
    auto value = percent_decode(line.substr(equals + 1));
    if (!name || !value) return std::nullopt;
    if (!headers.emplace(std::move(*name), std::move(*value)).second) return std::nullopt;
  }
  return headers;
}

}  // namespace spakky::event::detail
