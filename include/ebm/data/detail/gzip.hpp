#pragma once
// Whole-file reads that see through gzip, and in-memory gzip compression.
// zlib's gzread() reads plain files transparently, so one code path serves
// "train-images-idx3-ubyte" and "train-images-idx3-ubyte.gz" alike.
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include "../../core/error.hpp"

namespace ebm::data::detail {

/// The decompressed bytes of a file, and whether its gzip stream ended early
/// (the bytes are then the readable prefix, so callers can report how much of
/// the content they expected is missing).
struct file_bytes {
  std::vector<unsigned char> bytes;
  bool truncated = false;
};

/// Reads a plain or gzip-compressed file completely.  Throws an ebm::error
/// naming the file when it is missing, a directory, unreadable, or holds
/// corrupt gzip data; an early end of a gzip stream is reported through
/// `truncated` instead.
inline file_bytes read_maybe_gzip(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto st = fs::status(path, ec);
  EBM_REQUIRE(fs::exists(st), "cannot open '", path.string(), "': no such file");
  EBM_REQUIRE(!fs::is_directory(st), "cannot read '", path.string(), "': it is a directory");
  gzFile gz = ::gzopen(path.c_str(), "rb");
  EBM_REQUIRE(gz != nullptr, "cannot open '", path.string(), "': ", std::strerror(errno));
  // A large internal buffer makes big datasets decompress noticeably faster.
  ::gzbuffer(gz, 1u << 17);
  file_bytes out;
  constexpr unsigned chunk = 1u << 20;
  for (;;) {
    const std::size_t old = out.bytes.size();
    out.bytes.resize(old + chunk);
    const int n = ::gzread(gz, out.bytes.data() + old, chunk);
    out.bytes.resize(old + static_cast<std::size_t>(n > 0 ? n : 0));
    if (n <= 0 || static_cast<unsigned>(n) < chunk) break;
  }
  int err = Z_OK;
  const char* msg = ::gzerror(gz, &err);
  const std::string reason = msg ? msg : "";
  ::gzclose(gz);
  if (err == Z_BUF_ERROR) {
    out.truncated = true;  // "unexpected end of file": the gzip stream stops early
  } else if (err == Z_ERRNO) {
    throw error(ebm::detail::concat("cannot read '", path.string(), "': ", std::strerror(errno)));
  } else if (err != Z_OK) {
    throw error(ebm::detail::concat("'", path.string(), "' holds corrupt gzip data (", reason, ")"));
  }
  return out;
}

/// gzip-compresses a buffer in memory (the .gz format gzip(1) reads).
inline std::vector<unsigned char> gzip_compress(std::span<const unsigned char> in) {
  z_stream zs{};
  // windowBits 15 + 16 selects the gzip wrapper instead of zlib's.
  EBM_REQUIRE(::deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK,
              "gzip_compress: deflateInit2 failed");
  std::vector<unsigned char> out(::deflateBound(&zs, static_cast<uLong>(in.size())) + 64);
  zs.next_in = const_cast<Bytef*>(in.data());
  std::size_t in_left = in.size();
  for (;;) {
    // zlib counts in uInt; feed huge buffers piecewise.
    if (zs.avail_in == 0 && in_left > 0) {
      const std::size_t step = std::min<std::size_t>(in_left, std::size_t{1} << 30);
      zs.avail_in = static_cast<uInt>(step);
      in_left -= step;
    }
    if (zs.total_out == out.size()) out.resize(out.size() * 2);
    zs.next_out = out.data() + zs.total_out;
    zs.avail_out = static_cast<uInt>(std::min<std::size_t>(out.size() - zs.total_out, std::size_t{1} << 30));
    const int rc = ::deflate(&zs, in_left == 0 ? Z_FINISH : Z_NO_FLUSH);
    if (rc == Z_STREAM_END) break;
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      ::deflateEnd(&zs);
      throw error(ebm::detail::concat("gzip_compress: deflate failed with code ", rc));
    }
  }
  out.resize(zs.total_out);
  ::deflateEnd(&zs);
  return out;
}

}  // namespace ebm::data::detail
