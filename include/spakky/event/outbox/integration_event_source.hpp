#pragma once
/// @file
/// IntegrationEventSource: mix into an aggregate to let it raise integration events. A
/// TransactionalOutbox writes them to the outbox in the unit of work's transaction, keyed by
/// the aggregate's id, and clears them once that transaction committed.
///
/// **Example**
/// @code
/// class Order : public spakky::event::AbstractAggregateRoot, public spakky::event::IntegrationEventSource {
/// public:
///   std::string aggregate_id() const override { return id_; }
///   void place() { add_event(OrderCreated{id_}); add_integration_event(OrderPlaced{id_}); }
/// };
/// @endcode

#include <spakky/event/event.hpp>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace spakky::event {

/// Keeps the integration events an aggregate raised since they were last written to an outbox.
/// Not thread-safe: an aggregate belongs to one unit of work at a time.
class IntegrationEventSource {
public:
  virtual ~IntegrationEventSource() = default;

  /// The aggregate's id: the outbox partition key of its events (unless an event is
  /// PartitionKeyed), so that one aggregate's events are relayed in commit order.
  [[nodiscard]] virtual std::string aggregate_id() const = 0;

  /// Adds an integration event to write to the outbox when the unit of work commits.
  template <IntegrationEvent E>
  void add_integration_event(E event) {
    integration_events_.push_back(std::make_shared<const E>(std::move(event)));
  }
  /// The pending integration events, in the order added.
  [[nodiscard]] const std::vector<std::shared_ptr<const AbstractIntegrationEvent>>& integration_events() const noexcept {
    return integration_events_;
  }
  /// Drops every pending integration event.
  void clear_integration_events() noexcept { integration_events_.clear(); }

protected:
  IntegrationEventSource() = default;
  /// Copies the recorded events with the aggregate.
  IntegrationEventSource(const IntegrationEventSource&) = default;
  /// Moves the recorded events with the aggregate.
  IntegrationEventSource(IntegrationEventSource&&) = default;
  /// Copies the recorded events with the aggregate.
  IntegrationEventSource& operator=(const IntegrationEventSource&) = default;
  /// Moves the recorded events with the aggregate.
  IntegrationEventSource& operator=(IntegrationEventSource&&) = default;

private:
  std::vector<std::shared_ptr<const AbstractIntegrationEvent>> integration_events_;
};

}  // namespace spakky::event
