// Loads a YAML document into a protobuf message by walking the message's
// descriptor, so a schema defined once in proto is also the YAML schema.
//
// Keys are proto field names; unknown and duplicate keys are errors, as are
// values of the wrong shape or type. Every loaded element's position is kept
// in a SourceMap so later checks (the validator) can point at the line an
// operator has to change. yaml-cpp is used only in yaml_loader.cc, and its
// exceptions never leave it: any input gives a value or an error.
//
// Thread-safety: the functions are reentrant; a SourceMap is a value.
#pragma once

#include <google/protobuf/message.h>

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "common/status.h"

namespace topos::topology {

// A 1-based position in a source file; line 0 means unknown.
struct SourcePosition {
  int line = 0;
  int column = 0;
};

// Where each loaded element came from, by path: "pools[1]" is the second
// pool, "pools[1].file_store" its file_store value, "pools[1].hosts[0]" its
// first host.
class SourceMap {
 public:
  explicit SourceMap(std::string file = {}) : file_(std::move(file)) {}

  void Add(std::string path, SourcePosition position);

  // The position of `path`, or else of its nearest recorded ancestor (a
  // field that was left out is reported at the element that lacks it).
  SourcePosition Find(std::string_view path) const;

  // "file:line:col" for `path` ("file" alone when nothing is known).
  std::string Locate(std::string_view path) const;

  const std::string& file() const { return file_; }

 private:
  // Hashes std::string and std::string_view alike, so lookups by a view of
  // a path need no copy.
  struct PathHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view path) const {
      return std::hash<std::string_view>()(path);
    }
  };

  std::string file_;
  std::unordered_map<std::string, SourcePosition, PathHash, std::equal_to<>> positions_;
};

// Files larger than this are refused before parsing.
inline constexpr std::size_t kMaxYamlFileBytes = 1 << 20;

// Bounds on what one document may expand to. YAML aliases let a small file
// name the same list many times, and every use becomes a copy in the message
// (and an entry in the SourceMap). Every node walked counts, alias re-visits
// included: each message, each key of a mapping and each scalar value.
// Real topologies hold a few thousand values, and a megabyte of plain YAML
// stays under both bounds; past either the document is refused.
inline constexpr int kMaxYamlNodes = 250'000;
inline constexpr std::size_t kMaxYamlValueBytes = 4 * kMaxYamlFileBytes;

// Parses `text` as one YAML document into `message` (cleared first) and
// records positions in `sources`, whose file() names the input in messages.
// On failure returns InvalidArgument whose message holds every problem found
// (at most 100), one "file:line:col: problem" per line. A document that
// expands past kMaxYamlNodes or kMaxYamlValueBytes is refused.
Status LoadYaml(std::string_view text, google::protobuf::Message& message, SourceMap& sources);

// Reads `path` (at most kMaxYamlFileBytes) and loads it as LoadYaml does;
// `sources` is reset to name `path` as given.
Status LoadYamlFile(const std::filesystem::path& path, google::protobuf::Message& message,
                    SourceMap& sources);

// A message loaded from YAML with the positions of its parts.
template <typename T>
struct Loaded {
  T message;
  SourceMap sources;
};

// Loads a file into a new T.
template <typename T>
Result<Loaded<T>> LoadYamlFileAs(const std::filesystem::path& path) {
  Loaded<T> loaded;
  Status status = LoadYamlFile(path, loaded.message, loaded.sources);
  if (!status.ok()) return status;
  return loaded;
}

// Loads text into a new T; `file` names it in messages.
template <typename T>
Result<Loaded<T>> LoadYamlAs(std::string_view text, std::string file) {
  Loaded<T> loaded{T(), SourceMap(std::move(file))};
  Status status = LoadYaml(text, loaded.message, loaded.sources);
  if (!status.ok()) return status;
  return loaded;
}

}  // namespace topos::topology
