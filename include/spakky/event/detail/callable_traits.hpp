#pragma once
/// @file
/// Deduces the event type of a handler from the parameter of its call operator.

#include <type_traits>

namespace spakky::event::detail {

template <class T>
struct first_parameter;

template <class R, class A, class... Rest>
struct first_parameter<R (*)(A, Rest...)> {
  using type = A;
};
template <class R, class A, class... Rest>
struct first_parameter<R (*)(A, Rest...) noexcept> {
  using type = A;
};
#define SPAKKY_EVENT_DETAIL_MEMBER_CALL(QUALIFIERS)                  \
  template <class R, class C, class A, class... Rest>               \
  struct first_parameter<R (C::*)(A, Rest...) QUALIFIERS> {         \
    using type = A;                                                 \
  };                                                                \
  template <class R, class C, class A, class... Rest>               \
  struct first_parameter<R (C::*)(A, Rest...) QUALIFIERS noexcept> { \
    using type = A;                                                 \
  };
SPAKKY_EVENT_DETAIL_MEMBER_CALL()
SPAKKY_EVENT_DETAIL_MEMBER_CALL(const)
SPAKKY_EVENT_DETAIL_MEMBER_CALL(&)
SPAKKY_EVENT_DETAIL_MEMBER_CALL(const&)
SPAKKY_EVENT_DETAIL_MEMBER_CALL(&&)
SPAKKY_EVENT_DETAIL_MEMBER_CALL(const&&)
#undef SPAKKY_EVENT_DETAIL_MEMBER_CALL

template <class F>
concept has_single_call_operator = requires { &F::operator(); };

template <class F>
struct callable_event {
  static_assert(has_single_call_operator<F>,
                "cannot deduce the event type of this handler (a generic lambda or an overloaded "
                "call operator): name it, as in register_handler<MyEvent>(handler)");
  using type = std::remove_cvref_t<typename first_parameter<decltype(&F::operator())>::type>;
};
template <class R, class... A>
struct callable_event<R (*)(A...)> {
  using type = std::remove_cvref_t<typename first_parameter<R (*)(A...)>::type>;
};
template <class R, class... A>
struct callable_event<R (*)(A...) noexcept> {
  using type = std::remove_cvref_t<typename first_parameter<R (*)(A...) noexcept>::type>;
};
template <class R, class... A>
struct callable_event<R (&)(A...)> : callable_event<R (*)(A...)> {};
template <class R, class... A>
struct callable_event<R(A...)> : callable_event<R (*)(A...)> {};

/// The event type a handler takes, with cv and reference removed.
template <class F>
using callable_event_t = typename callable_event<std::remove_cvref_t<F>>::type;

}  // namespace spakky::event::detail
