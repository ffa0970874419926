#pragma once
/// @file
/// IOutboxWriter: appends one prepared message to an outbox table in the caller's open
/// transaction (implemented per database: SqliteOutboxWriter, PostgresOutboxWriter).

#include <string_view>

namespace spakky::event {

/// One outbox row as the bus hands it to a writer; every view lives for the call only.
struct OutboxMessage {
  std::string_view event_id;       ///< the event's UUID, text
  std::string_view event_name;     ///< routing name on the wire
  std::string_view payload;        ///< the serializer's bytes
  std::string_view headers;        ///< detail::encode_headers' text
  std::string_view partition_key;  ///< ordering key
};

/// Writes outbox rows on the caller's connection. Throws NotInTransactionError (nothing
/// written) when the connection has no open transaction, OutboxStoreError on a database error.
class IOutboxWriter {
public:
  virtual ~IOutboxWriter() = default;
  /// Inserts `message` as a pending row, inside the connection's open transaction.
  virtual void append(const OutboxMessage& message) = 0;
};

}  // namespace spakky::event
