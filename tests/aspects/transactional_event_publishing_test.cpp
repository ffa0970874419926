// TransactionalEventPublishing and AsyncTransactionalEventPublishing (SPEC §7): a unit of work
// that returns normally publishes the events of every aggregate it collected (collection
// order, then event order) and clears them; one that throws publishes nothing; the collector
// is cleared in every case; a failing publish loses no event that was not cleared.

#include <spakky/event/aggregate.hpp>
#include <spakky/event/aspects/async_transactional_event_publishing.hpp>
#include <spakky/event/aspects/transactional_event_publishing.hpp>
#include <spakky/event/async_event_publisher.hpp>
#include <spakky/event/event_publisher.hpp>
#include <spakky/event/mediator/async_event_mediator.hpp>
#include <spakky/event/mediator/event_mediator.hpp>
#include <spakky/event/publisher/async_event_publisher.hpp>
#include <spakky/event/publisher/event_publisher.hpp>
#include <spakky/event/task.hpp>

#include "support/counted.hpp"
#include "support/events.hpp"

#include <catch2/catch.hpp>

#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace ev = spakky::event;
using namespace test_events;

namespace {

struct Order final : ev::AbstractAggregateRoot {
  explicit Order(std::string id = "order") : id(std::move(id)) {}
  std::string id;
};

std::string describe(const ev::AbstractEvent& event) {
  if (const auto* ping = dynamic_cast<const Ping*>(&event)) return "Ping " + std::to_string(ping->value);
  if (const auto* pong = dynamic_cast<const Pong*>(&event)) return "Pong " + std::to_string(pong->value);
  if (const auto* user = dynamic_cast<const UserCreated*>(&event)) return "UserCreated " + user->user_id;
  return std::string(event.event_name());
}

std::vector<std::string> describe(const std::vector<std::shared_ptr<const ev::AbstractDomainEvent>>& events) {
  std::vector<std::string> out;
  for (const auto& event : events) out.push_back(describe(*event));
  return out;
}

using Strings = std::vector<std::string>;

/// The thrown failure of a unit of work; `code` tells instances apart.
struct UnitOfWorkFailed : std::runtime_error {
  explicit UnitOfWorkFailed(int c) : std::runtime_error("unit of work failed"), code(c) {}
  int code;
};

struct PublishFailed : std::runtime_error {
  PublishFailed() : std::runtime_error("publish failed") {}
};

/// A mediator with handlers recording every domain event it dispatches (exact types and a
/// catch-all), and failures reported to its error handler.
struct RecordingMediator {
  ev::EventMediator mediator;
  Strings seen;
  Strings failures;
  ev::ScopedSubscription all = mediator.register_handler(
      [this](const ev::AbstractDomainEvent& event) { seen.push_back(describe(event)); });

  RecordingMediator() {
    mediator.set_error_handler([this](const ev::AbstractEvent& event, std::exception_ptr error) {
      std::string what = "?";
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        what = e.what();
      }
      failures.push_back(describe(event) + ": " + what);
    });
  }
};

/// An IEventPublisher that records what it publishes and throws on its `fail_on`-th call
/// (1-based; 0: never).
class FlakyPublisher final : public ev::IEventPublisher {
public:
  using ev::IEventPublisher::publish;
  explicit FlakyPublisher(int fail_on = 0) : fail_on_(fail_on) {}

  void publish(const ev::AbstractEvent& event) override {
    ++calls;
    if (calls == fail_on_) throw PublishFailed{};
    published.push_back(describe(event));
  }

  int calls = 0;
  Strings published;

private:
  int fail_on_;
};

/// The async counterpart of FlakyPublisher.
class AsyncFlakyPublisher final : public ev::IAsyncEventPublisher<> {
public:
  using ev::IAsyncEventPublisher<>::publish;
  explicit AsyncFlakyPublisher(int fail_on = 0) : fail_on_(fail_on) {}

  ev::Task<> publish(const ev::AbstractEvent& event) override {
    ++calls;
    if (calls == fail_on_) throw PublishFailed{};
    published.push_back(describe(event));
    co_return;
  }

  int calls = 0;
  Strings published;

private:
  int fail_on_;
};

