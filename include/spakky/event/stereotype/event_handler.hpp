#pragma once
/// @file
/// Event-handler classes: the seed's `@EventHandler` class with `@on_event` methods and the
/// post-processor that registers them. A class lists its handler methods; one call registers
/// every listed method of an object and returns the subscriptions as one RAII bundle.
///
/// **Example**
/// @code
/// class OrderHandlers {
/// public:
///   void on_created(const OrderCreated& e);           // synchronous: goes to an IEventConsumer
///   Task<> on_paid(const OrderPaid& e);               // coroutine: goes to an IAsyncEventConsumer<Task<>>
///   void on_shipped(const OrderShipped& e);           // integration event: only to a broker consumer
///   using event_routes = spakky::event::routes<&OrderHandlers::on_created, &OrderHandlers::on_paid,
///                                              &OrderHandlers::on_shipped>;
/// };
///
/// OrderHandlers handlers;
/// HandlerBundle bundle = register_handlers(handlers, mediator, async_mediator, integration(broker));
/// // ... the bundle cancels every route, waiting for running calls, when it goes.
/// @endcode
///
/// The event type comes from the method's parameter (`const E&`), sync or async from its return
/// type (void, or the consumer's awaitable). As in the seed, routes for integration events are
/// not registered on the in-process consumers; they go to the consumer wrapped in
/// `integration(...)` when one is given, and are skipped otherwise. Compile errors that name the
/// method: a wrong signature; a domain route no in-process consumer fits; an integration route
/// that the given integration consumer(s) cannot take (a coroutine method with only a
/// synchronous broker consumer); a method taking AbstractEvent or an event of neither kind,
/// which no consumer would ever deliver.

#include <spakky/event/async_event_consumer.hpp>
#include <spakky/event/detail/lean_std.hpp>
#include <spakky/event/event.hpp>
#include <spakky/event/event_consumer.hpp>
#include <spakky/event/subscription.hpp>

#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace spakky::event {

/// The handler methods of a class, as member function pointers.
template <auto... Methods>
struct routes {};

/// Marks a consumer as the destination of integration-event routes (a broker consumer).
template <class Consumer>
struct IntegrationConsumer {
  Consumer& consumer;  ///< the broker consumer that takes the integration routes
};
/// `register_handlers(object, mediator, integration(broker_consumer))`.
template <class Consumer>
[[nodiscard]] IntegrationConsumer<Consumer> integration(Consumer& consumer) noexcept {
  return {consumer};
}

/// The subscriptions of one object's handler methods; cancels them all, waiting for running
/// calls, when destroyed. Destroy it before the object (e.g. declare it after the object).
class HandlerBundle {
public:
  /// A bundle with no routes.
  HandlerBundle() = default;
  /// Takes over `other`'s routes; `other` is left empty.
  HandlerBundle(HandlerBundle&&) noexcept = default;
  /// Cancels (and waits for) the routes held so far, then takes over `other`'s.
  HandlerBundle& operator=(HandlerBundle&& other) noexcept {
    if (this != &other) {
      cancel_and_wait();
      subscriptions_ = std::move(other.subscriptions_);
    }
    return *this;
  }
  /// Cancels every route and waits for their calls running on other threads.
  ~HandlerBundle() { cancel_and_wait(); }

  /// Adds one more registration to cancel with the others.
  void add(Subscription subscription) { subscriptions_.emplace_back(std::move(subscription)); }
  /// How many routes were registered (skipped integration routes not counted).
  [[nodiscard]] std::size_t size() const noexcept { return subscriptions_.size(); }
  /// Cancels every route and waits for their calls running on other threads.
  void cancel_and_wait() noexcept {
    for (auto& subscription : subscriptions_) subscription.cancel_and_wait();
    subscriptions_.clear();
  }

private:
  std::vector<ScopedSubscription> subscriptions_;
};

