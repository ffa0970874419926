#pragma once
/// @file
/// AbstractAggregateRoot (raises domain events) and AggregateCollector (remembers which
/// aggregates a unit of work touched, so that their events can be published after it).

#include <spakky/event/event.hpp>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <span>
#include <utility>
#include <vector>

namespace spakky::event {

/// Base of aggregates: keeps the domain events raised since they were last published.
/// Not thread-safe: an aggregate belongs to one unit of work at a time.
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
  [[nodiscard]] std::vector<std::shared_ptr<const AbstractDomainEvent>> events() const { return events_; }
  /// Adds a domain event to publish after the unit of work succeeds.
  template <DomainEvent E>
  void add_event(E event) {
    events_.push_back(std::make_shared<const E>(std::move(event)));
  }
  /// Removes the first pending event equal to `event` (same type, id and timestamp); absent: no-op.
  void remove_event(const AbstractDomainEvent& event) {
    auto it = std::find_if(events_.begin(), events_.end(), [&](const auto& e) { return *e == event; });
    if (it != events_.end()) events_.erase(it);
  }
  /// Drops every pending event.
  void clear_events() noexcept { events_.clear(); }

protected:
  AbstractAggregateRoot() = default;
  AbstractAggregateRoot(const AbstractAggregateRoot&) = default;
  AbstractAggregateRoot(AbstractAggregateRoot&&) = default;
  AbstractAggregateRoot& operator=(const AbstractAggregateRoot&) = default;
  AbstractAggregateRoot& operator=(AbstractAggregateRoot&&) = default;

private:
  std::vector<std::shared_ptr<const AbstractDomainEvent>> events_;
};

/// The aggregates one unit of work touched, in the order first collected. Non-owning: the
/// aggregates must outlive the collector's use of them. Not thread-safe (one per unit of work).
class AggregateCollector {
public:
  /// Remembers `aggregate`; collecting it again keeps its first position.
  void collect(AbstractAggregateRoot& aggregate) {
    if (std::find(aggregates_.begin(), aggregates_.end(), &aggregate) == aggregates_.end()) {
      aggregates_.push_back(&aggregate);
    }
  }
  /// The collected aggregates, in collection order.
  [[nodiscard]] std::span<AbstractAggregateRoot* const> all() const noexcept { return aggregates_; }
  /// Forgets every aggregate (their events stay on them).
  void clear() noexcept { aggregates_.clear(); }
  [[nodiscard]] std::size_t size() const noexcept { return aggregates_.size(); }
  [[nodiscard]] bool empty() const noexcept { return aggregates_.empty(); }

private:
  std::vector<AbstractAggregateRoot*> aggregates_;
};

namespace detail {
/// Removes exactly the events that were published, so that an event a handler added to the
/// aggregate meanwhile stays pending.
inline void remove_published(AbstractAggregateRoot& aggregate,
                             const std::vector<std::shared_ptr<const AbstractDomainEvent>>& published) {
  for (const auto& event : published) aggregate.remove_event(*event);
}
}  // namespace detail

}  // namespace spakky::event
