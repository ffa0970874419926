#pragma once
/// @file
/// The objects the benchmarks dispatch through, built once per handler count and shared
/// by dispatch_bench (Google Benchmark) and dispatch_count (run under callgrind).

#include "bench_common.hpp"

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

}  // namespace bench
