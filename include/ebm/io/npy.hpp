#pragma once
// NumPy .npy files (format 1.0, little-endian, C order) for float and double
// tensors: interoperability with Python tools and reference scripts.
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "../core/tensor.hpp"
#include "atomic_file.hpp"

namespace ebm::io {

namespace detail {
template <class T> constexpr const char* npy_descr() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "npy: float or double only");
  return std::is_same_v<T, float> ? "<f4" : "<f8";
}
}  // namespace detail

template <class T>
void save_npy(const std::filesystem::path& path, tensor_view<const T> t) {
  std::string dict = std::string("{'descr': '") + detail::npy_descr<T>() + "', 'fortran_order': False, 'shape': (";
  for (int i = 0; i < t.shape().rank(); ++i) dict += std::to_string(t.shape()[i]) + (t.shape().rank() == 1 ? ",)" : (i + 1 < t.shape().rank() ? ", " : ")"));
  if (t.shape().rank() == 0) dict += ")";
  dict += ", }";
  // Pad so that magic + version + length + header is a multiple of 64.
  const std::size_t unpadded = 10 + dict.size() + 1;
  dict.append((64 - unpadded % 64) % 64, ' ');
  dict += '\n';
  std::vector<unsigned char> out;
  const unsigned char magic[] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  out.insert(out.end(), magic, magic + 8);
  out.push_back(static_cast<unsigned char>(dict.size() & 0xff));
  out.push_back(static_cast<unsigned char>(dict.size() >> 8));
  out.insert(out.end(), dict.begin(), dict.end());
  const auto* p = reinterpret_cast<const unsigned char*>(t.data());
  out.insert(out.end(), p, p + sizeof(T) * static_cast<std::size_t>(t.size()));
  write_file_atomic(path, out);
}

/// Reads a .npy file of little-endian float32 or float64 into tensor<T>.
template <class T>
tensor<T> load_npy(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  EBM_REQUIRE(in, "load_npy: cannot open '", path.string(), "'");
  char magic[8];
  in.read(magic, 8);
  EBM_REQUIRE(in && std::memcmp(magic, "\x93NUMPY", 6) == 0, "load_npy: '", path.string(), "' is not a .npy file");
  unsigned char len[2];
  in.read(reinterpret_cast<char*>(len), 2);
  std::string dict(static_cast<std::size_t>(len[0] | (len[1] << 8)), '\0');
  in.read(dict.data(), static_cast<std::streamsize>(dict.size()));
  EBM_REQUIRE(in, "load_npy: truncated header in '", path.string(), "'");
  const bool f4 = dict.find("'<f4'") != std::string::npos, f8 = dict.find("'<f8'") != std::string::npos;
  EBM_REQUIRE(f4 || f8, "load_npy: '", path.string(), "' holds neither <f4 nor <f8 data: ", dict);
  EBM_REQUIRE(dict.find("'fortran_order': False") != std::string::npos, "load_npy: '", path.string(),
              "' is in Fortran order");
  const auto open = dict.find("'shape': ("), close = dict.find(')', open);
  EBM_REQUIRE(open != std::string::npos && close != std::string::npos, "load_npy: no shape in '", path.string(), "'");
  shape s;
  std::vector<index_t> dims;
  for (std::size_t i = open + 10; i < close;) {
    while (i < close && (dict[i] == ' ' || dict[i] == ',')) ++i;
    if (i >= close) break;
    dims.push_back(std::stoll(dict.substr(i)));
    while (i < close && dict[i] != ',') ++i;
  }
  EBM_REQUIRE(dims.size() <= static_cast<std::size_t>(shape::max_rank), "load_npy: rank too large in '", path.string(), "'");
  for (index_t d : dims) s.push_back(d);
  tensor<T> out(s);
  if (f4) {
    std::vector<float> buf(static_cast<std::size_t>(s.size()));
    in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(buf.size() * 4));
    EBM_REQUIRE(in, "load_npy: '", path.string(), "' is truncated");
    std::copy(buf.begin(), buf.end(), out.begin());
  } else {
    std::vector<double> buf(static_cast<std::size_t>(s.size()));
    in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(buf.size() * 8));
    EBM_REQUIRE(in, "load_npy: '", path.string(), "' is truncated");
    std::copy(buf.begin(), buf.end(), out.begin());
  }
  return out;
}

}  // namespace ebm::io
