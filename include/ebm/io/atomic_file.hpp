#pragma once
// Writes a file so that readers see either the old content or the complete
// new one, never half of it: write to a temporary file in the same directory,
// flush and fsync it, then rename() over the target (atomic on POSIX).  On
// any failure the temporary is removed, the target is untouched, and an
// ebm::error names the file and the system's reason.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>

#include "../core/error.hpp"

namespace ebm::io {

inline void write_file_atomic(const std::filesystem::path& path, std::span<const unsigned char> bytes) {
  namespace fs = std::filesystem;
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::string tmpl = (dir / ("." + path.filename().string() + ".tmpXXXXXX")).string();
  const int fd = ::mkstemp(tmpl.data());
  EBM_REQUIRE(fd >= 0, "cannot create a temporary file next to '", path.string(),
              "': ", std::strerror(errno));
  auto fail = [&](const char* what) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmpl.c_str());
    throw error(detail::concat("writing '", path.string(), "' failed (", what, "): ",
                               std::strerror(err), "; the previous file, if any, is unchanged"));
  };
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("write");
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) fail("fsync");
  if (::fchmod(fd, 0644) != 0) fail("fchmod");
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmpl.c_str());
    throw error(detail::concat("writing '", path.string(), "' failed (close): ", std::strerror(err)));
  }
  if (::rename(tmpl.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmpl.c_str());
    throw error(detail::concat("writing '", path.string(), "' failed (rename): ", std::strerror(err)));
  }
}

inline void write_file_atomic(const std::filesystem::path& path, const std::string& text) {
  write_file_atomic(path, std::span<const unsigned char>(
                              reinterpret_cast<const unsigned char*>(text.data()), text.size()));
}

}  // namespace ebm::io
