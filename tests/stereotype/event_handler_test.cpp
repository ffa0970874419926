// Event-handler classes: a class lists its handler methods in `event_routes`;
// register_handlers(object, consumers...) registers every listed method on the fitting consumer
// (void methods on an IEventConsumer, coroutine ones on an IAsyncEventConsumer, integration
// routes only on a consumer wrapped in integration(...)) and returns one RAII HandlerBundle.
// Catch2 assertions are not thread-safe: worker threads only record; the main thread checks.

#include <spakky/event/event_consumer.hpp>
#include <spakky/event/mediator/async_event_mediator.hpp>
#include <spakky/event/mediator/event_mediator.hpp>
#include <spakky/event/stereotype/event_handler.hpp>
#include <spakky/event/task.hpp>

#include "support/events.hpp"
#include "support/sync.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace ev = spakky::event;
using namespace test_events;
using test_support::eventually;
using test_support::Gate;
using namespace std::chrono_literals;

namespace {

using Strings = std::vector<std::string>;

/// A handler class with one method of each kind and one method it does not list.
class OrderHandlers {
public:
  explicit OrderHandlers(Strings& calls) : calls_(calls) {}

  void on_ping(const Ping& event) { calls_.push_back("on_ping " + std::to_string(event.value)); }
  ev::Task<> on_pong(const Pong& event) {
    calls_.push_back("on_pong " + std::to_string(event.value));
    co_return;
  }
  void on_order_placed(const OrderPlaced& event) { calls_.push_back("on_order_placed " + event.order_id); }
  void on_user_created(const UserCreated& event) { calls_.push_back("on_user_created " + event.user_id); }

  using event_routes =
      ev::routes<&OrderHandlers::on_ping, &OrderHandlers::on_pong, &OrderHandlers::on_order_placed>;

private:
  Strings& calls_;
};

/// An IEventConsumer standing in for a broker consumer: records what is subscribed to it
/// (event name, catch-all or not) and lets the test deliver events to those handlers.
class RecordingConsumer final : public ev::IEventConsumer {
public:
  using ev::IEventConsumer::register_handler;

  ev::Subscription subscribe(ev::ErasedEventHandler handler) override {
    subscribed.emplace_back(handler.event_name());
    catch_all.push_back(handler.is_catch_all());
    handlers_.push_back(std::move(handler));
    return {};
  }

  /// Calls every subscribed handler whose event type is the event's dynamic type.
  void deliver(const ev::AbstractEvent& event) const {
    for (const auto& handler : handlers_) {
      if (handler.event_type() == typeid(event)) handler(event);
    }
  }

  Strings subscribed;
  std::vector<bool> catch_all;

private:
  std::vector<ev::ErasedEventHandler> handlers_;
};

}  // namespace

namespace {

// Handler classes at namespace scope: g++ warns (-Wunused-local-typedefs) about the
// event_routes of a function-local class although register_handlers uses it.

struct SyncOnly {
  Strings* calls;
  void on_ping(const Ping&) { calls->push_back("ping"); }
  void on_order_placed(const OrderPlaced&) { calls->push_back("placed"); }
  using event_routes = ev::routes<&SyncOnly::on_ping, &SyncOnly::on_order_placed>;
};

struct AsyncBrokerHandlers {
  Strings* calls;
  ev::Task<> on_order_placed(const OrderPlaced& event) {
    calls->push_back("async placed " + event.order_id);
    co_return;
  }
  void on_ping(const Ping& event) { calls->push_back("ping " + std::to_string(event.value)); }
  using event_routes = ev::routes<&AsyncBrokerHandlers::on_order_placed, &AsyncBrokerHandlers::on_ping>;
};

struct Qualified {
  Strings* calls;
  void on_ping(const Ping& event) const { calls->push_back("const " + std::to_string(event.value)); }
  void on_pong(const Pong& event) noexcept { calls->push_back("noexcept " + std::to_string(event.value)); }
  void on_user(const UserCreated& event) const noexcept { calls->push_back("const noexcept " + event.user_id); }
  ev::Task<> on_ping_async(const Ping& event) const {
    calls->push_back("const async " + std::to_string(event.value));
    co_return;
  }
  ev::Task<> on_pong_async(const Pong& event) noexcept {
    calls->push_back("noexcept async " + std::to_string(event.value));
    co_return;
  }
  using event_routes = ev::routes<&Qualified::on_ping, &Qualified::on_pong, &Qualified::on_user,
                                  &Qualified::on_ping_async, &Qualified::on_pong_async>;
};

struct CatchAll {
  Strings* calls;
  void on_any(const ev::AbstractDomainEvent& event) { calls->push_back("any " + std::string(event.event_name())); }
  void on_ping(const Ping&) { calls->push_back("ping"); }
  ev::Task<> on_any_async(const ev::AbstractDomainEvent& event) {
    calls->push_back("async any " + std::string(event.event_name()));
    co_return;
  }
  using event_routes = ev::routes<&CatchAll::on_any, &CatchAll::on_ping, &CatchAll::on_any_async>;
};

struct Forwarder {
  Strings* calls;
  void on_integration(const ev::AbstractIntegrationEvent& event) {
    calls->push_back("integration " + std::string(event.event_name()));
  }
  using event_routes = ev::routes<&Forwarder::on_integration>;
};

struct Counter {
  std::atomic<int> calls{0};
  void on_ping(const Ping&) { ++calls; }
  using event_routes = ev::routes<&Counter::on_ping>;
};

}  // namespace

