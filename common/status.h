// Errors as values across module boundaries, after LevelDB's Status.
//
// A Status is either OK or carries a code and a message a person can act on.
// Result<T> is a value or a non-OK Status. Both are cheap to move and are
// not thread-safe (use one per thread, like any value type).
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace topos {

class Status {
 public:
  enum class Code {
    kOk = 0,
    kInvalidArgument,   // the input is malformed; fix the input
    kNotFound,          // the named thing does not exist
    kAlreadyExists,     // the thing exists and will not be overwritten
    kPermissionDenied,  // authenticated, but not allowed
    kUnauthenticated,   // no or bad credentials
    kFailedPrecondition,  // the system is not in a state to do this
    kUnavailable,       // try again later (network, busy)
    kInternal,          // a bug or an environment failure (disk, crypto)
  };

  Status() = default;
  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) { return Status(Code::kInvalidArgument, std::move(m)); }
  static Status NotFound(std::string m) { return Status(Code::kNotFound, std::move(m)); }
  static Status AlreadyExists(std::string m) { return Status(Code::kAlreadyExists, std::move(m)); }
  static Status PermissionDenied(std::string m) { return Status(Code::kPermissionDenied, std::move(m)); }
  static Status Unauthenticated(std::string m) { return Status(Code::kUnauthenticated, std::move(m)); }
  static Status FailedPrecondition(std::string m) { return Status(Code::kFailedPrecondition, std::move(m)); }
  static Status Unavailable(std::string m) { return Status(Code::kUnavailable, std::move(m)); }
  static Status Internal(std::string m) { return Status(Code::kInternal, std::move(m)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is prefixed with `context: `.
  Status WithContext(const std::string& context) const {
    if (ok()) return *this;
    return Status(code_, context + ": " + message_);
  }

 private:
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    assert(!status_.ok() && "a Result built from a Status must carry an error");
    if (status_.ok()) status_ = Status::Internal("Result built from an OK status");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { assert(ok()); return *value_; }
  const T& value() const& { assert(ok()); return *value_; }
  T&& value() && { assert(ok()); return std::move(*value_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace topos

// Returns early from the enclosing function if `expr` (a Status) is not OK.
#define TOPOS_RETURN_IF_ERROR(expr)              \
  do {                                           \
    ::topos::Status topos_status_ = (expr);      \
    if (!topos_status_.ok()) return topos_status_; \
  } while (0)
