#pragma once
// Event-handler classes: each lists its handler methods; one call registers them all.

#include "domain.hpp"

#include <spakky/event/event_publisher.hpp>
#include <spakky/event/stereotype/event_handler.hpp>
#include <spakky/event/task.hpp>

#include <cstdio>

namespace shop {

/// Synchronous: reserves stock, and tells other services an order was placed.
class InventoryHandlers {
public:
  explicit InventoryHandlers(spakky::event::IEventPublisher& publisher) : publisher_(publisher) {}

  void on_created(const OrderCreated& e) {
    std::printf("[inventory] reserve %d x %s for %s\n", e.quantity, e.item.c_str(), e.order_id.c_str());
    // A domain event becomes an integration event: EventPublisher -> DirectEventBus -> transport.
    publisher_.publish(OrderPlaced(e.order_id, e.item, e.quantity));
  }

  using event_routes = spakky::event::routes<&InventoryHandlers::on_created>;

private:
  spakky::event::IEventPublisher& publisher_;
};

/// Asynchronous: mails a receipt (an I/O-bound job) when an order is paid.
class NotificationHandlers {
public:
  spakky::event::Task<> on_paid(const OrderPaid& e) {
    std::printf("[notification] mailing the receipt for %s (%.2f)\n", e.order_id.c_str(), e.amount);
    co_await send_mail(e.order_id);
    std::printf("[notification] receipt for %s sent\n", e.order_id.c_str());
  }

  using event_routes = spakky::event::routes<&NotificationHandlers::on_paid>;

private:
  static spakky::event::Task<> send_mail(const std::string& order_id) {
    std::printf("[mail] to the customer of %s\n", order_id.c_str());
    co_return;
  }
};

}  // namespace shop