TEST_CASE("sync methods land on the IEventConsumer, coroutine methods on the IAsyncEventConsumer",
          "[stereotype]") {
  Strings calls;
  OrderHandlers handlers(calls);
  ev::EventMediator mediator;
  ev::AsyncEventMediator<> async_mediator;

  ev::HandlerBundle bundle = ev::register_handlers(handlers, mediator, async_mediator);
  CHECK(bundle.size() == 2);  // on_ping and on_pong; the integration route is skipped

  mediator.dispatch(Ping{1});
  CHECK(calls == Strings{"on_ping 1"});
  calls.clear();

  ev::sync_wait(async_mediator.dispatch(Pong{2}));
  CHECK(calls == Strings{"on_pong 2"});
  calls.clear();

  // Each method is on one consumer only: dispatching its event on the other reaches nothing.
  mediator.dispatch(Pong{3});
  ev::sync_wait(async_mediator.dispatch(Ping{4}));
  CHECK(calls.empty());
}

TEST_CASE("the order of the consumers does not matter", "[stereotype]") {
  Strings calls;
  OrderHandlers handlers(calls);
  ev::EventMediator mediator;
  ev::AsyncEventMediator<> async_mediator;

  ev::HandlerBundle bundle = ev::register_handlers(handlers, async_mediator, mediator);
  CHECK(bundle.size() == 2);
  mediator.dispatch(Ping{1});
  ev::sync_wait(async_mediator.dispatch(Pong{2}));
  CHECK(calls == Strings{"on_ping 1", "on_pong 2"});
}

TEST_CASE("a method the class does not list never runs", "[stereotype]") {
  Strings calls;
  OrderHandlers handlers(calls);
  ev::EventMediator mediator;
  ev::AsyncEventMediator<> async_mediator;
  RecordingConsumer broker;

  ev::HandlerBundle bundle = ev::register_handlers(handlers, mediator, async_mediator, ev::integration(broker));
  mediator.dispatch(UserCreated{"u-1", "alice"});
  ev::sync_wait(async_mediator.dispatch(UserCreated{"u-2", "bob"}));
  broker.deliver(UserCreated{"u-3", "carol"});
  CHECK(calls.empty());
  CHECK(broker.subscribed == Strings{"OrderPlaced"});
}

TEST_CASE("an integration route is not registered on the in-process mediators", "[stereotype][integration]") {
  Strings calls;
  OrderHandlers handlers(calls);
  ev::EventMediator mediator;
  ev::AsyncEventMediator<> async_mediator;

  ev::HandlerBundle bundle = ev::register_handlers(handlers, mediator, async_mediator);
  mediator.dispatch(OrderPlaced{"o-1"});
  ev::sync_wait(async_mediator.dispatch(OrderPlaced{"o-2"}));
  CHECK(calls.empty());
  CHECK(bundle.size() == 2);

  // With the mediator alone the same holds, and the coroutine route... needs its consumer:
  // see tests/compile_fail/no_consumer.cpp. A class of sync routes only:
  SyncOnly sync_only{&calls};
  ev::EventMediator sync_mediator;
  ev::HandlerBundle sync_bundle = ev::register_handlers(sync_only, sync_mediator);
  CHECK(sync_bundle.size() == 1);
  sync_mediator.dispatch(OrderPlaced{"o-3"});
  sync_mediator.dispatch(Ping{});
  CHECK(calls == Strings{"ping"});
}

