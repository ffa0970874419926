// AsyncEventPublisher: EventPublisher's routing for an AsyncEventMediator and an
// asynchronous bus; failures surface when the returned task is awaited; events of neither kind
// are rejected at compile time where the static type shows it; the shared_ptr overload keeps
// the event alive while the publication is suspended.
#include <spakky/event/async_event_dispatcher.hpp>
#include <spakky/event/async_event_publisher.hpp>
#include <spakky/event/error.hpp>
#include <spakky/event/mediator/async_event_mediator.hpp>
#include <spakky/event/publisher/async_event_publisher.hpp>
#include <spakky/event/task.hpp>

#include "support/coro.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <coroutine>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <typeindex>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

namespace async_publisher_test {

namespace ev = spakky::event;
using test_support::Spawned;
using test_support::Trigger;

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

/// Records every event sent (read after the optional suspension, so a dead event shows under
/// ASan); can suspend each send until the test completes it from any thread.
class RecordingAsyncBus final : public ev::IAsyncEventBus<> {
public:
  struct Sent {
    ev::EventId id;
    std::string name;
    std::type_index type;
    std::string order_id;
  };

  ev::Task<> send(const ev::AbstractIntegrationEvent& event) override {
    bool suspend = false;
    {
      const std::lock_guard lock(mutex_);
      suspend = suspend_;
    }
    if (suspend) co_await Suspend{this};
    const auto* order = dynamic_cast<const OrderPlaced*>(&event);
    Sent sent{event.event_id(), std::string(event.event_name()), std::type_index(typeid(event)),
              order != nullptr ? order->order_id : std::string()};
    const std::lock_guard lock(mutex_);
    sent_.push_back(std::move(sent));
  }

  void suspend_sends(bool suspend) {
    const std::lock_guard lock(mutex_);
    suspend_ = suspend;
  }
  [[nodiscard]] std::size_t pending() const {
    const std::lock_guard lock(mutex_);
    return pending_.size();
  }
  bool complete_one() {
    std::coroutine_handle<> handle;
    {
      const std::lock_guard lock(mutex_);
      if (pending_.empty()) return false;
      handle = pending_.front();
      pending_.pop_front();
    }
    handle.resume();
    return true;
  }
  [[nodiscard]] std::vector<Sent> sent() const {
    const std::lock_guard lock(mutex_);
    return sent_;
  }

private:
  struct Suspend {
    RecordingAsyncBus* bus;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> handle) const {
      RecordingAsyncBus* owner = bus;
      const std::lock_guard lock(owner->mutex_);
      owner->pending_.push_back(handle);
    }
    void await_resume() const noexcept {}
  };

  mutable std::mutex mutex_;
  std::vector<Sent> sent_;
  std::deque<std::coroutine_handle<>> pending_;
  bool suspend_ = false;
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

// `publisher.publish(event)` is well-formed (a concept, so the ill-formed case is false).
template <class Publisher, class E>
concept can_publish = requires(Publisher& publisher, const E& event) { publisher.publish(event); };

static_assert(!can_publish<ev::IAsyncEventPublisher<>, Neither>);
static_assert(!can_publish<ev::AsyncEventPublisher<>, Neither>);  // the using-declaration keeps it visible
static_assert(can_publish<ev::IAsyncEventPublisher<>, UserCreated>);
static_assert(can_publish<ev::IAsyncEventPublisher<>, OrderPlaced>);
static_assert(can_publish<ev::AsyncEventPublisher<>, UserCreated>);
static_assert(can_publish<ev::AsyncEventPublisher<>, OrderPlaced>);
static_assert(can_publish<ev::AsyncEventPublisher<>, ev::AbstractEvent>, "the static type hides the kind");
static_assert(can_publish<ev::IAsyncEventPublisher<>, ev::AbstractDomainEvent>);
static_assert(can_publish<ev::IAsyncEventPublisher<>, ev::AbstractIntegrationEvent>);
static_assert(!can_publish<ev::IAsyncEventPublisher<>, int>);
static_assert(!can_publish<const ev::AsyncEventPublisher<>, UserCreated>, "publishing is not const");
// The shared_ptr overload: the kind of a shared event is checked at run time.
static_assert(requires(ev::AsyncEventPublisher<>& p, std::shared_ptr<const ev::AbstractEvent> e) { p.publish(e); });
static_assert(requires(ev::AsyncEventPublisher<>& p, std::shared_ptr<const Neither> e) { p.publish(e); });
// What publish returns: the awaitable of the publisher.
static_assert(std::is_same_v<decltype(std::declval<ev::AsyncEventPublisher<>&>().publish(std::declval<const UserCreated&>())),
                             ev::Task<>>);

}  // namespace async_publisher_test

using namespace async_publisher_test;

