#pragma once
// Binary checkpoints: named tensors plus string metadata, CRC-protected and
// written atomically, so a crash or a full disk never leaves a half-written
// checkpoint in place of the previous one.
//
// Layout (all integers little-endian):
//   header  (24 bytes)
//     0   8  magic "EBMCKPT\0"
//     8   4  u32 format version (1)
//    12   4  u32 CRC-32 (zlib's crc32) of the payload
//    16   8  u64 payload size in bytes
//   payload
//     u32 metadata count, then per pair (sorted by key):
//       u32 key length, key bytes, u32 value length, value bytes
//     u32 entry count, then per entry (in insertion order):
//       u32 name length, name bytes,
//       u8 dtype (1 f32, 2 f64, 3 u64, 4 i64, 5 bytes), u8 rank (0..6), u16 zero,
//       rank x u64 extents, u64 data size in bytes, data (elements little-endian)
//
// Readers check, in this order: that the file is not empty, the magic
// (foreign file), the header length and the declared size (truncated), the
// version, the CRC (corrupted), then the structure; each failure is an
// ebm::error naming the file.  Lookups name the missing entry or metadata key,
// and loading into an existing tensor names both shapes when they differ.
//
// Values round-trip bit-exactly (NaN payloads, signed zeros, denormals):
// tensors are stored as raw IEEE bytes and numbers in metadata with the
// shortest representation that reads back to the same value (std::to_chars).
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "../core/philox.hpp"
#include "../core/tensor.hpp"
#include "../nn/layer.hpp"
#include "atomic_file.hpp"
#include "detail/shape_of_rank.hpp"

namespace ebm::io {

/// Element types a checkpoint stores.
enum class dtype : std::uint8_t { f32 = 1, f64 = 2, u64 = 3, i64 = 4, bytes = 5 };

constexpr const char* to_string(dtype t) {
  switch (t) {
    case dtype::f32: return "f32";
    case dtype::f64: return "f64";
    case dtype::u64: return "u64";
    case dtype::i64: return "i64";
    case dtype::bytes: return "bytes";
  }
  return "?";
}
constexpr std::size_t dtype_size(dtype t) {
  switch (t) {
    case dtype::f32: return 4;
    case dtype::f64: case dtype::u64: case dtype::i64: return 8;
    case dtype::bytes: return 1;
  }
  return 0;
}
/// The dtype of a C++ scalar: float, double, 64-bit integers, bytes.
template <class T>
constexpr dtype dtype_of() {
  if constexpr (std::is_same_v<T, float>) return dtype::f32;
  else if constexpr (std::is_same_v<T, double>) return dtype::f64;
  else if constexpr (std::is_integral_v<T> && sizeof(T) == 8 && std::is_unsigned_v<T>) return dtype::u64;
  else if constexpr (std::is_integral_v<T> && sizeof(T) == 8 && std::is_signed_v<T>) return dtype::i64;
  else if constexpr (std::is_same_v<T, unsigned char>) return dtype::bytes;
  else static_assert(sizeof(T) == 0, "checkpoints store float, double, 64-bit integers and unsigned char");
}

namespace detail {
inline constexpr unsigned char checkpoint_magic[8] = {'E', 'B', 'M', 'C', 'K', 'P', 'T', '\0'};

/// Appends little-endian integers and raw element arrays.
struct writer {
  std::vector<unsigned char> out;
  template <class U>
  void integer(U v) {
    for (std::size_t i = 0; i < sizeof(U); ++i) out.push_back(static_cast<unsigned char>(std::uint64_t(v) >> (8 * i)));
  }
  void raw(const void* p, std::size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    out.insert(out.end(), b, b + n);
  }
  void text(std::string_view s) {
    integer(static_cast<std::uint32_t>(s.size()));
    raw(s.data(), s.size());
  }
};

/// Reverses each element's bytes on big-endian hosts (the format is little-endian).
inline void to_little_endian(std::span<unsigned char> data, std::size_t element_size) {
  if constexpr (std::endian::native == std::endian::big) {
    for (std::size_t i = 0; i + element_size <= data.size(); i += element_size)
      std::reverse(data.begin() + i, data.begin() + i + element_size);
  } else {
    (void)data;
    (void)element_size;
  }
}

inline std::uint32_t crc32_of(std::span<const unsigned char> b) {
  return static_cast<std::uint32_t>(::crc32_z(::crc32_z(0, nullptr, 0), b.data(), b.size()));
}

inline std::string hex32(std::uint32_t v) {
  char buf[11];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}
}  // namespace detail

class checkpoint {
 public:
  static constexpr std::uint32_t format_version = 1;
  static constexpr std::size_t header_size = 24;

