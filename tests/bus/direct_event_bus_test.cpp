// DirectEventBus: serialize, inject headers, drop bearer tokens, hand to the
// transport; every failure surfaces as SerializationError or TransportError and nothing is
// half-sent.
#include "support/recording_transport.hpp"
#include "support/test_serializer.hpp"

#include <spakky/event/bus/direct_event_bus.hpp>
#include <spakky/event/bus/header_injection.hpp>
#include <spakky/event/error.hpp>
#include <spakky/event/mediator/event_mediator.hpp>
#include <spakky/event/publisher/event_publisher.hpp>

#include <catch2/catch.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bus_test {

namespace ev = spakky::event;
using test_support::RecordingTransport;
using test_support::SentMessage;
using test_support::TestSerializer;

struct OrderPlaced final : ev::AbstractIntegrationEvent {
  SPAKKY_EVENT_NAME("orders.placed")
  explicit OrderPlaced(std::string id = "o-1") : order_id(std::move(id)) {}
  OrderPlaced(ev::EventId id, ev::Timestamp at, std::string order) : AbstractIntegrationEvent(id, at), order_id(std::move(order)) {}
  std::string order_id;
};

/// Keeps its default name.
struct UserRegistered final : ev::AbstractIntegrationEvent {
  std::string user_id = "u-1";
};

/// Never added to the serializer.
struct NotRegistered final : ev::AbstractIntegrationEvent {};

/// Its encoder throws a std::runtime_error.
struct Unencodable final : ev::AbstractIntegrationEvent {};

/// Named at run time from its data (say, a topic a tenant chose).
struct DynamicallyNamed final : ev::AbstractIntegrationEvent {
  explicit DynamicallyNamed(std::string n) : name(std::move(n)) {}
  [[nodiscard]] std::string_view event_name() const override { return name; }
  std::string name;
};

TestSerializer make_serializer() {
  TestSerializer serializer;
  serializer.add<OrderPlaced>([](const OrderPlaced& e) { return e.order_id; },
                              [](ev::EventId id, ev::Timestamp at, std::string_view fields) {
                                return std::make_unique<OrderPlaced>(id, at, std::string(fields));
                              });
  serializer.add<UserRegistered>([](const UserRegistered& e) { return e.user_id; });
  serializer.add<Unencodable>([](const Unencodable&) -> std::string { throw std::runtime_error("field 'x' is NaN"); });
  serializer.add<DynamicallyNamed>([](const DynamicallyNamed&) { return std::string("fields"); });
  return serializer;
}

/// A bus with a fixed set of headers injected.
struct Fixture {
  RecordingTransport transport;
  TestSerializer serializer = make_serializer();
  ev::DirectEventBus bus{transport, serializer};

  void inject(std::string name, std::string value) {
    bus.add_header_injector([name = std::move(name), value = std::move(value)](const ev::AbstractIntegrationEvent&,
                                                                                ev::Headers& headers) {
      headers.insert_or_assign(name, value);
    });
  }

  /// The headers of the one message sent for OrderPlaced.
  ev::Headers headers_sent() {
    bus.send(OrderPlaced{});
    const auto sent = transport.sent();
    REQUIRE(sent.size() == 1);
    return sent[0].headers;
  }
};

// is_bearer_authorization is constexpr: the rule is checked at compile time too.
static_assert(ev::detail::is_bearer_authorization("Authorization", "Bearer abc"));
static_assert(!ev::detail::is_bearer_authorization("Authorization", "Basic xyz"));

}  // namespace bus_test

using namespace bus_test;

TEST_CASE("send hands the event's name, the serializer's payload and the headers to the transport", "[bus]") {
  Fixture f;
  f.inject("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");

  const OrderPlaced event("o-42");
  f.bus.send(event);

  const auto sent = f.transport.sent();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].event_name == "orders.placed");
  CHECK(sent[0].payload == f.serializer.serialize(event));
  CHECK(sent[0].headers == ev::Headers{{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}});

  // What was sent reads back as the same event.
  const auto back = f.serializer.deserialize(sent[0].event_name, sent[0].payload);
  REQUIRE(back != nullptr);
  const auto* order = dynamic_cast<const OrderPlaced*>(back.get());
  REQUIRE(order != nullptr);
  CHECK(*order == event);
  CHECK(order->order_id == "o-42");
}

