#pragma once
/// @file
/// IEventConsumer: where handlers are registered.

#include <spakky/event/detail/callable_traits.hpp>
#include <spakky/event/detail/lean_std.hpp>
#include <spakky/event/erased_handler.hpp>
#include <spakky/event/event.hpp>
#include <spakky/event/subscription.hpp>

#include <type_traits>
#include <utility>

namespace spakky::event {

/// The std::function spelling of a synchronous handler of E.
template <Event E>
using EventHandlerCallback = std::function<void(const E&)>;

/// Registers handlers. Implementations override subscribe(); the templates in front wrap a
/// callable once and forward it.
///
/// **Example**
/// @code
/// auto sub = consumer.register_handler([](const UserCreated& e) { greet(e.username); });
/// @endcode
class IEventConsumer {
public:
  virtual ~IEventConsumer() = default;

  /// Registers `handler`, callable as `void(const E&)`; F may be move-only. E may be one of
  /// the three base types: a catch-all, called for every event of that family after the
  /// exact-type handlers.
  template <Event E, class F>
  Subscription register_handler(F&& handler) {
    static_assert(std::is_invocable_v<std::decay_t<F>&, const E&>,
                  "the handler must be callable with `const E&`");
    static_assert(std::is_void_v<std::invoke_result_t<std::decay_t<F>&, const E&>>,
                  "a synchronous handler returns void (register coroutine handlers on an "
                  "IAsyncEventConsumer)");
    return subscribe(ErasedEventHandler::make<E>(std::forward<F>(handler)));
  }

  /// Registers `handler`, deducing the event type from its parameter.
  template <class F>
  Subscription register_handler(F&& handler) {
    using E = detail::callable_event_t<F>;
    static_assert(Event<E>, "the handler's parameter must be an event type");
    return register_handler<E>(std::forward<F>(handler));
  }

  /// The hook an implementation overrides: take `handler` over and route events of
  /// `handler.event_type()` (or its family, if `handler.is_catch_all()`) to it.
  virtual Subscription subscribe(ErasedEventHandler handler) = 0;
};

}  // namespace spakky::event