TEST_CASE("async: a domain event is dispatched to the handlers and never reaches the bus", "[async][publisher]") {
  ev::AsyncEventMediator<> mediator;
  RecordingAsyncBus bus;
  ev::AsyncEventPublisher<> publisher(mediator, bus);
  std::vector<std::string> seen;
  ev::ScopedSubscription sub = mediator.register_handler([&](const UserCreated& e) -> ev::Task<> {
    seen.push_back(e.username);
    co_return;
  });

  const UserCreated event("kim");
  auto task = publisher.publish(event);
  CHECK(seen.empty());  // lazy
  ev::sync_wait(std::move(task));
  CHECK(seen == std::vector<std::string>{"kim"});
  CHECK(bus.sent().empty());

  SECTION("also through IAsyncEventPublisher<>& and const AbstractEvent&") {
    ev::IAsyncEventPublisher<>& as_interface = publisher;
    const UserCreated lee("lee");
    const ev::AbstractEvent& as_base = lee;
    ev::sync_wait(as_interface.publish(as_base));
    CHECK(seen == std::vector<std::string>{"kim", "lee"});
    CHECK(bus.sent().empty());
  }
  SECTION("also by a publisher without a bus") {
    ev::AsyncEventPublisher<> without_bus(mediator);
    ev::sync_wait(without_bus.publish(UserCreated("park")));
    CHECK(seen == std::vector<std::string>{"kim", "park"});
  }
}

TEST_CASE("async: an integration event goes to the bus only", "[async][publisher]") {
  ev::AsyncEventMediator<> mediator;
  RecordingAsyncBus bus;
  ev::AsyncEventPublisher<> publisher(mediator, bus);
  int calls = 0;
  ev::ScopedSubscription exact = mediator.register_handler([&](const OrderPlaced&) -> ev::Task<> {
    ++calls;
    co_return;
  });
  ev::ScopedSubscription any = mediator.register_handler<ev::AbstractEvent>([&](const ev::AbstractEvent&) -> ev::Task<> {
    ++calls;
    co_return;
  });

  const OrderPlaced event("o-42");
  ev::sync_wait(publisher.publish(event));
  const NamedOrderShipped shipped;
  const ev::AbstractEvent& as_base = shipped;
  ev::IAsyncEventPublisher<>& as_interface = publisher;
  ev::sync_wait(as_interface.publish(as_base));

  const auto sent = bus.sent();
  REQUIRE(sent.size() == 2);
  CHECK(sent[0].id == event.event_id());
  CHECK(sent[0].name == "OrderPlaced");
  CHECK(sent[0].type == std::type_index(typeid(OrderPlaced)));
  CHECK(sent[0].order_id == "o-42");
  CHECK(sent[1].id == shipped.event_id());
  CHECK(sent[1].name == "orders.shipped");
  CHECK(calls == 0);
}

TEST_CASE("async: an integration event without a bus fails with EventBusNotConfiguredError when awaited",
          "[async][publisher][errors]") {
  ev::AsyncEventMediator<> mediator;
  ev::AsyncEventPublisher<> publisher(mediator);
  int calls = 0;
  ev::ScopedSubscription any = mediator.register_handler<ev::AbstractEvent>([&](const ev::AbstractEvent&) -> ev::Task<> {
    ++calls;
    co_return;
  });

  const OrderPlaced event;
  ev::Task<> task;
  REQUIRE_NOTHROW(task = publisher.publish(event));  // nothing is thrown before the task is awaited
  CHECK_THROWS_AS(ev::sync_wait(std::move(task)), ev::EventBusNotConfiguredError);
  CHECK_THROWS_AS(ev::sync_wait(publisher.publish(event)), ev::EventError);
  CHECK_THROWS_WITH(ev::sync_wait(publisher.publish(event)), Catch::Contains("OrderPlaced"));
  CHECK_THROWS_WITH(ev::sync_wait(publisher.publish(NamedOrderShipped{})), Catch::Contains("orders.shipped"));

  // Awaited inside another task, the awaiter can catch it.
  auto attempt = [](ev::Task<> inner, std::string& out) -> ev::Task<> {
    try {
      co_await std::move(inner);
    } catch (const ev::EventBusNotConfiguredError& error) {
      out = error.what();
    }
  };
  std::string what;
  ev::sync_wait(attempt(publisher.publish(event), what));
  CHECK_THAT(what, Catch::Contains("OrderPlaced"));
  CHECK(calls == 0);
}

