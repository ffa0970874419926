#pragma once
// The integration events and the serializer the RabbitMQ tests send and receive.

#include "support/test_serializer.hpp"

#include <spakky/event/error.hpp>
#include <spakky/event/event.hpp>

#include <charconv>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace rabbitmq_test {

namespace ev = spakky::event;

/// Fields on the wire: `<order_id>,<quantity>`.
struct OrderPlaced final : ev::AbstractIntegrationEvent {
  OrderPlaced(std::string id, int qty) : order_id(std::move(id)), quantity(qty) {}
  OrderPlaced(ev::EventId id, ev::Timestamp at, std::string order, int qty)
      : AbstractIntegrationEvent(id, at), order_id(std::move(order)), quantity(qty) {}
  std::string order_id;
  int quantity;
};

/// Fields on the wire: `<order_id>`.
struct OrderCancelled final : ev::AbstractIntegrationEvent {
  explicit OrderCancelled(std::string id) : order_id(std::move(id)) {}
  OrderCancelled(ev::EventId id, ev::Timestamp at, std::string order)
      : AbstractIntegrationEvent(id, at), order_id(std::move(order)) {}
  std::string order_id;
};

inline test_support::TestSerializer make_serializer() {
  test_support::TestSerializer serializer;
  serializer.add<OrderPlaced>(
      [](const OrderPlaced& e) { return e.order_id + "," + std::to_string(e.quantity); },
      [](ev::EventId id, ev::Timestamp at, std::string_view fields) {
        const auto comma = fields.find(',');
        if (comma == std::string_view::npos) throw ev::InvalidMessageError("OrderPlaced", "missing field 'quantity'");
        const std::string_view quantity = fields.substr(comma + 1);
        int value = 0;
        const auto [end, error] = std::from_chars(quantity.data(), quantity.data() + quantity.size(), value);
        if (error != std::errc{} || end != quantity.data() + quantity.size()) {
          throw ev::InvalidMessageError("OrderPlaced", "field 'quantity' is not an integer");
        }
        return std::make_unique<OrderPlaced>(id, at, std::string(fields.substr(0, comma)), value);
      });
  serializer.add<OrderCancelled>([](const OrderCancelled& e) { return e.order_id; },
                                 [](ev::EventId id, ev::Timestamp at, std::string_view fields) {
                                   return std::make_unique<OrderCancelled>(id, at, std::string(fields));
                                 });
  return serializer;
}

}  // namespace rabbitmq_test
