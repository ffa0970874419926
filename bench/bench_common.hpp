#pragma once
/// @file
/// What the dispatch benchmarks share: the event types, the handler body, and the helpers
/// (defined in dispatch_targets.cpp, another translation unit) through which every
/// dispatch is made.
///
/// Every column calls its dispatcher from a [[gnu::noinline]] helper in
/// dispatch_targets.cpp, which only sees the interfaces (IEventDispatcher, IEventPublisher)
/// and the peers' signal types: nothing can be devirtualized or inlined into the caller,
/// and every column pays the same call overhead. The helpers take a count and run the
/// dispatch in a loop, so the per-call cost of reaching the helper is amortized.

#include <spakky/event/event.hpp>

#include <boost/signals2/signal.hpp>
#include <sigc++/signal.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace spakky::event {
class IEventConsumer;
class IEventDispatcher;
class IEventPublisher;
}  // namespace spakky::event

namespace bench {

/// The event every dispatch benchmark sends: a domain event carrying one int.
struct Ping final : spakky::event::AbstractDomainEvent {
  explicit Ping(int v) : value(v) {}
  int value;
};

/// An event type no handler is registered for.
struct Unheard final : spakky::event::AbstractDomainEvent {
  explicit Unheard(int v) : value(v) {}
  int value;
};

/// Where every handler adds the event's int field. Per thread (no cache line shared by two
/// dispatching threads) and volatile (the add cannot be dropped or merged).
inline constinit thread_local volatile std::int64_t sink = 0;

/// The handler body used by every column.
struct AddToSink {
  void operator()(const Ping& e) const noexcept { sink = sink + e.value; }
};

using FunctionLoop = std::vector<std::function<void(const Ping&)>>;
using Signals2Signal = boost::signals2::signal<void(const Ping&)>;
using SigcSignal = sigc::signal<void(const Ping&)>;

// ---- dispatch helpers: each makes `n` dispatches of `event` ---------------------------------
[[gnu::noinline]] void mediator_dispatch_n(spakky::event::IEventDispatcher& dispatcher,
                                           const spakky::event::AbstractEvent& event, std::int64_t n);
[[gnu::noinline]] void publisher_publish_n(spakky::event::IEventPublisher& publisher,
                                           const spakky::event::AbstractEvent& event, std::int64_t n);
[[gnu::noinline]] void function_loop_n(const FunctionLoop& handlers, const Ping& event, std::int64_t n);
[[gnu::noinline]] void signals2_n(Signals2Signal& signal, const Ping& event, std::int64_t n);
[[gnu::noinline]] void sigc_n(SigcSignal& signal, const Ping& event, std::int64_t n);
/// The same loop with an empty body: what the callgrind figures subtract.
[[gnu::noinline]] void empty_loop_n(std::int64_t n);

// ---- registration helpers: each registers one handler and cancels it, `n` times ------------
[[gnu::noinline]] void mediator_register_cancel_n(spakky::event::IEventConsumer& consumer, std::int64_t n);
[[gnu::noinline]] void mediator_register_cancel_and_wait_n(spakky::event::IEventConsumer& consumer,
                                                           std::int64_t n);
[[gnu::noinline]] void signals2_connect_disconnect_n(Signals2Signal& signal, std::int64_t n);
[[gnu::noinline]] void sigc_connect_disconnect_n(SigcSignal& signal, std::int64_t n);

}  // namespace bench
