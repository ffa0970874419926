// AsyncEventMediator<> with Task<> handlers: the synchronous mediator's routing,
// ordering, catch-alls, failure isolation and during-dispatch rules; handlers awaited one after
// another; suspended calls and cancellation; destroying a suspended dispatch; the shared_ptr
// overload; dispatches suspended on several threads; writers racing dispatches (TSan, ASan).
// Catch2 assertions are not thread-safe: coroutines and worker threads only record; the main
// thread checks.

#include <spakky/event/async_event_consumer.hpp>
#include <spakky/event/async_event_dispatcher.hpp>
#include <spakky/event/mediator/async_event_mediator.hpp>
#include <spakky/event/task.hpp>

#include "support/coro.hpp"
#include "support/counted.hpp"
#include "support/events.hpp"
#include "support/stderr_capture.hpp"
#include "support/sync.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <unistd.h>

namespace async_mediator_test {

namespace ev = spakky::event;
using namespace test_events;
using namespace std::chrono_literals;
using test_support::Counted;
using test_support::eventually;
using test_support::Executor;
using test_support::JoinGuard;
using test_support::ResumeOnNewThread;
using test_support::Spawned;
using test_support::Threads;
using test_support::Trigger;

using Mediator = ev::AsyncEventMediator<>;

static_assert(std::is_same_v<ev::AsyncEventMediator<>, ev::AsyncEventMediator<ev::Task<>>>);
static_assert(std::is_same_v<Mediator::OutcomeAwaitable, ev::Task<ev::DispatchOutcome>>);
static_assert(std::is_same_v<ev::AsyncEventHandlerCallback<Ping>, std::function<ev::Task<>(const Ping&)>>);
static_assert(std::is_base_of_v<ev::IAsyncEventDispatcher<>, Mediator>);
static_assert(std::is_base_of_v<ev::IAsyncEventConsumer<>, Mediator>);
static_assert(!std::is_copy_constructible_v<Mediator>);

/// A thread-safe list of what happened, in order.
class Log {
public:
  void add(std::string entry) {
    const std::lock_guard lock(mutex_);
    entries_.push_back(std::move(entry));
  }
  [[nodiscard]] std::vector<std::string> entries() const {
    const std::lock_guard lock(mutex_);
    return entries_;
  }
  void clear() {
    const std::lock_guard lock(mutex_);
    entries_.clear();
  }

private:
  mutable std::mutex mutex_;
  std::vector<std::string> entries_;
};

using Strings = std::vector<std::string>;

/// An error handler that records "<event name>: <what>" (from any thread).
ev::ErrorHandler recording_error_handler(Log& log) {
  return [&log](const ev::AbstractEvent& event, std::exception_ptr error) {
    std::string what = "non-standard exception";
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    log.add(std::string(event.event_name()) + ": " + what);
  };
}

using test_support::StderrCapture;

std::vector<std::string> free_trace;
ev::Task<> free_function_handler(const Ping& p) {
  free_trace.push_back("free " + std::to_string(p.value));
  co_return;
}

/// A consumer implemented by a user: keeps the erased handlers and calls them itself.
class KeepingConsumer final : public ev::IAsyncEventConsumer<> {
public:
  ev::Subscription subscribe(ev::BasicErasedHandler<ev::Task<>> handler) override {
    handlers.push_back(std::move(handler));
    return {};
  }
  std::vector<ev::BasicErasedHandler<ev::Task<>>> handlers;
};

}  // namespace async_mediator_test

using namespace async_mediator_test;

// ---- the synchronous mediator's rules, ported ---------------------------------------------

TEST_CASE("async dispatch awaits the handlers of the exact type in registration order", "[async][mediator]") {
  Mediator mediator;
  Strings calls;
  auto a = mediator.register_handler([&](const Ping& p) -> ev::Task<> {
    calls.push_back("a" + std::to_string(p.value));
    co_return;
  });
  auto b = mediator.register_handler<Ping>([&](const Ping& p) -> ev::Task<> {
    calls.push_back("b" + std::to_string(p.value));
    co_return;
  });
  auto other = mediator.register_handler([&](const Pong&) -> ev::Task<> {
    calls.push_back("pong");
    co_return;
  });
  auto c = mediator.register_handler([&](const Ping& p) -> ev::Task<> {
    calls.push_back("c" + std::to_string(p.value));
    co_return;
  });

  ev::sync_wait(mediator.dispatch(Ping{7}));
  CHECK(calls == Strings{"a7", "b7", "c7"});
  calls.clear();
  ev::sync_wait(mediator.dispatch(Pong{}));
  CHECK(calls == Strings{"pong"});
}

TEST_CASE("async dispatch is lazy: nothing runs until the returned task is awaited", "[async][mediator]") {
  Mediator mediator;
  int calls = 0;
  auto sub = mediator.register_handler([&](const Ping&) -> ev::Task<> {
    ++calls;
    co_return;
  });
  const Ping ping{1};
  auto task = mediator.dispatch(ping);
  CHECK(calls == 0);
  ev::sync_wait(std::move(task));
  CHECK(calls == 1);
}

TEST_CASE("async: an event with no handlers is a no-op", "[async][mediator]") {
  Mediator mediator;
  int calls = 0;
  auto sub = mediator.register_handler([&](const Pong&) -> ev::Task<> {
    ++calls;
    co_return;
  });
  ev::sync_wait(mediator.dispatch(Ping{}));
  ev::sync_wait(mediator.dispatch(Ping{}));
  CHECK(calls == 0);
  Mediator empty;
  REQUIRE_NOTHROW(ev::sync_wait(empty.dispatch(Ping{})));
}

TEST_CASE("async dispatch goes by the dynamic type, also through the interfaces", "[async][mediator]") {
  Mediator mediator;
  ev::IAsyncEventConsumer<>& consumer = mediator;
  int pings = 0;
  auto sub = consumer.register_handler([&](const Ping& p) -> ev::Task<> {
    pings += p.value;
    co_return;
  });
  const Ping ping{5};
  const ev::AbstractEvent& as_base = ping;
  ev::sync_wait(mediator.dispatch(as_base));
  ev::IAsyncEventDispatcher<>& dispatcher = mediator;
  ev::sync_wait(dispatcher.dispatch(ping));
  CHECK(pings == 10);
}