std::vector<ev::AbstractAggregateRoot*> collected(const ev::AggregateCollector& collector) {
  return {collector.all().begin(), collector.all().end()};
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// TransactionalEventPublishing
// ---------------------------------------------------------------------------------------------

TEST_CASE("a unit of work that returns publishes its aggregate's events and clears them", "[transactional]") {
  RecordingMediator recorder;
  ev::EventPublisher publisher(recorder.mediator);
  ev::AggregateCollector collector;
  ev::TransactionalEventPublishing publishing(collector, publisher);

  Order order;
  bool body_ran = false;
  publishing.run([&] {
    collector.collect(order);
    order.add_event(UserCreated{"u-1", "alice"});
    order.add_event(Ping{1});
    CHECK(recorder.seen.empty());  // nothing is published while the unit of work runs
    body_ran = true;
  });

  CHECK(body_ran);
  CHECK(recorder.seen == Strings{"UserCreated u-1", "Ping 1"});
  CHECK(order.events().empty());
  CHECK(collector.all().empty());
  CHECK(recorder.failures.empty());
}

TEST_CASE("run returns the unit of work's result", "[transactional]") {
  RecordingMediator recorder;
  ev::EventPublisher publisher(recorder.mediator);
  ev::AggregateCollector collector;
  ev::TransactionalEventPublishing publishing(collector, publisher);
  Order order;

  SECTION("a value") {
    const int result = publishing.run([&] {
      collector.collect(order);
      order.add_event(Ping{1});
      return 42;
    });
    CHECK(result == 42);
    CHECK(recorder.seen == Strings{"Ping 1"});
  }

  SECTION("a move-only value") {
    auto make = [&] {
      collector.collect(order);
      order.add_event(Ping{2});
      return std::make_unique<std::string>("made");
    };
    static_assert(std::is_same_v<decltype(publishing.run(make)), std::unique_ptr<std::string>>);
    std::unique_ptr<std::string> result = publishing.run(make);
    REQUIRE(result);
    CHECK(*result == "made");
    CHECK(recorder.seen == Strings{"Ping 2"});
  }

  SECTION("a value with a counted lifetime: no copy outlives the call") {
    {
      const auto alive_before = test_support::Counted::alive.load();
      auto result = publishing.run([] { return test_support::Counted{}; });
      CHECK(test_support::Counted::alive.load() == alive_before + 1);
      (void)result;
    }
  }

  SECTION("an lvalue reference") {
    int target = 7;
    auto pick = [&]() -> int& {
      collector.collect(order);
      order.add_event(Ping{3});
      return target;
    };
    static_assert(std::is_same_v<decltype(publishing.run(pick)), int&>);
    int& result = publishing.run(pick);
    CHECK(&result == &target);
    result = 8;
    CHECK(target == 8);
    CHECK(recorder.seen == Strings{"Ping 3"});
  }

  SECTION("a const lvalue reference") {
    const std::string target = "kept";
    auto pick = [&]() -> const std::string& { return target; };
    static_assert(std::is_same_v<decltype(publishing.run(pick)), const std::string&>);
    const std::string& result = publishing.run(pick);
    CHECK(&result == &target);
  }

  // BUG: a unit of work returning an rvalue reference (T&&) does not compile (run's
  // `return result;` cannot bind T&& to the lvalue `result` in C++20). Kept out of this
  // program so the rest still builds; checked by tests/compile_fail/sync_rvalue_reference_result.cpp.

  SECTION("a mutable function object passed as an lvalue") {
    struct Counter {
      int calls = 0;
      int operator()() { return ++calls; }
    } counter;
    CHECK(publishing.run(counter) == 1);
    CHECK(publishing.run(counter) == 2);
    CHECK(counter.calls == 2);
  }

  CHECK(collector.all().empty());
  CHECK(order.events().empty());
}

TEST_CASE("a unit of work that throws publishes nothing, clears the collector and rethrows the same exception",
          "[transactional][failure]") {
  RecordingMediator recorder;
  ev::EventPublisher publisher(recorder.mediator);
  ev::AggregateCollector collector;
  ev::TransactionalEventPublishing publishing(collector, publisher);

  Order a{"a"}, b{"b"};
  const UnitOfWorkFailed* thrown = nullptr;
  const UnitOfWorkFailed* caught = nullptr;
  try {
    publishing.run([&]() -> int {
      collector.collect(a);
      collector.collect(b);
      a.add_event(Ping{1});
      b.add_event(Pong{2});
      a.add_event(Ping{3});
      try {
        throw UnitOfWorkFailed(17);
      } catch (const UnitOfWorkFailed& e) {
        thrown = &e;
        throw;
      }
    });
    FAIL("run did not rethrow");
  } catch (const UnitOfWorkFailed& e) {
    caught = &e;
    CHECK(e.code == 17);
  }
  CHECK(caught != nullptr);
  CHECK(caught == thrown);  // the very exception object: not copied, not sliced, not wrapped
  CHECK(recorder.seen.empty());
  CHECK(collector.all().empty());
  // Nothing was published, so nothing is cleared: the events stay on their aggregates.
  CHECK(describe(a.events()) == Strings{"Ping 1", "Ping 3"});
  CHECK(describe(b.events()) == Strings{"Pong 2"});

  // The publishing object is reusable, and a later successful unit of work publishes
  // whatever its aggregates hold.
  publishing.run([&] { collector.collect(b); });
  CHECK(recorder.seen == Strings{"Pong 2"});
  CHECK(b.events().empty());
  CHECK(describe(a.events()) == Strings{"Ping 1", "Ping 3"});  // not collected this time
}

TEST_CASE("a unit of work throwing a non-standard exception is rethrown as is", "[transactional][failure]") {
  FlakyPublisher publisher;
  ev::AggregateCollector collector;
  ev::TransactionalEventPublishing publishing(collector, publisher);
  Order order;
  CHECK_THROWS_AS(publishing.run([&] {
                    collector.collect(order);
                    order.add_event(Ping{1});
                    throw 5;
                  }),
                  int);
  CHECK(publisher.calls == 0);
  CHECK(collector.all().empty());
  CHECK(describe(order.events()) == Strings{"Ping 1"});
}

TEST_CASE("many aggregates publish all their events in collection order, then event order", "[transactional]") {
  RecordingMediator recorder;
  ev::EventPublisher publisher(recorder.mediator);
  ev::AggregateCollector collector;
  ev::TransactionalEventPublishing publishing(collector, publisher);

  Order a{"a"}, b{"b"}, c{"c"};
  // Events raised before collection and interleaved across aggregates: the publishing order
  // follows collection order, not the order the events were raised in.
  c.add_event(Ping{31});
  publishing.run([&] {
    collector.collect(b);
    a.add_event(Ping{11});
    b.add_event(Ping{21});
    collector.collect(c);
    collector.collect(a);
    a.add_event(Pong{12});
    c.add_event(Pong{32});
    b.add_event(Pong{22});
    collector.collect(b);  // again: keeps its first position
  });

  CHECK(recorder.seen == Strings{"Ping 21", "Pong 22", "Ping 31", "Pong 32", "Ping 11", "Pong 12"});
  CHECK(a.events().empty());
  CHECK(b.events().empty());
  CHECK(c.events().empty());
  CHECK(collector.all().empty());
}

TEST_CASE("events are cleared after publishing: a second run publishes nothing again", "[transactional]") {
  RecordingMediator recorder;
  ev::EventPublisher publisher(recorder.mediator);
  ev::AggregateCollector collector;
  ev::TransactionalEventPublishing publishing(collector, publisher);

  Order order;
  publishing.run([&] {
    collector.collect(order);
    order.add_event(Ping{1});
  });
  CHECK(order.events().empty());
  publishing.run([&] { collector.collect(order); });
  CHECK(recorder.seen == Strings{"Ping 1"});

  publishing.run([&] {
    collector.collect(order);
    order.add_event(Ping{2});
  });
  CHECK(recorder.seen == Strings{"Ping 1", "Ping 2"});
}

TEST_CASE("the collector is cleared after success: aggregates of one unit of work are not published by the next",
          "[transactional]") {
  FlakyPublisher publisher;
  ev::AggregateCollector collector;
  ev::TransactionalEventPublishing publishing(collector, publisher);

  Order first{"first"}, second{"second"};
  publishing.run([&] {
    collector.collect(first);
    first.add_event(Ping{1});
  });
  CHECK(collector.all().empty());

  first.add_event(Ping{2});  // raised outside any unit of work: stays pending
  publishing.run([&] {
    collector.collect(second);
    second.add_event(Pong{3});
  });
  CHECK(publisher.published == Strings{"Ping 1", "Pong 3"});
  CHECK(describe(first.events()) == Strings{"Ping 2"});
  CHECK(collector.all().empty());
}

TEST_CASE("a unit of work that collects nothing publishes nothing", "[transactional]") {
  FlakyPublisher publisher;
  ev::AggregateCollector collector;
  ev::TransactionalEventPublishing publishing(collector, publisher);
  Order order;
  order.add_event(Ping{1});  // not collected
  CHECK(publishing.run([] { return 3; }) == 3);
  CHECK(publisher.calls == 0);
  CHECK(describe(order.events()) == Strings{"Ping 1"});
}

TEST_CASE("if publishing throws, the exception propagates and no event that was not cleared is lost",
          "[transactional][failure]") {
  ev::AggregateCollector collector;
  Order a{"a"}, b{"b"}, c{"c"};
  auto work = [&] {
    collector.collect(a);
    collector.collect(b);
    collector.collect(c);
    a.add_event(Ping{11});
    a.add_event(Ping{12});
    b.add_event(Pong{21});
    b.add_event(Pong{22});
    b.add_event(Pong{23});
    c.add_event(UserCreated{"u-31", "carol"});
  };

  SECTION("failing on the second event of the first aggregate") {
    FlakyPublisher publisher(2);
    ev::TransactionalEventPublishing publishing(collector, publisher);
    CHECK_THROWS_AS(publishing.run(work), PublishFailed);
    CHECK(publisher.published == Strings{"Ping 11"});
    CHECK(collector.all().empty());
    // An aggregate's events are cleared only once all of them were published: all stay.
    CHECK(describe(a.events()) == Strings{"Ping 11", "Ping 12"});
    CHECK(describe(b.events()) == Strings{"Pong 21", "Pong 22", "Pong 23"});
    CHECK(describe(c.events()) == Strings{"UserCreated u-31"});
  }

  SECTION("failing in the middle of the second aggregate") {
    FlakyPublisher publisher(4);  // Ping 11, Ping 12, Pong 21, *Pong 22*
    ev::TransactionalEventPublishing publishing(collector, publisher);
    CHECK_THROWS_AS(publishing.run(work), PublishFailed);
    CHECK(publisher.published == Strings{"Ping 11", "Ping 12", "Pong 21"});
    CHECK(collector.all().empty());
    CHECK(a.events().empty());  // all of a's events were published: cleared
    CHECK(describe(b.events()) == Strings{"Pong 21", "Pong 22", "Pong 23"});
    CHECK(describe(c.events()) == Strings{"UserCreated u-31"});  // never reached
  }

  SECTION("failing on the last event") {
    FlakyPublisher publisher(6);
    ev::TransactionalEventPublishing publishing(collector, publisher);
    CHECK_THROWS_AS(publishing.run(work), PublishFailed);
    CHECK(publisher.published == Strings{"Ping 11", "Ping 12", "Pong 21", "Pong 22", "Pong 23"});
    CHECK(a.events().empty());
    CHECK(b.events().empty());
    CHECK(describe(c.events()) == Strings{"UserCreated u-31"});
    CHECK(collector.all().empty());
  }
}

TEST_CASE("run does not return a result when publishing throws", "[transactional][failure]") {
  FlakyPublisher publisher(1);
  ev::AggregateCollector collector;
  ev::TransactionalEventPublishing publishing(collector, publisher);
  Order order;
  const auto alive_before = test_support::Counted::alive.load();
  CHECK_THROWS_AS(publishing.run([&] {
                    collector.collect(order);
                    order.add_event(Ping{1});
                    return test_support::Counted{};
                  }),
                  PublishFailed);
  CHECK(test_support::Counted::alive.load() == alive_before);  // the result was destroyed, not leaked
  CHECK(describe(order.events()) == Strings{"Ping 1"});
}

TEST_CASE("an event a handler adds to the aggregate while it is being published stays pending",
          "[transactional][reentrancy]") {
  RecordingMediator recorder;
  ev::EventPublisher publisher(recorder.mediator);
  ev::AggregateCollector collector;
  ev::TransactionalEventPublishing publishing(collector, publisher);

  Order order;
  auto raise = recorder.mediator.register_handler([&](const Ping& ping) {
    if (ping.value == 1) order.add_event(Pong{100});
  });
  publishing.run([&] {
    collector.collect(order);
    order.add_event(Ping{1});
    order.add_event(Ping{2});
  });

  CHECK(recorder.seen == Strings{"Ping 1", "Ping 2"});
  CHECK(describe(order.events()) == Strings{"Pong 100"});  // not lost, not published twice
  CHECK(collector.all().empty());

  // The next unit of work that collects the aggregate publishes it.
  publishing.run([&] { collector.collect(order); });
  CHECK(recorder.seen == Strings{"Ping 1", "Ping 2", "Pong 100"});
  CHECK(order.events().empty());
}

TEST_CASE("an aggregate a handler collects while publishing keeps its events", "[transactional][reentrancy]") {
  RecordingMediator recorder;
  ev::EventPublisher publisher(recorder.mediator);
  ev::AggregateCollector collector;
  ev::TransactionalEventPublishing publishing(collector, publisher);

  Order order{"order"}, late{"late"};
  auto raise = recorder.mediator.register_handler([&](const Ping&) {
    late.add_event(Pong{7});
    collector.collect(late);
  });
  publishing.run([&] {
    collector.collect(order);
    order.add_event(Ping{1});
  });
  CHECK(order.events().empty());
  // Whether or not it was published in this run, its event is not silently dropped.
  const bool published_late = recorder.seen == Strings{"Ping 1", "Pong 7"};
  const bool pending_late = recorder.seen == Strings{"Ping 1"} && describe(late.events()) == Strings{"Pong 7"};
  CHECK((published_late || pending_late));
  CHECK(collector.all().empty());
}

TEST_CASE("a domain handler that throws is isolated by the mediator: run returns normally", "[transactional][failure]") {
  RecordingMediator recorder;
  ev::EventPublisher publisher(recorder.mediator);
  ev::AggregateCollector collector;
  ev::TransactionalEventPublishing publishing(collector, publisher);

  auto failing = recorder.mediator.register_handler([](const Ping& ping) {
    if (ping.value == 1) throw std::runtime_error("handler failed");
  });
  Order order;
  int result = 0;
  CHECK_NOTHROW(result = publishing.run([&] {
                  collector.collect(order);
                  order.add_event(Ping{1});
                  order.add_event(Ping{2});
                  return 5;
                }));
  CHECK(result == 5);
  CHECK(recorder.seen == Strings{"Ping 1", "Ping 2"});  // the catch-all and the next event still ran
  CHECK(recorder.failures == Strings{"Ping 1: handler failed"});
  CHECK(order.events().empty());
  CHECK(collector.all().empty());
}

TEST_CASE("after_returning and after can be used as two steps around a user's own transaction",
          "[transactional][steps]") {
  RecordingMediator recorder;
  ev::EventPublisher publisher(recorder.mediator);
  ev::AggregateCollector collector;
  ev::TransactionalEventPublishing publishing(collector, publisher);

  Order a{"a"}, b{"b"};
  // A user's wrapper: commit, then publish; clear the collector in every case.
  auto transaction = [&](auto body) {
    try {
      body();
      publishing.after_returning();
    } catch (...) {
      publishing.after();
      throw;
    }
    publishing.after();
  };

  SECTION("committed") {
    transaction([&] {
      collector.collect(a);
      collector.collect(b);
      b.add_event(Pong{2});
      a.add_event(Ping{1});
    });
    CHECK(recorder.seen == Strings{"Ping 1", "Pong 2"});
    CHECK(a.events().empty());
    CHECK(b.events().empty());
    CHECK(collector.all().empty());
  }

  SECTION("rolled back") {
    CHECK_THROWS_AS(transaction([&] {
                      collector.collect(a);
                      a.add_event(Ping{1});
                      throw UnitOfWorkFailed(1);
                    }),
                    UnitOfWorkFailed);
    CHECK(recorder.seen.empty());
    CHECK(describe(a.events()) == Strings{"Ping 1"});
    CHECK(collector.all().empty());
  }

  SECTION("the steps one by one") {
    collector.collect(a);
    a.add_event(Ping{1});
    publishing.after_returning();
    CHECK(recorder.seen == Strings{"Ping 1"});
    CHECK(a.events().empty());
    CHECK(collected(collector) == std::vector<ev::AbstractAggregateRoot*>{&a});  // after() clears, not this
    publishing.after();
    CHECK(collector.all().empty());
    publishing.after();  // idempotent
    CHECK(collector.all().empty());
  }
}

// ---------------------------------------------------------------------------------------------
// AsyncTransactionalEventPublishing
// ---------------------------------------------------------------------------------------------

namespace {

/// An AsyncEventMediator with a coroutine catch-all recording every domain event.
struct AsyncRecordingMediator {
  ev::AsyncEventMediator<> mediator;
  Strings seen;
  Strings failures;
  ev::ScopedSubscription all = mediator.register_handler([this](const ev::AbstractDomainEvent& event) -> ev::Task<> {
    seen.push_back(describe(event));
    co_return;
  });

  AsyncRecordingMediator() {
    mediator.set_error_handler([this](const ev::AbstractEvent& event, std::exception_ptr error) {
      std::string what = "?";
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        what = e.what();
      }
      failures.push_back(describe(event) + ": " + what);
    });
  }
};

}  // namespace

