// Subscription and ScopedSubscription: handles that cancel, stay safe after their mediator,
// and (scoped) wait for running calls when they go.

#include <spakky/event/mediator/event_mediator.hpp>

#include "support/events.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <utility>

namespace ev = spakky::event;
using namespace test_events;

TEST_CASE("cancel stops the handler and is idempotent", "[subscription]") {
  ev::EventMediator mediator;
  int calls = 0;
  auto sub = mediator.register_handler([&](const Ping&) { ++calls; });
  CHECK(sub.active());
  mediator.dispatch(Ping{});
  sub.cancel();
  CHECK_FALSE(sub.active());
  sub.cancel();
  sub.cancel_and_wait();
  mediator.dispatch(Ping{});
  CHECK(calls == 1);
}

TEST_CASE("cancelling one handler leaves the others of the type in order", "[subscription]") {
  ev::EventMediator mediator;
  std::string calls;
  auto a = mediator.register_handler([&](const Ping&) { calls += 'a'; });
  auto b = mediator.register_handler([&](const Ping&) { calls += 'b'; });
  auto c = mediator.register_handler([&](const Ping&) { calls += 'c'; });
  b.cancel();
  mediator.dispatch(Ping{});
  CHECK(calls == "ac");
}

TEST_CASE("dropping a Subscription does not cancel", "[subscription]") {
  ev::EventMediator mediator;
  int calls = 0;
  { auto dropped = mediator.register_handler([&](const Ping&) { ++calls; }); }
  (void)mediator.register_handler([&](const Ping&) { ++calls; });
  mediator.dispatch(Ping{});
  CHECK(calls == 2);
}

TEST_CASE("a default or moved-from Subscription is inert", "[subscription]") {
  ev::Subscription empty;
  CHECK_FALSE(empty.active());
  empty.cancel();
  empty.cancel_and_wait();

  ev::EventMediator mediator;
  int calls = 0;
  auto sub = mediator.register_handler([&](const Ping&) { ++calls; });
  ev::Subscription moved = std::move(sub);
  CHECK_FALSE(sub.active());  // NOLINT(bugprone-use-after-move): the point of the test
  sub.cancel();
  mediator.dispatch(Ping{});
  CHECK(calls == 1);
  CHECK(moved.active());
  moved.cancel();
  mediator.dispatch(Ping{});
  CHECK(calls == 1);
}

TEST_CASE("a Subscription outliving its mediator is a harmless no-op", "[subscription][lifetime]") {
  ev::Subscription sub;
  ev::ScopedSubscription scoped;
  {
    ev::EventMediator mediator;
    sub = mediator.register_handler([](const Ping&) {});
    scoped = mediator.register_handler([](const Pong&) {});
    CHECK(sub.active());
  }
  CHECK_FALSE(sub.active());
  sub.cancel();
  sub.cancel_and_wait();
  CHECK_FALSE(scoped.active());
}  // scoped's destructor runs after the mediator is gone

TEST_CASE("ScopedSubscription cancels when it goes out of scope", "[subscription]") {
  ev::EventMediator mediator;
  int calls = 0;
  {
    ev::ScopedSubscription scoped = mediator.register_handler([&](const Ping&) { ++calls; });
    mediator.dispatch(Ping{});
  }
  mediator.dispatch(Ping{});
  CHECK(calls == 1);
}

TEST_CASE("ScopedSubscription move-assignment cancels the handler it held", "[subscription]") {
  ev::EventMediator mediator;
  std::string calls;
  ev::ScopedSubscription scoped = mediator.register_handler([&](const Ping&) { calls += 'a'; });
  scoped = mediator.register_handler([&](const Ping&) { calls += 'b'; });
  mediator.dispatch(Ping{});
  CHECK(calls == "b");
}

TEST_CASE("ScopedSubscription::release hands the registration back uncancelled", "[subscription]") {
  ev::EventMediator mediator;
  int calls = 0;
  ev::Subscription kept;
  {
    ev::ScopedSubscription scoped = mediator.register_handler([&](const Ping&) { ++calls; });
    kept = scoped.release();
  }
  mediator.dispatch(Ping{});
  CHECK(calls == 1);
  CHECK(kept.active());
}

TEST_CASE("a handler owning the ScopedSubscription of another handler tears down cleanly", "[subscription][lifetime]") {
  ev::EventMediator mediator;
  int inner_calls = 0;
  auto inner = std::make_shared<ev::ScopedSubscription>(mediator.register_handler([&](const Pong&) { ++inner_calls; }));
  auto outer = mediator.register_handler([owned = std::move(inner)](const Ping&) {});
  mediator.dispatch(Pong{});
  outer.cancel();  // destroys the closure, whose ScopedSubscription cancels `inner` (re-entering the registry)
  mediator.dispatch(Pong{});
  CHECK(inner_calls == 1);
}
