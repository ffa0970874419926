// The smallest user of spakky::event: exits 0 only if the handler ran.
// Built by the find_package and add_subdirectory consumer tests.
#include <spakky/event.hpp>

#include <cstdio>
#include <string>
#include <utility>

namespace consumer {

struct Greeted final : spakky::event::AbstractDomainEvent {
  explicit Greeted(std::string who) : name(std::move(who)) {}
  std::string name;
};

}  // namespace consumer

int main() {
  spakky::event::EventMediator mediator;
  int calls = 0;
  std::string seen;
  spakky::event::Subscription subscription = mediator.register_handler([&](const consumer::Greeted& event) {
    ++calls;
    seen = event.name;
  });

  spakky::event::IEventDispatcher& dispatcher = mediator;
  dispatcher.dispatch(consumer::Greeted{"world"});
  subscription.cancel();

  if (calls != 1 || seen != "world") {
    std::fprintf(stderr, "consumer: handler ran %d time(s), saw \"%s\"; expected once with \"world\"\n", calls,
                 seen.c_str());
    return 1;
  }
  std::puts("consumer: handler ran once");
  return 0;
}
