// libFuzzer target for JsonEventSerializer::deserialize (built with clang's
// -fsanitize=fuzzer,address,undefined; see tests/fuzz/CMakeLists.txt).
//
// Input: `<event name>|<payload>` (no '|': the whole input is an OrderPlaced payload). The
// only acceptable failure is InvalidMessageError; any other exception, crash, leak or
// sanitizer report is a finding. What deserializes must serialize, read back, and serialize
// to the same bytes again.
#include <spakky/event/error.hpp>
#include <spakky/event/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fuzz {

namespace ev = spakky::event;

struct Address {
  std::string city;
  std::string zip_code;
};

struct OrderPlaced final : ev::AbstractIntegrationEvent {
  OrderPlaced(ev::EventId id, ev::Timestamp at) : AbstractIntegrationEvent(id, at) {}
  std::string order_id;
  double amount = 0;
  int quantity = 0;
  bool express = false;
  Address address;
  std::vector<std::string> tags;
  std::optional<std::string> coupon;
};

struct Shipment final : ev::AbstractIntegrationEvent {
  SPAKKY_EVENT_NAME("orders.shipment")
  Shipment(ev::EventId id, ev::Timestamp at) : AbstractIntegrationEvent(id, at) {}
  std::int64_t count = 0;
  std::uint8_t small = 0;
  float ratio = 0;
  std::vector<std::vector<int>> grid;
  std::map<std::string, std::optional<Address>> stops;
  ev::EventId parent_event;
  ev::Timestamp shipped_at;
};

/// A recursive field type, free-form JSON fields, an ordered map of floats.
struct Category {
  std::string name;
  std::vector<Category> children;
};

struct CatalogChanged final : ev::AbstractIntegrationEvent {
  SPAKKY_EVENT_NAME("catalog")
  CatalogChanged(ev::EventId id, ev::Timestamp at) : AbstractIntegrationEvent(id, at) {}
  Category root;
  nlohmann::ordered_json extra;
  std::optional<nlohmann::json> meta;
  std::optional<ev::OrderedMap<float>> weights;
};

/// Default-constructible: rebuilt through the other path.
struct Ping final : ev::AbstractIntegrationEvent {
  std::optional<std::uint64_t> sequence;
};

SPAKKY_EVENT_JSON_FIELDS(Address, city, zip_code)
SPAKKY_EVENT_JSON_FIELDS(OrderPlaced, order_id, amount, quantity, express, address, tags, coupon)
SPAKKY_EVENT_JSON_FIELDS(Shipment, count, small, ratio, grid, stops, parent_event, shipped_at)
SPAKKY_EVENT_JSON_FIELDS(Ping, sequence)
SPAKKY_EVENT_JSON_FIELDS(Category, name, children)
SPAKKY_EVENT_JSON_FIELDS(CatalogChanged, root, extra, meta, weights)

const ev::JsonEventSerializer& serializer() {
  static const ev::JsonEventSerializer instance = [] {
    ev::JsonEventSerializer s(64 * 1024);
    s.register_events<OrderPlaced, Shipment, Ping, CatalogChanged>();
    return s;
  }();
  return instance;
}

[[noreturn]] void finding(const char* what, std::string_view detail) {
  std::fprintf(stderr, "FINDING: %s: %.*s\n", what, static_cast<int>(detail.size()), detail.data());
  std::abort();
}

}  // namespace fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto bar = input.find('|');
  const std::string_view name = bar == std::string_view::npos ? std::string_view("OrderPlaced") : input.substr(0, bar);
  const std::string_view payload = bar == std::string_view::npos ? input : input.substr(bar + 1);

  const auto& serializer = fuzz::serializer();
  try {
    const auto event = serializer.deserialize(name, payload);
    if (!event) fuzz::finding("deserialize returned null", name);
    std::string first;
    try {
      first = serializer.serialize(*event);
    } catch (const spakky::event::SerializationError& e) {
      fuzz::finding("a deserialized event does not serialize", e.what());
    }
    const auto again = serializer.deserialize(event->event_name(), first);
    if (!(*again == *event)) fuzz::finding("the round trip changed the id or the timestamp", first);
    if (serializer.serialize(*again) != first) fuzz::finding("the round trip is not stable", first);
  } catch (const spakky::event::InvalidMessageError&) {
    // the one expected failure
  }
  return 0;
}
