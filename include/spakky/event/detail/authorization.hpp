#pragma once
/// @file
/// Which headers carry a bearer token (the bus never forwards one), compared as loosely as the
/// receivers that would honour them: names in any case and whitespace, values that start a
/// credential anywhere in a comma-separated list.

#include <cstddef>
#include <string_view>

namespace spakky::event::detail {

constexpr char ascii_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

constexpr bool iequals_prefix(std::string_view text, std::string_view prefix) noexcept {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (ascii_lower(text[i]) != ascii_lower(prefix[i])) return false;
  }
  return true;
}

/// ASCII whitespace, as lenient parsers skip it.
constexpr bool is_ascii_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/// `name` is `lower_name` ignoring ASCII case and whitespace anywhere, with `_` taken for `-`
/// (as CGI-style gateways map header names).
constexpr bool header_name_is(std::string_view name, std::string_view lower_name) noexcept {
  std::size_t matched = 0;
  for (char c : name) {
    if (is_ascii_space(c)) continue;
    if (c == '_') c = '-';
    if (matched == lower_name.size() || ascii_lower(c) != lower_name[matched]) return false;
    ++matched;
  }
  return matched == lower_name.size();
}

/// Some credential of a comma-separated list has the scheme `Bearer` (any case): its first
/// word, after any whitespace, followed by whitespace, a comma or nothing.
constexpr bool has_bearer_credential(std::string_view value) noexcept {
  std::size_t i = 0;
  while (i < value.size()) {
    while (i < value.size() && (is_ascii_space(value[i]) || value[i] == ',')) ++i;
    const std::size_t start = i;
    while (i < value.size() && !is_ascii_space(value[i]) && value[i] != ',') ++i;
    const std::string_view scheme = value.substr(start, i - start);
    if (scheme.size() == 6 && iequals_prefix(scheme, "bearer")) return true;
    while (i < value.size() && value[i] != ',') ++i;  // the rest of this credential
  }
  return false;
}

/// An `Authorization` or `Proxy-Authorization` header (any case, whitespace ignored) carrying a
/// bearer token (`Bearer` in any case, also after spaces or tabs, also in a list such as
/// `Basic a, Bearer b`).
constexpr bool is_bearer_authorization(std::string_view name, std::string_view value) noexcept {
  return (header_name_is(name, "authorization") || header_name_is(name, "proxy-authorization")) &&
         has_bearer_credential(value);
}

}  // namespace spakky::event::detail