TEST_CASE("async: a unit of work that completes publishes its aggregates' events in order and clears them",
          "[transactional][async]") {
  AsyncRecordingMediator recorder;
  ev::AsyncEventPublisher<> publisher(recorder.mediator);
  ev::AggregateCollector collector;
  ev::AsyncTransactionalEventPublishing<> publishing(collector, publisher);

  Order a{"a"}, b{"b"};
  bool body_ran = false;
  auto task = publishing.run([&]() -> ev::Task<> {
    collector.collect(b);
    collector.collect(a);
    a.add_event(Ping{1});
    b.add_event(Pong{2});
    b.add_event(UserCreated{"u-3", "carol"});
    body_ran = true;
    co_return;
  });
  static_assert(std::is_same_v<decltype(task), ev::Task<>>);
  CHECK_FALSE(body_ran);  // lazy: nothing runs before the task is awaited
  ev::sync_wait(std::move(task));

  CHECK(body_ran);
  CHECK(recorder.seen == Strings{"Pong 2", "UserCreated u-3", "Ping 1"});
  CHECK(a.events().empty());
  CHECK(b.events().empty());
  CHECK(collector.all().empty());
  CHECK(recorder.failures.empty());
}

TEST_CASE("async: run yields the unit of work's result", "[transactional][async]") {
  AsyncRecordingMediator recorder;
  ev::AsyncEventPublisher<> publisher(recorder.mediator);
  ev::AggregateCollector collector;
  ev::AsyncTransactionalEventPublishing<> publishing(collector, publisher);
  Order order;

  SECTION("Task<int>") {
    auto task = publishing.run([&]() -> ev::Task<int> {
      collector.collect(order);
      order.add_event(Ping{1});
      co_return 42;
    });
    static_assert(std::is_same_v<decltype(task), ev::Task<int>>);
    CHECK(ev::sync_wait(std::move(task)) == 42);
    CHECK(recorder.seen == Strings{"Ping 1"});
  }

  SECTION("a move-only result") {
    auto task = publishing.run([&]() -> ev::Task<std::unique_ptr<std::string>> {
      collector.collect(order);
      order.add_event(Ping{2});
      co_return std::make_unique<std::string>("made");
    });
    std::unique_ptr<std::string> result = ev::sync_wait(std::move(task));
    REQUIRE(result);
    CHECK(*result == "made");
    CHECK(recorder.seen == Strings{"Ping 2"});
  }

  SECTION("a unit of work that awaits other tasks") {
    auto inner = [](int v) -> ev::Task<int> { co_return v * 2; };
    const int result = ev::sync_wait(publishing.run([&]() -> ev::Task<int> {
      collector.collect(order);
      const int x = co_await inner(10);
      order.add_event(Ping{x});
      co_return x + 1;
    }));
    CHECK(result == 21);
    CHECK(recorder.seen == Strings{"Ping 20"});
  }

  CHECK(order.events().empty());
  CHECK(collector.all().empty());
}

