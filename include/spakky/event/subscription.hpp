#pragma once
/// @file
/// Subscription (a handle to one registration) and ScopedSubscription (its RAII owner).

#include <spakky/event/detail/lean_std.hpp>

#include <cstdint>
#include <utility>

namespace spakky::event {

namespace detail {
/// What a Subscription talks to: the registry of the consumer it came from.
class SubscriptionTarget {
public:
  virtual ~SubscriptionTarget() = default;
  /// Cancels registration `id`; with `wait`, also waits for its calls running on other threads.
  virtual void cancel(std::uint64_t id, bool wait) noexcept = 0;
  [[nodiscard]] virtual bool is_active(std::uint64_t id) const noexcept = 0;
};
}  // namespace detail

/// A handle to one handler registration. Dropping it does not cancel; it stays safe to use
/// after the consumer is gone (every operation becomes a no-op).
class Subscription {
public:
  /// An empty handle: active() is false, cancel() does nothing.
  Subscription() noexcept = default;
  /// Internal: a handle to registration `id` of `target` (made by the mediators).
  Subscription(std::weak_ptr<detail::SubscriptionTarget> target, std::uint64_t id) noexcept
      : target_(std::move(target)), id_(id) {}

  /// Takes over `other`'s registration; `other` becomes empty.
  Subscription(Subscription&& other) noexcept
      : target_(std::move(other.target_)), id_(std::exchange(other.id_, 0)) {}
  /// Takes over `other`'s registration (without cancelling this one's); `other` becomes empty.
  Subscription& operator=(Subscription&& other) noexcept {
    target_ = std::move(other.target_);
    id_ = std::exchange(other.id_, 0);
    return *this;
  }
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;
  ~Subscription() = default;

  /// Stops the handler: no dispatch that starts after this returns calls it, nor does the
  /// running dispatch on this thread. Idempotent, never waits for other threads' dispatches.
  void cancel() noexcept {
    if (auto target = target_.lock()) target->cancel(id_, false);
  }
  /// cancel(), then waits until calls of the handler running on other threads have returned,
  /// so that what the handler uses can be destroyed next — also when the handler was already
  /// cancelled (by cancel(), from inside itself, or by another cancel_and_wait still waiting).
  /// Never waits for this thread's own call (it is safe inside the handler itself).
  void cancel_and_wait() noexcept {
    if (auto target = target_.lock()) target->cancel(id_, true);
  }
  /// True while the handler is registered and its consumer alive.
  [[nodiscard]] bool active() const noexcept {
    auto target = target_.lock();
    return target && target->is_active(id_);
  }

private:
  std::weak_ptr<detail::SubscriptionTarget> target_;
  std::uint64_t id_ = 0;
};

/// Owns a Subscription and cancels it, waiting for running calls, when destroyed.
class ScopedSubscription {
public:
  /// Owns nothing.
  ScopedSubscription() noexcept = default;
  /// Takes ownership of `subscription` (implicit, so `ScopedSubscription s = register_handler(...)` works).
  ScopedSubscription(Subscription&& subscription) noexcept  // NOLINT: implicit by design
      : subscription_(std::move(subscription)) {}
  /// Takes over `other`'s registration; `other` owns nothing.
  ScopedSubscription(ScopedSubscription&&) noexcept = default;
  /// Cancels (and waits for) the registration owned so far, then takes over `other`'s.
  ScopedSubscription& operator=(ScopedSubscription&& other) noexcept {
    if (this != &other) {
      subscription_.cancel_and_wait();
      subscription_ = std::move(other.subscription_);
    }
    return *this;
  }
  /// Cancels the registration and waits for its calls running on other threads.
  ~ScopedSubscription() { subscription_.cancel_and_wait(); }

  /// Subscription::cancel() of the owned registration.
  void cancel() noexcept { subscription_.cancel(); }
  /// Subscription::cancel_and_wait() of the owned registration.
  void cancel_and_wait() noexcept { subscription_.cancel_and_wait(); }
  /// Subscription::active() of the owned registration.
  [[nodiscard]] bool active() const noexcept { return subscription_.active(); }
  /// Gives the handle back without cancelling.
  [[nodiscard]] Subscription release() noexcept { return std::move(subscription_); }

private:
  Subscription subscription_;
};

}  // namespace spakky::event
