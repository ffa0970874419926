#pragma once
/// @file
/// IAsyncEventConsumer: where coroutine handlers are registered.

#include <spakky/event/detail/callable_traits.hpp>
#include <spakky/event/detail/lean_std.hpp>
#include <spakky/event/erased_handler.hpp>
#include <spakky/event/event.hpp>
#include <spakky/event/subscription.hpp>
#include <spakky/event/task.hpp>

#include <type_traits>
#include <utility>

namespace spakky::event {

/// The std::function spelling of an asynchronous handler of E.
template <Event E, class Awaitable = Task<>>
using AsyncEventHandlerCallback = std::function<Awaitable(const E&)>;

/// Async counterpart of IEventConsumer: handlers return `Awaitable`.
template <class Awaitable = Task<>>
class IAsyncEventConsumer {
public:
  /// The coroutine type of every operation (Task<> by default).
  using awaitable_type = Awaitable;
  virtual ~IAsyncEventConsumer() = default;

  /// Registers `handler`, callable as `Awaitable(const E&)`; as IEventConsumer::register_handler.
  template <Event E, class F>
  Subscription register_handler(F&& handler) {
    static_assert(std::is_invocable_v<std::decay_t<F>&, const E&>, "the handler must be callable with `const E&`");
    static_assert(std::is_same_v<std::invoke_result_t<std::decay_t<F>&, const E&>, Awaitable>,
                  "an asynchronous handler returns the consumer's awaitable type");
    return subscribe(BasicErasedHandler<Awaitable>::template make<E>(std::forward<F>(handler)));
  }

  /// Registers `handler`, deducing the event type from its parameter.
  template <class F>
  Subscription register_handler(F&& handler) {
    using E = detail::callable_event_t<F>;
    static_assert(Event<E>, "the handler's parameter must be an event type");
    return register_handler<E>(std::forward<F>(handler));
  }

  /// The hook an implementation overrides, as IEventConsumer::subscribe.
  virtual Subscription subscribe(BasicErasedHandler<Awaitable> handler) = 0;
};

}  // namespace spakky::event
