#pragma once
// Events and a serializer shared by the outbox and inbox tests.

#include "support/test_serializer.hpp"

#include <spakky/event/event.hpp>
#include <spakky/event/outbox/partition_key.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

namespace outbox_test {

/// An integration event keyed by the unit of work (no key of its own).
struct ItemReserved final : spakky::event::AbstractIntegrationEvent {
  ItemReserved(std::string aggregate, int n) : aggregate_id(std::move(aggregate)), number(n) {}
  ItemReserved(spakky::event::EventId id, spakky::event::Timestamp at, std::string aggregate, int n)
      : AbstractIntegrationEvent(id, at), aggregate_id(std::move(aggregate)), number(n) {}
  std::string aggregate_id;
  int number;
};

/// An integration event that names its own partition key.
struct StockMoved final : spakky::event::AbstractIntegrationEvent, spakky::event::PartitionKeyed {
  explicit StockMoved(std::string w) : warehouse(std::move(w)) {}
  [[nodiscard]] std::string partition_key() const override { return "warehouse-" + warehouse; }
  std::string warehouse;
};

/// An integration event the serializer refuses.
struct Unserializable final : spakky::event::AbstractIntegrationEvent {};

/// Knows ItemReserved (both ways), StockMoved (encode only) and throws for Unserializable.
inline test_support::TestSerializer make_serializer() {
  test_support::TestSerializer serializer;
  serializer.add<ItemReserved>(
      [](const ItemReserved& e) { return e.aggregate_id + ":" + std::to_string(e.number); },
      [](spakky::event::EventId id, spakky::event::Timestamp at, std::string_view fields) {
        const auto colon = fields.rfind(':');
        if (colon == std::string_view::npos) throw spakky::event::InvalidMessageError("ItemReserved", "no number");
        return std::make_unique<ItemReserved>(id, at, std::string(fields.substr(0, colon)),
                                              std::stoi(std::string(fields.substr(colon + 1))));
      });
  serializer.add<StockMoved>([](const StockMoved& e) { return e.warehouse; });
  serializer.add<Unserializable>([](const Unserializable&) -> std::string { throw std::runtime_error("cannot encode"); });
  return serializer;
}

/// The `<aggregate>:<number>` part of a TestSerializer payload of ItemReserved.
inline std::string fields_of(const std::string& payload) { return payload.substr(payload.rfind('|') + 1); }

}  // namespace outbox_test
