#pragma once
/// @file
/// EventMediator: the in-process, type-indexed dispatcher of events to handlers.

#include <spakky/event/detail/handler_registry.hpp>
#include <spakky/event/dispatch_outcome.hpp>
#include <spakky/event/event_consumer.hpp>
#include <spakky/event/event_dispatcher.hpp>
#include <spakky/event/mediator/error_handler.hpp>

#include <memory>
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
      : registry_(std::make_shared<detail::HandlerRegistry>(reinterpret_cast<detail::ErasedFn>(&skip))) {}
  EventMediator(const EventMediator&) = delete;
  EventMediator& operator=(const EventMediator&) = delete;
  ~EventMediator() override = default;

  using IEventConsumer::register_handler;

  Subscription subscribe(ErasedEventHandler handler) override {
    return detail::subscribe(registry_, std::move(handler));
  }

  void dispatch(const AbstractEvent& event) override {
    detail::HandlerRegistry& registry = *registry_;
    const detail::Channel* channel = registry.find(typeid(event));
    if (channel == nullptr) [[unlikely]] return dispatch_first(event);
    detail::HandlerList* list = channel->list.load(std::memory_order_acquire);
    if (list == nullptr) return;
    if (registry.asymmetric()) [[likely]] {
      run_handlers<true>(*channel, list, event);
    } else {
      run_handlers<false>(*channel, list, event);
    }
  }

  // The first dispatch of a type through this type_info: creates or aliases its channel.
  [[gnu::noinline]] void dispatch_first(const AbstractEvent& event) {
    registry_->channel_for(event);
    dispatch(event);
  }

  /// dispatch(), reporting how many handlers ran and failed, and the first failure.
  DispatchOutcome dispatch_with_outcome(const AbstractEvent& event) {
    DispatchOutcome outcome;
    const detail::Channel* channel = registry_->channel_for(event);
    if (detail::HandlerList* list = channel->list.load(std::memory_order_acquire)) {
      if (registry_->asymmetric()) {
        run<true, true>(*channel, list, event, &outcome);
      } else {
        run<true, false>(*channel, list, event, &outcome);
      }
    }
    return outcome;
  }

  /// Where handler failures go; an empty handler restores the default (one line on stderr).
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

  // What a cancelled handler's thunk becomes: calling it is cheaper than testing a flag.
  static void skip(const detail::HandlerNode*, const AbstractEvent&) noexcept {}

  // Out of line so that the no-handler path above needs no stack frame.
  template <bool Asymmetric>
  [[gnu::noinline]] void run_handlers(const detail::Channel& channel, detail::HandlerList* seen,
                                      const AbstractEvent& event) {
    run<false, Asymmetric>(channel, seen, event, nullptr);
  }

  template <bool Report, bool Asymmetric>
  [[gnu::always_inline]] inline void run(const detail::Channel& channel, detail::HandlerList* seen, const AbstractEvent& event,
           DispatchOutcome* outcome) {
    detail::HandlerRegistry::ReadGuard guard(*registry_, channel, seen);
    const detail::HandlerList* list = guard.list();
    if (list == nullptr) return;
    for (detail::HandlerNode* node : *list) {
      guard.template enter<Asymmetric>(node);
      const detail::ErasedFn erased =
          node->invoke.load(Asymmetric ? std::memory_order_relaxed : std::memory_order_seq_cst);
      if constexpr (Report) {
        // Compared with the registry's marker: another library's copy of skip has another address.
        if (erased == registry_->cancelled_marker()) continue;
        ++outcome->handlers_run;
      }
      const auto invoke = reinterpret_cast<Invoke>(erased);
      try {
        invoke(node, event);
      } catch (...) {
        guard.leave();
        failures_.report(event, std::current_exception(), outcome);
      }
    }
  }

  std::shared_ptr<detail::HandlerRegistry> registry_;
  detail::FailureSink failures_;
};

}  // namespace spakky::event