  checkpoint() = default;

  // ------------------------------------------------------------ entries --
  /// Stores a tensor under `name` (replacing an entry of that name).
  template <class T>
  void put(std::string_view name, tensor_view<const T> v) {
    constexpr dtype t = dtype_of<T>();
    std::vector<unsigned char> data(sizeof(T) * static_cast<std::size_t>(v.size()));
    if (!data.empty()) std::memcpy(data.data(), v.data(), data.size());
    detail::to_little_endian(data, sizeof(T));
    put_entry(name, t, v.shape(), std::move(data));
  }
  /// A device tensor (D other than cpu) is copied to the host first, with
  /// the device's to_host (found when this is instantiated for it).
  template <class T, class D>
  void put(std::string_view name, const tensor<T, D>& v) {
    if constexpr (std::is_same_v<D, cpu>)
      put<T>(name, v.view());
    else
      put(name, to_host(v));
  }
  /// A rank-0 entry holding one number.
  template <class T>
  void put_scalar(std::string_view name, T v) {
    put<T>(name, tensor_view<const T>(&v, shape{}));
  }
  void put_bytes(std::string_view name, std::span<const unsigned char> b) {
    put<unsigned char>(name, tensor_view<const unsigned char>(b.data(), shape{index_t(b.size())}));
  }
  /// A Philox generator's whole state as u64 [seed, stream, offset].
  void put_rng(std::string_view name, const philox& r) {
    const std::uint64_t s[3] = {r.seed(), r.stream(), r.offset()};
    put<std::uint64_t>(name, tensor_view<const std::uint64_t>(s, shape{3}));
  }

  bool contains(std::string_view name) const { return index_.find(name) != index_.end(); }
  /// Entry names in insertion (file) order.
  std::vector<std::string> names() const {
    std::vector<std::string> n;
    for (const auto& e : entries_) n.push_back(e.name);
    return n;
  }
  dtype type_of(std::string_view name) const { return find(name).type; }
  const shape& shape_of(std::string_view name) const { return find(name).dims; }

  /// A copy of an entry as a tensor of its stored shape; T must match the dtype.
  template <class T>
  tensor<T> get(std::string_view name) const {
    tensor<T> t;
    get_into(name, t);
    return t;
  }
  /// Loads an entry into `dst`: an empty dst takes the stored shape, any other
  /// must already have it (so a model of the wrong size is caught).
  /// A device dst is filled through a host copy (the device's copy()).
  template <class T, class D>
  void get_into(std::string_view name, tensor<T, D>& dst) const {
    if constexpr (!std::is_same_v<D, cpu>) {
      tensor<T, cpu> h;
      if (!dst.empty()) h.resize(dst.shape());
      get_into(name, h);
      dst.resize(h.shape());
      copy(h, dst);
    } else {
      const entry& e = find_typed(name, dtype_of<T>());
      if (dst.empty()) {
        dst.resize(e.dims);
      } else if (!(dst.shape() == e.dims)) {
        throw error(ebm::detail::concat("checkpoint '", source_, "': shape mismatch for entry \"", e.name,
                                        "\": expected ", dst.shape(), " got ", e.dims));
      }
      copy_out(e, dst.data());
    }
  }
  template <class T>
  T get_scalar(std::string_view name) const {
    const entry& e = find_typed(name, dtype_of<T>());
    EBM_REQUIRE(e.dims.rank() == 0, "checkpoint '", source_, "': entry \"", e.name, "\" has shape ", e.dims,
                ", not a scalar");
    T v;
    copy_out(e, &v);
    return v;
  }
  std::vector<unsigned char> get_bytes(std::string_view name) const {
    const entry& e = find_typed(name, dtype::bytes);
    return e.data;
  }
  philox get_rng(std::string_view name) const {
    const entry& e = find_typed(name, dtype::u64);
    EBM_REQUIRE(e.dims == shape{3}, "checkpoint '", source_, "': entry \"", e.name, "\" has shape ", e.dims,
                ", expected [3] (seed, stream, offset)");
    std::uint64_t s[3];
    copy_out(e, s);
    philox r(s[0], s[1]);
    r.set_offset(s[2]);
    return r;
  }

