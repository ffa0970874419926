// Transactional publishing hung on your own transaction wrapper, with a real SQLite
// transaction: events are dispatched only when the transaction body succeeded and committed,
// and a failing domain handler is isolated exactly as the mediator isolates it.

#include <spakky/event.hpp>

#include <sqlite3.h>

#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>
#include <utility>

namespace ev = spakky::event;

struct AccountOpened final : ev::AbstractDomainEvent {
  explicit AccountOpened(std::string n) : name(std::move(n)) {}
  std::string name;
};

class Account final : public ev::AbstractAggregateRoot {
public:
  explicit Account(std::string name) : name_(std::move(name)) { add_event(AccountOpened(name_)); }
  [[nodiscard]] const std::string& name() const noexcept { return name_; }

private:
  std::string name_;
};

void exec(sqlite3* db, const std::string& sql) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = message != nullptr ? message : "unknown SQLite error";
    sqlite3_free(message);
    throw std::runtime_error(text);
  }
}

/// The user's own transaction wrapper: the steps of TransactionalEventPublishing go at the start
/// (before: a wrapper re-entered from an event handler then joins the one publishing), after
/// COMMIT (after_returning, only once committed) and at the end (after, always).
template <class Body>
void in_transaction(sqlite3* db, ev::TransactionalEventPublishing& publishing, Body&& body) {
  publishing.before();
  struct Always {
    ev::TransactionalEventPublishing& publishing;
    ~Always() { publishing.after(); }
  } always{publishing};
  exec(db, "BEGIN");
  try {
    std::forward<Body>(body)();
    exec(db, "COMMIT");
  } catch (...) {
    exec(db, "ROLLBACK");
    throw;
  }
  publishing.after_returning();
}

int count_accounts(sqlite3* db) {
  sqlite3_stmt* statement = nullptr;
  sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM accounts", -1, &statement, nullptr);
  sqlite3_step(statement);
  const int count = sqlite3_column_int(statement, 0);
  sqlite3_finalize(statement);
  return count;
}

int main() {
  sqlite3* db = nullptr;
  if (sqlite3_open(":memory:", &db) != SQLITE_OK) return 1;
  exec(db, "CREATE TABLE accounts (name TEXT PRIMARY KEY)");

  ev::EventMediator mediator;
  mediator.set_error_handler([](const ev::AbstractEvent& event, std::exception_ptr error) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      std::printf("[isolated] a handler of %s failed: %s\n", std::string(event.event_name()).c_str(), e.what());
    }
  });
  ev::EventPublisher publisher(mediator);
  ev::AggregateCollector collector;
  ev::TransactionalEventPublishing publishing(collector, publisher);

  ev::ScopedSubscription welcome = mediator.register_handler(
      [](const AccountOpened& e) { std::printf("[welcome] mail to %s\n", e.name.c_str()); });
  ev::ScopedSubscription audit = mediator.register_handler(
      [](const AccountOpened&) { throw std::runtime_error("audit log unavailable"); });
  ev::ScopedSubscription metrics = mediator.register_handler(
      [](const AccountOpened& e) { std::printf("[metrics] accounts += 1 (%s)\n", e.name.c_str()); });

  for (const char* name : {"alice", "alice", "bob"}) {
    std::printf("== open account %s\n", name);
    Account account(name);
    try {
      in_transaction(db, publishing, [&] {
        collector.collect(account);  // its AccountOpened is pending from here on
        exec(db, std::string("INSERT INTO accounts VALUES ('") + name + "')");
      });
      std::printf("[committed] %s\n", name);
    } catch (const std::exception& e) {
      std::printf("[rolled back] %s: %s (no event published)\n", name, e.what());
    }
  }
  std::printf("== %d accounts in the database\n", count_accounts(db));
  sqlite3_close(db);
}
