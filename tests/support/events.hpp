#pragma once
// Event types shared by the mediator tests.

#include <spakky/event/event.hpp>

#include <string>
#include <utility>

namespace test_events {

struct UserCreated final : spakky::event::AbstractDomainEvent {
  UserCreated(std::string id, std::string name) : user_id(std::move(id)), username(std::move(name)) {}
  std::string user_id;
  std::string username;
};

struct Ping final : spakky::event::AbstractDomainEvent {
  explicit Ping(int v = 0) : value(v) {}
  int value;
};

struct Pong final : spakky::event::AbstractDomainEvent {
  explicit Pong(int v = 0) : value(v) {}
  int value;
};

struct OrderPlaced final : spakky::event::AbstractIntegrationEvent {
  explicit OrderPlaced(std::string id = "o-1") : order_id(std::move(id)) {}
  std::string order_id;
};

/// Neither a domain nor an integration event.
struct Plain final : spakky::event::AbstractEvent {};

}  // namespace test_events
