// AsyncDirectEventBus: DirectEventBus's rules for an asynchronous transport —
// serialize, inject headers, drop bearer tokens, await the transport — and the message stays
// valid until the transport's task has completed, also when it completes on another thread.
#include "support/async_recording_transport.hpp"
#include "support/coro.hpp"
#include "support/test_serializer.hpp"

#include <spakky/event/async_event_publisher.hpp>
#include <spakky/event/bus/async_direct_event_bus.hpp>
#include <spakky/event/error.hpp>
#include <spakky/event/task.hpp>

#include <catch2/catch.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace async_bus_test {

namespace ev = spakky::event;
using test_support::AsyncRecordingTransport;
using test_support::Spawned;
using test_support::TestSerializer;

static_assert(std::is_base_of_v<ev::IAsyncEventBus<>, ev::AsyncDirectEventBus<>>);
static_assert(std::is_same_v<ev::AsyncDirectEventBus<>, ev::AsyncDirectEventBus<ev::Task<>>>);

struct OrderPlaced final : ev::AbstractIntegrationEvent {
  SPAKKY_EVENT_NAME("orders.placed")
  explicit OrderPlaced(std::string id = "o-1") : order_id(std::move(id)) {}
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

/// Named at run time from its data.
struct DynamicallyNamed final : ev::AbstractIntegrationEvent {
  explicit DynamicallyNamed(std::string n) : name(std::move(n)) {}
  [[nodiscard]] std::string_view event_name() const override { return name; }
  std::string name;
};

TestSerializer make_serializer() {
  TestSerializer serializer;
  serializer.add<OrderPlaced>([](const OrderPlaced& e) { return e.order_id; });
  serializer.add<UserRegistered>([](const UserRegistered& e) { return e.user_id; });
  serializer.add<Unencodable>([](const Unencodable&) -> std::string { throw std::runtime_error("field 'x' is NaN"); });
  serializer.add<DynamicallyNamed>([](const DynamicallyNamed&) { return std::string("fields"); });
  return serializer;
}

struct Fixture {
  AsyncRecordingTransport transport;
  TestSerializer serializer = make_serializer();
  ev::AsyncDirectEventBus<> bus{transport, serializer};

  void inject(std::string name, std::string value) {
    bus.add_header_injector([name = std::move(name), value = std::move(value)](const ev::AbstractIntegrationEvent&,
                                                                                ev::Headers& headers) {
      headers.insert_or_assign(name, value);
    });
  }

  /// The headers of the one message sent for OrderPlaced.
  ev::Headers headers_sent() {
    ev::sync_wait(bus.send(OrderPlaced{}));
    const auto sent = transport.sent();
    REQUIRE(sent.size() == 1);
    return sent[0].headers;
  }
};

}  // namespace async_bus_test

using namespace async_bus_test;

TEST_CASE("async send hands the name, the serializer's payload and the headers to the transport", "[async][bus]") {
  Fixture f;
  f.inject("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  const OrderPlaced event("o-42");
  auto task = f.bus.send(event);
  CHECK(f.transport.attempts() == 0);  // lazy: nothing is sent before the task is awaited
  ev::sync_wait(std::move(task));
  const auto sent = f.transport.sent();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].event_name == "orders.placed");
  CHECK(sent[0].payload == f.serializer.serialize(event));
  CHECK(sent[0].headers == ev::Headers{{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}});

  SECTION("an event without a chosen name goes under its class name, also through IAsyncEventBus<>&") {
    ev::IAsyncEventBus<>& as_interface = f.bus;
    const UserRegistered user;
    const ev::AbstractIntegrationEvent& as_base = user;
    ev::sync_wait(as_interface.send(as_base));
    const auto again = f.transport.sent();
    REQUIRE(again.size() == 2);
    CHECK(again[1].event_name == "UserRegistered");
    CHECK(again[1].payload.ends_with("|u-1"));
  }
}

