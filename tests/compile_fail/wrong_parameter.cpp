// Must NOT compile: a listed handler method takes `int`, not `const E&` with E an event.
// The CTest check requires the compiler's output to name the method.
#include <spakky/event/mediator/event_mediator.hpp>
#include <spakky/event/stereotype/event_handler.hpp>

#include "support/events.hpp"

namespace {
struct Handlers {
  void handle_with_int_parameter(int) {}
  using event_routes = spakky::event::routes<&Handlers::handle_with_int_parameter>;
};
}  // namespace

int main() {
  spakky::event::EventMediator mediator;
  Handlers handlers;
  auto bundle = spakky::event::register_handlers(handlers, mediator);
  return static_cast<int>(bundle.size());
}
