// EventMediator across threads: no dispatch serialises on a lock, writers never wait for
// readers, cancel_and_wait waits exactly for the calls it must, and teardown under load is
// clean (run under TSan and ASan by the test command).
// Catch2 assertions are not thread-safe: worker threads only record; the main thread checks.

#include <spakky/event/mediator/event_mediator.hpp>

#include "support/events.hpp"
#include "support/sync.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

namespace ev = spakky::event;
using namespace test_events;
using test_support::eventually;
using test_support::Gate;
using namespace std::chrono_literals;

TEST_CASE("a handler blocked in one thread blocks no dispatch, registration or cancellation elsewhere",
          "[concurrency]") {
  ev::EventMediator mediator;
  Gate entered, release;
  std::atomic<std::thread::id> blocked_thread{};
  std::atomic<int> pings{0};
  auto blocker = mediator.register_handler([&](const Ping&) {
    if (std::this_thread::get_id() == blocked_thread.load()) {
      entered.open();
      release.wait();
    }
    ++pings;
  });
  auto other = mediator.register_handler([&](const Pong&) {});

  std::thread blocked([&] {
    blocked_thread = std::this_thread::get_id();
    mediator.dispatch(Ping{});
  });
  test_support::JoinGuard guard_blocked(blocked, [&] { release.open(); });
  REQUIRE(entered.wait());

  std::atomic<bool> dispatched{false}, registered{false}, cancelled{false}, waited{false};
  std::thread dispatcher([&] {
    mediator.dispatch(Ping{});  // the same type, the same blocking handler (not blocking here)
    mediator.dispatch(Pong{});
    dispatched = true;
  });
  std::thread writer([&] {
    auto sub = mediator.register_handler([](const Ping&) {});
    registered = true;
    sub.cancel();
    cancelled = true;
    other.cancel_and_wait();  // another handler: must not wait for the blocked call
    waited = true;
  });
  test_support::JoinGuard guard_dispatcher(dispatcher, [] {});
  test_support::JoinGuard guard_writer(writer, [] {});

  CHECK(eventually([&] { return dispatched && registered && cancelled && waited; }));
  CHECK(pings == 1);  // the second dispatch ran while the first is still blocked
  CHECK_FALSE(release.is_open());
}

TEST_CASE("two threads run handlers of one event type at the same time", "[concurrency]") {
  ev::EventMediator mediator;
  std::atomic<int> inside{0};
  std::atomic<bool> met{false};
  auto sub = mediator.register_handler([&](const Ping&) {
    ++inside;
    if (eventually([&] { return inside.load() >= 2; }, 5s)) met = true;
  });
  std::thread a([&] { mediator.dispatch(Ping{}); });
  std::thread b([&] { mediator.dispatch(Ping{}); });
  a.join();
  b.join();
  CHECK(met);
}

TEST_CASE("more dispatches in flight than reader slots still all run", "[concurrency]") {
  ev::EventMediator mediator;
  constexpr int threads = 40;  // more than one block of slots
  std::atomic<int> inside{0};
  std::atomic<int> met{0};
  auto sub = mediator.register_handler([&](const Ping&) {
    ++inside;
    if (eventually([&] { return inside.load() >= threads; }, 10s)) ++met;
  });
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) pool.emplace_back([&] { mediator.dispatch(Ping{}); });
  for (auto& t : pool) t.join();
  CHECK(met == threads);
}

TEST_CASE("cancel_and_wait waits for a call running on another thread", "[concurrency][teardown]") {
  ev::EventMediator mediator;
  Gate entered, release;
  std::atomic<bool> call_finished{false};
  auto sub = mediator.register_handler([&](const Ping&) {
    entered.open();
    release.wait();
    call_finished = true;
  });
  std::thread dispatcher([&] { mediator.dispatch(Ping{}); });
  test_support::JoinGuard guard(dispatcher, [&] { release.open(); });
  REQUIRE(entered.wait());

  std::atomic<bool> returned{false}, finished_when_returned{false};
  std::thread canceller([&] {
    sub.cancel_and_wait();
    finished_when_returned = call_finished.load();
    returned = true;
  });
  test_support::JoinGuard guard_canceller(canceller, [&] { release.open(); });
  std::this_thread::sleep_for(100ms);
  CHECK_FALSE(returned);  // still waiting for the running call
  release.open();
  CHECK(eventually([&] { return returned.load(); }));
  CHECK(finished_when_returned);
}

