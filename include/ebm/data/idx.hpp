#pragma once
// IDX files (the MNIST / Fashion-MNIST container), plain or gzip-compressed.
//
// Layout (all integers big-endian):
//   bytes 0-1  0x00 0x00
//   byte  2    element type: 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64
//   byte  3    rank r (1..6 here, the rank limit of ebm::shape)
//   r x u32    extents, outermost first
//   data       prod(extents) elements, row-major, big-endian
//
// Readers validate the magic, the type, the rank and the declared size
// against the file's (decompressed) length; every failure is an ebm::error
// naming the file and what is wrong (empty, truncated with expected and
// actual sizes, foreign magic, trailing bytes, corrupt gzip data).  Writers
// produce u8 images and labels so outside tools can score samples, write
// atomically (io/atomic_file.hpp) and gzip the output when the path ends in
// ".gz".
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "../core/tensor.hpp"
#include "../io/atomic_file.hpp"
#include "../io/detail/shape_of_rank.hpp"
#include "detail/gzip.hpp"

namespace ebm::data {

/// Element type codes of the IDX format.
enum class idx_type : std::uint8_t { u8 = 0x08, i8 = 0x09, i16 = 0x0B, i32 = 0x0C, f32 = 0x0D, f64 = 0x0E };

/// Bytes per element, or 0 for a byte that is no IDX type code.
constexpr std::size_t idx_element_size(std::uint8_t code) {
  switch (code) {
    case 0x08: case 0x09: return 1;
    case 0x0B: return 2;
    case 0x0C: case 0x0D: return 4;
    case 0x0E: return 8;
    default: return 0;
  }
}

constexpr const char* to_string(idx_type t) {
  switch (t) {
    case idx_type::u8: return "u8";
    case idx_type::i8: return "i8";
    case idx_type::i16: return "i16";
    case idx_type::i32: return "i32";
    case idx_type::f32: return "f32";
    case idx_type::f64: return "f64";
  }
  return "?";
}

/// The IDX type code of a C++ scalar type.
template <class T>
constexpr idx_type idx_type_of() {
  if constexpr (std::is_same_v<T, std::uint8_t>) return idx_type::u8;
  else if constexpr (std::is_same_v<T, std::int8_t>) return idx_type::i8;
  else if constexpr (std::is_same_v<T, std::int16_t>) return idx_type::i16;
  else if constexpr (std::is_same_v<T, std::int32_t>) return idx_type::i32;
  else if constexpr (std::is_same_v<T, float>) return idx_type::f32;
  else if constexpr (std::is_same_v<T, double>) return idx_type::f64;
  else static_assert(sizeof(T) == 0, "IDX stores uint8_t, int8_t, int16_t, int32_t, float or double");
}

/// An IDX array as read: type, extents and the elements in host byte order.
struct idx_array {
  idx_type type = idx_type::u8;
  shape dims;
  std::vector<unsigned char> data;

  index_t size() const { return dims.size(); }

  /// The elements converted (not rescaled) to T, with the stored extents.
  template <class T>
  tensor<T> as() const {
    tensor<T> out;
    out.resize(dims);
    const std::size_t es = idx_element_size(static_cast<std::uint8_t>(type));
    auto convert = [&]<class S>(S) {
      for (index_t i = 0; i < out.size(); ++i) {
        S v;
        std::memcpy(&v, data.data() + static_cast<std::size_t>(i) * es, sizeof(S));
        out[i] = static_cast<T>(v);
      }
    };
    switch (type) {
      case idx_type::u8: convert(std::uint8_t{}); break;
      case idx_type::i8: convert(std::int8_t{}); break;
      case idx_type::i16: convert(std::int16_t{}); break;
      case idx_type::i32: convert(std::int32_t{}); break;
      case idx_type::f32: convert(float{}); break;
      case idx_type::f64: convert(double{}); break;
    }
    return out;
  }
};

namespace detail {
inline std::uint32_t load_be32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}
inline void store_be32(unsigned char* p, std::uint32_t v) {
  p[0] = static_cast<unsigned char>(v >> 24);
  p[1] = static_cast<unsigned char>(v >> 16);
  p[2] = static_cast<unsigned char>(v >> 8);
  p[3] = static_cast<unsigned char>(v);
}
/// Converts big-endian elements to host order in place (and back: it is an involution).
inline void swap_to_host(std::span<unsigned char> data, std::size_t element_size) {
  if constexpr (std::endian::native == std::endian::little) {
    if (element_size == 1) return;
    for (std::size_t i = 0; i + element_size <= data.size(); i += element_size)
      std::reverse(data.begin() + static_cast<std::ptrdiff_t>(i),
                   data.begin() + static_cast<std::ptrdiff_t>(i + element_size));
  }
}
/// Maps [lo, hi] to 0..255 (rounded, clamped; -inf and NaN give 0, +inf 255),
/// the quantisation io::to_byte uses for PNG grids.
template <class T>
std::uint8_t quantize(T v, T lo, T hi) {
  const double u = (static_cast<double>(v) - static_cast<double>(lo)) /
                   (static_cast<double>(hi) - static_cast<double>(lo));
  if (!(u > 0.0)) return 0;  // also NaN
  if (u >= 1.0) return 255;
  return static_cast<std::uint8_t>(std::lround(u * 255.0));
}
inline void write_maybe_gzip(const std::filesystem::path& path, std::span<const unsigned char> bytes) {
  if (path.extension() == ".gz") {
    const auto packed = gzip_compress(bytes);
    io::write_file_atomic(path, std::span<const unsigned char>(packed));
  } else {
    io::write_file_atomic(path, bytes);
  }
}
}  // namespace detail

