// AsyncEventMediator<asio::awaitable<void>>: the pluggable awaitable proven with standalone
// Asio. Handlers co_await real asio::steady_timers on one asio::io_context, run on
// this (the test's main) thread; assertions are made on this thread only, after run_for().
//
// Asio's awaitable can only be awaited from Asio coroutines: dispatch() returns
// asio::awaitable<void> and dispatch_with_outcome() asio::awaitable<DispatchOutcome>, and both
// are started with asio::co_spawn.
//
// NOTE: g++ 12 miscompiles a co_await and a capturing lambda in one full-expression (double
// free), so no co_await below has a lambda in its expression: handlers are lambdas whose
// bodies co_await named helpers.

#include <spakky/event/mediator/async_event_mediator.hpp>
#include <spakky/event/publisher/async_event_publisher.hpp>

#include "support/counted.hpp"
#include "support/events.hpp"
#include "support/sync.hpp"

#include <asio.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>
#include <vector>

namespace ev = spakky::event;
using namespace test_events;
using namespace std::chrono_literals;

namespace {

using Awaitable = asio::awaitable<void>;
using Mediator = ev::AsyncEventMediator<Awaitable>;

static_assert(std::is_same_v<Mediator::OutcomeAwaitable, asio::awaitable<ev::DispatchOutcome>>);

// Every test drives its io_context with this bound, so that a handler that never resumes
// fails the test instead of hanging it.
constexpr auto kRunBound = 20s;

/// Suspends the calling Asio coroutine on a steady_timer for `duration`.
Awaitable sleep_for(std::chrono::milliseconds duration) {
  asio::steady_timer timer(co_await asio::this_coro::executor, duration);
  co_await timer.async_wait(asio::use_awaitable);
}

/// Dispatches `event` by reference from a coroutine that owns it: the event lives in this
/// frame until the dispatch has completed, which is all the library promises.
Awaitable dispatch_owned(Mediator& mediator, int value, std::vector<std::string>& log) {
  const Ping ping(value);
  co_await mediator.dispatch(ping);
  log.push_back("dispatch done");
}

/// What a completion handler of co_spawn saw; checked on the main thread after run_for().
struct Completion {
  bool done = false;
  std::exception_ptr error;
  auto handler() {
    return [this](std::exception_ptr e) {
      done = true;
      error = e;
    };
  }
};

std::string message_of(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "?";
  }
}

}  // namespace

TEST_CASE("asio: two dispatches on one io_context have their handlers suspended at the same time",
          "[asio][async]") {
  asio::io_context io;
  Mediator mediator;

  // Single-threaded: everything below runs on this thread, inside io.run_for().
  int in_flight = 0;
  int max_in_flight = 0;
  std::vector<int> finished_when_entered;  // how many calls had finished when each one started
  int finished = 0;
  std::vector<std::string> log;
  auto sub = mediator.register_handler([&](const Ping& e) -> Awaitable {
    finished_when_entered.push_back(finished);
    log.push_back("enter " + std::to_string(e.value));
    max_in_flight = std::max(max_in_flight, ++in_flight);
    co_await sleep_for(30ms);
    --in_flight;
    ++finished;
    log.push_back("leave " + std::to_string(e.value));
  });

  Completion first;
  Completion second;
  asio::co_spawn(io, mediator.dispatch(std::make_shared<const Ping>(1)), first.handler());
  asio::co_spawn(io, mediator.dispatch(std::make_shared<const Ping>(2)), second.handler());
  io.run_for(kRunBound);

  REQUIRE(first.done);
  REQUIRE(second.done);
  CHECK_FALSE(first.error);
  CHECK_FALSE(second.error);
  REQUIRE(log.size() == 4);
  // Both calls were entered before either finished: they were suspended at the same time.
  CHECK(finished_when_entered == std::vector<int>{0, 0});
  CHECK(max_in_flight == 2);
  CHECK(log[0] == "enter 1");
  CHECK(log[1] == "enter 2");
  CHECK(finished == 2);
}

