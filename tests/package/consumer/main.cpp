// The smallest user of spakky::event: exits 0 only if the handler ran.
// Built by the find_package and add_subdirectory consumer tests.
#include <spakky/event.hpp>
#ifdef SPAKKY_CONSUMER_JSON
#include <spakky/event/json.hpp>
#endif

#include <cstdio>
#include <string>
#include <utility>

namespace consumer {

struct Greeted final : spakky::event::AbstractDomainEvent {
  explicit Greeted(std::string who) : name(std::move(who)) {}
  std::string name;
};

#ifdef SPAKKY_CONSUMER_JSON
struct Ordered final : spakky::event::AbstractIntegrationEvent {
  Ordered() = default;
  Ordered(spakky::event::EventId id, spakky::event::Timestamp at) : AbstractIntegrationEvent(id, at) {}
  std::string item;
};
SPAKKY_EVENT_JSON_FIELDS(Ordered, item)
#endif

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

#ifdef SPAKKY_CONSUMER_JSON
  spakky::event::JsonEventSerializer serializer;
  serializer.register_event<consumer::Ordered>();
  consumer::Ordered ordered;
  ordered.item = "widget";
  const std::string payload = serializer.serialize(ordered);
  const auto back = serializer.deserialize("Ordered", payload);
  const auto* read = dynamic_cast<const consumer::Ordered*>(back.get());
  if (read == nullptr || !(*read == ordered) || read->item != "widget") {
    std::fprintf(stderr, "consumer: the JSON round trip failed: %s\n", payload.c_str());
    return 1;
  }
  std::printf("consumer: JSON round trip %s\n", payload.c_str());
#endif
  return 0;
}