TEST_CASE("async: free functions, std::function and an explicit event type register", "[async][mediator]") {
  free_trace.clear();
  Mediator mediator;
  auto sub = mediator.register_handler(&free_function_handler);
  auto sub2 = mediator.register_handler<Ping>(free_function_handler);
  ev::AsyncEventHandlerCallback<Ping> callback = [](const Ping& p) -> ev::Task<> {
    free_trace.push_back("callback " + std::to_string(p.value));
    co_return;
  };
  auto sub3 = mediator.register_handler(callback);
  ev::sync_wait(mediator.dispatch(Ping{3}));
  CHECK(free_trace == Strings{"free 3", "free 3", "callback 3"});
}

TEST_CASE("async handlers may be move-only and mutable", "[async][mediator]") {
  Mediator mediator;
  auto total = std::make_unique<int>(0);
  int* seen = total.get();
  auto sub = mediator.register_handler([t = std::move(total)](const Ping& p) -> ev::Task<> {
    *t += p.value;
    co_return;
  });
  int count = 0;
  auto sub2 = mediator.register_handler([&count, n = 0](const Ping&) mutable -> ev::Task<> {
    count = ++n;
    co_return;
  });
  ev::sync_wait(mediator.dispatch(Ping{2}));
  ev::sync_wait(mediator.dispatch(Ping{3}));
  CHECK(*seen == 5);
  CHECK(count == 2);
}

TEST_CASE("async catch-alls receive their family after the exact handlers", "[async][mediator]") {
  Mediator mediator;
  Strings calls;
  auto any = mediator.register_handler([&](const ev::AbstractEvent& e) -> ev::Task<> {
    calls.push_back("any:" + std::string(e.event_name()));
    co_return;
  });
  auto domain = mediator.register_handler<ev::AbstractDomainEvent>([&](const ev::AbstractDomainEvent& e) -> ev::Task<> {
    calls.push_back("domain:" + std::string(e.event_name()));
    co_return;
  });
  auto integration = mediator.register_handler([&](const ev::AbstractIntegrationEvent& e) -> ev::Task<> {
    calls.push_back("integration:" + std::string(e.event_name()));
    co_return;
  });
  auto exact = mediator.register_handler([&](const Ping&) -> ev::Task<> {
    calls.push_back("ping");
    co_return;
  });

  ev::sync_wait(mediator.dispatch(Ping{}));
  CHECK(calls == Strings{"ping", "any:Ping", "domain:Ping"});
  calls.clear();
  ev::sync_wait(mediator.dispatch(OrderPlaced{}));
  CHECK(calls == Strings{"any:OrderPlaced", "integration:OrderPlaced"});
  calls.clear();
  ev::sync_wait(mediator.dispatch(Plain{}));
  CHECK(calls == Strings{"any:Plain"});
}

TEST_CASE("an async catch-all registered after a type was dispatched receives it too", "[async][mediator]") {
  Mediator mediator;
  int exact = 0, all = 0;
  auto e = mediator.register_handler([&](const Ping&) -> ev::Task<> {
    ++exact;
    co_return;
  });
  ev::sync_wait(mediator.dispatch(Ping{}));
  auto c = mediator.register_handler([&](const ev::AbstractDomainEvent&) -> ev::Task<> {
    ++all;
    co_return;
  });
  ev::sync_wait(mediator.dispatch(Ping{}));
  ev::sync_wait(mediator.dispatch(Pong{}));
  CHECK(exact == 2);
  CHECK(all == 2);
  c.cancel();
  ev::sync_wait(mediator.dispatch(Ping{}));
  CHECK(all == 2);
}

TEST_CASE("a user's IAsyncEventConsumer receives erased handlers it can call", "[async][consumer]") {
  KeepingConsumer consumer;
  int calls = 0;
  (void)consumer.register_handler([&](const Ping& p) -> ev::Task<> {
    calls += p.value;
    co_return;
  });
  (void)consumer.register_handler<ev::AbstractDomainEvent>([&](const ev::AbstractDomainEvent&) -> ev::Task<> {
    calls += 100;
    co_return;
  });
  REQUIRE(consumer.handlers.size() == 2);
  CHECK(consumer.handlers[0].event_type() == typeid(Ping));
  CHECK(consumer.handlers[0].event_name() == "Ping");
  CHECK_FALSE(consumer.handlers[0].is_catch_all());
  CHECK(consumer.handlers[1].is_catch_all());
  const Ping ping{4};
  ev::sync_wait(consumer.handlers[0](ping));
  ev::sync_wait(consumer.handlers[1](ping));
  CHECK(calls == 104);
}

// ---- failures -------------------------------------------------------------------------------

TEST_CASE("async handlers that throw before or after suspending are isolated and reported", "[async][failure]") {
  Mediator mediator;
  Threads threads;
  Log calls, errors;
  mediator.set_error_handler(recording_error_handler(errors));
  std::optional<ev::EventId> failed_id;
  std::mutex id_mutex;
  auto a = mediator.register_handler([&](const Ping&) -> ev::Task<> {
    calls.add("a");
    co_return;
  });
  auto b = mediator.register_handler([&](const Ping&) -> ev::Task<> {
    throw std::runtime_error("b before suspending");
    co_return;
  });
  auto c = mediator.register_handler([&](const Ping& p) -> ev::Task<> {
    calls.add("c");
    co_await ResumeOnNewThread{&threads};
    {
      const std::lock_guard lock(id_mutex);
      failed_id = p.event_id();
    }
    throw std::runtime_error("c after suspending");
  });
  auto d = mediator.register_handler([&](const Ping&) -> ev::Task<> {
    // Not a coroutine: throws before it even returns its task.
    throw std::runtime_error("d before its task");
  });
  auto e = mediator.register_handler([&](const Ping&) -> ev::Task<> {
    calls.add("e");
    co_return;
  });

  const Ping ping{1};
  REQUIRE_NOTHROW(ev::sync_wait(mediator.dispatch(ping)));
  threads.join_all();
  CHECK(calls.entries() == Strings{"a", "c", "e"});
  CHECK(errors.entries() == Strings{"Ping: b before suspending", "Ping: c after suspending", "Ping: d before its task"});
  const std::lock_guard lock(id_mutex);
  CHECK(failed_id == ping.event_id());
}

