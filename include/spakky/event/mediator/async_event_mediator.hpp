#pragma once
/// @file
/// AsyncEventMediator: EventMediator for coroutine handlers, awaited one after another.

#include <spakky/event/async_event_consumer.hpp>
#include <spakky/event/async_event_dispatcher.hpp>
#include <spakky/event/detail/handler_registry.hpp>
#include <spakky/event/detail/lean_memory.hpp>
#include <spakky/event/detail/lean_std.hpp>
#include <spakky/event/dispatch_outcome.hpp>
#include <spakky/event/mediator/error_handler.hpp>
#include <spakky/event/task.hpp>

#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace spakky::event {

/// Registers coroutine handlers and dispatches events to them; `Awaitable` is the coroutine
/// type of handlers and of every operation (Task<> by default, or e.g. asio::awaitable<void>).
///
/// Routing, ordering, failure isolation and thread safety are EventMediator's, from the same
/// registry. A dispatch holds its place in the registry while it is suspended, so a handler
/// cancelled meanwhile keeps its closure until the call finishes, and cancel_and_wait waits
/// for suspended calls too, whichever thread started them. Called from inside a Task handler
/// itself, on whatever thread it resumed, cancel_and_wait does not wait for its own call (a Task
/// knows the chain of coroutines it runs in). Other coroutine types (asio::awaitable) do not
/// tell us that: inside such a handler, call cancel(), not cancel_and_wait(), on its own
/// subscription. NOTE: a thread blocked in cancel_and_wait cannot resume anything: on the only
/// thread of an event loop that runs the handler, call cancel().
///
/// **Example**
/// @code
/// AsyncEventMediator<> mediator;
/// auto sub = mediator.register_handler([](const UserCreated& e) -> Task<> { co_await mail(e); });
/// sync_wait(mediator.dispatch(event));
/// @endcode
template <class Awaitable = Task<>>
class AsyncEventMediator final : public IAsyncEventDispatcher<Awaitable>, public IAsyncEventConsumer<Awaitable> {
public:
  /// The awaitable of dispatch_with_outcome.
  using OutcomeAwaitable = rebind_awaitable_t<Awaitable, DispatchOutcome>;

  AsyncEventMediator()
      : registry_(reinterpret_cast<detail::ErasedFn>(&never_called)) {}
  AsyncEventMediator(const AsyncEventMediator&) = delete;
  AsyncEventMediator& operator=(const AsyncEventMediator&) = delete;
  ~AsyncEventMediator() override = default;

  using IAsyncEventConsumer<Awaitable>::register_handler;
  using IAsyncEventDispatcher<Awaitable>::dispatch;

  /// Registers a type-erased handler (register_handler() makes one from a callable).
  Subscription subscribe(BasicErasedHandler<Awaitable> handler) override {
    return detail::subscribe(registry_, std::move(handler));
  }

  Awaitable dispatch(const AbstractEvent& event) override { return run(event, nullptr); }

  /// dispatch(), reporting how many handlers ran and failed, and the first failure.
  OutcomeAwaitable dispatch_with_outcome(const AbstractEvent& event) {
    DispatchOutcome outcome;
    co_await run(event, &outcome);
    co_return outcome;
  }

  /// dispatch_with_outcome(), keeping the event alive until the awaitable completes (a broker
  /// consumer that spawns the dispatch and acknowledges when it is done).
  OutcomeAwaitable dispatch_with_outcome(std::shared_ptr<const AbstractEvent> event) {
    if (!event) throw std::invalid_argument("dispatch_with_outcome: null event");
    co_return co_await dispatch_with_outcome(*event);
  }

  /// Where handler failures go; an empty handler restores the default (an error record in the
  /// library's log, observability/log_record.hpp). The metrics observer hears of them either way.
  void set_error_handler(ErrorHandler handler) { failures_.set(std::move(handler)); }

  /// Forgets the event types and handlers of the module (shared library) that holds
  /// `address_in_module` (any function or object of it), so that it can be unloaded: call it
  /// after cancelling the module's subscriptions and before `dlclose`. It waits until no
  /// dispatch still reads the module's handlers. Without it, an unloaded module's types stay
  /// keyed by dangling type_info addresses, which a later module may reuse. Throws EventError
  /// (changing nothing) while a handler registered from the module is still registered.
  void forget_module(const void* address_in_module) {
    registry_->forget_module(detail::ModuleRanges::containing(address_in_module));
  }

private:
  using Invoke = Awaitable (*)(const detail::HandlerNode*, const AbstractEvent&);

  // The cancelled marker: compared with, never called.
  static Awaitable never_called(const detail::HandlerNode*, const AbstractEvent&) { std::abort(); }