  // ----------------------------------------------------------- metadata --
  /// Stores a string, a bool ("true"/"false") or a number (shortest exact form).
  template <class V>
  void set_meta(std::string_view key, const V& value) {
    if constexpr (std::is_convertible_v<const V&, std::string_view>) {
      meta_[std::string(key)] = std::string(std::string_view(value));
    } else if constexpr (std::is_same_v<V, bool>) {
      meta_[std::string(key)] = value ? "true" : "false";
    } else {
      static_assert(std::is_arithmetic_v<V>, "metadata values are strings, bools or numbers");
      char buf[64];
      const auto r = std::to_chars(buf, buf + sizeof buf, value);
      meta_[std::string(key)] = std::string(buf, r.ptr);
    }
  }
  bool has_meta(std::string_view key) const { return meta_.find(key) != meta_.end(); }
  const std::string& meta(std::string_view key) const {
    const auto it = meta_.find(key);
    if (it == meta_.end())
      throw error(ebm::detail::concat("checkpoint '", source_, "': missing metadata \"", key, "\""));
    return it->second;
  }
  /// A metadata value parsed as V (string, bool or number); the whole value must parse.
  template <class V>
  V meta_as(std::string_view key) const {
    const std::string& s = meta(key);
    if constexpr (std::is_same_v<V, std::string>) {
      return s;
    } else if constexpr (std::is_same_v<V, bool>) {
      EBM_REQUIRE(s == "true" || s == "false", "checkpoint '", source_, "': metadata \"", key, "\" = '", s,
                  "' is not a boolean");
      return s == "true";
    } else {
      static_assert(std::is_arithmetic_v<V>, "metadata values are strings, bools or numbers");
      V v{};
      const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
      EBM_REQUIRE(r.ec == std::errc() && r.ptr == s.data() + s.size(), "checkpoint '", source_, "': metadata \"",
                  key, "\" = '", s, "' is not a valid ", std::is_integral_v<V> ? "integer" : "number",
                  " of the requested type");
      return v;
    }
  }
  const std::map<std::string, std::string, std::less<>>& metadata() const { return meta_; }

  // -------------------------------------------------------------- files --
  /// The complete file image (header and payload).
  std::vector<unsigned char> serialize() const {
    detail::writer w;
    w.out.resize(header_size);
    w.integer(static_cast<std::uint32_t>(meta_.size()));
    for (const auto& [k, v] : meta_) {
      w.text(k);
      w.text(v);
    }
    w.integer(static_cast<std::uint32_t>(entries_.size()));
    for (const auto& e : entries_) {
      w.text(e.name);
      w.integer(static_cast<std::uint8_t>(e.type));
      w.integer(static_cast<std::uint8_t>(e.dims.rank()));
      w.integer(std::uint16_t{0});
      for (int i = 0; i < e.dims.rank(); ++i) w.integer(static_cast<std::uint64_t>(e.dims[i]));
      w.integer(static_cast<std::uint64_t>(e.data.size()));
      w.raw(e.data.data(), e.data.size());
    }
    const std::span<const unsigned char> payload(w.out.data() + header_size, w.out.size() - header_size);
    detail::writer h;
    h.raw(detail::checkpoint_magic, 8);
    h.integer(format_version);
    h.integer(detail::crc32_of(payload));
    h.integer(static_cast<std::uint64_t>(payload.size()));
    std::memcpy(w.out.data(), h.out.data(), header_size);
    return std::move(w.out);
  }