TEST_CASE("the message stays valid until a suspended transport completes on another thread", "[async][bus]") {
  Fixture f;
  f.inject("tenant", "acme");
  f.inject("Authorization", "Bearer secret");
  f.transport.suspend_sends(true);

  const OrderPlaced event("o-7");
  Spawned sending = test_support::start(f.bus.send(event));
  REQUIRE(f.transport.pending() == 1);
  CHECK_FALSE(sending.done());
  CHECK(f.transport.sent().empty());

  // Other work meanwhile: the bus's own strings are rebuilt for another message.
  f.transport.suspend_sends(false);
  ev::sync_wait(f.bus.send(OrderPlaced("another, much longer order id that needs the heap")));
  REQUIRE(f.transport.sent().size() == 1);

  std::thread completer([&] { f.transport.complete_one(); });
  completer.join();
  REQUIRE(sending.wait());
  CHECK_FALSE(sending.error());
  const auto sent = f.transport.sent();
  REQUIRE(sent.size() == 2);
  CHECK(sent[1].event_name == "orders.placed");
  CHECK(sent[1].payload == f.serializer.serialize(event));
  CHECK(sent[1].headers == ev::Headers{{"tenant", "acme"}});
  CHECK(f.transport.changed_while_sending() == 0);
}

TEST_CASE("many suspended sends complete in any order, each with its own message", "[async][bus]") {
  Fixture f;
  f.transport.suspend_sends(true);
  std::vector<std::unique_ptr<OrderPlaced>> events;
  std::vector<Spawned> sending;
  for (int i = 0; i < 8; ++i) {
    events.push_back(std::make_unique<OrderPlaced>("order-number-" + std::to_string(i) + "-with-a-long-id"));
    sending.push_back(test_support::start(f.bus.send(*events.back())));
  }
  REQUIRE(f.transport.pending() == 8);
  std::thread completer([&] {
    while (f.transport.complete_one()) {
    }
  });
  completer.join();
  for (auto& s : sending) CHECK(s.wait());
  const auto sent = f.transport.sent();
  REQUIRE(sent.size() == 8);
  for (std::size_t i = 0; i < sent.size(); ++i) {
    CHECK(sent[i].payload == f.serializer.serialize(*events[i]));
  }
  CHECK(f.transport.changed_while_sending() == 0);
}

TEST_CASE("async: header injectors run in order and bearer tokens never leave", "[async][bus][headers]") {
  SECTION("injectors run in the order added, each seeing the event and earlier headers") {
    Fixture f;
    std::vector<std::string> order;
    f.bus.add_header_injector([&](const ev::AbstractIntegrationEvent& event, ev::Headers& headers) {
      order.push_back("first");
      headers["x-event"] = std::string(event.event_name());
      headers["x-step"] = "first";
    });
    f.bus.add_header_injector([&](const ev::AbstractIntegrationEvent& event, ev::Headers& headers) {
      order.push_back("second");
      headers["x-saw"] = headers.at("x-step");
      headers["x-step"] = "second";
      headers["x-id"] = event.event_id().to_string();
    });
    const OrderPlaced event;
    ev::sync_wait(f.bus.send(event));
    CHECK(order == std::vector<std::string>{"first", "second"});
    const auto sent = f.transport.sent();
    REQUIRE(sent.size() == 1);
    CHECK(sent[0].headers == ev::Headers{{"x-event", "orders.placed"},
                                         {"x-step", "second"},
                                         {"x-saw", "first"},
                                         {"x-id", event.event_id().to_string()}});
  }
  SECTION("a bearer token is removed, whatever the case of the name and the scheme") {
    for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
             {"Authorization", "Bearer abc"}, {"authorization", "bearer abc"}, {"AUTHORIZATION", "BEARER abc"}}) {
      Fixture f;
      f.inject(name, value);
      f.inject("tenant", "acme");
      CHECK(f.headers_sent() == ev::Headers{{"tenant", "acme"}});
    }
  }
  SECTION("other Authorization schemes and look-alike names pass") {
    Fixture f;
    f.inject("Authorization", "Basic xyz");
    f.inject("X-Authorization", "Bearer abc");
    CHECK(f.headers_sent() == ev::Headers{{"Authorization", "Basic xyz"}, {"X-Authorization", "Bearer abc"}});
  }
  SECTION("whitespace, Proxy-Authorization and credential lists do not get a token through") {
    for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
             {"Authorization", " Bearer x"},
             {"Authorization", "Bearer\tx"},
             {"Authorization ", "Bearer x"},
             {" Authorization", "Bearer x"},
             {"Proxy-Authorization", "Bearer x"},
             {"Authorization", "Basic a, Bearer b"}}) {
      CAPTURE(name, value);
      Fixture f;
      f.inject(name, value);
      f.inject("tenant", "acme");
      CHECK(f.headers_sent() == ev::Headers{{"tenant", "acme"}});
    }
  }
  SECTION("a token added by a later injector is removed too") {
    Fixture f;
    f.inject("Authorization", "Basic xyz");
    f.inject("Authorization", "Bearer abc");
    CHECK(f.headers_sent().empty());
  }
}