  Awaitable run(const AbstractEvent& event, DispatchOutcome* outcome) {
    if constexpr (std::is_same_v<Awaitable, Task<>>) {
      return run_tasks(event, outcome);
    } else {
      return run_any(event, outcome);
    }
  }

  // The dispatch loop for Task<> handlers. Handlers that finish without suspending (the usual
  // case) are called and finished by call_until_suspended, a plain loop; this coroutine only
  // awaits those that suspend, and keeps the reader slot meanwhile.
  Awaitable run_tasks(const AbstractEvent& event, DispatchOutcome* outcome) {
    if (MetricsObserver* observer = metrics_observer()) observer->on_dispatched(event);
    const detail::Channel* channel = registry_->channel_for(event);
    detail::HandlerList* seen = channel->list.load(std::memory_order_acquire);
    if (seen == nullptr) co_return;
    detail::HandlerRegistry::AsyncReadGuard guard(*registry_, *channel, seen);
    if (guard.list() == nullptr) co_return;
    detail::HandlerNode* const* next = guard.list()->begin();
    for (;;) {
      Awaitable pending = call_until_suspended(guard, next, event, outcome);
      if (!pending.valid()) break;
      std::exception_ptr failure;
      try {
        co_await detail::TaskAccess::await_started(pending);
      } catch (...) {
        failure = std::current_exception();  // no co_await in a handler: report below
      }
      if (failure) {
        guard.leave();
        failures_.report(event, failure, outcome);
      }
    }
  }

  // Calls the handlers from `next` on, each finished inline while it does not suspend; returns
  // the first that suspended (started, `next` past it), or an empty task at the list's end.
  Awaitable call_until_suspended(detail::HandlerRegistry::AsyncReadGuard& guard, detail::HandlerNode* const*& next,
                                 const AbstractEvent& event, DispatchOutcome* outcome) {
    detail::HandlerNode* const* at = next;
    detail::HandlerNode* const* const end = guard.list()->end();
    const detail::ErasedFn cancelled = registry_->cancelled_marker();
    // The chain this dispatch runs in: a handler started here joins it.
    const void* const chain = detail::current_coroutine_chain();
    guard.running_here(chain);  // no handler here suspends: the thread and chain stay
    detail::InlineCompletion done;
    while (at != end) {
      detail::HandlerNode* node = *at++;
      guard.enter(node);
      const detail::ErasedFn erased = node->invoke.load(std::memory_order_seq_cst);
      if (erased == cancelled) continue;
      if (outcome != nullptr) ++outcome->handlers_run;
      try {
        Awaitable call = reinterpret_cast<Invoke>(erased)(node, event);
        if (!detail::TaskAccess::start_inline(call, chain, done)) [[unlikely]] {
          next = at;
          return call;
        }
      } catch (...) {
        done.error = std::current_exception();  // the call itself threw, or a misused task
      }
      if (done.error) [[unlikely]] {
        guard.leave();
        failures_.report(event, std::exchange(done.error, nullptr), outcome);
      }
    }
    next = at;
    return Awaitable();
  }

  // The one dispatch loop of other coroutine types, itself a coroutine of type Awaitable so
  // that it can await the handlers whatever coroutine type they are.
  Awaitable run_any(const AbstractEvent& event, DispatchOutcome* outcome) {
    if (MetricsObserver* observer = metrics_observer()) observer->on_dispatched(event);
    const detail::Channel* channel = registry_->channel_for(event);
    detail::HandlerList* seen = channel->list.load(std::memory_order_acquire);
    if (seen == nullptr) co_return;
    detail::HandlerRegistry::AsyncReadGuard guard(*registry_, *channel, seen);
    if (guard.list() == nullptr) co_return;
    for (detail::HandlerNode* node : *guard.list()) {
      guard.running_here(detail::current_coroutine_chain());  // each await may resume elsewhere
      guard.enter(node);
      const detail::ErasedFn erased = node->invoke.load(std::memory_order_seq_cst);
      if (erased == registry_->cancelled_marker()) continue;
      if (outcome != nullptr) ++outcome->handlers_run;
      std::exception_ptr failure;
      try {
        // NOTE: the call and the co_await are two statements on purpose: g++ 12 miscompiles a
        // co_await and a capturing lambda in one full-expression (double free); keep them apart.
        Awaitable call = reinterpret_cast<Invoke>(erased)(node, event);
        co_await std::move(call);
      } catch (...) {
        failure = std::current_exception();  // no co_await in a handler: report below
      }
      if (failure) {
        guard.leave();
        failures_.report(event, failure, outcome);
      }
    }
  }

  detail::OwnedTarget<detail::HandlerRegistry> registry_;
  detail::FailureSink failures_;
};

}  // namespace spakky::event
