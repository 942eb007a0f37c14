#include "controller/topology/yaml_loader.h"

#include <google/protobuf/descriptor.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <charconv>
#include <limits>
#include <set>
#include <sstream>
#include <vector>

#include "common/file_io.h"

namespace topos::topology {

namespace pb = google::protobuf;

void SourceMap::Add(std::string path, SourcePosition position) {
  positions_.insert_or_assign(std::move(path), position);
}

SourcePosition SourceMap::Find(std::string_view path) const {
  while (true) {
    if (auto it = positions_.find(path); it != positions_.end()) return it->second;
    if (path.empty()) return {};
    // Step to the parent: "a[1].b" -> "a[1]" -> "a" -> "".
    std::size_t cut = path.back() == ']' ? path.rfind('[') : path.rfind('.');
    path = cut == std::string_view::npos ? std::string_view() : path.substr(0, cut);
  }
}

std::string SourceMap::Locate(std::string_view path) const {
  SourcePosition position = Find(path);
  if (position.line == 0) return file_;
  return file_ + ":" + std::to_string(position.line) + ":" + std::to_string(position.column);
}

namespace {

// Past this many problems the rest are noise; the operator fixes these first.
constexpr std::size_t kMaxErrors = 100;

SourcePosition PositionOf(const YAML::Mark& mark) {
  if (mark.is_null()) return {};
  return {mark.line + 1, mark.column + 1};
}

// "StoreKind" -> "STORE_KIND_": the prefix of the enum's value names, which
// YAML leaves out (`kind: database`).
std::string EnumPrefix(const pb::EnumDescriptor& type) {
  std::string prefix;
  for (char c : type.name()) {
    if (std::isupper(static_cast<unsigned char>(c)) && !prefix.empty()) prefix += '_';
    prefix += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return prefix + "_";
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Walks one YAML document along a message descriptor, collecting every
// problem rather than stopping at the first.
class YamlToProto {
 public:
  explicit YamlToProto(SourceMap& sources) : sources_(sources) {}

  void LoadMessage(const YAML::Node& node, pb::Message& message, const std::string& path) {
    if (!Visit(node, 0)) return;
    sources_.Add(path, PositionOf(node.Mark()));
    if (node.IsNull()) return;  // `certificate:` with nothing under it: an empty message
    if (!node.IsMap()) {
      Error(node,
            "expected a mapping of keys to values for " + Describe(path) + ", got " + Shape(node));
      return;
    }
    const pb::Descriptor& type = *message.GetDescriptor();
    std::set<std::string> seen;
    // yaml-cpp's iterators yield their key/value pair by value: bound to
    // `entry` it lives through the loop body, where `it->first` would
    // dangle at the end of its statement.
    for (const auto& entry : node) {
      const YAML::Node key = entry.first;
      if (!Visit(key, key.IsScalar() ? key.Scalar().size() : 0)) return;
      if (!key.IsScalar()) {
        Error(key, "expected a plain key in " + Describe(path));
        continue;
      }
      const std::string& name = key.Scalar();
      const pb::FieldDescriptor* field = type.FindFieldByName(name);
      if (field == nullptr) {
        Error(key, "unknown key \"" + name.substr(0, 80) + "\" in " + Describe(path) +
                       " (expected one of: " + KnownKeys(type) + ")");
        continue;
      }
      if (!seen.insert(name).second) {
        Error(key, "duplicate key \"" + name.substr(0, 80) + "\" in " + Describe(path));
        continue;
      }
      if (const pb::OneofDescriptor* oneof = field->containing_oneof(); oneof != nullptr) {
        const pb::FieldDescriptor* set =
            message.GetReflection()->GetOneofFieldDescriptor(message, oneof);
        if (set != nullptr) {
          Error(key, "\"" + name + "\" and \"" + set->name() + "\" both set; give only one of " +
                         OneofKeys(*oneof));
          continue;
        }
      }
      std::string field_path = path.empty() ? name : path + "." + name;
      LoadField(entry.second, message, *field, field_path);
    }
  }

  std::vector<std::string>& errors() { return errors_; }

  void Error(const YAML::Node& node, const std::string& problem) {
    ErrorAt(PositionOf(node.Mark()), problem);
  }

  void ErrorAt(SourcePosition position, const std::string& problem) {
    if (errors_.size() == kMaxErrors) {
      errors_.push_back(sources_.file() + ": too many problems; stopping here");
    }
    if (errors_.size() > kMaxErrors) return;
    std::string where = sources_.file();
    if (position.line != 0) {
      where += ":" + std::to_string(position.line) + ":" + std::to_string(position.column);
    }
    errors_.push_back(where + ": " + problem);
  }

 private:
  // Counts a node and the `bytes` of text it adds, alias re-visits included;
  // false once the document expands past either bound, which is reported
  // once and ends the walk.
  bool Visit(const YAML::Node& node, std::size_t bytes) {
    if (too_large_) return false;
    ++visited_;
    value_bytes_ += bytes;
    if (visited_ > kMaxYamlNodes) {
      too_large_ = true;
      Error(node, "the document expands to more than " + std::to_string(kMaxYamlNodes) +
                      " values (too many aliases?)");
    } else if (value_bytes_ > kMaxYamlValueBytes) {
      too_large_ = true;
      Error(node, "the document expands to more than " + std::to_string(kMaxYamlValueBytes) +
                      " bytes of values (too many aliases?)");
    }
    return !too_large_;
  }

  void LoadField(const YAML::Node& node, pb::Message& message, const pb::FieldDescriptor& field,
                 const std::string& path) {
    sources_.Add(path, PositionOf(node.Mark()));
    if (field.is_map()) {
      Error(node, "\"" + field.name() + "\" is a map field, which YAML loading does not support");
      return;
    }
    if (!field.is_repeated()) {
      if (field.cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
        LoadMessage(node, *message.GetReflection()->MutableMessage(&message, &field), path);
      } else {
        LoadScalar(node, message, field, path);
      }
      return;
    }
    if (node.IsNull()) return;  // `hosts:` with nothing under it: an empty list
    if (!node.IsSequence()) {
      Error(node, "expected a list for \"" + field.name() + "\", got " + Shape(node));
      return;
    }
    for (std::size_t i = 0; i < node.size() && !too_large_; ++i) {
      const YAML::Node item = node[i];
      std::string item_path = path + "[" + std::to_string(i) + "]";
      if (field.cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
        LoadMessage(item, *message.GetReflection()->AddMessage(&message, &field), item_path);
      } else {
        sources_.Add(item_path, PositionOf(item.Mark()));
        LoadScalar(item, message, field, item_path);
      }
    }
  }

  // Sets (or, for a repeated field, appends) one scalar value.
  void LoadScalar(const YAML::Node& node, pb::Message& message, const pb::FieldDescriptor& field,
                  const std::string& path) {
    if (!Visit(node, node.IsScalar() ? node.Scalar().size() : 0)) return;
    if (node.IsNull() && !field.is_repeated()) return;  // `key:` alone leaves the default
    if (!node.IsScalar()) {
      Error(node,
            "expected " + Expected(field) + " for \"" + field.name() + "\", got " + Shape(node));
      return;
    }
    const std::string& text = node.Scalar();
    const pb::Reflection& r = *message.GetReflection();
    const bool rep = field.is_repeated();
    auto bad = [&] {
      Error(node, "expected " + Expected(field) + " for \"" + field.name() + "\", got \"" +
                      text.substr(0, 80) + "\"");
    };
    switch (field.cpp_type()) {
      case pb::FieldDescriptor::CPPTYPE_STRING:
        rep ? r.AddString(&message, &field, text) : r.SetString(&message, &field, text);
        return;
      case pb::FieldDescriptor::CPPTYPE_BOOL: {
        std::string lower = Lower(text);
        bool value;
        if (lower == "true" || lower == "yes" || lower == "on") {
          value = true;
        } else if (lower == "false" || lower == "no" || lower == "off") {
          value = false;
        } else {
          return bad();
        }
        rep ? r.AddBool(&message, &field, value) : r.SetBool(&message, &field, value);
        return;
      }
      case pb::FieldDescriptor::CPPTYPE_INT32:
      case pb::FieldDescriptor::CPPTYPE_INT64:
      case pb::FieldDescriptor::CPPTYPE_UINT32:
      case pb::FieldDescriptor::CPPTYPE_UINT64:
        return SetInteger(node, text, message, field);
      case pb::FieldDescriptor::CPPTYPE_DOUBLE:
      case pb::FieldDescriptor::CPPTYPE_FLOAT: {
        double value = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (ec != std::errc() || end != text.data() + text.size()) return bad();
        if (field.cpp_type() == pb::FieldDescriptor::CPPTYPE_DOUBLE) {
          rep ? r.AddDouble(&message, &field, value) : r.SetDouble(&message, &field, value);
        } else {
          auto f = static_cast<float>(value);
          rep ? r.AddFloat(&message, &field, f) : r.SetFloat(&message, &field, f);
        }
        return;
      }
      case pb::FieldDescriptor::CPPTYPE_ENUM: {
        const pb::EnumDescriptor& type = *field.enum_type();
        std::string wanted = EnumPrefix(type) + Lower(text);
        for (char& c : wanted) c = c == '-' ? '_' : static_cast<char>(std::toupper(c));
        const pb::EnumValueDescriptor* value = type.FindValueByName(wanted);
        if (value == nullptr || value->number() == 0) return bad();
        rep ? r.AddEnumValue(&message, &field, value->number())
            : r.SetEnumValue(&message, &field, value->number());
        return;
      }
      case pb::FieldDescriptor::CPPTYPE_MESSAGE:
        break;  // handled by LoadField
    }
  }

  void SetInteger(const YAML::Node& node, const std::string& text, pb::Message& message,
                  const pb::FieldDescriptor& field) {
    const pb::Reflection& r = *message.GetReflection();
    const bool rep = field.is_repeated();
    const char* end = text.data() + text.size();
    std::int64_t s = 0;
    std::uint64_t u = 0;
    bool is_signed = field.cpp_type() == pb::FieldDescriptor::CPPTYPE_INT32 ||
                     field.cpp_type() == pb::FieldDescriptor::CPPTYPE_INT64;
    auto [ptr, ec] =
        is_signed ? std::from_chars(text.data(), end, s) : std::from_chars(text.data(), end, u);
    auto fail = [&](const std::string& what) {
      Error(node, "expected " + what + " for \"" + field.name() + "\", got \"" +
                      text.substr(0, 80) + "\"");
    };
    if (ec == std::errc::result_out_of_range) return fail("a smaller integer");
    if (ec != std::errc() || ptr != end) return fail(Expected(field));
    switch (field.cpp_type()) {
      case pb::FieldDescriptor::CPPTYPE_INT32:
        if (s < std::numeric_limits<std::int32_t>::min() ||
            s > std::numeric_limits<std::int32_t>::max()) {
          return fail("a smaller integer");
        }
        rep ? r.AddInt32(&message, &field, static_cast<std::int32_t>(s))
            : r.SetInt32(&message, &field, static_cast<std::int32_t>(s));
        return;
      case pb::FieldDescriptor::CPPTYPE_INT64:
        rep ? r.AddInt64(&message, &field, s) : r.SetInt64(&message, &field, s);
        return;
      case pb::FieldDescriptor::CPPTYPE_UINT32:
        if (u > std::numeric_limits<std::uint32_t>::max()) return fail("a smaller integer");
        rep ? r.AddUInt32(&message, &field, static_cast<std::uint32_t>(u))
            : r.SetUInt32(&message, &field, static_cast<std::uint32_t>(u));
        return;
      default:
        rep ? r.AddUInt64(&message, &field, u) : r.SetUInt64(&message, &field, u);
        return;
    }
  }

  static std::string Expected(const pb::FieldDescriptor& field) {
    switch (field.cpp_type()) {
      case pb::FieldDescriptor::CPPTYPE_BOOL:
        return "on/off (true/false)";
      case pb::FieldDescriptor::CPPTYPE_INT32:
      case pb::FieldDescriptor::CPPTYPE_INT64:
        return "an integer";
      case pb::FieldDescriptor::CPPTYPE_UINT32:
      case pb::FieldDescriptor::CPPTYPE_UINT64:
        return "a non-negative integer";
      case pb::FieldDescriptor::CPPTYPE_DOUBLE:
      case pb::FieldDescriptor::CPPTYPE_FLOAT:
        return "a number";
      case pb::FieldDescriptor::CPPTYPE_ENUM: {
        std::string names;
        const pb::EnumDescriptor& type = *field.enum_type();
        std::size_t prefix = EnumPrefix(type).size();
        for (int i = 0; i < type.value_count(); ++i) {
          if (type.value(i)->number() == 0) continue;
          if (!names.empty()) names += " | ";
          names += Lower(type.value(i)->name().substr(prefix));
        }
        return "one of " + names;
      }
      default:
        return "a string";
    }
  }

  static std::string Shape(const YAML::Node& node) {
    if (node.IsSequence()) return "a list";
    if (node.IsMap()) return "a mapping";
    if (node.IsNull()) return "nothing";
    return "\"" + node.Scalar().substr(0, 80) + "\"";
  }

  // Names the element being loaded by its path ("pools[1]").
  static std::string Describe(const std::string& path) {
    if (path.empty()) return "the document";
    return "\"" + path + "\"";
  }

  static std::string KnownKeys(const pb::Descriptor& type) {
    std::string keys;
    for (int i = 0; i < type.field_count(); ++i) {
      if (i != 0) keys += ", ";
      keys += type.field(i)->name();
    }
    return keys;
  }

  static std::string OneofKeys(const pb::OneofDescriptor& oneof) {
    std::string keys;
    for (int i = 0; i < oneof.field_count(); ++i) {
      if (i != 0) keys += ", ";
      keys += oneof.field(i)->name();
    }
    return keys;
  }

  SourceMap& sources_;
  std::vector<std::string> errors_;
  int visited_ = 0;
  std::size_t value_bytes_ = 0;
  bool too_large_ = false;
};

// Records where each document starts; the parser's other events are not
// needed to count documents.
class DocumentStarts : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override { marks.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

  std::vector<YAML::Mark> marks;
};

// Checks that `text` holds at most one document. YAML::LoadAll is not used:
// on a token the parser cannot consume at the top level (a stray ","), it
// yields an empty document at the same place forever and fills memory. So
// at most three documents are parsed here, and two starting at the same
// place mean the parser is stuck there. Throws YAML::Exception on
// malformed input.
void CheckOneDocument(const std::string& text, YamlToProto& walker) {
  std::istringstream input(text);
  YAML::Parser parser(input);
  DocumentStarts starts;
  for (int i = 0; i < 3 && parser.HandleNextDocument(starts); ++i) {
    const std::vector<YAML::Mark>& marks = starts.marks;
    if (marks.size() >= 2 && marks[marks.size() - 1].pos == marks[marks.size() - 2].pos) {
      const YAML::Mark& mark = marks.back();
      std::string near = mark.pos >= 0 && static_cast<std::size_t>(mark.pos) < text.size()
                             ? " \"" + text.substr(static_cast<std::size_t>(mark.pos), 1) + "\""
                             : "";
      walker.ErrorAt(PositionOf(mark), "invalid YAML: unexpected" + near);
      return;
    }
  }
  if (starts.marks.size() > 1) {
    walker.ErrorAt(PositionOf(starts.marks[1]),
                   "a second YAML document; put the whole topology in one");
  }
}

}  // namespace

Status LoadYaml(std::string_view text, pb::Message& message, SourceMap& sources) {
  message.Clear();
  if (text.size() > kMaxYamlFileBytes) {
    return Status::InvalidArgument(sources.file() + ": larger than " +
                                   std::to_string(kMaxYamlFileBytes) + " bytes; refused");
  }
  YamlToProto walker(sources);
  // yaml-cpp reports malformed input and misuse by exception; this is the one
  // place that calls it, so they all end here as an error value.
  try {
    std::string copy(text);
    CheckOneDocument(copy, walker);
    if (walker.errors().empty()) {
      YAML::Node document = YAML::Load(copy);
      if (document.IsDefined()) walker.LoadMessage(document, message, "");
    }
  } catch (const YAML::Exception& e) {
    walker.ErrorAt(PositionOf(e.mark), "invalid YAML: " + e.msg);
  }
  if (walker.errors().empty()) return Status::Ok();
  std::string all;
  for (const std::string& error : walker.errors()) {
    if (!all.empty()) all += "\n";
    all += error;
  }
  return Status::InvalidArgument(all);
}

Status LoadYamlFile(const std::filesystem::path& path, pb::Message& message, SourceMap& sources) {
  sources = SourceMap(path.string());
  message.Clear();
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > kMaxYamlFileBytes) {
    return Status::InvalidArgument(path.string() + ": larger than " +
                                   std::to_string(kMaxYamlFileBytes) + " bytes; refused");
  }
  Result<std::string> text = ReadFile(path, kMaxYamlFileBytes);
  if (!text.ok()) return text.status().WithContext(path.string());
  return LoadYaml(*text, message, sources);
}

}  // namespace topos::topology
