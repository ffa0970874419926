#pragma once
/// @file
/// The objects the benchmarks dispatch through, built once per handler count and shared
/// by dispatch_bench and async_bench (Google Benchmark) and dispatch_count (run under callgrind).

#include "async_common.hpp"
#include "bench_common.hpp"

#include <spakky/event/mediator/async_event_mediator.hpp>
#include <spakky/event/mediator/event_mediator.hpp>
#include <spakky/event/publisher/event_publisher.hpp>

#include <vector>

namespace bench {

/// `handlers` copies of AddToSink registered with each dispatcher, and each event type
/// dispatched once (so the mediator has seen both Ping and Unheard before any measurement).
struct Fixture {
  explicit Fixture(int handlers) : publisher(mediator) {
    for (int i = 0; i < handlers; ++i) {
      subscriptions.push_back(mediator.register_handler<Ping>(AddToSink{}));
      loop.emplace_back(AddToSink{});
      signals2.connect(AddToSink{});
      sigc.connect(AddToSink{});
    }
    mediator_dispatch_n(mediator, ping, 1);
    mediator_dispatch_n(mediator, unheard, 1);
  }
  Fixture(const Fixture&) = delete;
  Fixture& operator=(const Fixture&) = delete;

  spakky::event::EventMediator mediator;
  spakky::event::EventPublisher publisher;
  std::vector<spakky::event::ScopedSubscription> subscriptions;
  FunctionLoop loop;
  Signals2Signal signals2;
  SigcSignal sigc;
  const Ping ping{1};
  const Unheard unheard{1};
};

/// `handlers` AddToSinkAsync handlers on an AsyncEventMediator<Task<>> (async_bench and the
/// async_* modes of dispatch_count), and Ping dispatched once through each helper.
struct AsyncFixture {
  explicit AsyncFixture(int handlers) {
    for (int i = 0; i < handlers; ++i) subscriptions.push_back(mediator.register_handler<Ping>(AddToSinkAsync{}));
    async_dispatch_n(mediator, ping, 1);
    async_sync_wait_n(mediator, ping, 1);
  }
  AsyncFixture(const AsyncFixture&) = delete;
  AsyncFixture& operator=(const AsyncFixture&) = delete;

  spakky::event::AsyncEventMediator<> mediator;
  std::vector<spakky::event::ScopedSubscription> subscriptions;
  const Ping ping{1};
};

}  // namespace bench