TEST_CASE("async: an error handler that throws is ignored and dispatch goes on", "[async][failure]") {
  Mediator mediator;
  int after = 0;
  mediator.set_error_handler([](const ev::AbstractEvent&, std::exception_ptr) { throw std::logic_error("bad sink"); });
  auto a = mediator.register_handler([](const Ping&) -> ev::Task<> {
    throw 42;
    co_return;
  });
  auto b = mediator.register_handler([&](const Ping&) -> ev::Task<> {
    ++after;
    co_return;
  });
  REQUIRE_NOTHROW(ev::sync_wait(mediator.dispatch(Ping{})));
  CHECK(after == 1);
}

TEST_CASE("async: the default error handler writes one line naming the event", "[async][failure]") {
  Mediator mediator;
  auto a = mediator.register_handler([](const Ping&) -> ev::Task<> {
    throw std::runtime_error("disk full");
    co_return;
  });
  StderrCapture capture;
  ev::sync_wait(mediator.dispatch(Ping{}));
  const std::string text = capture.text();
  CHECK(text.find("Ping") != std::string::npos);
  CHECK(text.find("disk full") != std::string::npos);
  CHECK(std::count(text.begin(), text.end(), '\n') == 1);
}

TEST_CASE("async dispatch_with_outcome reports handlers run, failed and the first failure", "[async][outcome]") {
  Mediator mediator;
  Threads threads;
  Log errors;
  mediator.set_error_handler(recording_error_handler(errors));

  const auto none = ev::sync_wait(mediator.dispatch_with_outcome(Ping{}));
  CHECK(none.handlers_run == 0);
  CHECK(none.succeeded());

  auto a = mediator.register_handler([](const Ping&) -> ev::Task<> { co_return; });
  auto b = mediator.register_handler([&](const Ping&) -> ev::Task<> {
    co_await ResumeOnNewThread{&threads};
    throw std::runtime_error("first");
  });
  auto c = mediator.register_handler([](const ev::AbstractEvent&) -> ev::Task<> {
    throw std::runtime_error("second");
    co_return;
  });
  const auto outcome = ev::sync_wait(mediator.dispatch_with_outcome(Ping{}));
  CHECK(outcome.handlers_run == 3);
  CHECK(outcome.handlers_failed == 2);
  CHECK_FALSE(outcome.succeeded());
  REQUIRE(outcome.first_failure);
  CHECK_THROWS_WITH(std::rethrow_exception(outcome.first_failure), "first");
  CHECK(errors.entries() == Strings{"Ping: first", "Ping: second"});

  b.cancel();
  c.cancel();
  const auto ok = ev::sync_wait(mediator.dispatch_with_outcome(Ping{}));
  CHECK(ok.handlers_run == 1);
  CHECK(ok.succeeded());
  CHECK_FALSE(ok.first_failure);
}

// ---- during a dispatch ----------------------------------------------------------------------

TEST_CASE("an async handler registered during a dispatch is not called by that dispatch", "[async][reentrancy]") {
  Mediator mediator;
  int late_calls = 0;
  std::vector<ev::Subscription> added;
  auto late = [&late_calls](const Ping&) -> ev::Task<> {
    ++late_calls;
    co_return;
  };
  auto adder = mediator.register_handler([&](const Ping&) -> ev::Task<> {
    added.push_back(mediator.register_handler(late));
    co_return;
  });
  ev::sync_wait(mediator.dispatch(Ping{}));
  CHECK(late_calls == 0);
  ev::sync_wait(mediator.dispatch(Ping{}));
  CHECK(late_calls == 1);
}

TEST_CASE("an async handler cancelled during a dispatch is not called after cancel returns", "[async][reentrancy]") {
  Mediator mediator;
  Strings calls;
  ev::Subscription second;
  auto first = mediator.register_handler([&](const Ping&) -> ev::Task<> {
    calls.push_back("first");
    second.cancel();
    co_return;
  });
  second = mediator.register_handler([&](const Ping&) -> ev::Task<> {
    calls.push_back("second");
    co_return;
  });
  ev::sync_wait(mediator.dispatch(Ping{}));
  ev::sync_wait(mediator.dispatch(Ping{}));
  CHECK(calls == Strings{"first", "first"});
}

TEST_CASE("an async handler may cancel itself with cancel_and_wait before it suspends", "[async][reentrancy]") {
  Mediator mediator;
  int calls = 0;
  ev::Subscription self;
  self = mediator.register_handler([&](const Ping&) -> ev::Task<> {
    ++calls;
    self.cancel_and_wait();  // must not wait for its own call
    co_return;
  });
  ev::sync_wait(mediator.dispatch(Ping{}));
  ev::sync_wait(mediator.dispatch(Ping{}));
  CHECK(calls == 1);
  CHECK_FALSE(self.active());
}

TEST_CASE("an async handler resumed on another thread may cancel itself with cancel_and_wait",
          "[async][reentrancy][threads]") {
  // Regression (fixed by 7e97c1c, "cancel_and_wait tells an async handler's own call by its Task
  // chain"): cancel_and_wait() inside a handler that suspended and resumed on another thread
  // waited for its own call forever, because the registry recognised "own call" by the thread
  // that had started it. Called from inside the handler itself it does not wait for its
  // own call. If it ever hangs again, the stuck thread keeps using the scenario: it is leaked on
  // purpose so that the test fails instead of hanging.
  struct Scenario {
    Mediator mediator;
    ev::Subscription self;
    const Ping ping{1};
    std::atomic<int> calls{0};
    std::atomic<bool> returned{false};
  };
  struct DetachedHop {
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> handle) const { std::thread([handle] { handle.resume(); }).detach(); }
    void await_resume() const noexcept {}
  };
  auto scenario = std::make_unique<Scenario>();
  Scenario* s = scenario.get();
  s->self = s->mediator.register_handler([s](const Ping&) -> ev::Task<> {
    ++s->calls;
    co_await DetachedHop{};
    s->self.cancel_and_wait();  // its own call, now on another thread: must not wait for it
    s->returned = true;
  });
  Spawned dispatch = test_support::start(s->mediator.dispatch(s->ping));
  const bool returned = eventually([&] { return s->returned.load(); }, 3s);
  CHECK(returned);
  if (!returned) {
    dispatch.leak();
    (void)scenario.release();
    return;
  }
  REQUIRE(dispatch.wait());
  CHECK(s->calls == 1);
  CHECK_FALSE(s->self.active());
}

