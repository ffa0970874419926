// The C++ half of the pydantic interop test (pydantic_interop.py): reads `<name>\t<payload>`
// lines that pydantic wrote, deserializes each with JsonEventSerializer, serializes it again
// and writes `<name>\t<payload>` lines for pydantic to validate.
//   json_interop <in> <out>
#include <spakky/event/json.hpp>

#include <cstdint>
#include <cstdio>
#include <exception>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

namespace interop {

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
  double ratio = 0;
  std::vector<std::vector<int>> grid;
  ev::OrderedMap<int> stock;  // dict[str, int]: keys in the order pydantic wrote them
  std::optional<Address> origin;
  std::vector<Address> stops;
  ev::EventId parent_event;
  ev::Timestamp shipped_at;
};

SPAKKY_EVENT_JSON_FIELDS(Address, city, zip_code)
SPAKKY_EVENT_JSON_FIELDS(OrderPlaced, order_id, amount, quantity, express, address, tags, coupon)
SPAKKY_EVENT_JSON_FIELDS(Shipment, count, ratio, grid, stock, origin, stops, parent_event, shipped_at)

}  // namespace interop

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: json_interop <in> <out>\n");
    return 2;
  }
  spakky::event::JsonEventSerializer serializer;
  serializer.register_events<interop::OrderPlaced, interop::Shipment>();
  std::ifstream in(argv[1], std::ios::binary);
  std::ofstream out(argv[2], std::ios::binary);
  std::string line;
  int count = 0;
  while (std::getline(in, line)) {
    const auto tab = line.find('\t');
    if (tab == std::string::npos) continue;
    const std::string name = line.substr(0, tab);
    try {
      const auto event = serializer.deserialize(name, std::string_view(line).substr(tab + 1));
      out << name << '\t' << serializer.serialize(*event) << '\n';
      ++count;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "json_interop: line %d (%s): %s\n", count + 1, name.c_str(), e.what());
      return 1;
    }
  }
  std::printf("json_interop: %d event(s) read and written\n", count);
  return count > 0 ? 0 : 1;
}
