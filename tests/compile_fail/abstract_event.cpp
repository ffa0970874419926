// Must NOT compile: a listed handler method takes AbstractEvent itself, a catch-all for events
// of every kind, which no consumer gets (catch-alls are per kind: AbstractDomainEvent on an
// in-process mediator, AbstractIntegrationEvent on a broker consumer). The CTest check
// requires the compiler's output to name the method.
#include <spakky/event/event.hpp>
#include <spakky/event/mediator/event_mediator.hpp>
#include <spakky/event/stereotype/event_handler.hpp>

namespace {
struct Handlers {
  void handle_every_abstract_event(const spakky::event::AbstractEvent&) {}
  using event_routes = spakky::event::routes<&Handlers::handle_every_abstract_event>;
};
}  // namespace

int main() {
  spakky::event::EventMediator mediator;
  Handlers handlers;
  auto bundle = spakky::event::register_handlers(handlers, mediator);
  return static_cast<int>(bundle.size());
}
