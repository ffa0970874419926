// Must NOT compile: a listed handler method takes the event by value (it must be `const E&`).
// The CTest check requires the compiler's output to name the method.
#include <spakky/event/mediator/event_mediator.hpp>
#include <spakky/event/stereotype/event_handler.hpp>

#include "support/events.hpp"

namespace {
struct Handlers {
  void handle_ping_copied(test_events::Ping) {}
  using event_routes = spakky::event::routes<&Handlers::handle_ping_copied>;
};
}  // namespace

int main() {
  spakky::event::EventMediator mediator;
  Handlers handlers;
  auto bundle = spakky::event::register_handlers(handlers, mediator);
  return static_cast<int>(bundle.size());
}
