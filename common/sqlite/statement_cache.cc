#include "common/sqlite/statement_cache.h"

#include <sqlite3.h>

namespace topos::sqlite {
namespace {

std::mutex& RegistryMutex() {
  static std::mutex mu;
  return mu;
}

std::unordered_map<sqlite3*, StatementCache*>& Registry() {
  static std::unordered_map<sqlite3*, StatementCache*> caches;
  return caches;
}

}  // namespace

StatementCache::StatementCache(sqlite3* db, std::size_t capacity) : db_(db), capacity_(capacity) {
  std::lock_guard lock(RegistryMutex());
  Registry()[db_] = this;
}

StatementCache::~StatementCache() {
  {
    std::lock_guard lock(RegistryMutex());
    Registry().erase(db_);
  }
  std::lock_guard lock(mu_);
  for (auto& [sql, statement] : kept_) sqlite3_finalize(statement);
}

StatementCache* StatementCache::For(sqlite3* db) {
  std::lock_guard lock(RegistryMutex());
  auto found = Registry().find(db);
  return found == Registry().end() ? nullptr : found->second;
}

sqlite3_stmt* StatementCache::Take(const std::string& sql) {
  std::lock_guard lock(mu_);
  auto found = kept_.find(sql);
  if (found == kept_.end()) return nullptr;
  sqlite3_stmt* statement = found->second;
  kept_.erase(found);
  return statement;
}

void StatementCache::Give(const std::string& sql, sqlite3_stmt* statement) {
  // A statement left mid-step would hold its read transaction open.
  sqlite3_reset(statement);
  sqlite3_clear_bindings(statement);
  std::lock_guard lock(mu_);
  if (kept_.size() >= capacity_ || !kept_.emplace(sql, statement).second) {
    sqlite3_finalize(statement);
  }
}

std::size_t StatementCache::size() const {
  std::lock_guard lock(mu_);
  return kept_.size();
}

}  // namespace topos::sqlite
