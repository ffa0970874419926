// Must NOT compile: a coroutine method (returns Task<>) for an integration event, with only a
// synchronous broker consumer given through integration(...) (an IEventConsumer, as
// InMemoryEventConsumer is). It used to be neither registered nor rejected: the message then
// went unrouted. The CTest check requires the compiler's output to name the method.
#include <spakky/event/inmemory/in_memory_transport.hpp>
#include <spakky/event/mediator/event_mediator.hpp>
#include <spakky/event/stereotype/event_handler.hpp>
#include <spakky/event/task.hpp>

#include "support/events.hpp"

namespace {
struct Handlers {
  void on_ping(const test_events::Ping&) {}
  spakky::event::Task<> handle_placed_as_coroutine_on_sync_broker(const test_events::OrderPlaced&) { co_return; }
  using event_routes = spakky::event::routes<&Handlers::on_ping, &Handlers::handle_placed_as_coroutine_on_sync_broker>;
};
}  // namespace

int main() {
  spakky::event::EventMediator mediator;
  spakky::event::EventMediator broker_consumer;  // stands in for a synchronous broker consumer
  Handlers handlers;
  auto bundle = spakky::event::register_handlers(handlers, mediator, spakky::event::integration(broker_consumer));
  return static_cast<int>(bundle.size());
}