  /// Parses a file image; `source` names it in error messages.
  static checkpoint deserialize(std::span<const unsigned char> b, std::string source = "<memory>") {
    checkpoint ck;
    ck.source_ = std::move(source);
    const std::string& f = ck.source_;
    EBM_REQUIRE(!b.empty(), "checkpoint '", f, "' is empty");
    const std::size_t m = std::min<std::size_t>(b.size(), 8);
    EBM_REQUIRE(std::memcmp(b.data(), detail::checkpoint_magic, m) == 0, "'", f,
                "' is not an ebm checkpoint (bad magic; expected \"EBMCKPT\\0\")");
    EBM_REQUIRE(b.size() >= header_size, "checkpoint '", f, "' is truncated: expected at least ", header_size,
                " bytes of header, got ", b.size());
    reader r{b.data(), b.data() + header_size, &ck.source_};
    r.pos = b.data() + 8;
    const auto version = r.integer<std::uint32_t>();
    const auto stored_crc = r.integer<std::uint32_t>();
    const auto payload_size = r.integer<std::uint64_t>();
    EBM_REQUIRE(payload_size <= b.size() - header_size, "checkpoint '", f, "' is truncated: expected ",
                static_cast<unsigned long long>(payload_size) + header_size, " bytes, got ", b.size());
    EBM_REQUIRE(payload_size == b.size() - header_size, "checkpoint '", f, "' is corrupted: its header declares ",
                static_cast<unsigned long long>(payload_size) + header_size, " bytes but the file has ", b.size());
    EBM_REQUIRE(version == format_version, "checkpoint '", f, "' has format version ", version,
                "; this build reads version ", format_version);
    const std::span<const unsigned char> payload = b.subspan(header_size);
    const std::uint32_t crc = detail::crc32_of(payload);
    EBM_REQUIRE(crc == stored_crc, "checkpoint '", f, "' is corrupted (CRC-32 mismatch: stored ",
                detail::hex32(stored_crc), ", computed ", detail::hex32(crc), ")");

    // The CRC matched, so what follows only fails for a file written by a
    // faulty writer; it is still checked rather than trusted.
    r = reader{payload.data(), payload.data() + payload.size(), &ck.source_};
    const auto n_meta = r.integer<std::uint32_t>();
    for (std::uint32_t i = 0; i < n_meta; ++i) {
      std::string k = r.text();
      ck.meta_[std::move(k)] = r.text();
    }
    const auto n_entries = r.integer<std::uint32_t>();
    for (std::uint32_t i = 0; i < n_entries; ++i) {
      std::string name = r.text();
      const auto type = r.integer<std::uint8_t>();
      const auto rank = r.integer<std::uint8_t>();
      r.integer<std::uint16_t>();
      EBM_REQUIRE(type >= 1 && type <= 5, "checkpoint '", f, "' is corrupted: entry \"", name, "\" has unknown dtype ",
                  int(type));
      EBM_REQUIRE(rank <= shape::max_rank, "checkpoint '", f, "' is corrupted: entry \"", name, "\" has rank ",
                  int(rank));
      shape dims = detail::shape_of_rank(rank);
      unsigned __int128 count = 1;
      for (int d = 0; d < rank; ++d) {
        const auto x = r.integer<std::uint64_t>();
        EBM_REQUIRE(x <= (std::uint64_t{1} << 48), "checkpoint '", f, "' is corrupted: entry \"", name,
                    "\" has extent ", static_cast<unsigned long long>(x));
        dims[d] = static_cast<index_t>(x);
        count *= x;
      }
      const auto nbytes = r.integer<std::uint64_t>();
      EBM_REQUIRE(count * dtype_size(dtype(type)) == nbytes, "checkpoint '", f, "' is corrupted: entry \"", name,
                  "\" of shape ", dims, " declares ", static_cast<unsigned long long>(nbytes), " bytes");
      std::vector<unsigned char> data = r.bytes(nbytes);
      EBM_REQUIRE(!ck.contains(name), "checkpoint '", f, "' is corrupted: entry \"", name, "\" appears twice");
      ck.put_entry(name, dtype(type), dims, std::move(data));
    }
    EBM_REQUIRE(r.pos == r.end, "checkpoint '", f, "' is corrupted: ", r.end - r.pos,
                " unexplained bytes after the last entry");
    return ck;
  }

  /// Writes the checkpoint atomically (temporary file, fsync, rename): on any
  /// failure the previous file at `path` is left as it was.
  void save(const std::filesystem::path& path) const {
    const auto bytes = serialize();
    write_file_atomic(path, std::span<const unsigned char>(bytes));
  }

