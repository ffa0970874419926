#pragma once
/// @file
/// AbstractAggregateRoot (raises domain events) and AggregateCollector (remembers which
/// aggregates a unit of work touched, so that their events can be published after it).

#include <spakky/event/detail/lean_memory.hpp>
#include <spakky/event/detail/lean_std.hpp>
#include <spakky/event/event.hpp>

#include <cstddef>
#include <utility>
#include <vector>

namespace spakky::event {

namespace detail {
class PublishingRounds;
struct UnitOfWork;
}  // namespace detail

/// Base of aggregates: keeps the domain events raised since they were last published.
/// Not thread-safe: an aggregate belongs to one unit of work at a time.
///
/// An event that TransactionalEventPublishing is publishing at the moment is no longer pending:
/// events(), remove_event() and clear_events() do not see it, and no other unit of work can
/// publish it again. It leaves the aggregate once published, or is pending again, where it
/// was, if its publish failed.
///
/// **Example**
/// @code
/// class Order : public spakky::event::AbstractAggregateRoot {
/// public:
///   void pay() { paid_ = true; add_event(OrderPaid{id_}); }
/// };
/// @endcode
class AbstractAggregateRoot {
public:
  virtual ~AbstractAggregateRoot() = default;

  /// A copy of the pending events, in the order they were added.
  [[nodiscard]] std::vector<std::shared_ptr<const AbstractDomainEvent>> events() const {
    std::vector<std::shared_ptr<const AbstractDomainEvent>> pending;
    pending.reserve(events_.size());
    for (const auto& entry : events_) {
      if (!entry.in_flight) pending.push_back(entry.event);
    }
    return pending;
  }
  /// Adds a domain event to publish after the unit of work succeeds.
  template <DomainEvent E>
  void add_event(E event) {
    events_.push_back({std::make_shared<const E>(std::move(event)), false});
  }
  /// Removes the first pending event equal to `event` (same type, id and timestamp); absent: no-op.
  void remove_event(const AbstractDomainEvent& event) {
    auto it = std::find_if(events_.begin(), events_.end(),
                           [&](const Entry& entry) { return !entry.in_flight && *entry.event == event; });
    if (it != events_.end()) events_.erase(it);
  }
  /// Drops every pending event.
  void clear_events() noexcept {
    std::erase_if(events_, [](const Entry& entry) noexcept { return !entry.in_flight; });
  }

protected:
  /// An aggregate with no pending events.
  AbstractAggregateRoot() = default;
  /// Copies the aggregate with its pending events (the events are shared, not copied).
  AbstractAggregateRoot(const AbstractAggregateRoot&) = default;
  /// Moves the aggregate with its pending events.
  AbstractAggregateRoot(AbstractAggregateRoot&&) = default;
  /// Copies the pending events (shared, not copied) along with the aggregate.
  AbstractAggregateRoot& operator=(const AbstractAggregateRoot&) = default;
  /// Moves the pending events along with the aggregate.
  AbstractAggregateRoot& operator=(AbstractAggregateRoot&&) = default;

private:
  friend class detail::PublishingRounds;  // marks each event in flight while it is published

  struct Entry {
    std::shared_ptr<const AbstractDomainEvent> event;
    bool in_flight;  // being published: not pending, not to be published by anyone else
  };
  std::vector<Entry> events_;
};

/// The aggregates one unit of work touched, in the order first collected. Non-owning: the
/// aggregates must outlive the collector's use of them. Not thread-safe (one per unit of work).
/// It also knows which units of work are open on it, so that a nested one joins the outermost
/// (see TransactionalEventPublishing).
class AggregateCollector {
public:
  /// Remembers `aggregate`; collecting it again keeps its first position.
  void collect(AbstractAggregateRoot& aggregate) {
    if (std::find(aggregates_.begin(), aggregates_.end(), &aggregate) == aggregates_.end()) {
      aggregates_.push_back(&aggregate);
    }
  }
  /// The collected aggregates, in collection order.
  [[nodiscard]] const std::vector<AbstractAggregateRoot*>& all() const noexcept { return aggregates_; }
  /// Forgets every aggregate (their events stay on them).
  void clear() noexcept { aggregates_.clear(); }
  /// How many aggregates are collected.
  [[nodiscard]] std::size_t size() const noexcept { return aggregates_.size(); }
  /// True if no aggregate is collected.
  [[nodiscard]] bool empty() const noexcept { return aggregates_.empty(); }

private:
  friend struct detail::UnitOfWork;
  friend class detail::PublishingRounds;

  /// One open unit of work: how many aggregates were collected when it began, and whether it
  /// returned normally.
  struct OpenUnit {
    std::size_t mark;
    bool returned;
  };

  std::vector<AbstractAggregateRoot*> aggregates_;
  std::vector<OpenUnit> open_units_;  // outermost first
  bool publishing_ = false;           // the outermost unit of work is publishing
};

}  // namespace spakky::event