TEST_CASE("async: the unit of work may be a temporary with captures; run keeps it alive", "[transactional][async]") {
  AsyncRecordingMediator recorder;
  ev::AsyncEventPublisher<> publisher(recorder.mediator);
  ev::AggregateCollector collector;
  ev::AsyncTransactionalEventPublishing<> publishing(collector, publisher);
  Order order;

  // The lambda (with heap-owning captures) is a temporary that dies at the end of this
  // statement; the task is awaited afterwards. Taking it by reference would read freed memory
  // (ASan reports it) or garbage.
  const auto alive_before = test_support::Counted::alive.load();
  {
    ev::Task<std::string> task = publishing.run(
        [&collector, &order, prefix = std::string(64, 'x'), payload = std::make_unique<int>(41),
         counted = test_support::Counted{}]() -> ev::Task<std::string> {
          collector.collect(order);
          order.add_event(Ping{*payload + 1});
          co_return prefix + std::to_string(*payload);
        });
    // The closure was moved into the task: it is alive although the temporary is gone.
    CHECK(test_support::Counted::alive.load() == alive_before + 1);

    const std::string result = ev::sync_wait(std::move(task));
    CHECK(result == std::string(64, 'x') + "41");
    CHECK(recorder.seen == Strings{"Ping 42"});
  }
  CHECK(test_support::Counted::alive.load() == alive_before);  // and destroyed with the task
}