// Regression (hardening issue, item 1): after an earlier cancel(), cancel_and_wait() and the
// ScopedSubscription destructor returned at once while the call still ran, and freeing what
// the handler used was a heap-use-after-free (ASan).
TEST_CASE("cancel_and_wait waits for a running call also after an earlier cancel()", "[concurrency][teardown]") {
  ev::EventMediator mediator;
  Gate entered, release;
  std::atomic<bool> call_finished{false};
  auto state = std::make_unique<std::atomic<int>>(0);
  std::atomic<int>* used = state.get();
  std::optional<ev::ScopedSubscription> sub = ev::ScopedSubscription(mediator.register_handler([&, used](const Ping&) {
    entered.open();
    release.wait();
    ++*used;  // a use-after-free if the subscription's owner already freed it
    call_finished = true;
  }));
  std::thread dispatcher([&] { mediator.dispatch(Ping{}); });
  test_support::JoinGuard guard(dispatcher, [&] { release.open(); });
  REQUIRE(entered.wait());
  sub->cancel();  // e.g. the handler's owner stops it first, as the docs advise inside asio

  std::atomic<bool> returned{false}, finished_when_returned{false};
  std::thread owner([&] {
    sub.reset();  // ScopedSubscription's destructor: cancel_and_wait
    finished_when_returned = call_finished.load();
    returned = true;
    state.reset();  // what the handler used goes now
  });
  test_support::JoinGuard guard_owner(owner, [&] { release.open(); });
  std::this_thread::sleep_for(100ms);
  CHECK_FALSE(returned);  // still waiting for the running call
  release.open();
  CHECK(eventually([&] { return returned.load(); }));
  CHECK(finished_when_returned);
}

TEST_CASE("two cancel_and_wait calls at once both wait for the running call", "[concurrency][teardown]") {
  ev::EventMediator mediator;
  Gate entered, release;
  std::atomic<bool> call_finished{false};
  auto sub = mediator.register_handler([&](const Ping&) {
    entered.open();
    release.wait();
    call_finished = true;
  });
  std::thread dispatcher([&] { mediator.dispatch(Ping{}); });
  test_support::JoinGuard guard(dispatcher, [&] { release.open(); });
  REQUIRE(entered.wait());

  std::atomic<int> returned{0}, finished_when_returned{0};
  auto wait_for_it = [&] {
    sub.cancel_and_wait();
    if (call_finished.load()) ++finished_when_returned;
    ++returned;
  };
  std::thread first(wait_for_it);
  test_support::JoinGuard guard_first(first, [&] { release.open(); });
  std::this_thread::sleep_for(50ms);  // the first is waiting (the node is cancelled by now)
  std::thread second(wait_for_it);
  test_support::JoinGuard guard_second(second, [&] { release.open(); });
  std::this_thread::sleep_for(100ms);
  CHECK(returned == 0);  // neither returned while the call runs
  release.open();
  CHECK(eventually([&] { return returned.load() == 2; }));
  CHECK(finished_when_returned == 2);
}

TEST_CASE("plain cancel never waits for a call running on another thread", "[concurrency][teardown]") {
  ev::EventMediator mediator;
  Gate entered, release;
  auto sub = mediator.register_handler([&](const Ping&) {
    entered.open();
    release.wait();
  });
  std::thread dispatcher([&] { mediator.dispatch(Ping{}); });
  test_support::JoinGuard guard(dispatcher, [&] { release.open(); });
  REQUIRE(entered.wait());
  sub.cancel();  // returns at once although the call is still running
  CHECK_FALSE(sub.active());
  CHECK_FALSE(release.is_open());
}