  static checkpoint load(const std::filesystem::path& path) {
    const std::string f = path.string();
    std::FILE* fp = std::fopen(path.c_str(), "rb");
    EBM_REQUIRE(fp != nullptr, "cannot open checkpoint '", f, "': ", std::strerror(errno));
    std::vector<unsigned char> bytes;
    unsigned char buf[1 << 16];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, fp)) > 0) bytes.insert(bytes.end(), buf, buf + n);
    const bool failed = std::ferror(fp) != 0;
    const int err = errno;
    std::fclose(fp);
    EBM_REQUIRE(!failed, "cannot read checkpoint '", f, "': ", std::strerror(err));
    return deserialize(bytes, f);
  }

  /// The file this checkpoint was loaded from ("<memory>" otherwise).
  const std::string& source() const { return source_; }

 private:
  struct entry {
    std::string name;
    dtype type;
    shape dims;
    std::vector<unsigned char> data;  // little-endian elements
  };

  /// Bounds-checked little-endian reads.
  struct reader {
    const unsigned char* pos;
    const unsigned char* end;
    const std::string* source;
    void need(std::uint64_t n) const {
      EBM_REQUIRE(n <= static_cast<std::uint64_t>(end - pos), "checkpoint '", *source,
                  "' is corrupted: a record runs past the end of the payload");
    }
    template <class U>
    U integer() {
      need(sizeof(U));
      std::uint64_t v = 0;
      for (std::size_t i = 0; i < sizeof(U); ++i) v |= std::uint64_t(pos[i]) << (8 * i);
      pos += sizeof(U);
      return static_cast<U>(v);
    }
    std::vector<unsigned char> bytes(std::uint64_t n) {
      need(n);
      std::vector<unsigned char> v(pos, pos + n);
      pos += n;
      return v;
    }
    std::string text() {
      const auto n = integer<std::uint32_t>();
      need(n);
      std::string s(reinterpret_cast<const char*>(pos), n);
      pos += n;
      return s;
    }
  };

  void put_entry(std::string_view name, dtype t, const shape& dims, std::vector<unsigned char> data) {
    EBM_REQUIRE(!name.empty(), "checkpoint: entry names must not be empty");
    const auto it = index_.find(name);
    if (it != index_.end()) {
      entries_[it->second] = entry{std::string(name), t, dims, std::move(data)};
    } else {
      index_.emplace(std::string(name), entries_.size());
      entries_.push_back(entry{std::string(name), t, dims, std::move(data)});
    }
  }
  const entry& find(std::string_view name) const {
    const auto it = index_.find(name);
    if (it == index_.end())
      throw error(ebm::detail::concat("checkpoint '", source_, "': missing entry \"", name, "\""));
    return entries_[it->second];
  }
  const entry& find_typed(std::string_view name, dtype want) const {
    const entry& e = find(name);
    EBM_REQUIRE(e.type == want, "checkpoint '", source_, "': entry \"", e.name, "\" holds ", to_string(e.type),
                " data, ", to_string(want), " was requested");
    return e;
  }
  template <class T>
  static void copy_out(const entry& e, T* dst) {
    if (e.data.empty()) return;
    std::memcpy(static_cast<void*>(dst), e.data.data(), e.data.size());
    detail::to_little_endian(std::span<unsigned char>(reinterpret_cast<unsigned char*>(dst), e.data.size()), sizeof(T));
  }

  std::vector<entry> entries_;
  std::map<std::string, std::size_t, std::less<>> index_;
  std::map<std::string, std::string, std::less<>> meta_;
  std::string source_ = "<memory>";
};

// ------------------------------------------------------ model and state --

namespace detail {
inline std::string join_name(std::string_view prefix, std::string_view name) {
  std::string s(prefix);
  if (!s.empty()) s += '.';
  s += name;
  return s;
}
/// Rejects two objects saved under one name in a single save call.
struct unique_names {
  std::set<std::string> seen;
  const std::string& add(std::string name) {
    const auto [it, fresh] = seen.insert(std::move(name));
    EBM_REQUIRE(fresh, "checkpoint: two tensors would be saved as \"", *it, "\"");
    return *it;
  }
};
/// A visitor accepting every piece of state (a named type rather than a
/// lambda: nvcc's front end rejects lambdas inside requires-expressions, and
/// .cu files save device optimizers too).
struct any_state_visitor {
  template <class X>
  void operator()(std::string_view, X&) const {}
};
template <class S>
concept has_visit_state = requires(S& s, any_state_visitor f) { s.visit_state(f); };
/// After loading, every entry under "prefix." must have found its tensor.
inline void require_all_used(const checkpoint& ck, std::string_view prefix, const std::set<std::string>& used,
                             const char* what) {
  const std::string p = prefix.empty() ? std::string() : std::string(prefix) + ".";
  for (const auto& n : ck.names())
    if (n.compare(0, p.size(), p) == 0 && !used.count(n))
      throw error(ebm::detail::concat("checkpoint '", ck.source(), "': entry \"", n, "\" matches no ", what));
}
}  // namespace detail