TEST_CASE("async: a void unit of work", "[transactional][async]") {
  AsyncRecordingMediator recorder;
  ev::AsyncEventPublisher<> publisher(recorder.mediator);
  ev::AggregateCollector collector;
  ev::AsyncTransactionalEventPublishing<> publishing(collector, publisher);
  Order order;
  int calls = 0;
  auto work = [&]() -> ev::Task<> {
    ++calls;
    collector.collect(order);
    order.add_event(Ping{calls});
    co_return;
  };
  ev::sync_wait(publishing.run(work));  // an lvalue: copied
  ev::sync_wait(publishing.run(work));
  CHECK(calls == 2);
  CHECK(recorder.seen == Strings{"Ping 1", "Ping 2"});
  CHECK(order.events().empty());
}

TEST_CASE("async: a unit of work that throws publishes nothing, clears the collector and rethrows",
          "[transactional][async][failure]") {
  AsyncRecordingMediator recorder;
  ev::AsyncEventPublisher<> publisher(recorder.mediator);
  ev::AggregateCollector collector;
  ev::AsyncTransactionalEventPublishing<> publishing(collector, publisher);
  Order a{"a"}, b{"b"};
  auto yield_value = []() -> ev::Task<int> { co_return 1; };

  SECTION("void, throwing after a co_await") {
    auto task = publishing.run([&]() -> ev::Task<> {
      collector.collect(a);
      collector.collect(b);
      a.add_event(Ping{1});
      b.add_event(Pong{2});
      co_await yield_value();
      throw UnitOfWorkFailed(3);
    });
    try {
      ev::sync_wait(std::move(task));
      FAIL("no exception");
    } catch (const UnitOfWorkFailed& e) {
      CHECK(e.code == 3);
    }
  }

  SECTION("Task<int>, throwing before any co_await") {
    auto task = publishing.run([&]() -> ev::Task<int> {
      collector.collect(a);
      collector.collect(b);
      a.add_event(Ping{1});
      b.add_event(Pong{2});
      throw UnitOfWorkFailed(4);
      co_return 0;
    });
    try {
      (void)ev::sync_wait(std::move(task));
      FAIL("no exception");
    } catch (const UnitOfWorkFailed& e) {
      CHECK(e.code == 4);
    }
  }

  CHECK(recorder.seen.empty());
  CHECK(collector.all().empty());
  CHECK(describe(a.events()) == Strings{"Ping 1"});
  CHECK(describe(b.events()) == Strings{"Pong 2"});
}