TEST_CASE("cancel_and_wait inside the handler waits for the other threads' calls, not its own",
          "[concurrency][teardown]") {
  ev::EventMediator mediator;
  Gate b_entered, b_release;
  std::atomic<std::thread::id> thread_b{};
  std::atomic<bool> b_finished{false}, a_returned{false}, b_finished_when_a_returned{false};
  ev::Subscription sub;
  sub = mediator.register_handler([&](const Ping&) {
    if (std::this_thread::get_id() == thread_b.load()) {
      b_entered.open();
      b_release.wait();
      b_finished = true;
    } else {
      sub.cancel_and_wait();
      b_finished_when_a_returned = b_finished.load();
      a_returned = true;
    }
  });
  std::thread b([&] {
    thread_b = std::this_thread::get_id();
    mediator.dispatch(Ping{});
  });
  test_support::JoinGuard guard_b(b, [&] { b_release.open(); });
  REQUIRE(b_entered.wait());
  std::thread a([&] { mediator.dispatch(Ping{}); });
  test_support::JoinGuard guard_a(a, [&] { b_release.open(); });
  std::this_thread::sleep_for(100ms);
  CHECK_FALSE(a_returned);
  b_release.open();
  CHECK(eventually([&] { return a_returned.load(); }));
  CHECK(b_finished_when_a_returned);
}