/// Reads an IDX file of any type, plain or gzip-compressed.
inline idx_array read_idx(const std::filesystem::path& path) {
  const std::string f = path.string();
  detail::file_bytes fb = detail::read_maybe_gzip(path);
  std::vector<unsigned char>& b = fb.bytes;
  const char* unit = path.extension() == ".gz" ? " bytes after decompression" : " bytes";
  EBM_REQUIRE(!b.empty() || fb.truncated, "IDX file '", f, "' is empty");
  EBM_REQUIRE(!b.empty(), "IDX file '", f, "' is truncated: its gzip stream ends before any data");
  // Check whatever part of the magic is present before complaining about length,
  // so a short foreign file is called foreign.
  const bool foreign = b[0] != 0 || (b.size() > 1 && b[1] != 0) ||
                       (b.size() > 2 && idx_element_size(b[2]) == 0) || (b.size() > 3 && b[3] == 0);
  if (foreign) {
    std::string magic;
    for (std::size_t i = 0; i < 4 && i < b.size(); ++i) {
      static constexpr char hex[] = "0123456789abcdef";
      magic += hex[b[i] >> 4];
      magic += hex[b[i] & 15];
    }
    throw error(ebm::detail::concat("'", f, "' is not an IDX file: bad magic 0x", magic,
                                    " (expected 00 00, a type byte 08/09/0b/0c/0d/0e and the rank)"));
  }
  EBM_REQUIRE(b.size() >= 4, "IDX file '", f, "' is truncated: expected at least 4", unit,
              " of header, got ", b.size());
  const int rank = b[3];
  EBM_REQUIRE(rank <= shape::max_rank, "IDX file '", f, "' has rank ", rank, "; ebm reads at most ",
              shape::max_rank, " dimensions");
  const std::size_t header = 4 + 4 * static_cast<std::size_t>(rank);
  EBM_REQUIRE(b.size() >= header, "IDX file '", f, "' is truncated: expected at least ", header, unit,
              " of header, got ", b.size());
  idx_array out;
  out.type = static_cast<idx_type>(b[2]);
  const std::size_t es = idx_element_size(b[2]);
  // The declared size must be computed without overflow before comparing it
  // with the file (a corrupt header could declare 2^192 elements).
  unsigned __int128 count = 1;
  out.dims = io::detail::shape_of_rank(rank);
  for (int i = 0; i < rank; ++i) {
    const std::uint32_t d = detail::load_be32(b.data() + 4 + 4 * i);
    out.dims[i] = index_t{d};
    count *= d;
    // Saturate: anything beyond 2^62 elements is larger than any file anyway.
    if (count > (static_cast<unsigned __int128>(1) << 62)) count = static_cast<unsigned __int128>(1) << 62;
  }
  const unsigned __int128 expected = header + count * es;
  EBM_REQUIRE(expected <= b.size(), "IDX file '", f, "' is truncated: expected ",
              static_cast<unsigned long long>(expected), unit, " for ", to_string(out.type), " data of shape ",
              out.dims, ", got ", b.size());
  EBM_REQUIRE(expected == b.size(), "IDX file '", f, "' has ", b.size(), unit, " but its header declares ",
              static_cast<unsigned long long>(expected), " (", to_string(out.type), " data of shape ",
              out.dims, "); trailing data means a corrupt or foreign file");
  EBM_REQUIRE(!fb.truncated, "IDX file '", f, "' is truncated: the gzip stream ends early (the data may be "
              "complete but the gzip trailer is missing)");
  b.erase(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(header));
  detail::swap_to_host(b, es);
  out.data = std::move(b);
  return out;
}

