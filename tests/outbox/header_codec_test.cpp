#include <spakky/event/outbox/detail/header_codec.hpp>

#include <catch2/catch.hpp>

using spakky::event::Headers;
using spakky::event::detail::decode_headers;
using spakky::event::detail::encode_headers;

TEST_CASE("headers survive the outbox's text form, whatever bytes they hold") {
  const Headers headers{{"traceparent", "00-abc-01"},
                        {"x=odd%name", "line1\nline2\r\0end"},
                        {"utf8", "\xC3\xA9t\xC3\xA9"},
                        {"empty", ""}};
  const std::string text = encode_headers(headers);
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    CHECK((c == '\n' || (byte >= 0x20 && byte < 0x7F)));
  }
  const auto back = decode_headers(text);
  REQUIRE(back.has_value());
  CHECK(*back == headers);
  CHECK(decode_headers(encode_headers({})) == Headers{});
}

TEST_CASE("malformed header text is refused rather than half read") {
  CHECK_FALSE(decode_headers("no-equals-sign\n").has_value());
  CHECK_FALSE(decode_headers("a=b").has_value());          // no final newline: truncated
  CHECK_FALSE(decode_headers("a=%4\n").has_value());       // short escape
  CHECK_FALSE(decode_headers("a=%zz\n").has_value());      // not hex
  CHECK_FALSE(decode_headers("a=1\na=2\n").has_value());   // a name twice
  CHECK(decode_headers("a=%3D%25\n") == Headers{{"a", "=%"}});
}
