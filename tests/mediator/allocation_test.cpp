// Synchronous dispatch allocates nothing once the event type has been dispatched once.
// This file replaces the global operator new of the mediator_test program to count.

#include <spakky/event/mediator/event_mediator.hpp>

#include "support/events.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <new>

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SPAKKY_TEST_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SPAKKY_TEST_SANITIZED 1
#endif

// Sanitizers own operator new: the counts are taken in the plain g++ and clang++ builds.
#if !defined(SPAKKY_TEST_SANITIZED)

// NOTE: g++ 12 sees our malloc/free pairs through inlining and misreads them as mismatched.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace {
std::atomic<long> allocations{0};
}

void* operator new(std::size_t size) {
  ++allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) {
  ++allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t size, std::align_val_t align) {
  ++allocations;
  if (void* p = std::aligned_alloc(static_cast<std::size_t>(align), (size + static_cast<std::size_t>(align) - 1) &
                                                                      ~(static_cast<std::size_t>(align) - 1)))
    return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace ev = spakky::event;
using namespace test_events;

TEST_CASE("dispatch allocates nothing once the type has been dispatched", "[mediator][allocation]") {
  ev::EventMediator mediator;
  int calls = 0;
  std::vector<ev::Subscription> subs;
  for (int i = 0; i < 10; ++i) subs.push_back(mediator.register_handler([&](const Ping& p) { calls += p.value; }));
  subs.push_back(mediator.register_handler([&](const ev::AbstractEvent&) { ++calls; }));
  const Ping ping{1};
  const Pong pong{1};
  mediator.dispatch(ping);  // first sight of each type may allocate
  mediator.dispatch(pong);

  const long before = allocations.load();
  for (int i = 0; i < 1000; ++i) {
    mediator.dispatch(ping);
    mediator.dispatch(pong);  // no exact handlers: only the catch-all
  }
  const long during = allocations.load() - before;
  CHECK(during == 0);
  CHECK(calls == 11 * 1001 + 1001);
}

TEST_CASE("dispatch_with_outcome allocates nothing when every handler succeeds", "[mediator][allocation]") {
  ev::EventMediator mediator;
  auto sub = mediator.register_handler([](const Ping&) {});
  const Ping ping{1};
  (void)mediator.dispatch_with_outcome(ping);
  const long before = allocations.load();
  for (int i = 0; i < 100; ++i) CHECK(mediator.dispatch_with_outcome(ping).handlers_run == 1);
  CHECK(allocations.load() - before == 0);
}

#endif  // !SPAKKY_TEST_SANITIZED
