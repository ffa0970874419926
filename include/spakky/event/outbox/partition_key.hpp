#pragma once
/// @file
/// PartitionKeyed: an integration event that chooses its own outbox partition key. Rows of one
/// key are relayed strictly in commit order, one at a time; rows of different keys in parallel.

#include <string>

namespace spakky::event {

/// Mix into an integration event to override the default key (the aggregate's id, set by the
/// unit of work): `struct StockMoved final : AbstractIntegrationEvent, PartitionKeyed {...}`.
class PartitionKeyed {
public:
  virtual ~PartitionKeyed() = default;
  /// The key this event is ordered by (e.g. the warehouse id instead of the order id).
  [[nodiscard]] virtual std::string partition_key() const = 0;

protected:
  PartitionKeyed() = default;
  /// Copyable, as the events deriving from it are.
  PartitionKeyed(const PartitionKeyed&) = default;
  /// Copyable, as the events deriving from it are.
  PartitionKeyed& operator=(const PartitionKeyed&) = default;
};

}  // namespace spakky::event
