#pragma once
// Event-handler classes: each lists its handler methods; one call registers them all.

#include "domain.hpp"

#include <spakky/event/bus/trace_context.hpp>
#include <spakky/event/consumer/integration_event_consumer.hpp>
#include <spakky/event/event_publisher.hpp>
#include <spakky/event/stereotype/event_handler.hpp>
#include <spakky/event/task.hpp>

#include <cstdio>
#include <optional>

namespace shop {

/// Synchronous: reserves stock once the order is committed. (OrderPlaced, the integration
/// event, is raised by the Order itself and written to the outbox in the same transaction.)
class InventoryHandlers {
public:
  void on_created(const OrderCreated& e) {
    std::printf("[inventory] reserve %d x %s for %s\n", e.quantity, e.item.c_str(), e.order_id.c_str());
  }

  using event_routes = spakky::event::routes<&InventoryHandlers::on_created>;
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

/// The other side of the wire (another service, here in the same process): ships what was
/// ordered. Registered on the broker's consumer, it reads the event as the bus sent it, and the
/// message's trace context from its headers.
class ShippingHandlers {
public:
  explicit ShippingHandlers(const spakky::event::IntegrationEventConsumer& consumer) : consumer_(consumer) {}

  void on_placed(const OrderPlaced& e) {
    const spakky::event::IncomingMessage* message = consumer_.current_message();
    const std::optional<spakky::event::TraceContext> trace =
        message != nullptr ? spakky::event::trace_context_from(message->headers) : std::nullopt;
    std::printf("[consumer] received OrderPlaced %s: ship %d x %s (event %s, trace %s)\n", e.order_id.c_str(),
                e.quantity, e.item.c_str(), e.event_id().to_string().c_str(),
                trace ? trace->trace_id.c_str() : "none");
  }

  using event_routes = spakky::event::routes<&ShippingHandlers::on_placed>;

private:
  const spakky::event::IntegrationEventConsumer& consumer_;
};

}  // namespace shop
