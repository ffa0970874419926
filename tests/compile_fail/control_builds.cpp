// Positive control of the compile-fail harness: a correct handler class that MUST build, run
// through the same script. If this fails, the harness (not the library) is broken.
#include <spakky/event/mediator/async_event_mediator.hpp>
#include <spakky/event/mediator/event_mediator.hpp>
#include <spakky/event/stereotype/event_handler.hpp>
#include <spakky/event/task.hpp>

#include "support/events.hpp"

namespace {
struct Handlers {
  int pings = 0;
  void handle_ping_correctly(const test_events::Ping&) { ++pings; }
  spakky::event::Task<> handle_pong_correctly(const test_events::Pong&) { co_return; }
  void handle_placed_correctly(const test_events::OrderPlaced&) const noexcept {}
  using event_routes = spakky::event::routes<&Handlers::handle_ping_correctly, &Handlers::handle_pong_correctly,
                                             &Handlers::handle_placed_correctly>;
};
}  // namespace

int main() {
  spakky::event::EventMediator mediator;
  spakky::event::AsyncEventMediator<> async_mediator;
  Handlers handlers;
  auto bundle = spakky::event::register_handlers(handlers, mediator, async_mediator);
  mediator.dispatch(test_events::Ping{});
  return handlers.pings == 1 && bundle.size() == 2 ? 0 : 1;
}
