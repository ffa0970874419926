// detail/field_table.hpp, no broker: a received header table is copied whole (every kind,
// nested tables and arrays) and stays valid on its own; counts are read from integers and
// decimal text; bearer tokens are recognised by the bus's rule, typed values included.

#include <spakky/event/rabbitmq/detail/field_table.hpp>

#include <catch2/catch.hpp>

#include <amqp.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace rmq = spakky::event::detail::rabbitmq;

namespace {

amqp_field_value_t text(const char* value) {
  amqp_field_value_t field{};
  field.kind = AMQP_FIELD_KIND_UTF8;
  field.value.bytes = amqp_cstring_bytes(value);
  return field;
}

amqp_field_value_t i64(std::int64_t value) {
  amqp_field_value_t field{};
  field.kind = AMQP_FIELD_KIND_I64;
  field.value.i64 = value;
  return field;
}

amqp_table_entry_t entry(const char* key, amqp_field_value_t value) {
  amqp_table_entry_t result{};
  result.key = amqp_cstring_bytes(key);
  result.value = value;
  return result;
}

}  // namespace

TEST_CASE("a FieldTable is a deep copy: nested tables, arrays and bytes outlive the original", "[rabbitmq][unit]") {
  std::string nested_text = "inner";
  std::string raw = std::string("\x00\xff", 2);
  std::vector<amqp_table_entry_t> inner{entry("a", text(nested_text.c_str())), entry("n", i64(7))};
  std::vector<amqp_field_value_t> items{i64(1), text("two")};
  std::vector<amqp_table_entry_t> outer(4);
  outer[0] = entry("count", i64(-42));
  outer[1].key = amqp_cstring_bytes("nested");
  outer[1].value.kind = AMQP_FIELD_KIND_TABLE;
  outer[1].value.value.table = {static_cast<int>(inner.size()), inner.data()};
  outer[2].key = amqp_cstring_bytes("list");
  outer[2].value.kind = AMQP_FIELD_KIND_ARRAY;
  outer[2].value.value.array = {static_cast<int>(items.size()), items.data()};
  outer[3].key = amqp_cstring_bytes("raw");
  outer[3].value.kind = AMQP_FIELD_KIND_BYTES;
  outer[3].value.value.bytes = {raw.size(), raw.data()};

  rmq::FieldTable copy(amqp_table_t{static_cast<int>(outer.size()), outer.data()});
  // Scribble over the original: the copy must not share its memory.
  nested_text.assign("XXXXX");
  raw.assign("zz");
  inner.assign(2, entry("gone", i64(0)));
  rmq::FieldTable moved = std::move(copy);

  const amqp_table_t& table = moved.table();
  REQUIRE(table.num_entries == 4);
  CHECK(moved.find("count")->value.i64 == -42);
  const amqp_field_value_t* nested = moved.find("nested");
  REQUIRE(nested != nullptr);
  REQUIRE(nested->kind == AMQP_FIELD_KIND_TABLE);
  REQUIRE(nested->value.table.num_entries == 2);
  CHECK(rmq::view(nested->value.table.entries[0].key) == "a");
  CHECK(rmq::view(nested->value.table.entries[0].value.value.bytes) == "inner");
  CHECK(nested->value.table.entries[1].value.value.i64 == 7);
  const amqp_field_value_t* list = moved.find("list");
  REQUIRE(list->kind == AMQP_FIELD_KIND_ARRAY);
  REQUIRE(list->value.array.num_entries == 2);
  CHECK(list->value.array.entries[0].value.i64 == 1);
  CHECK(rmq::view(list->value.array.entries[1].value.bytes) == "two");
  CHECK(rmq::view(moved.find("raw")->value.bytes) == std::string("\x00\xff", 2));
  CHECK(moved.find("absent") == nullptr);

  CHECK(rmq::FieldTable(amqp_empty_table).table().num_entries == 0);
}

TEST_CASE("counts come from integers of any width and from decimal text, nothing else", "[rabbitmq][unit]") {
  CHECK(rmq::field_count(i64(3)) == 3u);
  CHECK(rmq::field_count(text("12")) == 12u);
  CHECK_FALSE(rmq::field_count(i64(-1)).has_value());
  CHECK_FALSE(rmq::field_count(text("")).has_value());
  CHECK_FALSE(rmq::field_count(text("3x")).has_value());
  CHECK_FALSE(rmq::field_count(text("-3")).has_value());
  CHECK_FALSE(rmq::field_count(text("99999999999999999999")).has_value());  // would overflow
  amqp_field_value_t small{};
  small.kind = AMQP_FIELD_KIND_U8;
  small.value.u8 = 200;
  CHECK(rmq::field_count(small) == 200u);
  amqp_field_value_t flag{};
  flag.kind = AMQP_FIELD_KIND_BOOLEAN;
  flag.value.boolean = 1;
  CHECK_FALSE(rmq::field_count(flag).has_value());
}

TEST_CASE("bearer tokens are found as the bus finds them, in typed and nested values too", "[rabbitmq][unit]") {
  CHECK(rmq::carries_bearer_token("Authorization", text("Bearer abc")));
  CHECK(rmq::carries_bearer_token("authorization", text("bearer abc")));
  CHECK(rmq::carries_bearer_token(" AUTHORIZATION ", text("BEARER\tabc")));
  CHECK(rmq::carries_bearer_token("Proxy-Authorization", text("Bearer abc")));
  CHECK(rmq::carries_bearer_token("proxy - authorization", text("Basic x, Bearer abc")));
  CHECK_FALSE(rmq::carries_bearer_token("Authorization", text("Basic dXNlcjpwYXNz")));
  CHECK_FALSE(rmq::carries_bearer_token("Authorization", text("Bearerless")));
  CHECK_FALSE(rmq::carries_bearer_token("X-Authorization", text("Bearer abc")));
  CHECK_FALSE(rmq::carries_bearer_token("traceparent", text("Bearer abc")));

  std::vector<amqp_table_entry_t> inner{entry("token", text("Bearer hidden"))};
  amqp_field_value_t nested{};
  nested.kind = AMQP_FIELD_KIND_TABLE;
  nested.value.table = {1, inner.data()};
  CHECK(rmq::carries_bearer_token("Authorization", nested));
  std::vector<amqp_field_value_t> items{text("Basic x"), text("bearer y")};
  amqp_field_value_t list{};
  list.kind = AMQP_FIELD_KIND_ARRAY;
  list.value.array = {2, items.data()};
  CHECK(rmq::carries_bearer_token("Proxy-Authorization", list));
  CHECK_FALSE(rmq::carries_bearer_token("Authorization", i64(5)));
}
