// Behaviour of EventMediator on one thread: routing, ordering, catch-alls, failures, outcome,
// registration and cancellation from inside handlers, re-entrancy.

#include <spakky/event/mediator/event_mediator.hpp>

#include "support/counted.hpp"
#include "support/events.hpp"
#include "support/stderr_capture.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

namespace ev = spakky::event;
using namespace test_events;

namespace {
std::vector<std::string> trace;
void free_function_handler(const Ping& p) { trace.push_back("free " + std::to_string(p.value)); }

using test_support::StderrCapture;
}  // namespace

TEST_CASE("dispatch calls the handlers of the exact type in registration order", "[mediator]") {
  ev::EventMediator mediator;
  std::vector<std::string> calls;
  auto a = mediator.register_handler([&](const Ping& p) { calls.push_back("a" + std::to_string(p.value)); });
  auto b = mediator.register_handler<Ping>([&](const Ping& p) { calls.push_back("b" + std::to_string(p.value)); });
  auto other = mediator.register_handler([&](const Pong&) { calls.push_back("pong"); });
  auto c = mediator.register_handler([&](const Ping& p) { calls.push_back("c" + std::to_string(p.value)); });

  mediator.dispatch(Ping{7});
  CHECK(calls == std::vector<std::string>{"a7", "b7", "c7"});
  calls.clear();
  mediator.dispatch(Pong{});
  CHECK(calls == std::vector<std::string>{"pong"});
}

TEST_CASE("an event with no handlers is a no-op", "[mediator]") {
  ev::EventMediator mediator;
  int calls = 0;
  auto sub = mediator.register_handler([&](const Pong&) { ++calls; });
  mediator.dispatch(Ping{});
  mediator.dispatch(Ping{});
  CHECK(calls == 0);
}

TEST_CASE("dispatch goes by the dynamic type of the event", "[mediator]") {
  ev::EventMediator mediator;
  int pings = 0;
  auto sub = mediator.register_handler([&](const Ping& p) { pings += p.value; });
  const Ping ping{5};
  const ev::AbstractEvent& as_base = ping;
  mediator.dispatch(as_base);
  ev::IEventDispatcher& dispatcher = mediator;
  dispatcher.dispatch(ping);
  CHECK(pings == 10);
}

TEST_CASE("free functions and handlers with an explicit event type register", "[mediator]") {
  trace.clear();
  ev::EventMediator mediator;
  auto sub = mediator.register_handler(&free_function_handler);
  auto sub2 = mediator.register_handler<Ping>(free_function_handler);
  mediator.dispatch(Ping{3});
  CHECK(trace == std::vector<std::string>{"free 3", "free 3"});
}

TEST_CASE("handlers may be move-only and mutable", "[mediator]") {
  ev::EventMediator mediator;
  auto total = std::make_unique<int>(0);
  int* seen = total.get();
  auto sub = mediator.register_handler([t = std::move(total)](const Ping& p) { *t += p.value; });
  int count = 0;
  auto sub2 = mediator.register_handler([&count, n = 0](const Ping&) mutable { count = ++n; });
  mediator.dispatch(Ping{2});
  mediator.dispatch(Ping{3});
  CHECK(*seen == 5);
  CHECK(count == 2);
}

TEST_CASE("catch-alls receive their family after the exact handlers", "[mediator]") {
  ev::EventMediator mediator;
  std::vector<std::string> calls;
  // Registered before any exact handler and before the types were ever seen.
  auto any = mediator.register_handler([&](const ev::AbstractEvent& e) { calls.push_back("any:" + std::string(e.event_name())); });
  auto domain = mediator.register_handler<ev::AbstractDomainEvent>(
      [&](const ev::AbstractDomainEvent& e) { calls.push_back("domain:" + std::string(e.event_name())); });
  auto integration = mediator.register_handler(
      [&](const ev::AbstractIntegrationEvent& e) { calls.push_back("integration:" + std::string(e.event_name())); });
  auto exact = mediator.register_handler([&](const Ping&) { calls.push_back("ping"); });

  mediator.dispatch(Ping{});
  CHECK(calls == std::vector<std::string>{"ping", "any:Ping", "domain:Ping"});
  calls.clear();
  mediator.dispatch(OrderPlaced{});
  CHECK(calls == std::vector<std::string>{"any:OrderPlaced", "integration:OrderPlaced"});
  calls.clear();
  mediator.dispatch(Plain{});
  CHECK(calls == std::vector<std::string>{"any:Plain"});
}

