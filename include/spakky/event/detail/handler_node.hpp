#pragma once
/// @file
/// The type-erased handler: one allocation holding the callable itself, called through one
/// function pointer (no std::function double indirection, move-only callables welcome).

#include <spakky/event/event.hpp>

#include <atomic>
#include <cstdint>
#include <new>
#include <type_traits>
#include <typeinfo>
#include <utility>

namespace spakky::event::detail {

/// Where a handler is routed: to one exact type, or to every event of a family.
enum class Route : unsigned char { exact, all_events, all_domain, all_integration };

/// Any function pointer, stored untyped; each front end knows the real signature.
using ErasedFn = void (*)();

struct HandlerNode {
  /// The call thunk; replaced by the registry's "cancelled" marker when cancelled.
  std::atomic<ErasedFn> invoke;
  void (*destroy)(HandlerNode*) noexcept;
  std::uint64_t id = 0;  // registration sequence number: registration order
  // The rest is the registry's, under its writer lock. A cancelled node waits in the
  // registry's retired chain (staying findable by id) until no list that named it can be read.
  std::uint64_t last_list = 0;  // retire sequence number of the last list that may name it
  int waiters = 0;               // cancel_and_wait calls holding the node while they wait
  bool pinned = false;           // still named by a published list (a rebuild ran out of memory)
  HandlerNode* next = nullptr;   // links retired and dead nodes: collecting them cannot throw

  HandlerNode(ErasedFn call, void (*destroy_fn)(HandlerNode*) noexcept) noexcept
      : invoke(call), destroy(destroy_fn) {}
  HandlerNode(const HandlerNode&) = delete;
  HandlerNode& operator=(const HandlerNode&) = delete;
};

struct HandlerNodeDeleter {
  void operator()(HandlerNode* node) const noexcept { node->destroy(node); }
};

/// The node for a callable F taking `const E&` and returning R.
template <class E, class R, class F>
struct CallableNode final : HandlerNode {
  using Invoke = R (*)(const HandlerNode*, const AbstractEvent&);

  template <class G>
  explicit CallableNode(G&& g)
      : HandlerNode(reinterpret_cast<ErasedFn>(static_cast<Invoke>(&call)), &destroy_node),
        fn(std::forward<G>(g)) {}

  static R call(const HandlerNode* node, const AbstractEvent& event) {
    return static_cast<const CallableNode*>(node)->fn(static_cast<const E&>(event));
  }
  static void destroy_node(HandlerNode* node) noexcept { delete static_cast<CallableNode*>(node); }

  mutable F fn;  // mutable: a handler may be a mutable lambda
};

/// How an event type E is routed.
template <Event E>
constexpr Route route_of() noexcept {
  if constexpr (std::is_same_v<E, AbstractEvent>) return Route::all_events;
  else if constexpr (std::is_same_v<E, AbstractDomainEvent>) return Route::all_domain;
  else if constexpr (std::is_same_v<E, AbstractIntegrationEvent>) return Route::all_integration;
  else return Route::exact;
}

template <Event E>
constexpr EventKind kind_of() noexcept {
  if constexpr (DomainEvent<E>) return EventKind::domain;
  else if constexpr (IntegrationEvent<E>) return EventKind::integration;
  else return EventKind::other;
}

}  // namespace spakky::event::detail