TEST_CASE("an integration route reaches the consumer given through integration(...)", "[stereotype][integration]") {
  Strings calls;
  OrderHandlers handlers(calls);
  ev::EventMediator mediator;
  ev::AsyncEventMediator<> async_mediator;

  SECTION("a recording IEventConsumer: one subscription, for OrderPlaced, not a catch-all") {
    RecordingConsumer broker;
    ev::HandlerBundle bundle =
        ev::register_handlers(handlers, mediator, async_mediator, ev::integration(broker));
    CHECK(bundle.size() == 3);
    CHECK(broker.subscribed == Strings{"OrderPlaced"});
    CHECK(broker.catch_all == std::vector<bool>{false});

    broker.deliver(OrderPlaced{"o-1"});
    CHECK(calls == Strings{"on_order_placed o-1"});
    calls.clear();
    // The in-process mediator still does not have it, and the broker has no domain routes.
    mediator.dispatch(OrderPlaced{"o-2"});
    broker.deliver(Ping{1});
    CHECK(calls.empty());
  }

  SECTION("an EventMediator standing in for a broker consumer") {
    ev::EventMediator broker;
    {
      ev::HandlerBundle bundle =
          ev::register_handlers(handlers, mediator, async_mediator, ev::integration(broker));
      CHECK(bundle.size() == 3);
      broker.dispatch(OrderPlaced{"o-1"});
      broker.dispatch(Ping{1});  // domain routes did not go to the broker
      mediator.dispatch(OrderPlaced{"o-2"});
      CHECK(calls == Strings{"on_order_placed o-1"});
      calls.clear();
    }
    // The bundle also cancels the broker route.
    broker.dispatch(OrderPlaced{"o-3"});
    mediator.dispatch(Ping{2});
    CHECK(calls.empty());
  }

  SECTION("the integration consumer may come first") {
    ev::EventMediator broker;
    ev::HandlerBundle bundle =
        ev::register_handlers(handlers, ev::integration(broker), async_mediator, mediator);
    CHECK(bundle.size() == 3);
    broker.dispatch(OrderPlaced{"o-1"});
    mediator.dispatch(Ping{1});
    ev::sync_wait(async_mediator.dispatch(Pong{2}));
    CHECK(calls == Strings{"on_order_placed o-1", "on_ping 1", "on_pong 2"});
  }
}

TEST_CASE("a coroutine integration route goes to an async integration consumer", "[stereotype][integration]") {
  Strings calls;
  AsyncBrokerHandlers handlers{&calls};
  ev::EventMediator mediator;
  ev::AsyncEventMediator<> async_broker;
  ev::HandlerBundle bundle = ev::register_handlers(handlers, mediator, ev::integration(async_broker));
  CHECK(bundle.size() == 2);
  ev::sync_wait(async_broker.dispatch(OrderPlaced{"o-9"}));
  mediator.dispatch(OrderPlaced{"o-10"});
  mediator.dispatch(Ping{3});
  CHECK(calls == Strings{"async placed o-9", "ping 3"});
}

TEST_CASE("const, noexcept and const noexcept methods register", "[stereotype]") {
  Strings calls;
  Qualified handlers{&calls};
  ev::EventMediator mediator;
  ev::AsyncEventMediator<> async_mediator;
  ev::HandlerBundle bundle = ev::register_handlers(handlers, mediator, async_mediator);
  CHECK(bundle.size() == 5);

  mediator.dispatch(Ping{1});
  mediator.dispatch(Pong{2});
  mediator.dispatch(UserCreated{"u-3", "carol"});
  ev::sync_wait(async_mediator.dispatch(Ping{4}));
  ev::sync_wait(async_mediator.dispatch(Pong{5}));
  CHECK(calls == Strings{"const 1", "noexcept 2", "const noexcept u-3", "const async 4", "noexcept async 5"});
}

TEST_CASE("catch-all methods receive every domain event of their consumer, after the exact ones", "[stereotype]") {
  Strings calls;
  CatchAll handlers{&calls};
  ev::EventMediator mediator;
  ev::AsyncEventMediator<> async_mediator;
  ev::HandlerBundle bundle = ev::register_handlers(handlers, mediator, async_mediator);
  CHECK(bundle.size() == 3);

  mediator.dispatch(Ping{});
  mediator.dispatch(UserCreated{"u-1", "alice"});
  ev::sync_wait(async_mediator.dispatch(Pong{}));
  CHECK(calls == Strings{"ping", "any Ping", "any UserCreated", "async any Pong"});
}

