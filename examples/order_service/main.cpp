// The seed's integration app in C++: create-order and pay-order use cases on an Order
// aggregate kept in a database (SQLite, `:memory:` or `--db PATH`; PostgreSQL with
// `--postgres URL`); handler classes (one synchronous, one asynchronous) reacting to the
// domain events after each unit of work commits; the integration event OrderPlaced written to
// a transactional outbox in the same transaction as the order, then relayed as JSON through a
// broker (in memory, or RabbitMQ with `--broker amqp://...`) to another service's handler.

#include "domain.hpp"
#include "handlers.hpp"
#include "storage.hpp"
#include "transport.hpp"

#include <spakky/event.hpp>
#include <spakky/event/outbox/outbox_event_bus.hpp>
#include <spakky/event/outbox/outbox_relay.hpp>
#include <spakky/event/outbox/transactional_outbox.hpp>

#include <cstdio>
#include <exception>
#include <memory>
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

  // The orders and the outbox, in one database.
  std::unique_ptr<shop::Storage> storage = shop::make_storage(options);

  // Out of process: integration events are written to the outbox in the unit of work's
  // transaction (as JSON, with the headers below); the relay sends them to the broker.
  auto wire = shop::make_wire(options);
  ev::OutboxEventBus bus(storage->outbox(), wire->serializer());
  // W3C trace context from the application's tracing (here: one fixed span).
  bus.add_header_injector(ev::trace_context_injector([]() -> std::optional<ev::TraceContext> {
    return ev::TraceContext{"4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", 1, {}};
  }));
  bus.add_header_injector([](const ev::AbstractIntegrationEvent&, ev::Headers& headers) {
    headers["Authorization"] = "Bearer never-leaves-the-process";  // stripped by the bus
  });
  ev::EventPublisher publisher(mediator);
  ev::AsyncEventPublisher<> async_publisher(async_mediator);
  // A service runs it on its own thread (relay.start(), woken by relay.notify() after each
  // COMMIT); here it drains after each use case, so that the output reads in order.
  ev::OutboxRelay relay(storage->relay_store(), wire->transport());

  // Handler classes, registered in one call each; the bundles unregister them at the end.
  shop::InventoryHandlers inventory;
  shop::NotificationHandlers notifications;
  ev::HandlerBundle inventory_routes = ev::register_handlers(inventory, mediator, async_mediator);
  ev::HandlerBundle notification_routes = ev::register_handlers(notifications, mediator, async_mediator);
  // The receiving service: its integration-event routes go to the broker's consumer.
  shop::ShippingHandlers shipping(wire->consumer());
  ev::HandlerBundle shipping_routes =
      ev::register_handlers(shipping, mediator, async_mediator, ev::integration(wire->consumer()));

  // Units of work: the order rows and the outbox rows commit together; the domain events are
  // dispatched only after COMMIT.
  shop::OrderRepository orders(*storage);
  ev::AggregateCollector collector;
  ev::TransactionalOutbox transaction(collector, publisher, bus);
  ev::AsyncTransactionalOutbox<> async_transaction(collector, async_publisher, bus);

  auto create_order = [&](const std::string& id, const std::string& item, int quantity) {
    std::printf("== create order %s: %d x %s\n", id.c_str(), quantity, item.c_str());
    try {
      transaction.run(*storage, [&] {
        shop::Order& order = orders.save(shop::Order::create(id, item, quantity));
        collector.collect(order);
      });
      relay.drain();
      std::printf("[use case] order %s created\n", id.c_str());
    } catch (const std::exception& e) {
      orders.remove(id);
      std::printf("[use case] order %s rejected (%s): nothing was published\n", id.c_str(), e.what());
    }
  };
  auto pay_order = [&](const std::string& id, double amount) {
    std::printf("== pay order %s: %.2f\n", id.c_str(), amount);
    ev::sync_wait(async_transaction.run(*storage, [&]() -> ev::Task<> {
      shop::Order& order = orders.get(id);
      order.pay(amount);
      orders.paid(order, amount);
      collector.collect(order);
      co_return;
    }));
    relay.drain();
    std::printf("[use case] order %s paid\n", id.c_str());
  };

  create_order("o-1", "widget", 2);
  pay_order("o-1", 19.98);
  create_order("o-2", "gadget", 0);  // invalid: the unit of work throws

  wire->finish();
  std::printf("== done: %zu message(s) sent\n", wire->sent());
}
