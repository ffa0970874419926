#pragma once
/// @file
/// AMQP field tables as the consumer keeps them: an owned deep copy of a received header table
/// (every field kind, nested tables and arrays), reading counts out of it, and the rule that
/// keeps bearer tokens out of the copies the consumer publishes.

#include <spakky/event/detail/authorization.hpp>
#include <spakky/event/rabbitmq/detail/amqp_connection.hpp>

#include <amqp.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <string_view>

namespace spakky::event::detail::rabbitmq {

/// An owned deep copy of an AMQP field table: every field kind, nested tables and arrays,
/// byte strings. Movable; its table() stays valid as long as the object (also after a move).
class FieldTable {
public:
  FieldTable() noexcept = default;

  /// Copies `table` (which may live in librabbitmq's frame buffers) into memory of its own.
  explicit FieldTable(const amqp_table_t& table) {
    if (table.num_entries <= 0) return;
    pool_.reset(new amqp_pool_t);
    init_amqp_pool(pool_.get(), 1024);  // a typical header table fits one page
    if (amqp_table_clone(&table, &table_, pool_.get()) != AMQP_STATUS_OK) {
      table_ = amqp_empty_table;
      throw std::bad_alloc();
    }
  }

  [[nodiscard]] const amqp_table_t& table() const noexcept { return table_; }

  /// The value of the entry named `name` (the first, if there are several), or null.
  [[nodiscard]] const amqp_field_value_t* find(std::string_view name) const noexcept {
    for (int i = 0; i < table_.num_entries; ++i) {
      if (view(table_.entries[i].key) == name) return &table_.entries[i].value;
    }
    return nullptr;
  }

private:
  struct PoolDelete {
    void operator()(amqp_pool_t* pool) const noexcept {
      empty_amqp_pool(pool);
      delete pool;
    }
  };
  std::unique_ptr<amqp_pool_t, PoolDelete> pool_;
  amqp_table_t table_ = amqp_empty_table;
};

/// A non-negative count held by a header: any integer kind, or decimal text (how the consumer
/// writes its own counts). nullopt for anything else, a negative number or an overflow.
inline std::optional<std::uint64_t> field_count(const amqp_field_value_t& field) noexcept {
  const auto from_signed = [](std::int64_t value) -> std::optional<std::uint64_t> {
    if (value < 0) return std::nullopt;
    return static_cast<std::uint64_t>(value);
  };
  switch (field.kind) {
    case AMQP_FIELD_KIND_I8: return from_signed(field.value.i8);
    case AMQP_FIELD_KIND_U8: return field.value.u8;
    case AMQP_FIELD_KIND_I16: return from_signed(field.value.i16);
    case AMQP_FIELD_KIND_U16: return field.value.u16;
    case AMQP_FIELD_KIND_I32: return from_signed(field.value.i32);
    case AMQP_FIELD_KIND_U32: return field.value.u32;
    case AMQP_FIELD_KIND_I64: return from_signed(field.value.i64);
    case AMQP_FIELD_KIND_U64: return field.value.u64;
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES: {
      const std::string_view text = view(field.value.bytes);
      if (text.empty() || text.size() > 19) return std::nullopt;  // 19 digits never overflow
      std::uint64_t value = 0;
      for (const char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + static_cast<std::uint64_t>(c - '0');
      }
      return value;
    }
    default:
      return std::nullopt;
  }
}

namespace bearer {

inline bool value_has_credential(const amqp_field_value_t& value, int depth = 0) noexcept {
  if (depth > 32) return true;  // absurdly deep: treat as carrying one rather than recurse on
  switch (value.kind) {
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES:
      return spakky::event::detail::has_bearer_credential(view(value.value.bytes));
    case AMQP_FIELD_KIND_TABLE:
      for (int i = 0; i < value.value.table.num_entries; ++i) {
        if (value_has_credential(value.value.table.entries[i].value, depth + 1)) return true;
      }
      return false;
    case AMQP_FIELD_KIND_ARRAY:
      for (int i = 0; i < value.value.array.num_entries; ++i) {
        if (value_has_credential(value.value.array.entries[i], depth + 1)) return true;
      }
      return false;
    default:
      return false;
  }
}

}  // namespace bearer

/// The bus's rule for what never leaves the process, applied to a typed AMQP header: an
/// `Authorization` or `Proxy-Authorization` header (names compared ignoring case and
/// whitespace) whose value carries a `Bearer ` credential (anywhere in its text, nested
/// tables and arrays included).
inline bool carries_bearer_token(std::string_view name, const amqp_field_value_t& value) noexcept {
  // The same rule as the bus's (detail/authorization.hpp), applied to typed values.
  if (!spakky::event::detail::header_name_is(name, "authorization") &&
      !spakky::event::detail::header_name_is(name, "proxy-authorization")) {
    return false;
  }
  return bearer::value_has_credential(value);
}

}  // namespace spakky::event::detail::rabbitmq