TEST_CASE("async handlers may dispatch re-entrantly", "[async][reentrancy]") {
  Mediator mediator;
  Strings calls;
  auto ping = mediator.register_handler([&](const Ping& p) -> ev::Task<> {
    calls.push_back("ping" + std::to_string(p.value));
    if (p.value < 3) co_await mediator.dispatch(Ping{p.value + 1});
    co_await mediator.dispatch(Pong{p.value});
  });
  auto pong = mediator.register_handler([&](const Pong& p) -> ev::Task<> {
    calls.push_back("pong" + std::to_string(p.value));
    co_return;
  });
  ev::sync_wait(mediator.dispatch(Ping{1}));
  CHECK(calls == Strings{"ping1", "ping2", "ping3", "pong3", "pong2", "pong1"});
}

TEST_CASE("a deeply re-entrant async dispatch uses more reader slots and still works", "[async][reentrancy]") {
  Mediator mediator;
  int depth_reached = 0;
  auto sub = mediator.register_handler([&](const Ping& p) -> ev::Task<> {
    depth_reached = p.value;
    if (p.value < 100) co_await mediator.dispatch(Ping{p.value + 1});
  });
  ev::sync_wait(mediator.dispatch(Ping{1}));
  CHECK(depth_reached == 100);
}

TEST_CASE("an async handler's closure is destroyed when cancelled; a live one with the mediator",
          "[async][lifetime]") {
  const int before = Counted::alive;
  {
    Mediator mediator;
    auto a = mediator.register_handler([c = Counted{}](const Ping&) -> ev::Task<> { co_return; });
    auto b = mediator.register_handler([c = Counted{}](const ev::AbstractEvent&) -> ev::Task<> { co_return; });
    ev::sync_wait(mediator.dispatch(Ping{}));
    CHECK(Counted::alive == before + 2);
    a.cancel();
    auto c = mediator.register_handler([](const Pong&) -> ev::Task<> { co_return; });  // a write
    CHECK(Counted::alive == before + 1);
  }
  CHECK(Counted::alive == before);
}

