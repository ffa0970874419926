#pragma once
/// @file
/// ErasedEventHandler: what IEventConsumer::subscribe receives. A consumer implementation (a
/// broker consumer, say) reads the event type and name from it and calls it with an event.

#include <spakky/event/detail/handler_node.hpp>
#include <spakky/event/detail/lean_std.hpp>

#include <string_view>
#include <typeinfo>
#include <utility>

namespace spakky::event {

/// A handler with its event type erased. R is what the handler returns (void for synchronous
/// handlers, an awaitable for asynchronous ones).
template <class R>
class BasicErasedHandler {
public:
  /// What the handler returns: void, or the awaitable of an asynchronous handler.
  using result_type = R;

  /// Wraps `handler`, a callable taking `const E&` and returning R.
  template <Event E, class F>
  static BasicErasedHandler make(F&& handler) {
    using Node = detail::CallableNode<E, R, std::decay_t<F>>;
    return BasicErasedHandler(new Node(std::forward<F>(handler)), typeid(E), event_name_v<E>,
                              detail::route_of<E>(), detail::kind_of<E>());
  }

  /// The event type this handler takes (one of the three base types for a catch-all).
  [[nodiscard]] const std::type_info& event_type() const noexcept { return *type_; }
  /// event_name_of<E>() of that type: the routing key a broker consumer binds.
  [[nodiscard]] std::string_view event_name() const noexcept { return name_; }
  /// True if the handler receives every event of a family rather than one exact type.
  [[nodiscard]] bool is_catch_all() const noexcept { return route_ != detail::Route::exact; }
  /// Domain, integration or other, from the static event type.
  [[nodiscard]] EventKind kind() const noexcept { return kind_; }

  /// Calls the handler; `event` must be of event_type() (or of its family for a catch-all).
  R operator()(const AbstractEvent& event) const {
    auto fn = reinterpret_cast<R (*)(const detail::HandlerNode*, const AbstractEvent&)>(
        node_->invoke.load(std::memory_order_relaxed));
    return fn(node_, event);
  }

  // Used by the registry, which takes the node over.
  /// Internal: how the registry routes the handler (exact type or a family).
  [[nodiscard]] detail::Route route() const noexcept { return route_; }
  /// Internal: hands the handler's node to the registry, which then owns it.
  [[nodiscard]] detail::HandlerNode* release_node() noexcept { return std::exchange(node_, nullptr); }

  /// Takes over `other`'s handler; `other` becomes empty.
  BasicErasedHandler(BasicErasedHandler&& other) noexcept
      : node_(std::exchange(other.node_, nullptr)), type_(other.type_), name_(other.name_), route_(other.route_),
        kind_(other.kind_) {}
  /// Destroys this handler (if not yet registered) and takes over `other`'s.
  BasicErasedHandler& operator=(BasicErasedHandler&& other) noexcept {
    if (this != &other) {
      if (node_ != nullptr) node_->destroy(node_);
      node_ = std::exchange(other.node_, nullptr);
      type_ = other.type_;
      name_ = other.name_;
      route_ = other.route_;
      kind_ = other.kind_;
    }
    return *this;
  }
  BasicErasedHandler(const BasicErasedHandler&) = delete;
  BasicErasedHandler& operator=(const BasicErasedHandler&) = delete;
  /// Destroys a handler never handed to a registry.
  ~BasicErasedHandler() {
    if (node_ != nullptr) node_->destroy(node_);
  }

private:
  BasicErasedHandler(detail::HandlerNode* node, const std::type_info& type, std::string_view name,
                     detail::Route route, EventKind kind) noexcept
      : node_(node), type_(&type), name_(name), route_(route), kind_(kind) {}

  detail::HandlerNode* node_;  // owned until release_node()
  const std::type_info* type_;
  std::string_view name_;
  detail::Route route_;
  EventKind kind_;
};

/// A synchronous handler with its event type erased.
using ErasedEventHandler = BasicErasedHandler<void>;

}  // namespace spakky::event