TEST_CASE("asio: the handlers of one dispatch are awaited one after another, in registration order",
          "[asio][async]") {
  asio::io_context io;
  Mediator mediator;
  std::vector<std::string> log;

  // The first sleeps longest: were they run at once, the log would interleave.
  auto a = mediator.register_handler([&](const Ping&) -> Awaitable {
    log.push_back("a+");
    co_await sleep_for(40ms);
    log.push_back("a-");
  });
  auto b = mediator.register_handler([&](const Ping&) -> Awaitable {
    log.push_back("b+");
    co_await sleep_for(5ms);
    log.push_back("b-");
  });
  auto c = mediator.register_handler([&](const Ping&) -> Awaitable {  // never suspends
    log.push_back("c");
    co_return;
  });
  auto all = mediator.register_handler([&](const ev::AbstractDomainEvent&) -> Awaitable {  // catch-all: last
    log.push_back("all+");
    co_await sleep_for(1ms);
    log.push_back("all-");
  });

  Completion completion;
  asio::co_spawn(io, dispatch_owned(mediator, 7, log), completion.handler());
  io.run_for(kRunBound);

  REQUIRE(completion.done);
  CHECK_FALSE(completion.error);
  CHECK(log == std::vector<std::string>{"a+", "a-", "b+", "b-", "c", "all+", "all-", "dispatch done"});
}

namespace {

/// What the cancelled handler's closure carries: counted, so that we see when it is
/// destroyed, and with a field the handler reads after resuming (ASan sees a freed closure).
struct Tracked : test_support::Counted {
  int tag = 7;
};

struct CancelProbe {
  int calls = 0;
  bool finished = false;
  int tag_read_after_resume = 0;
  int closures_alive_at_end = -1;  // Counted::alive when the call finished
  bool suspended_when_cancelled = false;
  int closures_alive_after_cancel = -1;
};

/// Waits (on the io_context) until the handler has been entered, then cancels it while it
/// is suspended on its timer.
Awaitable cancel_when_entered(CancelProbe& probe, ev::Subscription& sub) {
  while (probe.calls == 0) co_await sleep_for(1ms);
  probe.suspended_when_cancelled = probe.calls == 1 && !probe.finished;
  sub.cancel();
  probe.closures_alive_after_cancel = test_support::Counted::alive.load();
}

}  // namespace

TEST_CASE("asio: a handler cancelled while suspended completes, keeps its closure until then, and is not called again",
          "[asio][async][cancel]") {
  const int baseline = test_support::Counted::alive.load();
  {
    asio::io_context io;
    Mediator mediator;
    CancelProbe probe;
    int others = 0;

    ev::Subscription sub =
        mediator.register_handler([&probe, tracked = Tracked{}](const Ping&) -> Awaitable {
          ++probe.calls;
          co_await sleep_for(40ms);
          // Reads the closure after resuming: it must still be there although cancelled.
          probe.tag_read_after_resume = tracked.tag;
          probe.closures_alive_at_end = test_support::Counted::alive.load();
          probe.finished = true;
        });
    auto other = mediator.register_handler([&](const Ping&) -> Awaitable {
      ++others;
      co_return;
    });
    REQUIRE(test_support::Counted::alive.load() == baseline + 1);

    Completion dispatched;
    asio::co_spawn(io, mediator.dispatch(std::make_shared<const Ping>(1)), dispatched.handler());
    asio::co_spawn(io, cancel_when_entered(probe, sub), asio::detached);
    io.run_for(kRunBound);

    REQUIRE(dispatched.done);
    CHECK_FALSE(dispatched.error);
    CHECK(probe.suspended_when_cancelled);
    CHECK_FALSE(sub.active());
    CHECK(probe.closures_alive_after_cancel == baseline + 1);  // cancelled, but its call is running
    CHECK(probe.finished);                                    // the call completed cleanly...
    CHECK(probe.tag_read_after_resume == 7);                  // ...reading its closure...
    CHECK(probe.closures_alive_at_end == baseline + 1);       // ...which was alive until the end
    CHECK(others == 1);                                       // and the dispatch went on

    // The next dispatch does not call it.
    io.restart();
    Completion again;
    asio::co_spawn(io, mediator.dispatch(std::make_shared<const Ping>(2)), again.handler());
    io.run_for(kRunBound);
    REQUIRE(again.done);
    CHECK(probe.calls == 1);
    CHECK(others == 2);

    // Once no dispatch holds it, the closure is destroyed: at the latest by the registry's
    // next change (the registry reclaims retired handler lists on register/cancel).
    mediator.register_handler([](const Pong&) -> Awaitable { co_return; }).cancel();
    CHECK(test_support::Counted::alive.load() == baseline);
  }
  CHECK(test_support::Counted::alive.load() == baseline);
}

