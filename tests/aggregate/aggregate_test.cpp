// AbstractAggregateRoot (pending domain events: add, copy out in order, remove the first equal
// one, clear) and AggregateCollector (the aggregates one unit of work touched, in order, once).

#include <spakky/event/aggregate.hpp>

#include "support/events.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

namespace ev = spakky::event;
using namespace test_events;

namespace {

struct Order final : ev::AbstractAggregateRoot {
  explicit Order(std::string id = "order") : id(std::move(id)) {}
  std::string id;
};

/// "Ping 1", "Pong 2", "UserCreated u-1": what an event is, by dynamic type and payload.
std::string describe(const ev::AbstractDomainEvent& event) {
  if (const auto* ping = dynamic_cast<const Ping*>(&event)) return "Ping " + std::to_string(ping->value);
  if (const auto* pong = dynamic_cast<const Pong*>(&event)) return "Pong " + std::to_string(pong->value);
  if (const auto* user = dynamic_cast<const UserCreated*>(&event)) return "UserCreated " + user->user_id;
  return "unknown";
}

std::vector<std::string> describe(const std::vector<std::shared_ptr<const ev::AbstractDomainEvent>>& events) {
  std::vector<std::string> out;
  for (const auto& event : events) out.push_back(event ? describe(*event) : "null");
  return out;
}

}  // namespace

TEST_CASE("a new aggregate has no pending events", "[aggregate]") {
  Order order;
  CHECK(order.events().empty());
}

TEST_CASE("events() returns the added events in order, as copies of the events", "[aggregate]") {
  Order order;
  const Ping ping{1};
  order.add_event(ping);
  order.add_event(Pong{2});
  order.add_event(UserCreated{"u-1", "alice"});
  order.add_event(Ping{3});

  const auto events = order.events();
  CHECK(describe(events) == std::vector<std::string>{"Ping 1", "Pong 2", "UserCreated u-1", "Ping 3"});
  // The stored event is a copy of the one added: same identity (==), another object.
  REQUIRE(events.size() == 4);
  CHECK(*events[0] == ping);
  CHECK(events[0].get() != &ping);
  // The dynamic type is kept (no slicing to AbstractDomainEvent).
  CHECK(events[2]->event_name() == "UserCreated");
  CHECK(dynamic_cast<const UserCreated&>(*events[2]).username == "alice");
}

TEST_CASE("the vector events() returns is a copy: changing it leaves the aggregate alone", "[aggregate]") {
  Order order;
  order.add_event(Ping{1});
  order.add_event(Pong{2});

  auto events = order.events();
  events.clear();
  events.push_back(std::make_shared<const Ping>(99));
  CHECK(describe(order.events()) == std::vector<std::string>{"Ping 1", "Pong 2"});

  auto again = order.events();
  std::swap(again[0], again[1]);
  again.pop_back();
  CHECK(describe(order.events()) == std::vector<std::string>{"Ping 1", "Pong 2"});
}

TEST_CASE("remove_event removes the first equal event only", "[aggregate]") {
  Order order;
  const Ping twice{7};
  const Pong other{8};
  order.add_event(twice);
  order.add_event(other);
  order.add_event(twice);  // a second copy of the same event: equal to the first
  REQUIRE(order.events().size() == 3);
  CHECK(*order.events()[0] == *order.events()[2]);

  order.remove_event(twice);
  auto events = order.events();
  REQUIRE(events.size() == 2);
  CHECK(describe(events) == std::vector<std::string>{"Pong 8", "Ping 7"});
  CHECK(*events[0] == other);
  CHECK(*events[1] == twice);

  order.remove_event(twice);
  events = order.events();
  REQUIRE(events.size() == 1);
  CHECK(*events[0] == other);
}

TEST_CASE("remove_event goes by identity, not by payload", "[aggregate]") {
  Order order;
  order.add_event(Ping{1});
  order.add_event(Ping{1});  // the same payload, another event (another id)
  const auto before = order.events();
  REQUIRE(before.size() == 2);
  CHECK_FALSE(*before[0] == *before[1]);

  order.remove_event(*before[1]);  // the second one, not the first equal-looking one
  const auto after = order.events();
  REQUIRE(after.size() == 1);
  CHECK(*after[0] == *before[0]);
}

