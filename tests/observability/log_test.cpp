// The {fmt} front end of the log: formats only enabled records and escapes outside text.

#include <spakky/event/observability/log.hpp>

#include "support/log_capture.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <string_view>

namespace ev = spakky::event;
using test_support::LogCapture;

namespace {
// An argument that counts how often {fmt} formats it.
struct CountsFormatting {
  int* count;
};
}  // namespace

template <>
struct fmt::formatter<CountsFormatting> {
  constexpr auto parse(fmt::format_parse_context& ctx) -> decltype(ctx.begin()) { return ctx.begin(); }
  template <class FormatContext>
  auto format(const CountsFormatting& arg, FormatContext& ctx) const -> decltype(ctx.out()) {
    ++*arg.count;
    const std::string_view text = "counted";
    return std::copy(text.begin(), text.end(), ctx.out());
  }
};

TEST_CASE("log formats its arguments with {fmt} and hands one record to the sink", "[log]") {
  LogCapture log(ev::LogLevel::debug);
  ev::log(ev::LogLevel::warn, "inmemory", "retrying {} (attempt {} of {})", "OrderPlaced", 2, 5);
  const auto records = log.records();
  REQUIRE(records.size() == 1);
  CHECK(records[0].level == ev::LogLevel::warn);
  CHECK(records[0].component == "inmemory");
  CHECK(records[0].message == "retrying OrderPlaced (attempt 2 of 5)");
}

TEST_CASE("a record below the threshold is not even formatted", "[log]") {
  LogCapture log(ev::LogLevel::warn);
  int formatted = 0;
  ev::log(ev::LogLevel::debug, "x", "{}", CountsFormatting{&formatted});
  CHECK(formatted == 0);
  CHECK(log.size() == 0);
  ev::log(ev::LogLevel::error, "x", "{}", CountsFormatting{&formatted});
  CHECK(formatted == 1);
  REQUIRE(log.size() == 1);
  CHECK(log.records()[0].message == "counted");
}

TEST_CASE("quoted outside text is escaped: it can neither split the line nor flood it", "[log][escape]") {
  LogCapture log(ev::LogLevel::debug);
  ev::log(ev::LogLevel::error, "consumer", "dead-lettered '{}'", ev::detail::quoted("Evil\nspakky::event [info] x: forged\x1b[2J"));
  ev::log(ev::LogLevel::error, "consumer", "'{}'", ev::detail::quoted(std::string(10000, 'a')));
  const auto records = log.records();
  REQUIRE(records.size() == 2);
  CHECK(records[0].message == "dead-lettered 'Evil\\nspakky::event [info] x: forged\\x1b[2J'");
  CHECK(records[0].message.find('\n') == std::string::npos);
  CHECK(records[1].message.size() == ev::detail::max_quoted_bytes + 5);  // 256 bytes, "...", two quotes
}
