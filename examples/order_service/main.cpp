// The seed's integration app in C++: create-order and pay-order use cases on an Order
// aggregate; domain events published after each unit of work succeeds; handler classes (one
// synchronous, one asynchronous) reacting to them; one domain event turned into an
// integration event, sent as JSON through a broker (in memory, or RabbitMQ with
// `--broker amqp://...`) and received by another service's handler.

#include "domain.hpp"
#include "handlers.hpp"
#include "transport.hpp"

#include <spakky/event.hpp>

#include <cstdio>
#include <exception>
#include <optional>
#include <string>

namespace ev = spakky::event;

int main(int argc, char** argv) {
  shop::Options options = shop::parse_options(argc, argv);

  // In-process: one mediator for synchronous handlers, one for coroutine handlers.
  ev::EventMediator mediator;
  ev::AsyncEventMediator<> async_mediator;
  mediator.set_error_handler([](const ev::AbstractEvent& event, std::exception_ptr error) {
    std::printf("[error] a handler of %s failed: %s\n", std::string(event.event_name()).c_str(),
                shop::describe(error).c_str());
  });

  // Out of process: integration events go through a bus to a broker, as JSON.
  auto wire = shop::make_wire(options);
  ev::DirectEventBus bus(wire->transport(), wire->serializer());
  // W3C trace context from the application's tracing (here: one fixed span).
  bus.add_header_injector(ev::trace_context_injector([]() -> std::optional<ev::TraceContext> {
    return ev::TraceContext{"4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", 1, {}};
  }));
  bus.add_header_injector([](const ev::AbstractIntegrationEvent&, ev::Headers& headers) {
    headers["Authorization"] = "Bearer never-leaves-the-process";  // stripped by the bus
  });
  ev::EventPublisher publisher(mediator, bus);
  ev::AsyncEventPublisher<> async_publisher(async_mediator);

  // Handler classes, registered in one call each; the bundles unregister them at the end.
  shop::InventoryHandlers inventory(publisher);
  shop::NotificationHandlers notifications;
  ev::HandlerBundle inventory_routes = ev::register_handlers(inventory, mediator, async_mediator);
  ev::HandlerBundle notification_routes = ev::register_handlers(notifications, mediator, async_mediator);
  // The receiving service: its integration-event routes go to the broker's consumer.
  shop::ShippingHandlers shipping(wire->consumer());
  ev::HandlerBundle shipping_routes =
      ev::register_handlers(shipping, mediator, async_mediator, ev::integration(wire->consumer()));

  // Units of work publish their aggregates' events only when they succeed.
  shop::OrderRepository orders;
  ev::AggregateCollector collector;
  ev::TransactionalEventPublishing transaction(collector, publisher);
  ev::AsyncTransactionalEventPublishing<> async_transaction(collector, async_publisher);

  auto create_order = [&](const std::string& id, const std::string& item, int quantity) {
    std::printf("== create order %s: %d x %s\n", id.c_str(), quantity, item.c_str());
    try {
      transaction.run([&] {
        shop::Order& order = orders.save(shop::Order::create(id, item, quantity));
        collector.collect(order);
      });
      std::printf("[use case] order %s created\n", id.c_str());
    } catch (const std::exception& e) {
      orders.remove(id);
      std::printf("[use case] order %s rejected (%s): nothing was published\n", id.c_str(), e.what());
    }
  };
  auto pay_order = [&](const std::string& id, double amount) {
    std::printf("== pay order %s: %.2f\n", id.c_str(), amount);
    ev::sync_wait(async_transaction.run([&]() -> ev::Task<> {
      shop::Order& order = orders.get(id);
      order.pay(amount);
      collector.collect(order);
      co_return;
    }));
    std::printf("[use case] order %s paid\n", id.c_str());
  };

  create_order("o-1", "widget", 2);
  pay_order("o-1", 19.98);
  create_order("o-2", "gadget", 0);  // invalid: the unit of work throws

  wire->finish();
  std::printf("== done: %zu message(s) sent\n", wire->sent());
}
