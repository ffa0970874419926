#pragma once
// Where integration events leave the process. Until the wire issue lands this is a transport
// that prints what it would send, with a small hand-written serializer.

#include "domain.hpp"

#include <spakky/event/error.hpp>
#include <spakky/event/event_publisher.hpp>
#include <spakky/event/serializer.hpp>

#include <cstdio>
#include <exception>
#include <memory>
#include <string>

namespace shop {

struct Options {};
inline Options parse_options(int, char**) { return {}; }

inline std::string describe(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown error";
  }
}

class PrintingTransport final : public spakky::event::IEventTransport {
public:
  void send(std::string_view name, std::string_view payload, const spakky::event::Headers& headers) override {
    std::printf("[transport] %.*s %.*s", int(name.size()), name.data(), int(payload.size()), payload.data());
    for (const auto& [key, value] : headers) std::printf(" %s=%s", key.c_str(), value.c_str());
    std::printf("\n");
    ++sent_;
  }
  [[nodiscard]] std::size_t sent() const noexcept { return sent_; }

private:
  std::size_t sent_ = 0;
};

class OrderPlacedSerializer final : public spakky::event::IEventSerializer {
public:
  std::string serialize(const spakky::event::AbstractIntegrationEvent& event) const override {
    const auto* placed = dynamic_cast<const OrderPlaced*>(&event);
    if (placed == nullptr) throw spakky::event::SerializationError(event.event_name(), "unknown type");
    return "{\"event_id\":\"" + placed->event_id().to_string() + "\",\"order_id\":\"" + placed->order_id +
           "\",\"item\":\"" + placed->item + "\",\"quantity\":" + std::to_string(placed->quantity) + "}";
  }
  std::unique_ptr<spakky::event::AbstractIntegrationEvent> deserialize(std::string_view name,
                                                                       std::string_view) const override {
    throw spakky::event::InvalidMessageError(name, "this service only sends");
  }
};

/// The transport and serializer the example sends through.
class Wire {
public:
  spakky::event::IEventTransport& transport() noexcept { return transport_; }
  const spakky::event::IEventSerializer& serializer() const noexcept { return serializer_; }
  void finish() {}
  [[nodiscard]] std::size_t sent() const noexcept { return transport_.sent(); }

private:
  PrintingTransport transport_;
  OrderPlacedSerializer serializer_;
};

inline std::unique_ptr<Wire> make_wire(const Options&) { return std::make_unique<Wire>(); }

}  // namespace shop