TEST_CASE("async: CR, LF or NUL in a header or the event name is refused with a SerializationError; nothing is sent",
          "[async][bus][headers][errors]") {
  using namespace std::string_literals;
  for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
           {"x-tenant\r\nx-admin", "yes"}, {"x-tenant", "acme\r\nx-admin: yes"}, {"x-tenant", "ac\0me"s}}) {
    CAPTURE(name, value);
    Fixture f;
    f.inject(name, value);
    const OrderPlaced event;
    auto task = f.bus.send(event);  // creating the task throws nothing
    CHECK_THROWS_AS(ev::sync_wait(std::move(task)), ev::SerializationError);
    CHECK_THROWS_WITH(ev::sync_wait(f.bus.send(OrderPlaced{})),
                      Catch::Contains("orders.placed") && Catch::Contains("CR, LF or NUL"));
    CHECK(f.transport.attempts() == 0);
  }
  for (const std::string& name : {"orders\r\nplaced"s, "orders\0placed"s}) {
    Fixture f;
    CHECK_THROWS_AS(ev::sync_wait(f.bus.send(DynamicallyNamed{name})), ev::SerializationError);
    CHECK(f.transport.attempts() == 0);
  }
  Fixture f;
  ev::sync_wait(f.bus.send(DynamicallyNamed{"orders.placed"}));
  CHECK(f.transport.sent().size() == 1);
}

TEST_CASE("async: an event the serializer does not know fails with SerializationError; the transport is never called",
          "[async][bus][errors]") {
  Fixture f;
  const NotRegistered event;
  auto task = f.bus.send(event);  // creating the task throws nothing
  CHECK_THROWS_AS(ev::sync_wait(std::move(task)), ev::SerializationError);
  CHECK_THROWS_AS(ev::sync_wait(f.bus.send(event)), ev::EventError);
  CHECK_THROWS_WITH(ev::sync_wait(f.bus.send(event)), Catch::Contains("NotRegistered"));
  const Unencodable unencodable;
  CHECK_THROWS_AS(ev::sync_wait(f.bus.send(unencodable)), ev::SerializationError);
  CHECK_THROWS_WITH(ev::sync_wait(f.bus.send(unencodable)),
                    Catch::Contains("Unencodable") && Catch::Contains("field 'x' is NaN"));
  CHECK(f.transport.attempts() == 0);
  CHECK(f.transport.sent().empty());

  ev::sync_wait(f.bus.send(OrderPlaced{}));  // still usable
  CHECK(f.transport.sent().size() == 1);
}

