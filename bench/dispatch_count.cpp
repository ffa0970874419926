// A plain program for instruction counting under callgrind (see callgrind.sh):
//
//   dispatch_count <handlers> <iterations> <mode>
//
// builds the dispatchers with <handlers> handlers, makes kWarmUp dispatches, then
// <iterations> dispatches, all through the [[gnu::noinline]] helpers of dispatch_targets.cpp.
// Running it twice with different <iterations> and subtracting the instruction totals gives
// the instructions of (difference) dispatches, without start-up, set-up and tear-down.
//
// Modes: empty_loop (the loop alone, subtracted from every figure), mediator, publisher, function_loop, signals2, sigc (the event has <handlers>
// handlers), mediator_no_handlers (an event type with no handler, dispatched before;
// <handlers> handlers exist for another type), function_loop_no_handlers (an empty vector);
// async_mediator (AsyncEventMediator<Task<>> with <handlers> AddToSinkAsync handlers, every
// dispatch co_awaited in one Task<> loop under one sync_wait), async_sync_wait (the same
// mediator, one sync_wait per dispatch); mediator_register_cancel, signals2_connect_disconnect,
// sigc_connect_disconnect (one registration and its cancellation per iteration, with <handlers>
// handlers present); mediator_empty_observer (mediator, with a MetricsObserver that overrides
// nothing installed: what an installed observer costs; `mediator` itself has none installed).

#include "bench_common.hpp"
#include "fixtures.hpp"

#include <spakky/event/observability/metrics.hpp>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string_view>

namespace {

constexpr std::int64_t kWarmUp = 100;

void run(bench::Fixture& f, bench::AsyncFixture* async, std::string_view mode, std::int64_t n) {
  using namespace bench;
  if (async != nullptr && mode == "async_mediator") {
    async_dispatch_n(async->mediator, async->ping, n);
  } else if (async != nullptr && mode == "async_sync_wait") {
    async_sync_wait_n(async->mediator, async->ping, n);
  } else if (mode == "mediator") {
    mediator_dispatch_n(f.mediator, f.ping, n);
  } else if (mode == "publisher") {
    publisher_publish_n(f.publisher, f.ping, n);
  } else if (mode == "function_loop") {
    function_loop_n(f.loop, f.ping, n);
  } else if (mode == "signals2") {
    signals2_n(f.signals2, f.ping, n);
  } else if (mode == "sigc") {
    sigc_n(f.sigc, f.ping, n);
  } else if (mode == "mediator_empty_observer") {
    static spakky::event::MetricsObserver empty;  // overrides nothing
    const spakky::event::ScopedMetricsObserver installed(empty);
    mediator_dispatch_n(f.mediator, f.ping, n);
  } else if (mode == "mediator_no_handlers") {
    mediator_dispatch_n(f.mediator, f.unheard, n);
  } else if (mode == "empty_loop") {
    empty_loop_n(n);
  } else if (mode == "mediator_register_cancel") {
    mediator_register_cancel_n(f.mediator, n);
  } else if (mode == "signals2_connect_disconnect") {
    signals2_connect_disconnect_n(f.signals2, n);
  } else if (mode == "sigc_connect_disconnect") {
    sigc_connect_disconnect_n(f.sigc, n);
  } else if (mode == "function_loop_no_handlers") {
    static const FunctionLoop empty;
    function_loop_n(empty, f.ping, n);
  } else {
    std::fprintf(stderr, "dispatch_count: unknown mode '%.*s'\n", static_cast<int>(mode.size()), mode.data());
    std::exit(2);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr,
                 "usage: %s <handlers> <iterations> <mode>\n"
                 "modes: empty_loop mediator mediator_empty_observer publisher function_loop signals2 sigc mediator_no_handlers "
                 "function_loop_no_handlers async_mediator async_sync_wait mediator_register_cancel "
                 "signals2_connect_disconnect sigc_connect_disconnect\n",
                 argv[0]);
    return 2;
  }
  const int handlers = std::atoi(argv[1]);
  const std::int64_t iterations = std::atoll(argv[2]);
  const std::string_view mode = argv[3];
  if (handlers < 0 || iterations < 0) {
    std::fprintf(stderr, "dispatch_count: handlers and iterations must be >= 0\n");
    return 2;
  }

  bench::Fixture fixture(handlers);
  std::optional<bench::AsyncFixture> async;
  if (mode.starts_with("async_")) async.emplace(handlers);
  const std::int64_t before = bench::sink;
  run(fixture, async ? &*async : nullptr, mode, kWarmUp);
  run(fixture, async ? &*async : nullptr, mode, iterations);

  // Each handler adds the event's value (1) per dispatch: check that every handler ran.
  const bool dispatches = !mode.ends_with("_no_handlers") && mode != "empty_loop" && !mode.ends_with("_cancel") &&
                          !mode.ends_with("_disconnect");
  const std::int64_t expected = dispatches ? (kWarmUp + iterations) * handlers : 0;
  const std::int64_t got = bench::sink - before;
  if (got != expected) {
    std::fprintf(stderr, "dispatch_count: handlers ran %lld times, expected %lld\n", static_cast<long long>(got),
                 static_cast<long long>(expected));
    return 1;
  }
  return 0;
}