TEST_CASE("100,000 awaited dispatches in a row run in constant stack", "[async][stack]") {
  Mediator mediator;
  long calls = 0;
  auto sub = mediator.register_handler([&](const Ping& p) -> ev::Task<> {
    calls += p.value;
    co_return;
  });
  auto loop = [](Mediator& m, int n) -> ev::Task<int> {
    int done = 0;
    for (int i = 0; i < n; ++i) {
      co_await m.dispatch(Ping{1});
      ++done;
    }
    co_return done;
  };
  CHECK(ev::sync_wait(loop(mediator, 100'000)) == 100'000);
  CHECK(calls == 100'000);
}

// ---- suspended handlers ---------------------------------------------------------------------

TEST_CASE("async handlers are awaited one after another", "[async][suspend]") {
  Mediator mediator;
  Trigger first_may_end;
  Log log;
  auto first = mediator.register_handler([&](const Ping&) -> ev::Task<> {
    log.add("first begins");
    co_await first_may_end;
    log.add("first ends");
  });
  auto second = mediator.register_handler([&](const Ping&) -> ev::Task<> {
    log.add("second");
    co_return;
  });
  auto any = mediator.register_handler([&](const ev::AbstractEvent&) -> ev::Task<> {
    log.add("catch-all");
    co_return;
  });

  const Ping ping{1};
  Spawned dispatch = test_support::start(mediator.dispatch(ping));
  REQUIRE(first_may_end.waiting());
  CHECK_FALSE(dispatch.done());
  CHECK(log.entries() == Strings{"first begins"});  // the second has not started

  SECTION("resumed by the test on this thread") {
    first_may_end.set();
    REQUIRE(dispatch.done());
  }
  SECTION("resumed from another thread") {
    std::thread resumer([&] { first_may_end.set(); });
    resumer.join();
    REQUIRE(dispatch.wait());
  }
  CHECK_FALSE(dispatch.error());
  CHECK(log.entries() == Strings{"first begins", "first ends", "second", "catch-all"});
}

TEST_CASE("a suspended async handler blocks no dispatch, registration or cancellation", "[async][suspend]") {
  Mediator mediator;
  Trigger release;
  std::atomic<int> pings{0};
  auto blocker = mediator.register_handler([&](const Ping& p) -> ev::Task<> {
    if (p.value == 1) co_await release;
    ++pings;
  });
  auto other = mediator.register_handler([](const Pong&) -> ev::Task<> { co_return; });
  const Ping suspended{1};
  Spawned first = test_support::start(mediator.dispatch(suspended));
  REQUIRE(release.waiting());

  std::atomic<bool> done{false};
  std::thread worker([&] {
    ev::sync_wait(mediator.dispatch(Ping{2}));  // the same type and handler, not suspending here
    ev::sync_wait(mediator.dispatch(Pong{}));
    auto sub = mediator.register_handler([](const Ping&) -> ev::Task<> { co_return; });
    sub.cancel();
    other.cancel_and_wait();  // another handler: must not wait for the suspended call
    done = true;
  });
  JoinGuard guard(worker, [] {});
  CHECK(eventually([&] { return done.load(); }));
  CHECK(pings == 1);
  CHECK_FALSE(first.done());
  release.set();
  CHECK(first.done());
  CHECK(pings == 2);
}

TEST_CASE("a handler cancelled while suspended keeps its closure until its call finishes", "[async][suspend][lifetime]") {
  const int before = Counted::alive;
  {
    Mediator mediator;
    Trigger resume;
    std::atomic<bool> finished{false};
    std::atomic<int> after_cancel_reads{0};
    auto sub = mediator.register_handler([c = Counted{}, &resume, &finished, &after_cancel_reads](const Ping& p) -> ev::Task<> {
      co_await resume;
      // Uses the closure (its captures) and the event after the cancellation.
      after_cancel_reads += p.value;
      finished = true;
    });
    CHECK(Counted::alive == before + 1);

    const Ping ping{3};
    Spawned dispatch = test_support::start(mediator.dispatch(ping));
    REQUIRE(resume.waiting());
    sub.cancel();
    CHECK_FALSE(sub.active());
    CHECK(Counted::alive == before + 1);  // the suspended call still uses it

    // A dispatch that starts after cancel() returns does not call it.
    ev::sync_wait(mediator.dispatch(Ping{100}));
    CHECK(after_cancel_reads == 0);

    resume.set();
    REQUIRE(dispatch.done());
    CHECK(finished);
    CHECK(after_cancel_reads == 3);
    // Once the call has finished it goes (on the next write at the latest).
    auto write = mediator.register_handler([](const Pong&) -> ev::Task<> { co_return; });
    CHECK(Counted::alive == before);
  }
  CHECK(Counted::alive == before);
}

TEST_CASE("cancel_and_wait from another thread waits for a suspended call to finish", "[async][suspend][teardown]") {
  Mediator mediator;
  Trigger resume;
  std::atomic<bool> call_finished{false};
  auto state = std::make_unique<std::atomic<int>>(0);
  std::atomic<int>* used = state.get();
  auto sub = mediator.register_handler([&resume, &call_finished, used](const Ping&) -> ev::Task<> {
    ++*used;
    co_await resume;
    ++*used;
    call_finished = true;
  });

  const Ping ping{1};
  Spawned dispatch = test_support::start(mediator.dispatch(ping));
  REQUIRE(resume.waiting());

  std::atomic<bool> returned{false}, finished_when_returned{false};
  std::thread canceller([&] {
    sub.cancel_and_wait();
    finished_when_returned = call_finished.load();
    returned = true;
  });
  JoinGuard guard(canceller, [&] { resume.set(); });
  std::this_thread::sleep_for(100ms);
  CHECK_FALSE(returned);  // still waiting for the suspended call
  CHECK_FALSE(sub.active());
  resume.set();  // the call goes on, here on the test's thread
  REQUIRE(dispatch.done());
  CHECK(eventually([&] { return returned.load(); }));
  CHECK(finished_when_returned);
  CHECK(*used == 2);
  state.reset();  // what the handler used may go now
}

// Regression (hardening issue, item 1): a handler that cancels its own subscription with
// cancel() (what the docs advise inside an asio handler) and suspends; the owner's
// ScopedSubscription destructor on another thread returned at once.
TEST_CASE("teardown waits for a suspended call whose handler cancelled itself", "[async][suspend][teardown]") {
  Mediator mediator;
  Trigger resume;
  std::atomic<bool> call_finished{false};
  auto state = std::make_unique<std::atomic<int>>(0);
  std::atomic<int>* used = state.get();
  std::optional<ev::ScopedSubscription> owner_sub;
  owner_sub.emplace(mediator.register_handler([&, used](const Ping&) -> ev::Task<> {
    owner_sub->cancel();  // stops itself; this call goes on
    co_await resume;
    ++*used;
    call_finished = true;
  }));

  const Ping ping{1};
  Spawned dispatch = test_support::start(mediator.dispatch(ping));
  REQUIRE(resume.waiting());
  CHECK_FALSE(owner_sub->active());

  std::atomic<bool> returned{false}, finished_when_returned{false};
  std::thread owner([&] {
    owner_sub.reset();  // cancel_and_wait: the call is still suspended
    finished_when_returned = call_finished.load();
    returned = true;
    state.reset();
  });
  JoinGuard guard(owner, [&] { resume.set(); });
  std::this_thread::sleep_for(100ms);
  CHECK_FALSE(returned);
  resume.set();
  REQUIRE(dispatch.done());
  CHECK(eventually([&] { return returned.load(); }));
  CHECK(finished_when_returned);
}

TEST_CASE("cancel_and_wait on the thread that started a suspended call still waits for it",
          "[async][suspend][teardown]") {
  // Regression (fixed by 7e97c1c): the dispatch below starts on the test's thread and its
  // handler suspends; the call then goes on on another thread. cancel_and_wait() on the test's
  // thread is not "inside the handler", so it must wait until the call has finished —
  // the caller may destroy what the handler uses next. It used to return at once, because the
  // starting thread was recorded as the owner of the suspended call.
  Mediator mediator;
  Trigger resume;
  std::atomic<bool> call_finished{false};
  auto state = std::make_unique<std::atomic<int>>(0);
  std::atomic<int>* used = state.get();
  auto sub = mediator.register_handler([&resume, &call_finished, used](const Ping&) -> ev::Task<> {
    ++*used;
    co_await resume;
    ++*used;
    call_finished = true;
  });
  const Ping ping{1};
  Spawned dispatch = test_support::start(mediator.dispatch(ping));  // started on this thread
  REQUIRE(resume.waiting());

  std::thread resumer([&] {
    std::this_thread::sleep_for(300ms);
    resume.set();  // the call goes on, and finishes, on this other thread
  });
  JoinGuard guard(resumer, [] {});
  sub.cancel_and_wait();  // may block until the resumer has run the call to its end
  const bool finished_when_returned = call_finished.load();
  CHECK(finished_when_returned);
  REQUIRE(dispatch.wait());
  CHECK(*used == 2);
}

TEST_CASE("cancel_and_wait inside a task waits for a dispatch that task started and did not await",
          "[async][suspend][teardown]") {
  // BUG: a Task (here the test's `app`, run by sync_wait) starts a dispatch fire-and-forget
  // through a detached coroutine of its own type (test_support::start, like any user's spawn
  // helper), then tears the subscriber down with cancel_and_wait. The suspended call is not
  // app's own call and goes on on another thread: cancel_and_wait must wait for it.
  // It returns at once: Task<T>::Awaiter::await_suspend (task.hpp) makes a task awaited by a
  // non-Task coroutine join the chain running on this thread (join_chain), so the detached
  // dispatch is taken for part of app's chain, and wait_for_calls (handler_registry.hpp) skips
  // slots of the caller's own chain. (The chain id is the root frame's address, so once app's
  // frame is freed a later, unrelated chain can even reuse it.)
  Mediator mediator;
  Trigger resume;
  std::atomic<bool> call_finished{false};
  auto sub = mediator.register_handler([&resume, &call_finished](const Ping&) -> ev::Task<> {
    co_await resume;
    call_finished = true;
  });
  const Ping ping{1};
  Spawned background;
  bool finished_when_returned = false;
  auto app = [](Mediator& m, const Ping& e, Spawned& detached, ev::Subscription& s, std::atomic<bool>& finished,
                bool& out) -> ev::Task<> {
    detached = test_support::start(m.dispatch(e));  // fire and forget
    s.cancel_and_wait();                             // not inside the handler: must wait for its call
    out = finished.load();
    co_return;
  };
  std::thread resumer([&] {
    if (resume.wait_for_waiter()) std::this_thread::sleep_for(300ms);
    resume.set();  // the detached call goes on, and finishes, on this other thread
  });
  JoinGuard guard(resumer, [] {});
  ev::sync_wait(app(mediator, ping, background, sub, call_finished, finished_when_returned));
  CHECK(finished_when_returned);
  CHECK(background.wait());
}

TEST_CASE("an async handler returning an empty task is reported as a failure", "[async][failure]") {
  Mediator mediator;
  Log errors;
  mediator.set_error_handler(recording_error_handler(errors));
  int after = 0;
  auto empty = mediator.register_handler([](const Ping&) { return ev::Task<>{}; });
  auto next = mediator.register_handler([&](const Ping&) -> ev::Task<> {
    ++after;
    co_return;
  });
  const auto outcome = ev::sync_wait(mediator.dispatch_with_outcome(Ping{}));
  CHECK(outcome.handlers_run == 2);
  CHECK(outcome.handlers_failed == 1);
  REQUIRE(outcome.first_failure);
  CHECK_THROWS_AS(std::rethrow_exception(outcome.first_failure), ev::TaskMisuseError);
  CHECK(after == 1);
  REQUIRE(errors.entries().size() == 1);
  CHECK_THAT(errors.entries()[0], Catch::StartsWith("Ping: "));
}

TEST_CASE("an async handler returning a task that was awaited already is reported as a failure",
          "[async][failure]") {
  Mediator mediator;
  Log errors;
  mediator.set_error_handler(recording_error_handler(errors));
  int after = 0;
  auto make = []() -> ev::Task<> { co_return; };
  ev::Task<> used = make();
  ev::sync_wait(used);
  auto stale = mediator.register_handler([&](const Ping&) { return std::move(used); });
  auto next = mediator.register_handler([&](const Ping&) -> ev::Task<> {
    ++after;
    co_return;
  });
  const auto outcome = ev::sync_wait(mediator.dispatch_with_outcome(Ping{}));
  CHECK(outcome.handlers_run == 2);
  CHECK(outcome.handlers_failed == 1);
  REQUIRE(outcome.first_failure);
  CHECK_THROWS_AS(std::rethrow_exception(outcome.first_failure), ev::TaskMisuseError);
  CHECK(after == 1);
  CHECK(errors.entries() == Strings{"Ping: co_await on a Task that was awaited already"});
}

namespace async_mediator_test {
ev::Task<> answer_now() { co_return; }
/// A handler's task holding a Counted in its frame (a by-value parameter) until it is freed.
ev::Task<> holding(Counted, Log& log, std::string name, int how, Threads* threads) {
  log.add(name + " sees " + std::to_string(Counted::alive.load()) + " alive");
  if (how == 1) co_await answer_now();                     // an await that does not suspend
  if (how == 2) co_await ResumeOnNewThread{threads};        // one that does
  if (how == 3) throw std::runtime_error(name + " throws");  // fails without suspending
}
}  // namespace async_mediator_test

TEST_CASE("each async handler's coroutine is freed before the next handler runs, however it ended",
          "[async][lifetime]") {
  // Handlers that finish without suspending are finished by the dispatch loop itself (their
  // frames free themselves); those that await without suspending, or suspend, go through
  // co_await. Either way the frame (its parameters) must be gone, once, before the next call.
  Mediator mediator;
  Threads threads;
  Log log, errors;
  mediator.set_error_handler(recording_error_handler(errors));
  std::vector<ev::ScopedSubscription> subs;
  const char* names[] = {"plain", "awaits", "suspends", "throws", "last"};
  const int hows[] = {0, 1, 2, 3, 0};
  for (int i = 0; i < 5; ++i) {
    subs.push_back(mediator.register_handler([&, i](const Ping&) {
      return holding(Counted{}, log, names[i], hows[i], &threads);
    }));
  }
  const int before = Counted::alive.load();
  for (int round = 0; round < 3; ++round) {
    ev::sync_wait(mediator.dispatch(Ping{}));
    threads.join_all();
    CHECK(Counted::alive.load() == before);
  }
  const auto entries = log.entries();
  REQUIRE(entries.size() == 15);
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 5; ++i) {
      CHECK(entries[static_cast<std::size_t>(round * 5 + i)] == std::string(names[i]) + " sees " +
                                                                     std::to_string(before + 1) + " alive");
    }
  }
  CHECK(errors.entries() == Strings{"Ping: throws throws", "Ping: throws throws", "Ping: throws throws"});
}

TEST_CASE("100,000 dispatches to handlers that await without suspending run in constant stack",
          "[async][stack]") {
  Mediator mediator;
  long calls = 0;
  auto sub = mediator.register_handler([&](const Ping& p) -> ev::Task<> {
    co_await answer_now();
    calls += p.value;
  });
  auto loop = [](Mediator& m, int n) -> ev::Task<int> {
    int done = 0;
    for (int i = 0; i < n; ++i) {
      co_await m.dispatch(Ping{1});
      ++done;
    }
    co_return done;
  };
  CHECK(ev::sync_wait(loop(mediator, 100'000)) == 100'000);
  CHECK(calls == 100'000);
}

TEST_CASE("plain cancel never waits for a suspended call", "[async][suspend][teardown]") {
  Mediator mediator;
  Trigger resume;
  auto sub = mediator.register_handler([&](const Ping&) -> ev::Task<> { co_await resume; });
  const Ping ping{1};
  Spawned dispatch = test_support::start(mediator.dispatch(ping));
  REQUIRE(resume.waiting());
  std::atomic<bool> returned{false};
  std::thread canceller([&] {
    sub.cancel();
    returned = true;
  });
  JoinGuard guard(canceller, [&] { resume.set(); });
  CHECK(eventually([&] { return returned.load(); }));
  CHECK(resume.waiting());
  resume.set();
  CHECK(dispatch.done());
}

TEST_CASE("a handler cancelled while the dispatch is suspended in an earlier one is not called", "[async][suspend]") {
  Mediator mediator;
  Trigger resume;
  Log log;
  auto first = mediator.register_handler([&](const Ping&) -> ev::Task<> {
    co_await resume;
    log.add("first");
  });
  auto second = mediator.register_handler([&](const Ping&) -> ev::Task<> {
    log.add("second");
    co_return;
  });
  auto third = mediator.register_handler([&](const ev::AbstractDomainEvent&) -> ev::Task<> {
    log.add("third");
    co_return;
  });
  const Ping ping{1};
  Spawned dispatch = test_support::start(mediator.dispatch(ping));
  REQUIRE(resume.waiting());

  SECTION("by cancel()") {
    second.cancel();
    third.cancel();
  }
  SECTION("by cancel_and_wait() on another thread, which need not wait for the earlier call") {
    std::atomic<bool> returned{false};
    std::thread canceller([&] {
      second.cancel_and_wait();
      third.cancel_and_wait();
      returned = true;
    });
    JoinGuard guard(canceller, [&] { resume.set(); });
    CHECK(eventually([&] { return returned.load(); }));
    CHECK(resume.waiting());
  }
  resume.set();
  REQUIRE(dispatch.done());
  CHECK(log.entries() == Strings{"first"});
}

TEST_CASE("destroying a suspended dispatch releases everything cleanly", "[async][suspend][lifetime]") {
  const int before = Counted::alive;
  {
    Mediator mediator;
    Trigger never;
    std::atomic<int> entered{0};
    std::atomic<int> later_calls{0};
    auto suspending = mediator.register_handler([c = Counted{}, &never, &entered](const Ping&) -> ev::Task<> {
      Counted local;  // in the coroutine frame
      (void)local;
      ++entered;
      co_await never;
      ++entered;
    });
    auto later = mediator.register_handler([c = Counted{}, &later_calls](const Ping&) -> ev::Task<> {
      ++later_calls;
      co_return;
    });
    CHECK(Counted::alive == before + 2);
    {
      const auto event = std::make_shared<const Ping>(1);
      Spawned dispatch = test_support::start(mediator.dispatch(event));
      REQUIRE(never.waiting());
      CHECK(entered == 1);
      CHECK(Counted::alive == before + 3);  // + the handler's frame local
      dispatch.reset();                      // destroys the suspended chain, frame by frame
      never.forget();
      CHECK(Counted::alive == before + 2);
      CHECK(event.use_count() == 1);  // the shared_ptr overload's copy went with its frame
    }
    CHECK(entered == 1);
    CHECK(later_calls == 0);

    // The registry is consistent: cancel_and_wait of the handler the dispatch was suspended in
    // does not wait (from another thread), and later dispatches work.
    std::atomic<bool> returned{false};
    std::thread canceller([&] {
      suspending.cancel_and_wait();
      returned = true;
    });
    JoinGuard guard(canceller, [] {});
    CHECK(eventually([&] { return returned.load(); }, 5s));
    ev::sync_wait(mediator.dispatch(Ping{2}));
    CHECK(later_calls == 1);
    CHECK(Counted::alive == before + 1);  // the cancelled closure is gone
  }
  CHECK(Counted::alive == before);
}

TEST_CASE("the shared_ptr dispatch overload keeps the event alive until the dispatch completes", "[async][lifetime]") {
  Mediator mediator;
  Trigger resume;
  std::atomic<int> seen{-1};
  std::string seen_name;
  auto sub = mediator.register_handler([&](const Ping& p) -> ev::Task<> {
    co_await resume;
    seen = p.value;  // reads the event after the suspension
    seen_name = std::string(p.event_name());
  });
  auto event = std::make_shared<const Ping>(42);
  const std::weak_ptr<const Ping> weak = event;
  Spawned dispatch = test_support::start(mediator.dispatch(event));
  REQUIRE(resume.waiting());
  event.reset();  // the caller lets go
  CHECK_FALSE(weak.expired());
  resume.set();
  REQUIRE(dispatch.done());
  CHECK(seen == 42);
  CHECK(seen_name == "Ping");
  dispatch.reset();  // the finished task goes: so does its copy of the pointer
  CHECK(weak.expired());

  SECTION("also through IAsyncEventDispatcher<>&, with a shared_ptr<const AbstractEvent>") {
    ev::IAsyncEventDispatcher<>& dispatcher = mediator;
    Trigger again;
    auto sub2 = mediator.register_handler([&](const Pong& p) -> ev::Task<> {
      co_await again;
      seen = p.value;
    });
    std::shared_ptr<const ev::AbstractEvent> pong = std::make_shared<const Pong>(7);
    const std::weak_ptr<const ev::AbstractEvent> weak_pong = pong;
    Spawned second = test_support::start(dispatcher.dispatch(std::move(pong)));
    REQUIRE(again.waiting());
    CHECK_FALSE(weak_pong.expired());
    again.set();
    REQUIRE(second.done());
    CHECK(seen == 7);
    second.reset();
    CHECK(weak_pong.expired());
  }
}

// ---- threads --------------------------------------------------------------------------------

TEST_CASE("two async dispatches suspended at the same time on two threads", "[async][threads]") {
  Mediator mediator;
  Trigger t1, t2;
  std::atomic<int> inside{0}, finished{0};
  Log log;
  auto sub = mediator.register_handler([&](const Ping& p) -> ev::Task<> {
    ++inside;
    co_await (p.value == 1 ? t1 : t2);
    log.add("finished " + std::to_string(p.value));
    ++finished;
  });
  std::atomic<bool> w1_done{false}, w2_done{false};
  std::thread w1([&] {
    ev::sync_wait(mediator.dispatch(Ping{1}));
    w1_done = true;
  });
  JoinGuard g1(w1, [&] { t1.set(); });
  std::thread w2([&] {
    ev::sync_wait(mediator.dispatch(Ping{2}));
    w2_done = true;
  });
  JoinGuard g2(w2, [&] { t2.set(); });
  REQUIRE(t1.wait_for_waiter());
  REQUIRE(t2.wait_for_waiter());
  CHECK(inside == 2);  // both calls are suspended at once
  CHECK(finished == 0);

  // cancel_and_wait waits for both suspended calls.
  std::atomic<bool> returned{false};
  std::thread canceller([&] {
    sub.cancel_and_wait();
    returned = true;
  });
  JoinGuard g3(canceller, [&] {
    t1.set();
    t2.set();
  });
  std::this_thread::sleep_for(50ms);
  CHECK_FALSE(returned);

  t2.set();  // the second finishes first
  CHECK(eventually([&] { return w2_done.load(); }));
  CHECK_FALSE(w1_done);
  std::this_thread::sleep_for(50ms);
  CHECK_FALSE(returned);  // the first call is still suspended
  t1.set();
  CHECK(eventually([&] { return w1_done.load() && returned.load(); }));
  CHECK(log.entries() == Strings{"finished 2", "finished 1"});
}

TEST_CASE("a dispatch resumed on other threads completes and sync_wait returns", "[async][threads]") {
  Mediator mediator;
  Executor executor;
  Threads threads;
  Log log;
  auto a = mediator.register_handler([&](const Ping&) -> ev::Task<> {
    co_await executor.schedule();
    log.add(std::this_thread::get_id() == executor.thread_id() ? "a on executor" : "a elsewhere");
  });
  auto b = mediator.register_handler([&](const Ping&) -> ev::Task<> {
    co_await ResumeOnNewThread{&threads};
    log.add("b");
  });
  auto c = mediator.register_handler([&](const ev::AbstractEvent&) -> ev::Task<> {
    log.add("c");
    co_return;
  });
  for (int i = 0; i < 20; ++i) ev::sync_wait(mediator.dispatch(Ping{i}));
  const auto entries = log.entries();
  REQUIRE(entries.size() == 60);
  for (std::size_t i = 0; i < entries.size(); i += 3) {
    CHECK(entries[i] == "a on executor");
    CHECK(entries[i + 1] == "b");
    CHECK(entries[i + 2] == "c");
  }
}

TEST_CASE("async handlers registered and cancelled from many threads while dispatches run",
          "[async][threads][stress]") {
  Executor executor;
  Mediator mediator;
  std::atomic<long> hops{0};
  auto hopper = mediator.register_handler([&](const Ping& p) -> ev::Task<> {
    if (p.value % 4 == 0) {
      co_await executor.schedule();
      ++hops;
    }
  });

  std::atomic<bool> stop{false};
  std::atomic<long> dispatched{0};
  std::vector<std::thread> dispatchers;
  for (int t = 0; t < 2; ++t) {
    dispatchers.emplace_back([&] {
      for (int i = 0; !stop; ++i) {
        ev::sync_wait(mediator.dispatch(Ping{i}));
        ev::sync_wait(mediator.dispatch(Pong{i}));
        ++dispatched;
      }
    });
  }

  std::atomic<long> calls{0};
  std::vector<std::thread> churners;
  for (int t = 0; t < 2; ++t) {
    churners.emplace_back([&] {
      for (int i = 0; i < 150; ++i) {
        auto state = std::make_unique<std::atomic<int>>(0);
        {
          std::atomic<int>* s = state.get();
          Executor* e = &executor;
          ev::ScopedSubscription exact = mediator.register_handler([s, e](const Ping&) -> ev::Task<> {
            ++*s;
            co_await e->schedule();
            ++*s;  // after a hop: cancel_and_wait must wait for this too
          });
          ev::ScopedSubscription all = mediator.register_handler([s](const ev::AbstractDomainEvent&) -> ev::Task<> {
            ++*s;
            co_return;
          });
          auto plain = mediator.register_handler([](const Pong&) -> ev::Task<> { co_return; });
          std::this_thread::yield();
          plain.cancel();
        }  // both handlers are gone and no call of theirs is running or suspended: `state` may go
        calls += state->load();
        state.reset();
      }
    });
  }
  for (auto& t : churners) t.join();
  stop = true;
  for (auto& t : dispatchers) t.join();
  CHECK(dispatched > 0);
  CHECK(calls >= 0);

  // Still consistent: only the permanent handler is left.
  std::atomic<int> final_calls{0};
  auto counter = mediator.register_handler([&](const ev::AbstractEvent&) -> ev::Task<> {
    ++final_calls;
    co_return;
  });
  ev::sync_wait(mediator.dispatch(Ping{4}));
  CHECK(final_calls == 1);
  CHECK(hops > 0);
}

namespace async_mediator_test {

// Regression: every suspended dispatch keeps a reader slot, and claiming one used to scan
// every block from the first (quadratic in the dispatches in flight).
TEST_CASE("thousands of dispatches suspended at once all complete", "[async][suspend]") {
  struct Park {
    std::vector<std::coroutine_handle<>>& parked;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> handle) const { parked.push_back(handle); }
    void await_resume() const noexcept {}
  };
  Mediator mediator;
  std::vector<std::coroutine_handle<>> parked;
  int finished = 0;
  auto sub = mediator.register_handler([&](const Ping&) -> ev::Task<> {
    co_await Park{parked};
    ++finished;
  });
  constexpr int in_flight = 5000;
  const Ping ping{1};
  std::vector<Spawned> dispatches;
  dispatches.reserve(in_flight);
  for (int i = 0; i < in_flight; ++i) dispatches.push_back(test_support::start(mediator.dispatch(ping)));
  REQUIRE(parked.size() == static_cast<std::size_t>(in_flight));
  CHECK(finished == 0);
  for (auto handle : parked) handle.resume();
  CHECK(finished == in_flight);
  CHECK(std::all_of(dispatches.begin(), dispatches.end(), [](const Spawned& s) { return s.done(); }));
}

}  // namespace async_mediator_test