TEST_CASE("a catch-all for integration events is an integration route", "[stereotype][integration]") {
  Strings calls;
  Forwarder handlers{&calls};
  ev::EventMediator mediator;
  {
    ev::HandlerBundle bundle = ev::register_handlers(handlers, mediator);
    CHECK(bundle.size() == 0);
    mediator.dispatch(OrderPlaced{});
    CHECK(calls.empty());
  }
  RecordingConsumer broker;
  ev::HandlerBundle bundle = ev::register_handlers(handlers, mediator, ev::integration(broker));
  CHECK(bundle.size() == 1);
  CHECK(broker.catch_all == std::vector<bool>{true});
  mediator.dispatch(OrderPlaced{});
  CHECK(calls.empty());
}

TEST_CASE("the bundle registers on one object: two objects of a class are independent", "[stereotype]") {
  Strings first_calls, second_calls;
  OrderHandlers first(first_calls), second(second_calls);
  ev::EventMediator mediator;
  ev::AsyncEventMediator<> async_mediator;
  std::optional<ev::HandlerBundle> first_bundle{ev::register_handlers(first, mediator, async_mediator)};
  ev::HandlerBundle second_bundle = ev::register_handlers(second, mediator, async_mediator);

  mediator.dispatch(Ping{1});
  CHECK(first_calls == Strings{"on_ping 1"});
  CHECK(second_calls == Strings{"on_ping 1"});

  first_bundle.reset();
  mediator.dispatch(Ping{2});
  ev::sync_wait(async_mediator.dispatch(Pong{3}));
  CHECK(first_calls == Strings{"on_ping 1"});
  CHECK(second_calls == Strings{"on_ping 1", "on_ping 2", "on_pong 3"});
}

TEST_CASE("destroying the bundle silences the object", "[stereotype][lifetime]") {
  Strings calls;
  ev::EventMediator mediator;
  ev::AsyncEventMediator<> async_mediator;
  ev::EventMediator broker;
  // The object dies right after its bundle: ASan would see any later call.
  auto handlers = std::make_unique<OrderHandlers>(calls);
  {
    ev::HandlerBundle bundle =
        ev::register_handlers(*handlers, mediator, async_mediator, ev::integration(broker));
    mediator.dispatch(Ping{1});
    CHECK(calls == Strings{"on_ping 1"});
  }
  handlers.reset();
  mediator.dispatch(Ping{2});
  ev::sync_wait(async_mediator.dispatch(Pong{3}));
  broker.dispatch(OrderPlaced{"o-4"});
  CHECK(calls == Strings{"on_ping 1"});
}

TEST_CASE("HandlerBundle::cancel_and_wait silences the object and empties the bundle", "[stereotype][lifetime]") {
  Strings calls;
  OrderHandlers handlers(calls);
  ev::EventMediator mediator;
  ev::AsyncEventMediator<> async_mediator;
  ev::HandlerBundle bundle = ev::register_handlers(handlers, mediator, async_mediator);
  bundle.cancel_and_wait();
  CHECK(bundle.size() == 0);
  mediator.dispatch(Ping{1});
  ev::sync_wait(async_mediator.dispatch(Pong{2}));
  CHECK(calls.empty());
  bundle.cancel_and_wait();  // idempotent
}

TEST_CASE("a HandlerBundle can be moved", "[stereotype][lifetime]") {
  Strings calls;
  OrderHandlers handlers(calls);
  ev::EventMediator mediator;
  ev::AsyncEventMediator<> async_mediator;

  SECTION("move construction: the new bundle owns the routes") {
    std::optional<ev::HandlerBundle> source{ev::register_handlers(handlers, mediator, async_mediator)};
    std::optional<ev::HandlerBundle> target{std::move(*source)};
    CHECK(target->size() == 2);
    CHECK(source->size() == 0);  // NOLINT(bugprone-use-after-move): moved-from is empty
    source.reset();              // destroying the moved-from bundle cancels nothing
    mediator.dispatch(Ping{1});
    CHECK(calls == Strings{"on_ping 1"});
    target.reset();
    mediator.dispatch(Ping{2});
    CHECK(calls == Strings{"on_ping 1"});
  }

  SECTION("move assignment: the routes the target held are cancelled") {
    Strings other_calls;
    OrderHandlers other(other_calls);
    ev::HandlerBundle target = ev::register_handlers(other, mediator, async_mediator);
    std::optional<ev::HandlerBundle> source{ev::register_handlers(handlers, mediator, async_mediator)};
    target = std::move(*source);
    CHECK(target.size() == 2);
    source.reset();
    mediator.dispatch(Ping{1});
    ev::sync_wait(async_mediator.dispatch(Pong{2}));
    CHECK(calls == Strings{"on_ping 1", "on_pong 2"});
    CHECK(other_calls.empty());  // the routes `target` held before were cancelled
  }

  SECTION("into a default-constructed bundle, e.g. a member filled in later") {
    ev::HandlerBundle target;
    CHECK(target.size() == 0);
    target = ev::register_handlers(handlers, mediator, async_mediator);
    CHECK(target.size() == 2);
    mediator.dispatch(Ping{1});
    CHECK(calls == Strings{"on_ping 1"});
  }

  static_assert(!std::is_copy_constructible_v<ev::HandlerBundle>);
  static_assert(!std::is_copy_assignable_v<ev::HandlerBundle>);
  static_assert(std::is_nothrow_move_constructible_v<ev::HandlerBundle>);
  static_assert(std::is_nothrow_move_assignable_v<ev::HandlerBundle>);
}