TEST_CASE("async: an event of neither kind fails with UnknownEventTypeError when awaited", "[async][publisher][errors]") {
  ev::AsyncEventMediator<> mediator;
  RecordingAsyncBus bus;
  ev::AsyncEventPublisher<> publisher(mediator, bus);
  int calls = 0;
  ev::ScopedSubscription any = mediator.register_handler<ev::AbstractEvent>([&](const ev::AbstractEvent&) -> ev::Task<> {
    ++calls;
    co_return;
  });

  const Neither event;
  const ev::AbstractEvent& as_base = event;  // the static type hides the kind
  ev::Task<> task;
  REQUIRE_NOTHROW(task = publisher.publish(as_base));
  bool thrown = false;
  try {
    ev::sync_wait(std::move(task));
  } catch (const ev::UnknownEventTypeError& error) {
    thrown = true;
    CHECK(error.event_type() == std::type_index(typeid(Neither)));
    CHECK_THAT(error.what(), Catch::Contains("Neither"));
  }
  CHECK(thrown);
  CHECK_THROWS_AS(ev::sync_wait(publisher.publish(std::make_shared<const Neither>())), ev::UnknownEventTypeError);
  CHECK(calls == 0);
  CHECK(bus.sent().empty());
}

TEST_CASE("async: the shared_ptr publish overload keeps the event alive while suspended", "[async][publisher][lifetime]") {
  ev::AsyncEventMediator<> mediator;
  RecordingAsyncBus bus;
  ev::AsyncEventPublisher<> publisher(mediator, bus);

  SECTION("an integration event, while the bus is suspended") {
    bus.suspend_sends(true);
    auto event = std::make_shared<const OrderPlaced>("o-shared");
    const ev::EventId id = event->event_id();
    const std::weak_ptr<const OrderPlaced> weak = event;
    Spawned publishing = test_support::start(publisher.publish(event));
    REQUIRE(bus.pending() == 1);
    event.reset();  // the caller lets go before the bus reads the event
    CHECK_FALSE(weak.expired());
    std::thread completer([&] { bus.complete_one(); });
    completer.join();
    REQUIRE(publishing.wait());
    CHECK_FALSE(publishing.error());
    const auto sent = bus.sent();
    REQUIRE(sent.size() == 1);
    CHECK(sent[0].id == id);
    CHECK(sent[0].order_id == "o-shared");
    publishing.reset();  // the finished task goes: so does its copy of the pointer
    CHECK(weak.expired());
  }
  SECTION("a domain event, while a handler is suspended") {
    Trigger resume;
    std::string seen;
    ev::ScopedSubscription sub = mediator.register_handler([&](const UserCreated& e) -> ev::Task<> {
      co_await resume;
      seen = e.username;  // reads the event after the suspension
    });
    auto event = std::make_shared<const UserCreated>("shared kim");
    const std::weak_ptr<const UserCreated> weak = event;
    ev::IAsyncEventPublisher<>& as_interface = publisher;
    Spawned publishing = test_support::start(as_interface.publish(std::shared_ptr<const ev::AbstractEvent>(event)));
    REQUIRE(resume.waiting());
    event.reset();
    CHECK_FALSE(weak.expired());
    resume.set();
    REQUIRE(publishing.done());
    CHECK(seen == "shared kim");
    publishing.reset();
    CHECK(weak.expired());
  }
}

TEST_CASE("async: a domain handler can publish through the same publisher", "[async][publisher]") {
  ev::AsyncEventMediator<> mediator;
  FailureLog failures;
  mediator.set_error_handler(failures.handler());
  RecordingAsyncBus bus;
  ev::AsyncEventPublisher<> publisher(mediator, bus);
  std::vector<std::string> chain;
  ev::ScopedSubscription relay = mediator.register_handler([&](const UserCreated& e) -> ev::Task<> {
    chain.push_back(e.username);
    co_await publisher.publish(OrderPlaced("for-" + e.username));
    if (e.username.size() < 3) co_await publisher.publish(UserCreated(e.username + "+"));
  });
  ev::sync_wait(publisher.publish(UserCreated("a")));
  CHECK(failures.messages.empty());
  CHECK(chain == std::vector<std::string>{"a", "a+", "a++"});
  const auto sent = bus.sent();
  REQUIRE(sent.size() == 3);
  CHECK(sent[0].order_id == "for-a");
  CHECK(sent[2].order_id == "for-a++");

  SECTION("and a failing handler is reported by the mediator, not thrown to the publisher") {
    ev::AsyncEventPublisher<> without_bus(mediator);
    ev::ScopedSubscription failing = mediator.register_handler([&](const UserCreated&) -> ev::Task<> {
      co_await without_bus.publish(OrderPlaced("lost"));  // no bus: throws inside the handler
    });
    REQUIRE_NOTHROW(ev::sync_wait(publisher.publish(UserCreated("abc"))));
    REQUIRE(failures.messages.size() == 1);
    CHECK_THAT(failures.messages[0], Catch::StartsWith("UserCreated: ") && Catch::Contains("no event bus configured"));
  }
}
