// EventPublisher: domain events go to the dispatcher, integration events to the bus;
// everything else fails loudly — at compile time where the static type already shows it.
#include <spakky/event/error.hpp>
#include <spakky/event/event_publisher.hpp>
#include <spakky/event/mediator/event_mediator.hpp>
#include <spakky/event/publisher/event_publisher.hpp>

#include <catch2/catch.hpp>

#include <exception>
#include <string>
#include <typeindex>
#include <typeinfo>
#include <utility>
#include <vector>

namespace publisher_test {

namespace ev = spakky::event;

struct UserCreated final : ev::AbstractDomainEvent {
  explicit UserCreated(std::string name = "kim") : username(std::move(name)) {}
  std::string username;
};

struct OrderPlaced final : ev::AbstractIntegrationEvent {
  explicit OrderPlaced(std::string id = "o-1") : order_id(std::move(id)) {}
  std::string order_id;
};

struct NamedOrderShipped final : ev::AbstractIntegrationEvent {
  SPAKKY_EVENT_NAME("orders.shipped")
};

/// Derives from AbstractEvent directly: neither a domain nor an integration event.
struct Neither final : ev::AbstractEvent {};

/// Records every event sent, by id and name; the events themselves are not kept.
class RecordingBus final : public ev::IEventBus {
public:
  struct Sent {
    ev::EventId id;
    std::string name;
    std::type_index type;
  };

  void send(const ev::AbstractIntegrationEvent& event) override {
    sent.push_back({event.event_id(), std::string(event.event_name()), std::type_index(typeid(event))});
  }

  std::vector<Sent> sent;
};

/// Collects what the mediator reports about failing handlers.
struct FailureLog {
  std::vector<std::string> messages;

  ev::ErrorHandler handler() {
    return [this](const ev::AbstractEvent& event, std::exception_ptr error) {
      std::string what = "non-standard exception";
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      messages.push_back(std::string(event.event_name()) + ": " + what);
    };
  }
};

// `publisher.publish(event)` is well-formed. A concept, so that the ill-formed case is a
// substitution failure (false) rather than a hard error.
template <class Publisher, class E>
concept can_publish = requires(Publisher& publisher, const E& event) { publisher.publish(event); };

// The deleted overload rejects events of neither kind where the static type shows it...
static_assert(!can_publish<ev::IEventPublisher, Neither>);
static_assert(!can_publish<ev::EventPublisher, Neither>);  // the using-declaration keeps it visible
// ... and leaves every other event alone.
static_assert(can_publish<ev::IEventPublisher, UserCreated>);
static_assert(can_publish<ev::IEventPublisher, OrderPlaced>);
static_assert(can_publish<ev::EventPublisher, UserCreated>);
static_assert(can_publish<ev::EventPublisher, OrderPlaced>);
static_assert(can_publish<ev::IEventPublisher, ev::AbstractEvent>, "the static type hides the kind: run-time check");
static_assert(can_publish<ev::EventPublisher, ev::AbstractEvent>);
static_assert(can_publish<ev::IEventPublisher, ev::AbstractDomainEvent>);
static_assert(can_publish<ev::IEventPublisher, ev::AbstractIntegrationEvent>);
static_assert(!can_publish<ev::IEventPublisher, int>);
static_assert(!can_publish<const ev::EventPublisher, UserCreated>, "publishing is not const");

}  // namespace publisher_test

using namespace publisher_test;

TEST_CASE("a domain event is dispatched and never reaches the bus", "[publisher]") {
  ev::EventMediator mediator;
  RecordingBus bus;
  ev::EventPublisher publisher(mediator, bus);

  std::vector<std::string> seen;
  ev::ScopedSubscription sub = mediator.register_handler([&](const UserCreated& e) { seen.push_back(e.username); });

  const UserCreated event("kim");
  publisher.publish(event);
  CHECK(seen == std::vector<std::string>{"kim"});
  CHECK(bus.sent.empty());

  SECTION("also through IEventPublisher&") {
    ev::IEventPublisher& as_interface = publisher;
    as_interface.publish(UserCreated("lee"));
    CHECK(seen == std::vector<std::string>{"kim", "lee"});
    CHECK(bus.sent.empty());
  }
  SECTION("also through const AbstractEvent&") {
    const ev::AbstractEvent& as_base = event;
    publisher.publish(as_base);
    CHECK(seen == std::vector<std::string>{"kim", "kim"});
    CHECK(bus.sent.empty());
  }
  SECTION("also by a publisher without a bus") {
    ev::EventPublisher without_bus(mediator);
    without_bus.publish(UserCreated("park"));
    CHECK(seen == std::vector<std::string>{"kim", "park"});
  }
}