/// Images from an IDX u8 file, [N, H, W] read as [N, 1, H, W] or [N, C, H, W]
/// as stored, mapped from 0..255 to [-1, 1] (0 -> -1, 255 -> +1).
template <class T = float>
tensor<T> read_idx_images(const std::filesystem::path& path) {
  const idx_array a = read_idx(path);
  const std::string f = path.string();
  EBM_REQUIRE(a.type == idx_type::u8, "IDX file '", f, "' holds ", to_string(a.type),
              " elements; images must be u8");
  EBM_REQUIRE(a.dims.rank() == 3 || a.dims.rank() == 4, "IDX file '", f, "' has shape ", a.dims,
              "; images must be [N, H, W] or [N, C, H, W]");
  EBM_REQUIRE(a.dims[0] > 0, "IDX file '", f, "' holds no images (shape ", a.dims, ")");
  tensor<T> out;
  out.resize(a.dims.rank() == 3 ? shape{a.dims[0], 1, a.dims[1], a.dims[2]} : a.dims);
  // A table keeps the mapping exact and identical for every element.
  std::array<T, 256> lut;
  for (int v = 0; v < 256; ++v) lut[v] = static_cast<T>(v / 127.5 - 1.0);
  for (index_t i = 0; i < out.size(); ++i) out[i] = lut[a.data[static_cast<std::size_t>(i)]];
  return out;
}

/// Labels from an IDX file of rank 1 and an integer type.
inline std::vector<int> read_idx_labels(const std::filesystem::path& path) {
  const idx_array a = read_idx(path);
  const std::string f = path.string();
  EBM_REQUIRE(a.type != idx_type::f32 && a.type != idx_type::f64, "IDX file '", f, "' holds ",
              to_string(a.type), " elements; labels must be integers");
  EBM_REQUIRE(a.dims.rank() == 1, "IDX file '", f, "' has shape ", a.dims, "; labels must be [N]");
  EBM_REQUIRE(a.dims[0] > 0, "IDX file '", f, "' holds no labels");
  const tensor<int> t = a.as<int>();
  return std::vector<int>(t.begin(), t.end());
}

/// Writes a tensor of rank 1..6 as an IDX file of T's type (gzipped for ".gz").
template <class T>
void write_idx(const std::filesystem::path& path, tensor_view<const T> v) {
  constexpr idx_type type = idx_type_of<T>();
  const shape& s = v.shape();
  EBM_REQUIRE(s.rank() >= 1, "write_idx: '", path.string(), "': a rank-0 tensor has no IDX form");
  for (int i = 0; i < s.rank(); ++i)
    EBM_REQUIRE(s[i] <= index_t{0xFFFFFFFF}, "write_idx: '", path.string(), "': extent ", s[i],
                " does not fit IDX's 32-bit extents");
  const std::size_t header = 4 + 4 * static_cast<std::size_t>(s.rank());
  std::vector<unsigned char> bytes(header + sizeof(T) * static_cast<std::size_t>(v.size()));
  bytes[2] = static_cast<unsigned char>(type);
  bytes[3] = static_cast<unsigned char>(s.rank());
  for (int i = 0; i < s.rank(); ++i) detail::store_be32(bytes.data() + 4 + 4 * i, static_cast<std::uint32_t>(s[i]));
  if (v.size()) std::memcpy(bytes.data() + header, v.data(), sizeof(T) * static_cast<std::size_t>(v.size()));
  detail::swap_to_host(std::span<unsigned char>(bytes).subspan(header), sizeof(T));
  detail::write_maybe_gzip(path, bytes);
}

/// Writes images [N, C, H, W] with values in [lo, hi] as IDX u8: [N, H, W]
/// when C = 1 (the MNIST layout outside tools expect), else [N, C, H, W].
/// Values are rounded to the nearest of 256 levels and clamped (NaN -> 0), so
/// bytes read by read_idx_images() are written back unchanged.
template <class T>
void write_idx_images(const std::filesystem::path& path, tensor_view<const T> images, T lo = T(-1),
                      T hi = T(1)) {
  const shape& s = images.shape();
  EBM_REQUIRE(s.rank() == 4, "write_idx_images: '", path.string(), "': expected images [N, C, H, W], got ", s);
  tensor<std::uint8_t> q;
  q.resize(s[1] == 1 ? shape{s[0], s[2], s[3]} : s);
  for (index_t i = 0; i < images.size(); ++i) q[i] = detail::quantize(images[i], lo, hi);
  write_idx<std::uint8_t>(path, q.view());
}

/// Writes labels 0..255 as an IDX u8 vector [N].
inline void write_idx_labels(const std::filesystem::path& path, std::span<const int> labels) {
  tensor<std::uint8_t> q;
  q.resize(shape{static_cast<index_t>(labels.size())});
  for (std::size_t i = 0; i < labels.size(); ++i) {
    EBM_REQUIRE(labels[i] >= 0 && labels[i] <= 255, "write_idx_labels: '", path.string(), "': label ",
                labels[i], " at index ", i, " does not fit an unsigned byte");
    q[static_cast<index_t>(i)] = static_cast<std::uint8_t>(labels[i]);
  }
  write_idx<std::uint8_t>(path, q.view());
}

}  // namespace ebm::data