TEST_CASE("an event without a chosen name is routed by its class name", "[bus]") {
  Fixture f;
  const UserRegistered event;
  f.bus.send(event);
  const auto sent = f.transport.sent();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].event_name == "UserRegistered");
  CHECK(sent[0].event_name == ev::event_name_v<UserRegistered>);
  CHECK(sent[0].payload == "UserRegistered|" + event.event_id().to_string() + "|" +
                               std::to_string(event.timestamp().time_since_epoch().count()) + "|u-1");
  CHECK(sent[0].headers.empty());
}

TEST_CASE("a named event is sent under its chosen name, also through a base reference", "[bus]") {
  Fixture f;
  const OrderPlaced event;
  const ev::AbstractIntegrationEvent& as_base = event;
  ev::IEventBus& bus = f.bus;
  bus.send(as_base);
  const auto sent = f.transport.sent();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].event_name == "orders.placed");
  CHECK(sent[0].event_name == ev::event_name_v<OrderPlaced>);
}

TEST_CASE("header injectors run in the order added, each seeing the event and earlier headers", "[bus]") {
  Fixture f;
  std::vector<std::string> order;
  f.bus.add_header_injector([&](const ev::AbstractIntegrationEvent& event, ev::Headers& headers) {
    order.push_back("first");
    headers["x-event"] = std::string(event.event_name());
    headers["x-step"] = "first";
    headers["x-keep"] = "kept";
  });
  f.bus.add_header_injector([&](const ev::AbstractIntegrationEvent& event, ev::Headers& headers) {
    order.push_back("second");
    const auto step = headers.find("x-step");
    headers["x-saw"] = step == headers.end() ? "nothing" : step->second;
    headers["x-step"] = "second";  // overwrites
    headers["x-id"] = event.event_id().to_string();
  });

  const OrderPlaced event;
  f.bus.send(event);
  CHECK(order == std::vector<std::string>{"first", "second"});
  const auto sent = f.transport.sent();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].headers == ev::Headers{{"x-event", "orders.placed"},
                                       {"x-step", "second"},
                                       {"x-keep", "kept"},
                                       {"x-saw", "first"},
                                       {"x-id", event.event_id().to_string()}});

  SECTION("and run again, afresh, for every message") {
    f.bus.send(OrderPlaced{});
    const auto again = f.transport.sent();
    REQUIRE(again.size() == 2);
    CHECK(again[1].headers.at("x-saw") == "first");
    CHECK(again[1].headers.at("x-id") != again[0].headers.at("x-id"));
    CHECK(order.size() == 4);
  }
}

TEST_CASE("bearer tokens in Authorization headers never leave", "[bus][headers]") {
  SECTION("any case of the name and of the scheme") {
    Fixture f;
    f.inject("Authorization", "Bearer abc");
    f.inject("authorization", "bearer abc");
    f.inject("AUTHORIZATION", "BEARER x");
    f.inject("aUtHoRiZaTiOn", "bEaReR token.with.dots");
    f.inject("traceparent", "00-abc-def-01");
    CHECK(f.headers_sent() == ev::Headers{{"traceparent", "00-abc-def-01"}});
  }
  SECTION("other Authorization schemes pass") {
    Fixture f;
    f.inject("Authorization", "Basic xyz");
    CHECK(f.headers_sent() == ev::Headers{{"Authorization", "Basic xyz"}});
  }
  SECTION("a bearer value under another header name passes") {
    Fixture f;
    f.inject("X-Authorization", "Bearer abc");
    f.inject("Authorization-Hint", "Bearer abc");
    CHECK(f.headers_sent() == ev::Headers{{"X-Authorization", "Bearer abc"}, {"Authorization-Hint", "Bearer abc"}});
  }
  SECTION("Proxy-Authorization is covered too") {
    Fixture f;
    f.inject("Proxy-Authorization", "Bearer abc");
    f.inject("proxy-authorization ", "bearer\tdef");
    f.inject("Proxy-Authorization-Hint", "Bearer abc");
    CHECK(f.headers_sent() == ev::Headers{{"Proxy-Authorization-Hint", "Bearer abc"}});
  }
  SECTION("a token added by a later injector is removed too") {
    Fixture f;
    f.inject("Authorization", "Basic xyz");
    f.inject("Authorization", "Bearer abc");  // overwrites the Basic value
    CHECK(f.headers_sent().empty());
  }
}