TEST_CASE("asio: cancel_and_wait on another thread returns only after the suspended call has finished",
          "[asio][async][cancel][threads]") {
  Mediator mediator;  // outlives the io_context, which may still hold suspended frames
  asio::io_context io;

  // The handler waits on `gate` (bounded: it expires by itself after 5 s) until the waiting
  // thread has announced that it is calling cancel_and_wait, and some more.
  asio::steady_timer gate(io, 5s);
  std::atomic<bool> entered{false};
  std::atomic<bool> finished{false};
  std::atomic<bool> calling_cancel_and_wait{false};

  ev::Subscription sub = mediator.register_handler([&](const Ping&) -> Awaitable {
    entered.store(true);
    std::error_code ignored;  // operation_aborted when the gate is cancelled
    co_await gate.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    co_await sleep_for(20ms);  // suspended once more after the gate opens
    finished.store(true);
  });

  // Opens the gate, on the io_context, 30 ms after the other thread announced its call.
  struct Releaser {
    static Awaitable run(asio::steady_timer& gate, std::atomic<bool>& announced) {
      while (!announced.load()) co_await sleep_for(1ms);
      co_await sleep_for(30ms);
      gate.cancel();
    }
  };

  bool waiter_saw_entered = false;
  bool finished_before_wait = true;
  bool finished_after_wait = false;
  std::thread waiter([&] {
    waiter_saw_entered = test_support::eventually([&] { return entered.load(); });
    finished_before_wait = finished.load();
    calling_cancel_and_wait.store(true);
    sub.cancel_and_wait();
    finished_after_wait = finished.load();
  });
  test_support::JoinGuard join(waiter, [&] { calling_cancel_and_wait.store(true); });

  Completion dispatched;
  asio::co_spawn(io, mediator.dispatch(std::make_shared<const Ping>(1)), dispatched.handler());
  asio::co_spawn(io, Releaser::run(gate, calling_cancel_and_wait), asio::detached);
  io.run_for(kRunBound);
  waiter.join();

  REQUIRE(dispatched.done);
  CHECK_FALSE(dispatched.error);
  CHECK(waiter_saw_entered);
  CHECK_FALSE(finished_before_wait);  // the call was suspended when cancel_and_wait began
  CHECK(finished_after_wait);         // and had finished when it returned
  CHECK_FALSE(sub.active());
}

TEST_CASE("asio: an io_context destroyed while a handler is suspended destroys the dispatch cleanly",
          "[asio][async][cancel]") {
  const int baseline = test_support::Counted::alive.load();
  Mediator mediator;
  ev::Subscription sub;
  int entered = 0;
  bool finished = false;
  {
    asio::io_context io;
    sub = mediator.register_handler([&entered, &finished, tracked = Tracked{}](const Ping&) -> Awaitable {
      ++entered;
      co_await sleep_for(60s);  // never expires: the io_context goes first
      finished = tracked.tag == 7;
    });
    asio::co_spawn(io, mediator.dispatch(std::make_shared<const Ping>(1)), asio::detached);
    for (int i = 0; i < 1000 && entered == 0; ++i) io.run_one_for(10ms);
    REQUIRE(entered == 1);
  }  // destroys the suspended frames: handler, dispatch (its hold on the registry), the event
  CHECK_FALSE(finished);
  CHECK(test_support::Counted::alive.load() == baseline + 1);  // still registered

  // The destroyed dispatch left no call behind: cancel_and_wait from another thread returns at
  // once. (Were it stuck, the thread owns all it uses, the registry included: detaching is safe.)
  auto returned = std::make_shared<std::atomic<bool>>(false);
  std::thread waiter([subscription = std::move(sub), returned]() mutable {
    subscription.cancel_and_wait();
    returned->store(true);
  });
  const bool ok = test_support::eventually([&] { return returned->load(); });
  CHECK(ok);
  if (ok) {
    waiter.join();
  } else {
    waiter.detach();
  }
  CHECK(test_support::Counted::alive.load() == baseline);  // the closure went with the cancel
}

