#pragma once
/// @file
/// Reading the ISO 8601 timestamps Python writes: "2026-11-26T10:50:57.123456Z",
/// "...+00:00", other offsets (converted to UTC), fraction optional (more than six digits are
/// truncated to microseconds). The counterpart of format_timestamp.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace spakky::event::detail {

/// Parses `text` as an ISO 8601 date-time with a UTC offset; nullopt (with `error` set to a
/// short reason) if it is not one. A time without an offset is rejected: it is ambiguous.
inline std::optional<std::chrono::sys_time<std::chrono::microseconds>> parse_timestamp(
    std::string_view text, std::string_view* error = nullptr) noexcept {
  using namespace std::chrono;
  auto fail = [&](std::string_view why) -> std::optional<sys_time<microseconds>> {
    if (error != nullptr) *error = why;
    return std::nullopt;
  };
  std::size_t pos = 0;
  // Reads exactly `digits` decimal digits.
  auto number = [&](std::size_t digits, int& out) {
    if (text.size() - pos < digits) return false;
    int value = 0;
    for (std::size_t i = 0; i < digits; ++i) {
      const char c = text[pos + i];
      if (c < '0' || c > '9') return false;
      value = value * 10 + (c - '0');
    }
    out = value;
    pos += digits;
    return true;
  };
  auto literal = [&](char c) {
    if (pos < text.size() && text[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  };

  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (!number(4, y) || !literal('-') || !number(2, mo) || !literal('-') || !number(2, d)) {
    return fail("expected YYYY-MM-DD");
  }
  if (!(literal('T') || literal('t') || literal(' '))) return fail("expected 'T' after the date");
  if (!number(2, h) || !literal(':') || !number(2, mi) || !literal(':') || !number(2, s)) {
    return fail("expected HH:MM:SS");
  }
  const year_month_day date{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (y < 1 || !date.ok()) return fail("no such date");
  if (h > 23 || mi > 59 || s > 59) return fail("no such time of day");

  std::int64_t micros = 0;
  if (literal('.') || literal(',')) {
    std::size_t digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (digits < 6) micros = micros * 10 + (text[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) return fail("expected digits after the decimal point");
    for (std::size_t i = digits; i < 6; ++i) micros *= 10;
  }

  int offset_minutes = 0;
  if (literal('Z') || literal('z')) {
    // UTC
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    const bool negative = text[pos] == '-';
    ++pos;
    int oh = 0, om = 0;
    if (!number(2, oh) || !literal(':') || !number(2, om) || oh > 23 || om > 59) {
      return fail("expected a UTC offset +HH:MM");
    }
    offset_minutes = (negative ? -1 : 1) * (oh * 60 + om);
  } else if (pos == text.size()) {
    return fail("no UTC offset ('Z' or +HH:MM)");
  } else {
    return fail("unexpected characters after the time");
  }
  if (pos != text.size()) return fail("unexpected characters after the UTC offset");

  const sys_time<microseconds> local =
      sys_days{date} + hours{h} + minutes{mi} + seconds{s} + microseconds{micros};
  const sys_time<microseconds> utc = local - minutes{offset_minutes};
  // What Python's datetime can hold: years 1 to 9999, also after the offset is applied.
  constexpr sys_time<microseconds> first = sys_days{year{1} / January / 1};
  constexpr sys_time<microseconds> end = sys_days{year{10000} / January / 1};
  if (utc < first || utc >= end) return fail("out of the range of years 1 to 9999 in UTC");
  return utc;
}

}  // namespace spakky::event::detail
