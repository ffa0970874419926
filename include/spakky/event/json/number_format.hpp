#pragma once
/// @file
/// Floating-point numbers as pydantic 2 writes them (internal): the shortest round-trip digits
/// (Ryu), laid out within the bounds of Rust's `ryu::Buffer::format_finite` for an f64, but
/// with a '+' before a positive exponent (what pydantic-core 2.46 writes: `1e+16`, where the
/// ryu crate alone writes `1e16`). std::to_chars gives the same shortest digits (libstdc++
/// uses Ryu too); format_finite below lays them out:
///
/// With the digits d1..dn and the position of the decimal point kk (the value is
/// 0.d1..dn × 10^kk):
/// - `0 <= kk - n` and `kk <= 16`: the digits, zeros, ".0"    (1e15 → 1000000000000000.0)
/// - `0 < kk <= 16`:               the point among the digits (12.5, 123456789.125)
/// - `-5 < kk <= 0`:               "0.", -kk zeros, the digits (1e-5 → 0.00001)
/// - otherwise scientific: `d1.d2..dne<kk-1>`, or `d1e<kk-1>` for one digit; the exponent
///   signed, without leading zeros (1e+16, 1e-6, 1.5e-7, 2.9802322387695312e-8).
/// Zero is "0.0", negative zero "-0.0".
///
/// tests/json/float_format_oracle.py checks these rules against Python's repr digits, and the
/// pydantic interop test against pydantic itself, byte for byte.

#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>

namespace spakky::event::detail::json {

/// Appends finite `value` to `out` laid out as the file comment says. A float is written with
/// the shortest digits that read back as that float (0.1f as 0.1), laid out as a double: read
/// as a double, those digits are the double's shortest digits too, so pydantic writes them
/// back unchanged.
template <class F>
void format_finite(std::string& out, F value) {
  static_assert(std::is_same_v<F, double> || std::is_same_v<F, float>);
  if (std::signbit(value)) out += '-';
  if (value == 0) {
    out += "0.0";
    return;
  }
  // Scientific to_chars without a precision: the shortest round-trip digits, "d[.ddd]e±XX".
  std::array<char, 40> buffer{};
  const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), std::fabs(value),
                                    std::chars_format::scientific);
  const std::string_view text(buffer.data(), static_cast<std::size_t>(result.ptr - buffer.data()));
  const std::size_t e = text.find('e');
  std::array<char, 20> digits{};
  std::size_t n = 0;
  for (std::size_t i = 0; i < e; ++i) {
    if (text[i] != '.') digits[n++] = text[i];
  }
  int exponent = 0;  // value = d1.d2..dn × 10^exponent
  const char* exponent_begin = text.data() + e + 1;
  if (*exponent_begin == '+') ++exponent_begin;
  std::from_chars(exponent_begin, text.data() + text.size(), exponent);

  const std::string_view d(digits.data(), n);
  const int length = static_cast<int>(n);
  const int kk = exponent + 1;
  if (kk >= length && kk <= 16) {
    out += d;
    out.append(static_cast<std::size_t>(kk - length), '0');
    out += ".0";
  } else if (kk > 0 && kk <= 16) {
    out += d.substr(0, static_cast<std::size_t>(kk));
    out += '.';
    out += d.substr(static_cast<std::size_t>(kk));
  } else if (kk > -5 && kk <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-kk), '0');
    out += d;
  } else {
    out += d[0];
    if (length > 1) {
      out += '.';
      out += d.substr(1);
    }
    out += kk > 1 ? "e+" : "e";
    std::array<char, 8> exponent_text{};
    const auto end = std::to_chars(exponent_text.data(), exponent_text.data() + exponent_text.size(), kk - 1).ptr;
    out.append(exponent_text.data(), end);
  }
}

/// `value` laid out as format_finite does, as a new string (for error messages).
template <class F>
std::string format_number(F value) {
  std::string out;
  if (std::isfinite(value)) {
    format_finite(out, value);
  } else {
    out = std::isnan(value) ? "nan" : (value < 0 ? "-inf" : "inf");
  }
  return out;
}

}  // namespace spakky::event::detail::json