TEST_CASE("a catch-all registered after a type was dispatched receives it too", "[mediator]") {
  ev::EventMediator mediator;
  int exact = 0, all = 0;
  auto e = mediator.register_handler([&](const Ping&) { ++exact; });
  mediator.dispatch(Ping{});
  auto c = mediator.register_handler([&](const ev::AbstractDomainEvent&) { ++all; });
  mediator.dispatch(Ping{});
  mediator.dispatch(Pong{});
  CHECK(exact == 2);
  CHECK(all == 2);
  c.cancel();
  mediator.dispatch(Ping{});
  CHECK(all == 2);
}

TEST_CASE("a throwing handler does not stop the others and reaches the error handler", "[mediator][failure]") {
  ev::EventMediator mediator;
  std::vector<std::string> calls;
  std::vector<std::string> errors;
  std::optional<ev::EventId> failed_id;
  mediator.set_error_handler([&](const ev::AbstractEvent& event, std::exception_ptr error) {
    failed_id = event.event_id();
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      errors.push_back(std::string(event.event_name()) + ": " + e.what());
    }
  });
  auto a = mediator.register_handler([&](const Ping&) { calls.push_back("a"); });
  auto b = mediator.register_handler([&](const Ping&) { throw std::runtime_error("b failed"); });
  auto c = mediator.register_handler([&](const Ping&) { calls.push_back("c"); });
  const Ping ping{1};
  REQUIRE_NOTHROW(mediator.dispatch(ping));
  CHECK(calls == std::vector<std::string>{"a", "c"});
  CHECK(errors == std::vector<std::string>{"Ping: b failed"});
  CHECK(failed_id == ping.event_id());
}

TEST_CASE("an error handler that throws is ignored and dispatch goes on", "[mediator][failure]") {
  ev::EventMediator mediator;
  int after = 0;
  mediator.set_error_handler([](const ev::AbstractEvent&, std::exception_ptr) { throw std::logic_error("bad sink"); });
  auto a = mediator.register_handler([](const Ping&) { throw 42; });
  auto b = mediator.register_handler([&](const Ping&) { ++after; });
  REQUIRE_NOTHROW(mediator.dispatch(Ping{}));
  CHECK(after == 1);
}

TEST_CASE("the default error handler writes one line naming the event", "[mediator][failure]") {
  ev::EventMediator mediator;
  auto a = mediator.register_handler([](const Ping&) { throw std::runtime_error("disk full"); });
  StderrCapture capture;
  mediator.dispatch(Ping{});
  const std::string text = capture.text();
  CHECK(text.find("Ping") != std::string::npos);
  CHECK(text.find("disk full") != std::string::npos);
  CHECK(std::count(text.begin(), text.end(), '\n') == 1);
}

TEST_CASE("an empty error handler restores the default", "[mediator][failure]") {
  ev::EventMediator mediator;
  int custom = 0;
  mediator.set_error_handler([&](const ev::AbstractEvent&, std::exception_ptr) { ++custom; });
  mediator.set_error_handler(nullptr);
  auto a = mediator.register_handler([](const Ping&) { throw std::runtime_error("x"); });
  StderrCapture capture;
  mediator.dispatch(Ping{});
  CHECK(custom == 0);
  CHECK(capture.text().find("Ping") != std::string::npos);
}

TEST_CASE("dispatch_with_outcome reports handlers run, failed and the first failure", "[mediator][outcome]") {
  ev::EventMediator mediator;
  mediator.set_error_handler([](const ev::AbstractEvent&, std::exception_ptr) {});

  auto none = mediator.dispatch_with_outcome(Ping{});
  CHECK(none.handlers_run == 0);
  CHECK(none.succeeded());

  auto a = mediator.register_handler([](const Ping&) {});
  auto b = mediator.register_handler([](const Ping&) { throw std::runtime_error("first"); });
  auto c = mediator.register_handler([](const ev::AbstractEvent&) { throw std::runtime_error("second"); });
  auto outcome = mediator.dispatch_with_outcome(Ping{});
  CHECK(outcome.handlers_run == 3);
  CHECK(outcome.handlers_failed == 2);
  CHECK_FALSE(outcome.succeeded());
  REQUIRE(outcome.first_failure);
  CHECK_THROWS_WITH(std::rethrow_exception(outcome.first_failure), "first");

  b.cancel();
  c.cancel();
  auto ok = mediator.dispatch_with_outcome(Ping{});
  CHECK(ok.handlers_run == 1);
  CHECK(ok.succeeded());
  CHECK_FALSE(ok.first_failure);
}