/// Saves every parameter (visit_params) and buffer (visit_buffers, e.g.
/// spectral norm's power-iteration vector) of a block as "<prefix>.<name>".
template <class Block>
void save_params(checkpoint& ck, Block& block, std::string_view prefix = "model") {
  detail::unique_names names;
  ebm::visit_params(block, [&](std::string_view name, auto& value, auto&) {
    ck.put(names.add(detail::join_name(prefix, name)), value);
  });
  ebm::visit_buffers(block, [&](std::string_view name, auto& value) {
    ck.put(names.add(detail::join_name(prefix, name)), value);
  });
}

/// Loads what save_params stored into a block of the same architecture: every
/// parameter and buffer must be present with its shape and dtype, and (strict)
/// no entry under "<prefix>." may be left over.  Blocks are then told that
/// their buffers changed (buffers_loaded) so derived state is recomputed.
template <class Block>
void load_params(const checkpoint& ck, Block& block, std::string_view prefix = "model", bool strict = true) {
  std::set<std::string> used;
  auto load = [&](std::string_view name, auto& value) {
    const std::string full = detail::join_name(prefix, name);
    EBM_REQUIRE(!value.empty(), "load_params: parameter \"", full, "\" of the model is empty");
    ck.get_into(full, value);
    used.insert(full);
  };
  ebm::visit_params(block, [&](std::string_view name, auto& value, auto&) { load(name, value); });
  ebm::visit_buffers(block, [&](std::string_view name, auto& value) { load(name, value); });
  if (strict) detail::require_all_used(ck, prefix, used,
                                       "parameter or buffer of the model (a different architecture or stage?)");
  ebm::buffers_loaded(block);
}

/// Saves the state of an object that offers visit_state(f), calling
/// f(name, x) for each piece x of its state: a tensor<T> (moments of an
/// optimizer), an arithmetic scalar (a step counter) or a philox generator.
/// Integers are stored as i64/u64 scalars, floating scalars as themselves.
template <class Stateful>
void save_state(checkpoint& ck, Stateful& obj, std::string_view prefix) {
  static_assert(detail::has_visit_state<Stateful>,
                "save_state: the object needs visit_state(f) calling f(name, tensor | scalar | philox)");
  detail::unique_names names;
  obj.visit_state([&](std::string_view name, auto& x) {
    using X = std::remove_cvref_t<decltype(x)>;
    const std::string& full = names.add(detail::join_name(prefix, name));
    if constexpr (std::is_same_v<X, philox>) ck.put_rng(full, x);
    else if constexpr (std::is_floating_point_v<X>) ck.put_scalar<X>(full, x);
    else if constexpr (std::is_integral_v<X> && std::is_signed_v<X>) ck.put_scalar<std::int64_t>(full, x);
    else if constexpr (std::is_integral_v<X>) ck.put_scalar<std::uint64_t>(full, x);
    else ck.put(full, x);
  });
}

/// Restores what save_state stored; with `strict`, no entry under "<prefix>."
/// may be left over.  Tensors that are still empty (lazily allocated state)
/// take the stored shape.
template <class Stateful>
void load_state(const checkpoint& ck, Stateful& obj, std::string_view prefix, bool strict = true) {
  static_assert(detail::has_visit_state<Stateful>,
                "load_state: the object needs visit_state(f) calling f(name, tensor | scalar | philox)");
  std::set<std::string> used;
  obj.visit_state([&](std::string_view name, auto& x) {
    using X = std::remove_cvref_t<decltype(x)>;
    const std::string full = detail::join_name(prefix, name);
    if constexpr (std::is_same_v<X, philox>) x = ck.get_rng(full);
    else if constexpr (std::is_floating_point_v<X>) x = ck.get_scalar<X>(full);
    else if constexpr (std::is_integral_v<X> && std::is_signed_v<X>) x = static_cast<X>(ck.get_scalar<std::int64_t>(full));
    else if constexpr (std::is_integral_v<X>) x = static_cast<X>(ck.get_scalar<std::uint64_t>(full));
    else ck.get_into(full, x);
    used.insert(full);
  });
  if (strict) detail::require_all_used(ck, prefix, used, "piece of the state being loaded");
}

}  // namespace ebm::io