TEST_CASE("bearer tokens cannot step around the filter with whitespace, case or a credential list",
          "[bus][headers]") {
  // Each of these was forwarded once.
  const std::vector<std::pair<std::string, std::string>> smuggled{
      {"Authorization", " Bearer x"},            // leading space
      {"Authorization", "\tBearer x"},           // leading tab
      {"Authorization", "Bearer\tx"},            // tab after the scheme
      {"Authorization", "Bearer  x"},            // two spaces
      {"Authorization", "Bearer"},               // the scheme alone
      {"Authorization ", "Bearer x"},            // space after the name
      {" Authorization", "Bearer x"},            // space before the name
      {"\tAUTHORIZATION\t", "bEaReR x"},         // tabs, any case
      {"Proxy-Authorization", "Bearer x"},       // the proxy's credentials
      {"Proxy_Authorization", "Bearer x"},       // as CGI-style gateways spell it
      {"Authorization", "Basic a, Bearer b"},    // a credential list
      {"Authorization", "Basic a,Bearer b"},
      {"Authorization", "Basic a ,\tbearer b"},
      {"Authorization", ", Bearer b"},
  };
  for (const auto& [name, value] : smuggled) {
    CAPTURE(name, value);
    Fixture f;
    f.inject(name, value);
    f.inject("tenant", "acme");
    CHECK(f.headers_sent() == ev::Headers{{"tenant", "acme"}});
  }
}

TEST_CASE("other Authorization values still pass", "[bus][headers]") {
  const std::vector<std::pair<std::string, std::string>> kept{
      {"Authorization", "Basic abc"},
      {"Authorization", " Basic abc"},
      {"Authorization", "Token Bearer abc"},  // the scheme is Token
      {"Authorization", "Bearerabc"},         // no such scheme as Bearer
      {"Authorization", "Digest username=\"bearer\""},
      {"Proxy-Authorization", "Basic abc"},
      {"X-Authorization", "Bearer abc"},      // not a credentials header
      {"Authorizations", "Bearer abc"},
  };
  for (const auto& [name, value] : kept) {
    CAPTURE(name, value);
    Fixture f;
    f.inject(name, value);
    CHECK(f.headers_sent() == ev::Headers{{name, value}});
  }
}

TEST_CASE("is_bearer_authorization: the name and the scheme in any case and whitespace", "[bus][headers]") {
  using ev::detail::is_bearer_authorization;
  CHECK(is_bearer_authorization("Authorization", "Bearer abc"));
  CHECK(is_bearer_authorization("authorization", "bearer abc"));
  CHECK(is_bearer_authorization("AUTHORIZATION", "BEARER x"));
  CHECK(is_bearer_authorization("Authorization", "Bearer "));
  CHECK(is_bearer_authorization("Authorization", "Bearer"));
  CHECK(is_bearer_authorization(" Authorization ", "\t Bearer\tabc"));
  CHECK(is_bearer_authorization("Proxy-Authorization", "Bearer abc"));
  CHECK(is_bearer_authorization("PROXY_AUTHORIZATION", "Bearer abc"));
  CHECK(is_bearer_authorization("Authorization", "Basic a, Bearer b"));
  CHECK_FALSE(is_bearer_authorization("Authorization", "Basic xyz"));
  CHECK_FALSE(is_bearer_authorization("Authorization", ""));
  CHECK_FALSE(is_bearer_authorization("Authorization", "Bearerabc"));
  CHECK_FALSE(is_bearer_authorization("Authorization", "Token Bearer abc"));
  CHECK_FALSE(is_bearer_authorization("X-Authorization", "Bearer abc"));
  CHECK_FALSE(is_bearer_authorization("Authorization2", "Bearer abc"));
  CHECK_FALSE(is_bearer_authorization("Authorizatio", "Bearer abc"));
  CHECK_FALSE(is_bearer_authorization("Authorisation", "Bearer abc"));
  CHECK_FALSE(is_bearer_authorization("Proxy-Authorization-Hint", "Bearer abc"));
  CHECK_FALSE(is_bearer_authorization("", "Bearer abc"));
  CHECK_FALSE(is_bearer_authorization("traceparent", "Bearer abc"));
}

