#pragma once
/// @file
/// EventMediator: the in-process, type-indexed dispatcher of events to handlers.

#include <spakky/event/detail/handler_registry.hpp>
#include <spakky/event/detail/lean_std.hpp>
#include <spakky/event/dispatch_outcome.hpp>
#include <spakky/event/event_consumer.hpp>
#include <spakky/event/event_dispatcher.hpp>
#include <spakky/event/mediator/error_handler.hpp>

#include <typeinfo>
#include <utility>

namespace spakky::event {

/// Registers handlers and dispatches events to them, in process.
///
/// - `dispatch` calls the handlers of the event's exact dynamic type in registration order,
///   then the catch-alls of its family; it takes no lock and, once the event type has been
///   dispatched, allocates nothing.
/// - A handler that throws is reported to the error handler; the others still run.
/// - Registering and cancelling are safe from any thread, also from inside handlers, and
///   never wait for a dispatch on another thread.
///
/// **Example**
/// @code
/// spakky::event::EventMediator mediator;
/// spakky::event::ScopedSubscription sub =
///     mediator.register_handler([](const UserCreated& e) { std::puts(e.username.c_str()); });
/// mediator.dispatch(UserCreated{"u-1", "kim"});
/// @endcode
class EventMediator final : public IEventDispatcher, public IEventConsumer {  // dispatcher first: no this-adjusting thunk on dispatch
public:
  EventMediator()
      : registry_(reinterpret_cast<detail::ErasedFn>(&skip)) {
    registry_->set_failure_context(&failures_);
    registry_->watch_metrics_observer();
  }
  EventMediator(const EventMediator&) = delete;
  EventMediator& operator=(const EventMediator&) = delete;
  ~EventMediator() override = default;

  using IEventConsumer::register_handler;

  Subscription subscribe(ErasedEventHandler handler) override {
    return detail::subscribe(registry_, std::move(handler));
  }

  void dispatch(const AbstractEvent& event) override {
    // No observer test here: while one is installed, find_first_probe finds nothing, and
    // dispatch_slow reports.
    // (`this` is not needed past this load: the registry goes to the callees in its register.)
    detail::HandlerRegistry& registry = *registry_;
    const detail::Channel* channel = registry.find_first_probe(typeid(event));
    if (channel == nullptr) [[unlikely]] return dispatch_slow(registry, event);
    detail::HandlerList* list = channel->list.load(std::memory_order_acquire);
    if (list == nullptr) return;
    run_handlers(registry, event, list, *channel);
  }

  /// dispatch(), reporting how many handlers ran and failed, and the first failure.
  DispatchOutcome dispatch_with_outcome(const AbstractEvent& event) {
    if (MetricsObserver* observer = registry_->metrics_observer()) observer->on_dispatched(event);
    DispatchOutcome outcome;
    const detail::Channel* channel = registry_->channel_for(event);
    if (detail::HandlerList* list = channel->list.load(std::memory_order_acquire)) {
      run<true>(*registry_, *channel, list, event, &outcome);
    }
    return outcome;
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
  using Invoke = void (*)(const detail::HandlerNode*, const AbstractEvent&);

  // A type not found at its first probe, or any type while an observer is installed: reports
  // to the observer, then probes on, or creates (or aliases) the type's channel.
  [[gnu::noinline]] static void dispatch_slow(detail::HandlerRegistry& registry, const AbstractEvent& event) {
    if (MetricsObserver* observer = registry.metrics_observer()) observer->on_dispatched(event);
    // The real table (the observed path comes here for known types too), then the creating way.
    const detail::Channel* channel = registry.find(typeid(event));
    if (channel == nullptr) channel = registry.channel_for(event);
    if (detail::HandlerList* list = channel->list.load(std::memory_order_acquire)) {
      run_handlers(registry, event, list, *channel);
    }
  }

  // What a cancelled handler's thunk becomes: calling it is cheaper than testing a flag.
  static void skip(const detail::HandlerNode*, const AbstractEvent&) noexcept {}

  // Out of line so that the no-handler path above needs no stack frame. Static, and the list
  // null-terminated, so that the loop keeps only the event, the slot and its position in
  // callee-saved registers (the failure path finds the FailureSink through the slot).
  [[gnu::noinline]] static void run_handlers(detail::HandlerRegistry& registry, const AbstractEvent& event,
                                             detail::HandlerList* seen, const detail::Channel& channel) {
    if (seen == nullptr) __builtin_unreachable();  // dispatch checked
    run<false>(registry, channel, seen, event, nullptr);
  }

  template <bool Report>
  [[gnu::always_inline]] static inline void run(detail::HandlerRegistry& registry, const detail::Channel& channel,
                                                detail::HandlerList* seen, const AbstractEvent& event,
                                                DispatchOutcome* outcome) {
    detail::HandlerRegistry::ReadGuard guard(registry, channel, seen);
    const detail::HandlerList* list = guard.list();
    if (list == nullptr) return;
    detail::HandlerNode* const* it = list->begin();
    detail::HandlerNode* node = *it;  // a published list is never empty
    do {
      guard.enter(node);
      const detail::ErasedFn erased = node->invoke.load(
          detail::AsymmetricFence::supported ? std::memory_order_relaxed : std::memory_order_seq_cst);
      if constexpr (Report) {
        // Compared with the registry's marker: another library's copy of skip has another address.
        if (erased == registry.cancelled_marker()) continue;
        ++outcome->handlers_run;
      }
      try {
        reinterpret_cast<Invoke>(erased)(node, event);
      } catch (...) {
        report_failure(&guard.slot(), event, outcome);
      }
    } while ((node = *++it) != nullptr);
  }

  // The failure path, out of line: the handler loop above keeps few registers.
  // (The slot by pointer, not the guard by reference: the guard stays in registers.)
  [[gnu::noinline, gnu::cold]] static void report_failure(detail::ReaderSlot* slot, const AbstractEvent& event,
                                                          DispatchOutcome* outcome) noexcept {
    // The error handler is not the handler: cancel_and_wait need not wait for it.
    detail::HandlerRegistry::ReadGuard::leave(*slot);
    const auto* failures = static_cast<const detail::FailureSink*>(detail::HandlerRegistry::failure_context_of(*slot));
    failures->report(event, std::current_exception(), outcome);
  }

  detail::OwnedTarget<detail::HandlerRegistry> registry_;
  detail::FailureSink failures_;
};

}  // namespace spakky::event