namespace detail {

template <class M>
struct method_traits {
  static constexpr bool is_method = false;
};
#define SPAKKY_EVENT_DETAIL_METHOD(QUALIFIERS)                 \
  template <class C, class R, class... A>                      \
  struct method_traits<R (C::*)(A...) QUALIFIERS> {            \
    static constexpr bool is_method = true;                    \
    using object = C;                                          \
    using result = R;                                          \
    using parameters = std::tuple<A...>;                       \
  };
SPAKKY_EVENT_DETAIL_METHOD()
SPAKKY_EVENT_DETAIL_METHOD(const)
SPAKKY_EVENT_DETAIL_METHOD(noexcept)
SPAKKY_EVENT_DETAIL_METHOD(const noexcept)
#undef SPAKKY_EVENT_DETAIL_METHOD

template <class Tuple>
constexpr bool takes_const_event_ref = false;
template <class A>
constexpr bool takes_const_event_ref<std::tuple<A>> =
    std::is_lvalue_reference_v<A> && std::is_const_v<std::remove_reference_t<A>> && Event<std::remove_cvref_t<A>>;

/// Checks one route; the compiler's "in instantiation of ... [Method = &Class::method]" note
/// names the method when a check fails.
template <auto Method, class Object>
constexpr bool check_route() {
  using traits = method_traits<decltype(Method)>;
  static_assert(traits::is_method, "an event route must name a member function: &Class::method");
  if constexpr (traits::is_method) {
    static_assert(std::is_base_of_v<typename traits::object, Object>,
                  "an event route names a method of another class");
    static_assert(takes_const_event_ref<typename traits::parameters>,
                  "an event handler method takes exactly one parameter, `const E&` with E an event type");
    if constexpr (takes_const_event_ref<typename traits::parameters>) {
      using E = std::remove_cvref_t<std::tuple_element_t<0, typename traits::parameters>>;
      // As in the seed: no consumer gets other events, so such a route would never run.
      static_assert(DomainEvent<E> || IntegrationEvent<E>,
                    "an event handler method takes a domain or an integration event (or AbstractDomainEvent / "
                    "AbstractIntegrationEvent for a catch-all), not AbstractEvent nor an event of neither kind");
    }
  }
  return true;
}

template <auto Method>
using route_event_t = std::remove_cvref_t<std::tuple_element_t<0, typename method_traits<decltype(Method)>::parameters>>;
template <auto Method>
using route_result_t = typename method_traits<decltype(Method)>::result;

template <class T>
constexpr bool is_integration_tag = false;
template <class C>
constexpr bool is_integration_tag<IntegrationConsumer<C>> = true;

template <class T>
struct untag {
  using type = T;
};
template <class C>
struct untag<IntegrationConsumer<C>> {
  using type = C;
};

/// Where a route of result R goes among the given consumers: the first that fits.
template <class R, bool Integration, class T>
constexpr bool fits() {
  using C = std::remove_cvref_t<T>;
  if constexpr (is_integration_tag<C> != Integration) {
    return false;
  } else {
    using Inner = typename untag<C>::type;
    if constexpr (std::is_void_v<R>) return std::is_base_of_v<IEventConsumer, Inner>;
    else return std::is_base_of_v<IAsyncEventConsumer<R>, Inner>;
  }
}

template <class... Ts>
constexpr bool has_integration_consumer = (is_integration_tag<std::remove_cvref_t<Ts>> || ...);

template <class R, bool Integration, class... Ts>
constexpr std::size_t consumer_index() {
  constexpr bool matches[] = {fits<R, Integration, Ts>()..., false};
  for (std::size_t i = 0; i < sizeof...(Ts); ++i) {
    if (matches[i]) return i;
  }
  return sizeof...(Ts);
}

template <class T>
decltype(auto) consumer_of(T& target) noexcept {
  if constexpr (is_integration_tag<std::remove_cvref_t<T>>) return (target.consumer);
  else return (target);
}

template <auto Method, class Object, class Targets>
void register_route(Object& object, Targets& targets, HandlerBundle& bundle) {
  static_assert(check_route<Method, Object>());
  using E = route_event_t<Method>;
  using R = route_result_t<Method>;
  constexpr bool to_broker = IntegrationEvent<E>;
  constexpr std::size_t count = std::tuple_size_v<Targets>;
  constexpr std::size_t index = []<std::size_t... I>(std::index_sequence<I...>) {
    return consumer_index<R, to_broker, std::tuple_element_t<I, Targets>...>();
  }(std::make_index_sequence<count>{});
  constexpr bool broker_given = []<std::size_t... I>(std::index_sequence<I...>) {
    return has_integration_consumer<std::tuple_element_t<I, Targets>...>;
  }(std::make_index_sequence<count>{});
  if constexpr (index == count) {
    // As in the seed: an integration route without a broker consumer is skipped. With one that
    // cannot take it, the route would be lost silently: refuse it.
    static_assert(to_broker, "no consumer fits this handler method: a void method needs an IEventConsumer, "
                             "a coroutine method an IAsyncEventConsumer of its return type");
    static_assert(!to_broker || !broker_given,
                  "no integration consumer fits this handler method: a void method needs integration(IEventConsumer&), "
                  "a coroutine method integration(IAsyncEventConsumer&) of its return type");
  } else {
    auto& consumer = consumer_of(std::get<index>(targets));
    Object* self = std::addressof(object);
    if constexpr (std::is_void_v<R>) {
      bundle.add(consumer.template register_handler<E>([self](const E& event) { (self->*Method)(event); }));
    } else {
      bundle.add(consumer.template register_handler<E>(
          [self](const E& event) -> R { return (self->*Method)(event); }));
    }
  }
}

template <class Object, class Targets, auto... Methods>
void register_routes(Object& object, Targets& targets, HandlerBundle& bundle, routes<Methods...>) {
  (register_route<Methods>(object, targets, bundle), ...);
}

}  // namespace detail

/// Registers every method `Object::event_routes` lists on the fitting consumer among
/// `consumers` (IEventConsumer&, IAsyncEventConsumer<A>&, integration(broker)) and returns
/// their subscriptions as one bundle. `object` must outlive the bundle.
template <class Object, class... Consumers>
[[nodiscard]] HandlerBundle register_handlers(Object& object, Consumers&&... consumers) {
  static_assert(requires { typename Object::event_routes; },
                "list the handler methods: using event_routes = spakky::event::routes<&Class::method, ...>;");
  std::tuple<Consumers&...> targets(consumers...);
  HandlerBundle bundle;
  detail::register_routes(object, targets, bundle, typename Object::event_routes{});
  return bundle;
}

}  // namespace spakky::event