TEST_CASE("CR, LF or NUL in a header or the event name is refused with a SerializationError; nothing is sent",
          "[bus][headers][errors]") {
  using namespace std::string_literals;
  SECTION("in a header name or value") {
    const std::vector<std::pair<std::string, std::string>> hostile{
        {"x-tenant\r\nx-admin", "yes"}, {"x-tenant", "acme\r\nx-admin: yes"}, {"x-tenant", "acme\n"},
        {"x-tenant", "\racme"},         {"x-te\0nant"s, "acme"},               {"x-tenant", "ac\0me"s},
        {"Authorization", "Bearer x\r\nx-admin: yes"},  // refused, not just dropped
    };
    for (const auto& [name, value] : hostile) {
      CAPTURE(name, value);
      Fixture f;
      f.inject("tenant", "acme");
      f.inject(name, value);
      std::string what;
      try {
        f.bus.send(OrderPlaced{});
      } catch (const ev::SerializationError& e) {
        what = e.what();
      }
      CHECK_THAT(what, Catch::Contains("orders.placed") && Catch::Contains("CR, LF or NUL"));
      CHECK(what.find('\r') == std::string::npos);  // the name is quoted escaped
      CHECK(what.find('\n') == std::string::npos);
      CHECK(what.find("acme") == std::string::npos);  // values are never quoted: they may be secrets
      CHECK(f.transport.attempts() == 0);
    }
  }
  SECTION("in the event name") {
    for (const std::string& name : {"orders\r\nplaced"s, "orders\nplaced"s, "orders\rplaced"s, "orders\0placed"s}) {
      CAPTURE(name);
      Fixture f;
      CHECK_THROWS_AS(f.bus.send(DynamicallyNamed{name}), ev::SerializationError);
      CHECK_THROWS_WITH(f.bus.send(DynamicallyNamed{name}), Catch::Contains("CR, LF or NUL"));
      CHECK(f.transport.attempts() == 0);
    }
  }
  SECTION("through an EventPublisher too") {
    Fixture f;
    ev::EventMediator mediator;
    ev::EventPublisher publisher(mediator, f.bus);
    f.inject("x-tenant", "acme\r\nx-admin: yes");
    CHECK_THROWS_AS(publisher.publish(OrderPlaced{}), ev::SerializationError);
    CHECK(f.transport.attempts() == 0);
  }
  // A well-formed message still goes.
  Fixture f;
  f.bus.send(DynamicallyNamed{"orders.placed"});
  CHECK(f.transport.sent().size() == 1);
}

TEST_CASE("an event the serializer does not know fails with SerializationError and sends nothing", "[bus][errors]") {
  Fixture f;
  int injector_calls = 0;
  f.bus.add_header_injector([&](const ev::AbstractIntegrationEvent&, ev::Headers&) { ++injector_calls; });

  CHECK_THROWS_AS(f.bus.send(NotRegistered{}), ev::SerializationError);
  CHECK_THROWS_AS(f.bus.send(NotRegistered{}), ev::EventError);
  CHECK_THROWS_WITH(f.bus.send(NotRegistered{}), Catch::Contains("NotRegistered"));
  CHECK(f.transport.attempts() == 0);
  CHECK(f.transport.sent().empty());

  // The bus is still usable afterwards.
  f.bus.send(OrderPlaced{});
  CHECK(f.transport.sent().size() == 1);
}