TEST_CASE("asio: a handler throwing before or after suspending is reported, and the others still run",
          "[asio][async][failure]") {
  asio::io_context io;
  Mediator mediator;
  std::vector<std::string> errors;
  std::vector<std::string> log;
  mediator.set_error_handler([&](const ev::AbstractEvent& event, std::exception_ptr error) {
    errors.push_back(std::string(event.event_name()) + ": " + message_of(error));
  });

  auto late = mediator.register_handler([&](const Ping&) -> Awaitable {
    log.push_back("late+");
    co_await sleep_for(10ms);
    throw std::runtime_error("failed after its timer");
  });
  auto ok1 = mediator.register_handler([&](const Ping&) -> Awaitable {
    co_await sleep_for(5ms);
    log.push_back("ok1");
  });
  auto early = mediator.register_handler([&](const Ping& e) -> Awaitable {
    log.push_back("early");
    if (e.value >= 0) throw std::runtime_error("failed before suspending");
    co_await sleep_for(5ms);
  });
  auto ok2 = mediator.register_handler([&](const Ping&) -> Awaitable {
    co_await sleep_for(5ms);
    log.push_back("ok2");
  });

  Completion completion;
  asio::co_spawn(io, mediator.dispatch(std::make_shared<const Ping>(1)), completion.handler());
  io.run_for(kRunBound);

  REQUIRE(completion.done);
  CHECK_FALSE(completion.error);  // a failing handler never escapes dispatch
  CHECK(log == std::vector<std::string>{"late+", "ok1", "early", "ok2"});
  CHECK(errors == std::vector<std::string>{"Ping: failed after its timer", "Ping: failed before suspending"});
}

TEST_CASE("asio: dispatch_with_outcome through co_spawn reports the counts and the first failure",
          "[asio][async][outcome]") {
  asio::io_context io;
  Mediator mediator;
  mediator.set_error_handler([](const ev::AbstractEvent&, std::exception_ptr) {});
  int ran = 0;

  auto a = mediator.register_handler([&](const Ping&) -> Awaitable {
    co_await sleep_for(5ms);
    ++ran;
  });
  auto b = mediator.register_handler([&](const Ping&) -> Awaitable {
    co_await sleep_for(5ms);
    ++ran;
    throw std::runtime_error("first");
  });
  auto cancelled = mediator.register_handler([&](const Ping&) -> Awaitable {
    ++ran;
    co_return;
  });
  auto c = mediator.register_handler([&](const Ping&) -> Awaitable {
    ++ran;
    throw std::logic_error("second");
    co_return;
  });
  auto d = mediator.register_handler([&](const Ping&) -> Awaitable {
    co_await sleep_for(1ms);
    ++ran;
  });
  cancelled.cancel();

  const Ping ping(1);  // outlives io.run_for(), so by reference is fine
  const Pong pong(1);  // no handlers
  bool done = false;
  std::exception_ptr error;
  ev::DispatchOutcome outcome;
  asio::co_spawn(io, mediator.dispatch_with_outcome(ping), [&](std::exception_ptr e, ev::DispatchOutcome o) {
    done = true;
    error = e;
    outcome = o;
  });
  bool none_done = false;
  ev::DispatchOutcome none;
  none.handlers_run = 99;
  asio::co_spawn(io, mediator.dispatch_with_outcome(pong), [&](std::exception_ptr, ev::DispatchOutcome o) {
    none_done = true;
    none = o;
  });
  io.run_for(kRunBound);

  REQUIRE(done);
  CHECK_FALSE(error);
  CHECK(ran == 4);
  CHECK(outcome.handlers_run == 4);
  CHECK(outcome.handlers_failed == 2);
  CHECK_FALSE(outcome.succeeded());
  REQUIRE(outcome.first_failure);
  CHECK(message_of(outcome.first_failure) == "first");

  REQUIRE(none_done);
  CHECK(none.handlers_run == 0);
  CHECK(none.handlers_failed == 0);
  CHECK(none.succeeded());
}

TEST_CASE("asio: AsyncEventPublisher routes a shared domain event to the asio mediator", "[asio][async][publisher]") {
  asio::io_context io;
  Mediator mediator;
  ev::AsyncEventPublisher<Awaitable> publisher(mediator);
  std::vector<std::string> log;
  auto sub = mediator.register_handler([&](const UserCreated& e) -> Awaitable {
    co_await sleep_for(5ms);
    log.push_back(e.username);
  });

  Completion completion;
  // The shared_ptr overload keeps the event alive until the spawned publish completes.
  asio::co_spawn(io, publisher.publish(std::make_shared<const UserCreated>("u-1", "alice")), completion.handler());
  io.run_for(kRunBound);

  REQUIRE(completion.done);
  CHECK_FALSE(completion.error);
  CHECK(log == std::vector<std::string>{"alice"});

  // Without a bus, an integration event fails: the error reaches co_spawn's handler.
  io.restart();
  Completion rejected;
  asio::co_spawn(io, publisher.publish(std::make_shared<const OrderPlaced>()), rejected.handler());
  io.run_for(kRunBound);
  REQUIRE(rejected.done);
  CHECK(rejected.error);
}