TEST_CASE("a handler registered during a dispatch is not called by that dispatch", "[mediator][reentrancy]") {
  ev::EventMediator mediator;
  int late_calls = 0;
  std::vector<ev::Subscription> added;
  auto adder = mediator.register_handler([&](const Ping&) {
    added.push_back(mediator.register_handler([&](const Ping&) { ++late_calls; }));
  });
  mediator.dispatch(Ping{});
  CHECK(late_calls == 0);
  mediator.dispatch(Ping{});
  CHECK(late_calls == 1);  // the first added one; the second was added during this dispatch
}

TEST_CASE("a handler cancelled during a dispatch is not called after cancel returns", "[mediator][reentrancy]") {
  ev::EventMediator mediator;
  std::vector<std::string> calls;
  ev::Subscription second;
  auto first = mediator.register_handler([&](const Ping&) {
    calls.push_back("first");
    second.cancel();
  });
  second = mediator.register_handler([&](const Ping&) { calls.push_back("second"); });
  mediator.dispatch(Ping{});
  mediator.dispatch(Ping{});
  CHECK(calls == std::vector<std::string>{"first", "first"});
}

TEST_CASE("a handler may cancel itself, even with cancel_and_wait", "[mediator][reentrancy]") {
  ev::EventMediator mediator;
  int calls = 0;
  ev::Subscription self;
  self = mediator.register_handler([&](const Ping&) {
    ++calls;
    self.cancel_and_wait();  // must not wait for its own call
  });
  mediator.dispatch(Ping{});
  mediator.dispatch(Ping{});
  CHECK(calls == 1);
  CHECK_FALSE(self.active());
}

TEST_CASE("handlers may dispatch re-entrantly", "[mediator][reentrancy]") {
  ev::EventMediator mediator;
  std::vector<std::string> calls;
  auto ping = mediator.register_handler([&](const Ping& p) {
    calls.push_back("ping" + std::to_string(p.value));
    if (p.value < 3) mediator.dispatch(Ping{p.value + 1});
    mediator.dispatch(Pong{p.value});
  });
  auto pong = mediator.register_handler([&](const Pong& p) { calls.push_back("pong" + std::to_string(p.value)); });
  mediator.dispatch(Ping{1});
  CHECK(calls == std::vector<std::string>{"ping1", "ping2", "ping3", "pong3", "pong2", "pong1"});
}

TEST_CASE("a deeply re-entrant dispatch uses more reader slots and still works", "[mediator][reentrancy]") {
  ev::EventMediator mediator;
  int depth_reached = 0;
  auto sub = mediator.register_handler([&](const Ping& p) {
    depth_reached = p.value;
    if (p.value < 100) mediator.dispatch(Ping{p.value + 1});
  });
  mediator.dispatch(Ping{1});
  CHECK(depth_reached == 100);
}

TEST_CASE("a cancelled handler's closure is destroyed; a live one with the mediator", "[mediator][lifetime]") {
  using test_support::Counted;
  const int before = Counted::alive;
  {
    ev::EventMediator mediator;
    auto a = mediator.register_handler([c = Counted{}](const Ping&) {});
    auto b = mediator.register_handler([c = Counted{}](const ev::AbstractEvent&) {});
    mediator.dispatch(Ping{});
    CHECK(Counted::alive == before + 2);
    a.cancel();
    // Nothing is dispatching: the closure goes at once (on the next write at the latest).
    auto c = mediator.register_handler([](const Pong&) {});
    CHECK(Counted::alive == before + 1);
  }
  CHECK(Counted::alive == before);
}

namespace {
template <int N>
struct Numbered final : ev::AbstractDomainEvent {};

template <int... I>
int dispatch_each_twice(std::integer_sequence<int, I...>) {
  ev::EventMediator mediator;
  int sum = 0;
  std::vector<ev::Subscription> subs;
  (subs.push_back(mediator.register_handler([&sum](const Numbered<I>&) { sum += I; })), ...);
  (mediator.dispatch(Numbered<I>{}), ...);
  (mediator.dispatch(Numbered<I>{}), ...);
  return sum;
}
}  // namespace

TEST_CASE("hundreds of event types each reach exactly their own handlers", "[mediator]") {
  // Grows the type table several times while keeping every earlier entry findable.
  CHECK(dispatch_each_twice(std::make_integer_sequence<int, 200>{}) == 2 * (199 * 200 / 2));
}