TEST_CASE("async: a TransportError from the transport passes through unchanged", "[async][bus][errors]") {
  Fixture f;
  f.transport.fail_with(AsyncRecordingTransport::Failure::transport_error, "broker unreachable");
  const std::string expected = ev::TransportError("orders.placed", "broker unreachable").what();

  SECTION("thrown at once") {}
  SECTION("thrown after the transport suspended and was completed on another thread") {
    f.transport.suspend_sends(true);
  }
  const OrderPlaced event;
  std::string what;
  bool thrown = false;
  auto attempt = [](ev::Task<> send, std::string& out, bool& caught) -> ev::Task<> {
    try {
      co_await std::move(send);
    } catch (const ev::TransportError& error) {
      out = error.what();
      caught = true;
    }
  };
  Spawned sending = test_support::start(attempt(f.bus.send(event), what, thrown));
  std::thread completer([&] { f.transport.complete_one(); });
  completer.join();
  REQUIRE(sending.wait());
  CHECK_FALSE(sending.error());
  CHECK(thrown);
  CHECK(what == expected);
  CHECK(f.transport.attempts() == 1);
  CHECK(f.transport.sent().empty());
}

TEST_CASE("async: any other transport exception becomes a TransportError naming the event", "[async][bus][errors]") {
  Fixture f;
  SECTION("a std::runtime_error from the transport's task") {
    f.transport.fail_with(AsyncRecordingTransport::Failure::runtime_error, "connection reset by peer");
    CHECK_THROWS_AS(ev::sync_wait(f.bus.send(OrderPlaced{})), ev::TransportError);
    CHECK_THROWS_WITH(ev::sync_wait(f.bus.send(OrderPlaced{})),
                      Catch::Contains("orders.placed") && Catch::Contains("connection reset by peer"));
    CHECK_THROWS_WITH(ev::sync_wait(f.bus.send(UserRegistered{})), Catch::Contains("UserRegistered"));
  }
  SECTION("a std::runtime_error after a suspension, completed on another thread") {
    f.transport.fail_with(AsyncRecordingTransport::Failure::runtime_error, "connection reset by peer");
    f.transport.suspend_sends(true);
    const OrderPlaced event;
    std::string what = "nothing thrown";
    auto attempt = [](ev::Task<> send, std::string& out) -> ev::Task<> {
      try {
        co_await std::move(send);
      } catch (const ev::TransportError& error) {
        out = error.what();
      }
    };
    Spawned sending = test_support::start(attempt(f.bus.send(event), what));
    REQUIRE(f.transport.pending() == 1);
    std::thread completer([&] { f.transport.complete_one(); });
    completer.join();
    REQUIRE(sending.wait());
    CHECK_THAT(what, Catch::Contains("orders.placed") && Catch::Contains("connection reset by peer"));
  }
  SECTION("a std::runtime_error from send() itself, before it returned a task") {
    f.transport.fail_with(AsyncRecordingTransport::Failure::runtime_error_early, "no channel");
    CHECK_THROWS_AS(ev::sync_wait(f.bus.send(OrderPlaced{})), ev::TransportError);
    CHECK_THROWS_WITH(ev::sync_wait(f.bus.send(OrderPlaced{})),
                      Catch::Contains("orders.placed") && Catch::Contains("no channel"));
  }
  SECTION("a non-standard exception") {
    f.transport.fail_with(AsyncRecordingTransport::Failure::non_std);
    CHECK_THROWS_AS(ev::sync_wait(f.bus.send(OrderPlaced{})), ev::TransportError);
    CHECK_THROWS_WITH(ev::sync_wait(f.bus.send(OrderPlaced{})), Catch::Contains("orders.placed"));
  }
  CHECK(f.transport.sent().empty());

  f.transport.fail_with(AsyncRecordingTransport::Failure::none);
  f.transport.suspend_sends(false);
  ev::sync_wait(f.bus.send(OrderPlaced{}));
  CHECK(f.transport.sent().size() == 1);
}
