#pragma once
// The order domain: an aggregate that raises domain events, and the integration event other
// services hear about.

#include <spakky/event/aggregate.hpp>
#include <spakky/event/event.hpp>
#include <spakky/event/json/fields.hpp>  // the field list only: no JSON library needed here

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

class Order final : public spakky::event::AbstractAggregateRoot {
public:
  static Order create(std::string id, std::string item, int quantity) {
    if (quantity <= 0) throw std::invalid_argument("quantity must be positive");
    Order order(id, item, quantity);
    order.add_event(OrderCreated(std::move(id), std::move(item), quantity));
    return order;
  }
  void pay(double amount) {
    if (paid_) throw std::logic_error("order " + id_ + " is paid already");
    paid_ = true;
    add_event(OrderPaid(id_, amount));
  }
  [[nodiscard]] const std::string& id() const noexcept { return id_; }

private:
  Order(std::string id, std::string item, int quantity) : id_(std::move(id)), item_(std::move(item)), quantity_(quantity) {}
  std::string id_;
  std::string item_;
  int quantity_;
  bool paid_ = false;
};

/// An in-memory repository; a real one would write to a database in the same transaction.
class OrderRepository {
public:
  Order& save(Order order) {
    auto id = order.id();
    return orders_.insert_or_assign(std::move(id), std::move(order)).first->second;
  }
  Order& get(const std::string& id) { return orders_.at(id); }
  void remove(const std::string& id) { orders_.erase(id); }
  [[nodiscard]] bool contains(const std::string& id) const { return orders_.count(id) != 0; }

private:
  std::map<std::string, Order> orders_;
};

}  // namespace shop
