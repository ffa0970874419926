// Must NOT compile: a listed coroutine method (returns Task<>) but only a synchronous
// IEventConsumer is given, so no consumer fits it.
// The CTest check requires the compiler's output to name the method.
#include <spakky/event/mediator/event_mediator.hpp>
#include <spakky/event/stereotype/event_handler.hpp>
#include <spakky/event/task.hpp>

#include "support/events.hpp"

namespace {
struct Handlers {
  void on_ping(const test_events::Ping&) {}
  spakky::event::Task<> handle_pong_as_coroutine(const test_events::Pong&) { co_return; }
  using event_routes = spakky::event::routes<&Handlers::on_ping, &Handlers::handle_pong_as_coroutine>;
};
}  // namespace

int main() {
  spakky::event::EventMediator mediator;
  Handlers handlers;
  auto bundle = spakky::event::register_handlers(handlers, mediator);
  return static_cast<int>(bundle.size());
}