TEST_CASE("objects used by handlers can be destroyed right after ScopedSubscription goes, under load",
          "[concurrency][teardown][stress]") {
  ev::EventMediator mediator;
  std::atomic<bool> stop{false};
  std::atomic<long> dispatched{0};
  std::vector<std::thread> dispatchers;
  for (int t = 0; t < 2; ++t) {
    dispatchers.emplace_back([&] {
      while (!stop) {
        mediator.dispatch(Ping{1});
        mediator.dispatch(Pong{1});
        ++dispatched;
      }
    });
  }
  std::atomic<long> calls{0};
  std::vector<std::thread> churners;
  for (int t = 0; t < 2; ++t) {
    churners.emplace_back([&] {
      for (int i = 0; i < 300; ++i) {
        auto state = std::make_unique<std::atomic<int>>(0);
        {
          ev::ScopedSubscription exact = mediator.register_handler([s = state.get()](const Ping&) { ++*s; });
          ev::ScopedSubscription all =
              mediator.register_handler([s = state.get()](const ev::AbstractDomainEvent&) { ++*s; });
          std::this_thread::yield();
        }  // both handlers are gone and no call of theirs is running: `state` may go
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
}

TEST_CASE("registrations from many threads all land, in a consistent state", "[concurrency]") {
  ev::EventMediator mediator;
  std::atomic<long> background{0};
  std::atomic<bool> stop{false};
  std::thread dispatcher([&] {
    while (!stop) {
      mediator.dispatch(Ping{});
      ++background;
    }
  });
  constexpr int threads = 4, per_thread = 200;
  std::atomic<int> calls{0};
  std::vector<std::vector<ev::Subscription>> kept(threads);
  std::vector<std::thread> writers;
  for (int t = 0; t < threads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        auto temporary = mediator.register_handler([](const Ping&) {});
        kept[static_cast<std::size_t>(t)].push_back(mediator.register_handler([&](const Ping&) { ++calls; }));
        temporary.cancel();
      }
    });
  }
  for (auto& w : writers) w.join();
  stop = true;
  dispatcher.join();
  calls = 0;
  mediator.dispatch(Ping{});
  CHECK(calls == threads * per_thread);
}

TEST_CASE("a handler cancelled while a blocked dispatch has yet to reach it is skipped, its closure outliving that dispatch",
          "[concurrency][teardown]") {
  ev::EventMediator mediator;
  Gate entered, release;
  std::atomic<bool> b_called{false};
  auto state = std::make_shared<std::atomic<int>>(0);
  const std::weak_ptr<std::atomic<int>> b_state = state;
  auto a = mediator.register_handler([&](const Ping&) {
    entered.open();
    release.wait();
  });
  auto b = mediator.register_handler([&, state = std::move(state)](const Ping&) {
    ++*state;  // a use-after-free (ASan) if the closure went while the dispatch still reads it
    b_called = true;
  });
  std::thread dispatcher([&] { mediator.dispatch(Ping{}); });
  test_support::JoinGuard guard(dispatcher, [&] { release.open(); });
  REQUIRE(entered.wait());
  b.cancel();
  // Writes, each freeing what no dispatch can read any more.
  for (int i = 0; i < 10; ++i) mediator.register_handler([](const Ping&) {}).cancel();
  CHECK_FALSE(b_state.expired());  // the blocked dispatch's list still names b
  release.open();
  dispatcher.join();
  CHECK_FALSE(b_called);
  mediator.register_handler([](const Pong&) {}).cancel();  // a write
  CHECK(b_state.expired());
}

TEST_CASE("a blocked dispatch keeps only the handlers its list names: others' closures go at once when cancelled",
          "[concurrency][teardown]") {
  ev::EventMediator mediator;
  Gate entered, release;
  auto blocker = mediator.register_handler([&](const Ping&) {
    entered.open();
    release.wait();
  });
  std::thread dispatcher([&] { mediator.dispatch(Ping{}); });
  test_support::JoinGuard guard(dispatcher, [&] { release.open(); });
  REQUIRE(entered.wait());
  // The blocked dispatch's list is replaced (and retired) while it reads it.
  auto later = mediator.register_handler([](const Ping&) {});
  later.cancel();
  auto state = std::make_shared<int>(0);
  const std::weak_ptr<int> watched = state;
  auto other = mediator.register_handler([state = std::move(state)](const Pong&) { ++*state; });
  mediator.dispatch(Pong{});
  other.cancel();
  CHECK(watched.expired());  // no list the blocked dispatch holds names it
  release.open();
}

TEST_CASE("register, cancel and dispatch hammered from several threads free no handler while it runs",
          "[concurrency][teardown][stress]") {
  ev::EventMediator mediator;
  std::atomic<bool> stop{false};
  std::atomic<long> dispatched{0};
  auto keep = mediator.register_handler([](const Ping&) {});  // lists never empty
  std::vector<std::thread> dispatchers;
  for (int t = 0; t < 2; ++t) {
    dispatchers.emplace_back([&, t] {
      while (!stop) {
        if (t == 0) {
          mediator.dispatch(Ping{1});
        } else {
          mediator.dispatch(Pong{1});
        }
        ++dispatched;
      }
    });
  }
  std::vector<std::thread> churners;
  for (int t = 0; t < 3; ++t) {
    churners.emplace_back([&, t] {
      std::vector<ev::Subscription> live;
      for (int i = 0; i < 400; ++i) {
        // Each closure owns its state: freeing the node while a dispatch runs it is a
        // use-after-free (ASan) or a race (TSan).
        auto exact = std::make_unique<std::atomic<int>>(0);
        live.push_back(mediator.register_handler([s = std::move(exact)](const Ping&) { ++*s; }));
        if (i % 3 == t) {
          auto family = std::make_unique<std::atomic<int>>(0);  // both dispatchers call it
          live.push_back(mediator.register_handler([s = std::move(family)](const ev::AbstractDomainEvent&) { ++*s; }));
        }
        if (live.size() > 4) {
          // Out of registration order, plain cancel and cancel_and_wait mixed.
          const std::size_t victim = static_cast<std::size_t>(i) % live.size();
          if (i % 2 == 0) {
            live[victim].cancel();
          } else {
            live[victim].cancel_and_wait();
          }
          live.erase(live.begin() + static_cast<std::ptrdiff_t>(victim));
        }
      }
      for (auto& sub : live) sub.cancel();
    });
  }
  for (auto& t : churners) t.join();
  stop = true;
  for (auto& t : dispatchers) t.join();
  CHECK(dispatched > 0);
  std::atomic<int> calls{0};
  auto last = mediator.register_handler([&](const Ping&) { ++calls; });
  mediator.dispatch(Ping{});
  CHECK(calls == 1);  // only the handlers still registered run
}
