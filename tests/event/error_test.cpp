// Errors quote text from outside (event names, reasons) escaped: one line, printable ASCII,
// bounded, so that a hostile message cannot forge or flood a log line.
#include <spakky/event/detail/escape.hpp>
#include <spakky/event/error.hpp>

#include <catch2/catch.hpp>

#include <string>

namespace ev = spakky::event;

namespace {
bool printable_one_line(const std::string& text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7f) return false;
  }
  return true;
}
}  // namespace

TEST_CASE("escape_for_log writes control and non-ASCII bytes as escapes", "[error]") {
  using ev::detail::escape_for_log;
  CHECK(escape_for_log("OrderPlaced") == "OrderPlaced");
  CHECK(escape_for_log("a\r\nb\tc") == "a\\r\\nb\\tc");
  CHECK(escape_for_log("back\\slash") == "back\\\\slash");
  CHECK(escape_for_log(std::string("nul\0x", 5)) == "nul\\x00x");
  CHECK(escape_for_log("\x1b[31mred\x7f\xc3\xa9") == "\\x1b[31mred\\x7f\\xc3\\xa9");
  CHECK(escape_for_log(std::string(300, 'a')) == std::string(256, 'a') + "...");
  CHECK(escape_for_log("abcdef", 3) == "abc...");
}

TEST_CASE("every error type escapes the event name it quotes", "[error]") {
  const std::string hostile = "Evil\r\nINFO forged log line\x1b[2J" + std::string(1000, 'x');
  const ev::InvalidMessageError invalid(hostile, "reason\nwith a newline");
  const ev::SerializationError serialization(hostile, "r");
  const ev::TransportError transport(hostile, "r");
  const ev::EventBusNotConfiguredError no_bus(hostile);
  const ev::UnknownEventTypeError unknown(typeid(int), hostile);
  for (const std::string& message :
       {std::string(invalid.what()), std::string(serialization.what()), std::string(transport.what()),
        std::string(no_bus.what()), std::string(unknown.what())}) {
    INFO(message);
    CHECK(printable_one_line(message));
    CHECK(message.find("Evil\\r\\nINFO forged log line\\x1b[2J") != std::string::npos);
    CHECK(message.size() < 600);  // the 1000-byte tail is cut
  }
  CHECK(std::string(invalid.what()).find("reason\\nwith a newline") != std::string::npos);
}