TEST_CASE("an integration event goes to the bus only", "[publisher]") {
  ev::EventMediator mediator;
  RecordingBus bus;
  ev::EventPublisher publisher(mediator, bus);

  int exact_calls = 0;
  int family_calls = 0;
  int any_calls = 0;
  ev::ScopedSubscription exact = mediator.register_handler([&](const OrderPlaced&) { ++exact_calls; });
  ev::ScopedSubscription family =
      mediator.register_handler<ev::AbstractIntegrationEvent>([&](const ev::AbstractIntegrationEvent&) { ++family_calls; });
  ev::ScopedSubscription any = mediator.register_handler<ev::AbstractEvent>([&](const ev::AbstractEvent&) { ++any_calls; });

  const OrderPlaced event("o-42");
  publisher.publish(event);
  REQUIRE(bus.sent.size() == 1);
  CHECK(bus.sent[0].id == event.event_id());
  CHECK(bus.sent[0].name == "OrderPlaced");
  CHECK(bus.sent[0].type == std::type_index(typeid(OrderPlaced)));
  CHECK(exact_calls == 0);
  CHECK(family_calls == 0);
  CHECK(any_calls == 0);

  SECTION("through IEventPublisher& and const AbstractEvent&") {
    ev::IEventPublisher& as_interface = publisher;
    const NamedOrderShipped shipped;
    const ev::AbstractEvent& as_base = shipped;
    as_interface.publish(as_base);
    REQUIRE(bus.sent.size() == 2);
    CHECK(bus.sent[1].id == shipped.event_id());
    CHECK(bus.sent[1].name == "orders.shipped");
    CHECK(exact_calls == 0);
    CHECK(any_calls == 0);
  }
}

TEST_CASE("an integration event without a bus fails with EventBusNotConfiguredError", "[publisher]") {
  ev::EventMediator mediator;
  ev::EventPublisher publisher(mediator);

  int calls = 0;
  ev::ScopedSubscription exact = mediator.register_handler([&](const OrderPlaced&) { ++calls; });
  ev::ScopedSubscription any = mediator.register_handler<ev::AbstractEvent>([&](const ev::AbstractEvent&) { ++calls; });

  CHECK_THROWS_AS(publisher.publish(OrderPlaced{}), ev::EventBusNotConfiguredError);
  CHECK_THROWS_AS(publisher.publish(OrderPlaced{}), ev::EventError);
  CHECK_THROWS_WITH(publisher.publish(OrderPlaced{}), Catch::Contains("OrderPlaced"));
  CHECK_THROWS_WITH(publisher.publish(NamedOrderShipped{}), Catch::Contains("orders.shipped"));
  const NamedOrderShipped shipped;
  const ev::AbstractEvent& as_base = shipped;
  CHECK_THROWS_AS(publisher.publish(as_base), ev::EventBusNotConfiguredError);
  CHECK(calls == 0);
}

TEST_CASE("an event of neither kind fails with UnknownEventTypeError at run time", "[publisher]") {
  ev::EventMediator mediator;
  RecordingBus bus;
  ev::EventPublisher publisher(mediator, bus);
  int calls = 0;
  ev::ScopedSubscription exact = mediator.register_handler([&](const Neither&) { ++calls; });
  ev::ScopedSubscription any = mediator.register_handler<ev::AbstractEvent>([&](const ev::AbstractEvent&) { ++calls; });

  const Neither event;
  const ev::AbstractEvent& as_base = event;  // the static type hides the kind
  bool thrown = false;
  try {
    publisher.publish(as_base);
  } catch (const ev::UnknownEventTypeError& error) {
    thrown = true;
    CHECK(error.event_type() == std::type_index(typeid(Neither)));
    CHECK_THAT(error.what(), Catch::Contains("Neither"));
  }
  CHECK(thrown);

  ev::IEventPublisher& as_interface = publisher;
  CHECK_THROWS_AS(as_interface.publish(as_base), ev::EventError);
  CHECK(calls == 0);
  CHECK(bus.sent.empty());
}

TEST_CASE("a domain handler can publish an integration event through the same publisher", "[publisher]") {
  ev::EventMediator mediator;
  FailureLog failures;
  mediator.set_error_handler(failures.handler());
  RecordingBus bus;
  ev::EventPublisher publisher(mediator, bus);

  ev::ScopedSubscription sub = mediator.register_handler([&](const UserCreated& e) {
    publisher.publish(OrderPlaced("for-" + e.username));
  });

  publisher.publish(UserCreated("kim"));
  CHECK(failures.messages.empty());
  REQUIRE(bus.sent.size() == 1);
  CHECK(bus.sent[0].name == "OrderPlaced");

  SECTION("and a domain event, dispatched re-entrantly") {
    std::vector<std::string> chain;
    ev::ScopedSubscription relay = mediator.register_handler([&](const UserCreated& e) {
      chain.push_back(e.username);
      if (e.username.size() < 3) publisher.publish(UserCreated(e.username + "+"));
    });
    publisher.publish(UserCreated("a"));
    CHECK(failures.messages.empty());
    CHECK(chain == std::vector<std::string>{"a", "a+", "a++"});
    CHECK(bus.sent.size() == 4);  // one OrderPlaced per UserCreated
  }
}