TEST_CASE("a serializer failure of any std::exception becomes a SerializationError", "[bus][errors]") {
  Fixture f;
  const Unencodable event;
  CHECK_THROWS_AS(f.bus.send(event), ev::SerializationError);
  CHECK_THROWS_WITH(f.bus.send(event), Catch::Contains("Unencodable") && Catch::Contains("field 'x' is NaN"));
  CHECK(f.transport.attempts() == 0);
}

TEST_CASE("a TransportError from the transport passes through unchanged", "[bus][errors]") {
  Fixture f;
  f.transport.fail_with(RecordingTransport::Failure::transport_error, "broker unreachable");
  const std::string expected = ev::TransportError("orders.placed", "broker unreachable").what();
  bool thrown = false;
  try {
    f.bus.send(OrderPlaced{});
  } catch (const ev::TransportError& error) {
    thrown = true;
    CHECK(std::string(error.what()) == expected);
  }
  CHECK(thrown);
  CHECK(f.transport.attempts() == 1);
  CHECK(f.transport.sent().empty());
}

TEST_CASE("any other transport exception is wrapped in a TransportError", "[bus][errors]") {
  Fixture f;
  SECTION("a std::runtime_error keeps its message and gains the event's name") {
    f.transport.fail_with(RecordingTransport::Failure::runtime_error, "connection reset by peer");
    CHECK_THROWS_AS(f.bus.send(OrderPlaced{}), ev::TransportError);
    CHECK_THROWS_WITH(f.bus.send(OrderPlaced{}),
                      Catch::Contains("orders.placed") && Catch::Contains("connection reset by peer"));
    CHECK_THROWS_WITH(f.bus.send(UserRegistered{}), Catch::Contains("UserRegistered"));
  }
  SECTION("a non-standard exception") {
    f.transport.fail_with(RecordingTransport::Failure::non_std);
    CHECK_THROWS_AS(f.bus.send(OrderPlaced{}), ev::TransportError);
    CHECK_THROWS_WITH(f.bus.send(OrderPlaced{}), Catch::Contains("orders.placed"));
  }
  CHECK(f.transport.sent().empty());

  // Recovered transport: the bus sends again.
  f.transport.fail_with(RecordingTransport::Failure::none);
  f.bus.send(OrderPlaced{});
  CHECK(f.transport.sent().size() == 1);
}

TEST_CASE("EventPublisher with a DirectEventBus sends integration events under their names", "[bus][publisher]") {
  Fixture f;
  ev::EventMediator mediator;
  ev::EventPublisher publisher(mediator, f.bus);
  f.inject("Authorization", "Bearer secret");
  f.inject("tenant", "acme");

  publisher.publish(OrderPlaced("o-9"));
  const auto sent = f.transport.sent();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].event_name == "orders.placed");
  CHECK(sent[0].headers == ev::Headers{{"tenant", "acme"}});
  CHECK(sent[0].payload.ends_with("|o-9"));
}

TEST_CASE("TestSerializer, the double: rejects unknown names and unreadable payloads", "[bus][support]") {
  const TestSerializer serializer = make_serializer();
  CHECK_THROWS_AS(serializer.deserialize("orders.cancelled", "orders.cancelled|x"), ev::InvalidMessageError);
  CHECK_THROWS_AS(serializer.deserialize("UserRegistered", "UserRegistered|x|0|u"), ev::InvalidMessageError);
  CHECK_THROWS_AS(serializer.deserialize("orders.placed", "garbage"), ev::InvalidMessageError);
  CHECK_THROWS_AS(serializer.deserialize("orders.placed", "orders.placed|not-an-id|0|o"), ev::InvalidMessageError);
  const OrderPlaced event("o-5");
  const std::string payload = serializer.serialize(event);
  CHECK_THROWS_AS(serializer.deserialize("orders.placed", payload.substr(0, 50)), ev::InvalidMessageError);
  CHECK_THROWS_AS(serializer.serialize(NotRegistered{}), ev::SerializationError);
  const auto back = serializer.deserialize("orders.placed", payload);
  REQUIRE(back != nullptr);
  CHECK(*back == event);
}
