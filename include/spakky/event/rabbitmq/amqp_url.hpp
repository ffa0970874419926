#pragma once
/// @file
/// AmqpUrl: where a RabbitMQ transport or consumer connects, read from an AMQP URL
/// `amqp://user:password@host:port/vhost` (RabbitMQ's URI spec).

#include <spakky/event/error.hpp>

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace spakky::event {

/// A parsed `amqp://` URL. Omitted parts take RabbitMQ's defaults: guest / guest, localhost,
/// port 5672, virtual host "/". The path is the virtual host, percent-decoded (so
/// `amqp://h/%2f` and `amqp://h/` both mean "/"); a query may set `heartbeat` (seconds) and
/// `connection_timeout` (milliseconds). TLS (`amqps://`) is not supported.
///
/// **Example**
/// @code
/// auto url = spakky::event::AmqpUrl::parse("amqp://app:secret@mq.internal:5672/orders");
/// @endcode
struct AmqpUrl {
  std::string user = "guest";      ///< user name (percent-decoded)
  std::string password = "guest";  ///< password (percent-decoded; never printed)
  std::string host = "localhost";  ///< host name or address
  std::uint16_t port = 5672;       ///< TCP port
  std::string vhost = "/";         ///< virtual host (percent-decoded)
  /// Heartbeat interval asked for in the URL (`?heartbeat=N`), if any.
  int heartbeat_seconds = -1;
  /// Connect timeout asked for in the URL (`?connection_timeout=ms`), if any.
  int connection_timeout_ms = -1;

  /// Parses `url`; throws EventError naming what is wrong (never echoing the password).
  static AmqpUrl parse(std::string_view url) {
    AmqpUrl result;
    std::string_view rest = url;
    constexpr std::string_view scheme = "amqp://";
    if (rest.substr(0, 8) == "amqps://") fail("TLS (amqps://) is not supported");
    if (rest.substr(0, scheme.size()) != scheme) fail("it must start with amqp://");
    rest.remove_prefix(scheme.size());

    std::string_view query;
    if (const auto q = rest.find('?'); q != std::string_view::npos) {
      query = rest.substr(q + 1);
      rest = rest.substr(0, q);
    }
    std::string_view path;
    bool has_path = false;
    if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
      path = rest.substr(slash + 1);
      has_path = true;
      rest = rest.substr(0, slash);
    }
    if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
      const std::string_view userinfo = rest.substr(0, at);
      rest.remove_prefix(at + 1);
      const auto colon = userinfo.find(':');
      result.user = decode(userinfo.substr(0, colon), "user");
      result.password = colon == std::string_view::npos ? std::string() : decode(userinfo.substr(colon + 1), "password");
    }
    std::string_view host = rest;
    std::string_view port;
    if (!host.empty() && host.front() == '[') {  // [IPv6]:port
      const auto close = host.find(']');
      if (close == std::string_view::npos) fail("unterminated [IPv6 address]");
      port = host.substr(close + 1);
      host = host.substr(1, close - 1);
      if (!port.empty()) {
        if (port.front() != ':') fail("unexpected text after the [IPv6 address]");
        port.remove_prefix(1);
      }
    } else if (const auto colon = host.rfind(':'); colon != std::string_view::npos) {
      port = host.substr(colon + 1);
      host = host.substr(0, colon);
    }
    if (!host.empty()) result.host = decode(host, "host");
    if (!port.empty()) {
      unsigned value = 0;
      const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
      if (error != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535) {
        fail("invalid port");
      }
      result.port = static_cast<std::uint16_t>(value);
    }
    if (has_path && !path.empty()) {
      if (path.find('/') != std::string_view::npos) fail("the virtual host must be one path segment (write / as %2f)");
      result.vhost = decode(path, "virtual host");
    }
    while (!query.empty()) {
      const auto amp = query.find('&');
      const std::string_view item = query.substr(0, amp);
      query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
      if (item.empty()) continue;
      const auto eq = item.find('=');
      const std::string_view key = item.substr(0, eq);
      const std::string_view value = eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1);
      if (key == "heartbeat") {
        result.heartbeat_seconds = number(value, "heartbeat");
      } else if (key == "connection_timeout") {
        result.connection_timeout_ms = number(value, "connection_timeout");
      } else {
        fail("unsupported parameter '" + std::string(key) + "'");
      }
    }
    return result;
  }

  /// The URL again, with the password replaced by `***` (for messages and logs).
  [[nodiscard]] std::string redacted() const {
    const std::string vhost_part = vhost == "/" ? std::string() : vhost;
    return "amqp://" + user + ":***@" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
           std::to_string(port) + "/" + vhost_part;
  }

private:
  [[noreturn]] static void fail(const std::string& reason) { throw EventError("invalid AMQP URL: " + reason); }

  static int hex(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  static std::string decode(std::string_view text, const char* what) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] != '%') {
        out.push_back(text[i]);
        continue;
      }
      const int high = i + 2 < text.size() ? hex(text[i + 1]) : -1;
      const int low = i + 2 < text.size() ? hex(text[i + 2]) : -1;
      if (high < 0 || low < 0) fail(std::string("bad percent-escape in the ") + what);
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    }
    return out;
  }

  static int number(std::string_view text, const char* what) {
    int value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc{} || end != text.data() + text.size() || value < 0) {
      fail(std::string("invalid ") + what + " value");
    }
    return value;
  }
};

}  // namespace spakky::event
