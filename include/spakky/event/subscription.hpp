#pragma once
/// @file
/// Subscription (a handle to one registration) and ScopedSubscription (its RAII owner).

#include <atomic>
#include <cstddef>
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

/// How long a target lives: its consumer holds one owning reference, a call through a
/// Subscription another one while it runs; Subscriptions hold only watching references, so
/// their calls become no-ops once the consumer is gone. (shared_ptr and weak_ptr, without the
/// cost of <memory> in every header that names a Subscription.)
class TargetLink {
public:
  explicit TargetLink(SubscriptionTarget* target) noexcept : target_(target) {}
  TargetLink(const TargetLink&) = delete;
  TargetLink& operator=(const TargetLink&) = delete;

  /// Takes an owning reference if the target is still alive.
  [[nodiscard]] bool acquire() noexcept {
    std::size_t owners = owners_.load(std::memory_order_relaxed);
    do {
      if (owners == 0) return false;
    } while (!owners_.compare_exchange_weak(owners, owners + 1, std::memory_order_acquire, std::memory_order_relaxed));
    return true;
  }
  /// Drops an owning reference; the last one destroys the target.
  void release() noexcept {
    if (owners_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      delete target_;
      unwatch();  // the owners' shared watching reference
    }
  }
  void watch() noexcept { watchers_.fetch_add(1, std::memory_order_relaxed); }
  /// Drops a watching reference; the last one frees the link.
  void unwatch() noexcept {
    if (watchers_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
  [[nodiscard]] SubscriptionTarget* target() const noexcept { return target_; }

private:
  ~TargetLink() = default;

  SubscriptionTarget* const target_;
  std::atomic<std::size_t> owners_{1};
  std::atomic<std::size_t> watchers_{1};  // + 1 for all owners together
};

/// The consumer's owning reference to its target (a HandlerRegistry).
template <class Target>
class OwnedTarget {
public:
  template <class... Args>
  explicit OwnedTarget(Args&&... args) : target_(new Target(static_cast<Args&&>(args)...)) {
    try {
      link_ = new TargetLink(target_);
    } catch (...) {
      delete target_;
      throw;
    }
  }
  OwnedTarget(const OwnedTarget&) = delete;
  OwnedTarget& operator=(const OwnedTarget&) = delete;
  ~OwnedTarget() { link_->release(); }

  Target* operator->() const noexcept { return target_; }
  Target& operator*() const noexcept { return *target_; }
  [[nodiscard]] TargetLink* link() const noexcept { return link_; }

private:
  Target* target_;
  TargetLink* link_ = nullptr;
};
}  // namespace detail

/// A handle to one handler registration. Dropping it does not cancel; it stays safe to use
/// after the consumer is gone (every operation becomes a no-op).
class Subscription {
public:
  /// An empty handle: active() is false, cancel() does nothing.
  Subscription() noexcept = default;
  /// Internal: a handle to registration `id` of the target behind `link` (made by the consumers).
  Subscription(detail::TargetLink* link, std::uint64_t id) noexcept : link_(link), id_(id) {
    if (link_ != nullptr) link_->watch();
  }

  /// Takes over `other`'s registration; `other` becomes empty.
  Subscription(Subscription&& other) noexcept
      : link_(std::exchange(other.link_, nullptr)), id_(std::exchange(other.id_, 0)) {}
  /// Takes over `other`'s registration (without cancelling this one's); `other` becomes empty.
  Subscription& operator=(Subscription&& other) noexcept {
    if (this != &other) {
      if (link_ != nullptr) link_->unwatch();
      link_ = std::exchange(other.link_, nullptr);
      id_ = std::exchange(other.id_, 0);
    }
    return *this;
  }
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;
  /// Forgets the handle; the handler stays registered.
  ~Subscription() {
    if (link_ != nullptr) link_->unwatch();
  }

  /// Stops the handler: no dispatch that starts after this returns calls it, nor does the
  /// running dispatch on this thread. Idempotent, never waits for other threads' dispatches.
  void cancel() noexcept { call([this](detail::SubscriptionTarget& t) { t.cancel(id_, false); }); }
  /// cancel(), then waits until calls of the handler running on other threads have returned,
  /// so that what the handler uses can be destroyed next — also when the handler was already
  /// cancelled (by cancel(), from inside itself, or by another cancel_and_wait still waiting).
  /// Never waits for this thread's own call (it is safe inside the handler itself).
  void cancel_and_wait() noexcept { call([this](detail::SubscriptionTarget& t) { t.cancel(id_, true); }); }
  /// True while the handler is registered and its consumer alive.
  [[nodiscard]] bool active() const noexcept {
    bool active = false;
    call([&](detail::SubscriptionTarget& t) { active = t.is_active(id_); });
    return active;
  }

private:
  template <class F>
  void call(F f) const noexcept {
    if (link_ == nullptr || !link_->acquire()) return;
    f(*link_->target());
    link_->release();
  }

  detail::TargetLink* link_ = nullptr;
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
