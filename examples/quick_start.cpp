// The quick start of README.md: a domain event dispatched in process, an integration event
// handed to a transport, both through one EventPublisher.

#include <spakky/event.hpp>

#include <cstdio>
#include <string>
#include <utility>

namespace ev = spakky::event;

struct UserCreated final : ev::AbstractDomainEvent {
  UserCreated(std::string id, std::string name) : user_id(std::move(id)), username(std::move(name)) {}
  std::string user_id;
  std::string username;
};

struct WelcomeMailRequested final : ev::AbstractIntegrationEvent {
  explicit WelcomeMailRequested(std::string to) : address(std::move(to)) {}
  std::string address;
};

// Where integration events would leave the process; this one prints them.
struct PrintingTransport final : ev::IEventTransport {
  void send(std::string_view name, std::string_view payload, const ev::Headers& headers) override {
    std::printf("transport: %.*s %.*s (%zu headers)\n", int(name.size()), name.data(), int(payload.size()),
                payload.data(), headers.size());
  }
};

// A stand-in serializer; the JSON one lives in its own target.
struct MailSerializer final : ev::IEventSerializer {
  std::string serialize(const ev::AbstractIntegrationEvent& event) const override {
    return "{\"address\":\"" + dynamic_cast<const WelcomeMailRequested&>(event).address + "\"}";
  }
  std::unique_ptr<ev::AbstractIntegrationEvent> deserialize(std::string_view name, std::string_view) const override {
    throw ev::InvalidMessageError(name, "this example only sends");
  }
};

int main() {
  ev::EventMediator mediator;
  PrintingTransport transport;
  MailSerializer serializer;
  ev::DirectEventBus bus(transport, serializer);
  ev::EventPublisher publisher(mediator, bus);

  ev::ScopedSubscription on_created = mediator.register_handler([&](const UserCreated& e) {
    std::printf("handler: welcome, %s\n", e.username.c_str());
    publisher.publish(WelcomeMailRequested(e.username + "@example.com"));  // re-entrant publish
  });

  publisher.publish(UserCreated("u-1", "kim"));
}