TEST_CASE("async: if publishing throws, the exception propagates and events not cleared stay",
          "[transactional][async][failure]") {
  AsyncFlakyPublisher publisher(3);  // Ping 11, Ping 12, *Pong 21*
  ev::AggregateCollector collector;
  ev::AsyncTransactionalEventPublishing<> publishing(collector, publisher);
  Order a{"a"}, b{"b"};
  auto task = publishing.run([&]() -> ev::Task<int> {
    collector.collect(a);
    collector.collect(b);
    a.add_event(Ping{11});
    a.add_event(Ping{12});
    b.add_event(Pong{21});
    b.add_event(Pong{22});
    co_return 1;
  });
  CHECK_THROWS_AS(ev::sync_wait(std::move(task)), PublishFailed);
  CHECK(publisher.published == Strings{"Ping 11", "Ping 12"});
  CHECK(a.events().empty());
  CHECK(describe(b.events()) == Strings{"Pong 21", "Pong 22"});
  CHECK(collector.all().empty());
}

TEST_CASE("async: a failing domain handler is isolated by the mediator", "[transactional][async][failure]") {
  AsyncRecordingMediator recorder;
  ev::AsyncEventPublisher<> publisher(recorder.mediator);
  ev::AggregateCollector collector;
  ev::AsyncTransactionalEventPublishing<> publishing(collector, publisher);
  auto failing = recorder.mediator.register_handler([](const Ping&) -> ev::Task<> {
    throw std::runtime_error("handler failed");
    co_return;
  });
  Order order;
  int result = 0;
  CHECK_NOTHROW(result = ev::sync_wait(publishing.run([&]() -> ev::Task<int> {
                  collector.collect(order);
                  order.add_event(Ping{1});
                  order.add_event(Pong{2});
                  co_return 9;
                })));
  CHECK(result == 9);
  CHECK(recorder.seen == Strings{"Ping 1", "Pong 2"});
  CHECK(recorder.failures == Strings{"Ping 1: handler failed"});
  CHECK(order.events().empty());
}

