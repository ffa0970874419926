// Must NOT compile: a listed handler method takes an event that is neither a domain nor an
// integration event. No consumer would ever deliver it (as in the seed, in-process mediators
// get domain routes only, broker consumers integration routes only), so listing it is a
// mistake. The CTest check requires the compiler's output to name the method.
#include <spakky/event/mediator/event_mediator.hpp>
#include <spakky/event/stereotype/event_handler.hpp>

#include "support/events.hpp"

namespace {
struct Handlers {
  void on_ping(const test_events::Ping&) {}
  void handle_plain_event_of_neither_kind(const test_events::Plain&) {}
  using event_routes = spakky::event::routes<&Handlers::on_ping, &Handlers::handle_plain_event_of_neither_kind>;
};
}  // namespace

int main() {
  spakky::event::EventMediator mediator;
  Handlers handlers;
  auto bundle = spakky::event::register_handlers(handlers, mediator);
  return static_cast<int>(bundle.size());
}
