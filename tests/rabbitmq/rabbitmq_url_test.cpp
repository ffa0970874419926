// The parts of the RabbitMQ transport that need no broker: AMQP URLs, header tables, and
// failing promptly when nothing listens.

#include <spakky/event/rabbitmq.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>

namespace ev = spakky::event;

TEST_CASE("AmqpUrl reads every part of an amqp:// URL", "[rabbitmq][url]") {
  const auto url = ev::AmqpUrl::parse("amqp://app:s%40cret@mq.internal:5673/orders");
  CHECK(url.user == "app");
  CHECK(url.password == "s@cret");
  CHECK(url.host == "mq.internal");
  CHECK(url.port == 5673);
  CHECK(url.vhost == "orders");
  CHECK(url.redacted() == "amqp://app:***@mq.internal:5673/orders");
}

TEST_CASE("AmqpUrl takes RabbitMQ's defaults for what is left out", "[rabbitmq][url]") {
  for (const char* text : {"amqp://", "amqp://localhost", "amqp://localhost/", "amqp://localhost:5672/%2f"}) {
    INFO(text);
    const auto url = ev::AmqpUrl::parse(text);
    CHECK(url.user == "guest");
    CHECK(url.password == "guest");
    CHECK(url.host == "localhost");
    CHECK(url.port == 5672);
    CHECK(url.vhost == "/");
  }
}

TEST_CASE("AmqpUrl reads IPv6 hosts and query parameters", "[rabbitmq][url]") {
  const auto url = ev::AmqpUrl::parse("amqp://u:p@[::1]:5600/v?heartbeat=10&connection_timeout=2500");
  CHECK(url.host == "::1");
  CHECK(url.port == 5600);
  CHECK(url.heartbeat_seconds == 10);
  CHECK(url.connection_timeout_ms == 2500);
  CHECK(url.redacted() == "amqp://u:***@[::1]:5600/v");
}

TEST_CASE("AmqpUrl rejects what it cannot use, without echoing the password", "[rabbitmq][url]") {
  for (const char* text : {"http://host", "amqps://host", "amqp://u:topsecret@host:99999/", "amqp://host:x/",
                           "amqp://host/a/b", "amqp://host/%zz", "amqp://host?frame_max=1", "amqp://[::1"}) {
    INFO(text);
    try {
      (void)ev::AmqpUrl::parse(text);
      FAIL("no error");
    } catch (const ev::EventError& e) {
      CHECK(std::string(e.what()).find("invalid AMQP URL") != std::string::npos);
      CHECK(std::string(e.what()).find("topsecret") == std::string::npos);
    }
  }
}

TEST_CASE("the transports and the consumer read their URL when they are made", "[rabbitmq][url]") {
  CHECK_THROWS_AS(ev::RabbitMqEventTransport({.url = "amqps://host"}), ev::EventError);
  CHECK_THROWS_AS(ev::AsyncRabbitMqEventTransport({.url = "nope"}), ev::EventError);
  struct NoSerializer final : ev::IEventSerializer {
    std::string serialize(const ev::AbstractIntegrationEvent&) const override { return {}; }
    std::unique_ptr<ev::AbstractIntegrationEvent> deserialize(std::string_view, std::string_view) const override {
      return nullptr;
    }
  } serializer;
  CHECK_THROWS_AS(ev::RabbitMqEventConsumer(serializer, {.url = "amqp://h", .queue = ""}), ev::EventError);
  CHECK_THROWS_AS(ev::RabbitMqEventConsumer(serializer, {.url = "x://h", .queue = "q"}), ev::EventError);
}

TEST_CASE("headers become an AMQP table of strings and come back as text", "[rabbitmq][headers]") {
  ev::Headers headers{{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, {"tenant", "é"}};
  ev::detail::rabbitmq::HeaderTable table;
  CHECK(table.add_all(headers).empty());
  const amqp_table_t amqp = table.table();
  REQUIRE(amqp.num_entries == 2);
  CHECK(amqp.entries[0].value.kind == AMQP_FIELD_KIND_UTF8);

  ev::Headers back;
  ev::detail::rabbitmq::read_headers(amqp, back);
  CHECK(back == headers);

  SECTION("names AMQP cannot carry are reported") {
    ev::detail::rabbitmq::HeaderTable other;
    CHECK(other.add_all({{std::string(256, 'k'), "v"}}) == std::string(256, 'k'));
    CHECK(other.add_all({{"", "v"}}) == "<empty>");
  }
  SECTION("scalar values of other kinds are read as text; tables are left out") {
    amqp_table_entry_t entries[4]{};
    entries[0].key = amqp_cstring_bytes("count");
    entries[0].value.kind = AMQP_FIELD_KIND_I32;
    entries[0].value.value.i32 = -42;
    entries[1].key = amqp_cstring_bytes("flag");
    entries[1].value.kind = AMQP_FIELD_KIND_BOOLEAN;
    entries[1].value.value.boolean = 1;
    entries[2].key = amqp_cstring_bytes("nested");
    entries[2].value.kind = AMQP_FIELD_KIND_TABLE;
    entries[2].value.value.table = amqp_empty_table;
    entries[3].key = amqp_cstring_bytes("ratio");
    entries[3].value.kind = AMQP_FIELD_KIND_F64;
    entries[3].value.value.f64 = 0.5;
    amqp_table_t mixed{4, entries};
    ev::Headers read;
    ev::detail::rabbitmq::read_headers(mixed, read);
    CHECK(read == ev::Headers{{"count", "-42"}, {"flag", "true"}, {"ratio", "0.5"}});
  }
}

TEST_CASE("a send fails promptly with TransportError when nothing listens", "[rabbitmq][transport]") {
  // Port 1 on the loopback: connection refused at once.
  ev::RabbitMqEventTransport transport({.url = "amqp://guest:guest@127.0.0.1:1/", .connect_timeout = std::chrono::milliseconds(2000)});
  const auto started = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(transport.send("OrderPlaced", "{}", {}), ev::TransportError);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(3));
  CHECK_FALSE(transport.connected());

  ev::AsyncRabbitMqEventTransport async_transport({.url = "amqp://guest:guest@127.0.0.1:1/"});
  CHECK_THROWS_AS(ev::sync_wait(async_transport.send("OrderPlaced", "{}", {})), ev::TransportError);
}