TEST_CASE("async: an event a handler adds while being published stays pending", "[transactional][async][reentrancy]") {
  AsyncRecordingMediator recorder;
  ev::AsyncEventPublisher<> publisher(recorder.mediator);
  ev::AggregateCollector collector;
  ev::AsyncTransactionalEventPublishing<> publishing(collector, publisher);
  Order order;
  auto raise = recorder.mediator.register_handler([&](const Ping&) -> ev::Task<> {
    order.add_event(Pong{100});
    co_return;
  });
  ev::sync_wait(publishing.run([&]() -> ev::Task<> {
    collector.collect(order);
    order.add_event(Ping{1});
    co_return;
  }));
  CHECK(recorder.seen == Strings{"Ping 1"});
  CHECK(describe(order.events()) == Strings{"Pong 100"});
}

TEST_CASE("async: after_returning and after as two steps", "[transactional][async][steps]") {
  AsyncRecordingMediator recorder;
  ev::AsyncEventPublisher<> publisher(recorder.mediator);
  ev::AggregateCollector collector;
  ev::AsyncTransactionalEventPublishing<> publishing(collector, publisher);
  Order a{"a"}, b{"b"};
  collector.collect(a);
  collector.collect(b);
  b.add_event(Pong{2});
  a.add_event(Ping{1});

  auto step = publishing.after_returning();
  static_assert(std::is_same_v<decltype(step), ev::Task<>>);
  CHECK(recorder.seen.empty());  // lazy
  ev::sync_wait(std::move(step));
  CHECK(recorder.seen == Strings{"Ping 1", "Pong 2"});
  CHECK(a.events().empty());
  CHECK(b.events().empty());
  CHECK(collected(collector) == std::vector<ev::AbstractAggregateRoot*>{&a, &b});
  publishing.after();
  CHECK(collector.all().empty());
}