namespace {

/// A handler class whose method can be held inside a call by a test. What it reports lives
/// in the test, so that the object can be destroyed before the test's threads are released.
struct BlockingProbe {
  Gate entered, release;
  std::atomic<bool> finished{false};
  std::atomic<int> calls{0};
};
class BlockingHandlers {
public:
  explicit BlockingHandlers(BlockingProbe& probe) : probe_(probe) {}
  void on_ping(const Ping& event) {
    if (event.value == 1) {
      probe_.entered.open();
      probe_.release.wait();
      probe_.finished = true;
    }
    ++probe_.calls;
  }
  using event_routes = ev::routes<&BlockingHandlers::on_ping>;

private:
  BlockingProbe& probe_;
};

}  // namespace

TEST_CASE("destroying the bundle waits for a call running on another thread; then no call happens",
          "[stereotype][lifetime][concurrency]") {
  ev::EventMediator mediator;
  BlockingProbe probe;
  auto handlers = std::make_unique<BlockingHandlers>(probe);
  std::optional<ev::HandlerBundle> bundle{ev::register_handlers(*handlers, mediator)};

  std::thread dispatcher([&] { mediator.dispatch(Ping{1}); });
  test_support::JoinGuard guard_dispatcher(dispatcher, [&] { probe.release.open(); });
  REQUIRE(probe.entered.wait());

  std::atomic<bool> destroyed{false}, finished_when_destroyed{false};
  std::thread destroyer([&] {
    bundle.reset();
    finished_when_destroyed = probe.finished.load();
    destroyed = true;
  });
  test_support::JoinGuard guard_destroyer(destroyer, [&] { probe.release.open(); });

  std::this_thread::sleep_for(100ms);
  CHECK_FALSE(destroyed);  // still waiting for the running call
  probe.release.open();
  REQUIRE(eventually([&] { return destroyed.load(); }));
  CHECK(finished_when_destroyed);
  CHECK(probe.calls == 1);

  // After the bundle is gone: no call, from this thread or another; the object may go.
  mediator.dispatch(Ping{2});
  std::thread late([&] { mediator.dispatch(Ping{3}); });
  late.join();
  CHECK(probe.calls == 1);
  handlers.reset();
  mediator.dispatch(Ping{4});  // would touch freed memory (ASan) if still registered
  CHECK(probe.calls == 1);
}

TEST_CASE("bundles destroyed under concurrent dispatch leave no call behind", "[stereotype][lifetime][concurrency]") {
  ev::EventMediator mediator;
  std::atomic<bool> stop{false};
  std::vector<std::thread> dispatchers;
  for (int i = 0; i < 3; ++i) {
    dispatchers.emplace_back([&] {
      while (!stop.load()) mediator.dispatch(Ping{});
    });
  }
  test_support::JoinGuard guard(dispatchers[0], [&] { stop = true; });
  test_support::JoinGuard guard1(dispatchers[1], [&] { stop = true; });
  test_support::JoinGuard guard2(dispatchers[2], [&] { stop = true; });

  int rounds = 0;
  for (; rounds < 200; ++rounds) {
    auto counter = std::make_unique<Counter>();
    {
      ev::HandlerBundle bundle = ev::register_handlers(*counter, mediator);
      if (rounds % 20 == 0) {
        // Make sure some rounds really overlap with dispatches.
        (void)eventually([&] { return counter->calls.load() > 0; }, 1s);
      }
    }
    const int seen = counter->calls.load();
    std::this_thread::sleep_for(std::chrono::microseconds(50));
    if (counter->calls.load() != seen) break;  // a call after the bundle was destroyed
    counter.reset();  // ASan/TSan would report a call still running on it
  }
  stop = true;
  CHECK(rounds == 200);
}
