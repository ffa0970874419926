#pragma once
// The order domain: an aggregate that raises domain events, and the integration event other
// services hear about.

#include <spakky/event/aggregate.hpp>
#include <spakky/event/event.hpp>
#include <spakky/event/json/fields.hpp>  // the field list only: no JSON library needed here
#include <spakky/event/outbox/integration_event_source.hpp>

#include <map>
#include <stdexcept>
#include <string>
#include <utility>

namespace shop {

struct OrderCreated final : spakky::event::AbstractDomainEvent {
  OrderCreated(std::string id, std::string item, int qty) : order_id(std::move(id)), item(std::move(item)), quantity(qty) {}
  std::string order_id;
  std::string item;
  int quantity;
};

struct OrderPaid final : spakky::event::AbstractDomainEvent {
  OrderPaid(std::string id, double paid) : order_id(std::move(id)), amount(paid) {}
  std::string order_id;
  double amount;
};

/// What the rest of the company hears about; crosses the process boundary.
struct OrderPlaced final : spakky::event::AbstractIntegrationEvent {
  OrderPlaced(std::string id, std::string item, int qty) : order_id(std::move(id)), item(std::move(item)), quantity(qty) {}
  /// Rebuilds an event read from a message (its fields are then read from the payload).
  OrderPlaced(spakky::event::EventId id, spakky::event::Timestamp at) : AbstractIntegrationEvent(id, at) {}
  std::string order_id;
  std::string item;
  int quantity = 0;
};
// On the wire: {"event_id":...,"timestamp":...,"order_id":...,"item":...,"quantity":...}
SPAKKY_EVENT_JSON_FIELDS(OrderPlaced, order_id, item, quantity)

/// Where order rows are written, inside the unit of work's transaction (storage.hpp: SQLite,
/// or PostgreSQL with --postgres).
class OrderTable {
public:
  virtual ~OrderTable() = default;
  virtual void insert(const std::string& id, const std::string& item, int quantity) = 0;
  virtual void mark_paid(const std::string& id, double amount) = 0;
};

/// Raises domain events (dispatched in process after COMMIT) and, as an IntegrationEventSource,
/// the integration event OrderPlaced (written to the outbox before COMMIT, keyed by its id).
class Order final : public spakky::event::AbstractAggregateRoot, public spakky::event::IntegrationEventSource {
public:
  static Order create(std::string id, std::string item, int quantity) {
    if (quantity <= 0) throw std::invalid_argument("quantity must be positive");
    Order order(id, item, quantity);
    order.add_event(OrderCreated(id, item, quantity));
    order.add_integration_event(OrderPlaced(std::move(id), std::move(item), quantity));
    return order;
  }
  void pay(double amount) {
    if (paid_) throw std::logic_error("order " + id_ + " is paid already");
    paid_ = true;
    add_event(OrderPaid(id_, amount));
  }
  [[nodiscard]] const std::string& id() const noexcept { return id_; }
  [[nodiscard]] std::string aggregate_id() const override { return id_; }
  [[nodiscard]] const std::string& item() const noexcept { return item_; }
  [[nodiscard]] int quantity() const noexcept { return quantity_; }

private:
  Order(std::string id, std::string item, int quantity) : id_(std::move(id)), item_(std::move(item)), quantity_(quantity) {}
  std::string id_;
  std::string item_;
  int quantity_;
  bool paid_ = false;
};

/// The orders of this service: rows in the database (written in the caller's transaction),
/// and the aggregates of this process by id.
class OrderRepository {
public:
  explicit OrderRepository(OrderTable& table) : table_(table) {}
  Order& save(Order order) {
    table_.insert(order.id(), order.item(), order.quantity());
    auto id = order.id();
    return orders_.insert_or_assign(std::move(id), std::move(order)).first->second;
  }
  void paid(const Order& order, double amount) { table_.mark_paid(order.id(), amount); }
  Order& get(const std::string& id) { return orders_.at(id); }
  void remove(const std::string& id) { orders_.erase(id); }
  [[nodiscard]] bool contains(const std::string& id) const { return orders_.count(id) != 0; }

private:
  OrderTable& table_;
  std::map<std::string, Order> orders_;
};

}  // namespace shop