// Regressions: a unit of work returning a reference did not compile (`return result;` of a
// named T&&; std::optional of a reference in the async run).
namespace {
struct NullPublisher final : ev::IEventPublisher {
  using ev::IEventPublisher::publish;
  void publish(const ev::AbstractEvent&) override {}
};
struct NullAsyncPublisher final : ev::IAsyncEventPublisher<> {
  using ev::IAsyncEventPublisher<>::publish;
  ev::Task<> publish(const ev::AbstractEvent&) override { co_return; }
};
}  // namespace

TEST_CASE("run gives back the rvalue reference the unit of work returned", "[aspects][result]") {
  ev::AggregateCollector collector;
  NullPublisher publisher;
  ev::TransactionalEventPublishing publishing(collector, publisher);
  std::string target = "moved";
  auto pick = [&]() -> std::string&& { return std::move(target); };
  static_assert(std::is_same_v<decltype(publishing.run(pick)), std::string&&>);
  std::string&& result = publishing.run(pick);
  CHECK(&result == &target);
}

TEST_CASE("async run gives back the reference the unit of work's task yields", "[aspects][async][result]") {
  ev::AggregateCollector collector;
  NullAsyncPublisher publisher;
  ev::AsyncTransactionalEventPublishing<> publishing(collector, publisher);
  int target = 1;
  auto task = publishing.run([&]() -> ev::Task<int&> { co_return target; });
  static_assert(std::is_same_v<decltype(task), ev::Task<int&>>);
  int& result = ev::sync_wait(std::move(task));
  CHECK(&result == &target);
}