TEST_CASE("remove_event of an absent event is a no-op", "[aggregate]") {
  Order order;
  order.remove_event(Ping{1});  // empty aggregate
  CHECK(order.events().empty());

  order.add_event(Ping{1});
  order.add_event(Pong{2});
  const auto before = order.events();
  order.remove_event(Ping{1});  // same payload, but another event
  order.remove_event(Pong{2});
  const auto after = order.events();
  REQUIRE(after.size() == 2);
  CHECK(*after[0] == *before[0]);
  CHECK(*after[1] == *before[1]);
}

TEST_CASE("remove_event keeps the events of other types with the same payload", "[aggregate]") {
  Order order;
  const Ping ping{5};
  order.add_event(ping);
  order.add_event(Pong{5});
  order.remove_event(ping);
  CHECK(describe(order.events()) == std::vector<std::string>{"Pong 5"});
}

TEST_CASE("clear_events drops every pending event; the aggregate can raise new ones", "[aggregate]") {
  Order order;
  order.add_event(Ping{1});
  order.add_event(Pong{2});
  order.clear_events();
  CHECK(order.events().empty());
  order.clear_events();  // idempotent
  CHECK(order.events().empty());

  order.add_event(Ping{3});
  CHECK(describe(order.events()) == std::vector<std::string>{"Ping 3"});
}

TEST_CASE("events already copied out survive clear_events", "[aggregate]") {
  Order order;
  order.add_event(UserCreated{"u-1", "alice"});
  const auto kept = order.events();
  order.clear_events();
  REQUIRE(kept.size() == 1);
  CHECK(dynamic_cast<const UserCreated&>(*kept[0]).username == "alice");
}

TEST_CASE("aggregates keep their events apart", "[aggregate]") {
  Order a{"a"};
  Order b{"b"};
  a.add_event(Ping{1});
  b.add_event(Pong{2});
  a.clear_events();
  CHECK(a.events().empty());
  CHECK(describe(b.events()) == std::vector<std::string>{"Pong 2"});
}

TEST_CASE("AggregateCollector lists the collected aggregates in order", "[aggregate][collector]") {
  ev::AggregateCollector collector;
  CHECK(collector.all().empty());

  Order a{"a"}, b{"b"}, c{"c"};
  collector.collect(b);
  collector.collect(a);
  collector.collect(c);

  std::vector<ev::AbstractAggregateRoot*> all(collector.all().begin(), collector.all().end());
  CHECK(all == std::vector<ev::AbstractAggregateRoot*>{&b, &a, &c});
}

TEST_CASE("collecting the same aggregate twice keeps one entry, at its first position", "[aggregate][collector]") {
  ev::AggregateCollector collector;
  Order a{"a"}, b{"b"};
  collector.collect(a);
  collector.collect(b);
  collector.collect(a);
  collector.collect(b);
  collector.collect(a);

  std::vector<ev::AbstractAggregateRoot*> all(collector.all().begin(), collector.all().end());
  CHECK(all == std::vector<ev::AbstractAggregateRoot*>{&a, &b});
}

TEST_CASE("AggregateCollector::clear forgets the aggregates but not their events", "[aggregate][collector]") {
  ev::AggregateCollector collector;
  Order a{"a"};
  a.add_event(Ping{1});
  collector.collect(a);
  collector.clear();
  CHECK(collector.all().empty());
  CHECK(describe(a.events()) == std::vector<std::string>{"Ping 1"});

  // After clear, the same aggregate can be collected afresh.
  collector.collect(a);
  REQUIRE(collector.all().size() == 1);
  CHECK(collector.all()[0] == &a);
}

TEST_CASE("the collector is non-owning: it hands back the very aggregates collected", "[aggregate][collector]") {
  ev::AggregateCollector collector;
  Order a{"a"};
  collector.collect(a);
  a.add_event(Pong{4});  // raised after collect: seen through the collector
  REQUIRE(collector.all().size() == 1);
  CHECK(describe(collector.all()[0]->events()) == std::vector<std::string>{"Pong 4"});
}
