#pragma once
// scikit-learn's 8 x 8 handwritten digits (1797 images, labels 0..9), used as
// an out-of-distribution set.  Debian's python3-sklearn ships them as
// digits.csv.gz: one row per image, 64 pixel values 0..16 (row-major) and the
// label, comma-separated.  Pixels map linearly to [-1, 1] (0 -> -1, 16 -> +1).
// Use resize_images() (data/transform.hpp) to compare with larger images.
#include <algorithm>
#include <charconv>
#include <filesystem>
#include <string>
#include <vector>

#include "dataset.hpp"
#include "detail/gzip.hpp"

namespace ebm::data {

inline const std::filesystem::path sklearn_digits_default_path{
    "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz"};

/// Loads the digits as [N, 1, 8, 8] in [-1, 1] with labels.
template <class T = float>
image_dataset<T> load_digits(const std::filesystem::path& path = sklearn_digits_default_path) {
  const std::string f = path.string();
  EBM_REQUIRE(std::filesystem::exists(path), "scikit-learn digits not found: '", f,
              "' does not exist (Debian's python3-sklearn ships it; see scripts/install-deps.sh)");
  const detail::file_bytes fb = detail::read_maybe_gzip(path);
  EBM_REQUIRE(!fb.truncated, "digits file '", f, "' is truncated (the gzip stream ends early)");
  EBM_REQUIRE(!fb.bytes.empty(), "digits file '", f, "' is empty");
  const char* p = reinterpret_cast<const char*>(fb.bytes.data());
  const char* const end = p + fb.bytes.size();
  std::vector<T> pixels;
  std::vector<int> labels;
  std::size_t line = 0;
  while (p < end) {
    const char* eol = std::find(p, end, '\n');
    ++line;
    const char* q = p;
    int field = 0;
    double v[65] = {};
    bool blank = true;
    for (; q < eol; ++field) {
      while (q < eol && (*q == ' ' || *q == '\t' || *q == '\r')) ++q;
      if (q == eol && field == 0) break;
      blank = false;
      EBM_REQUIRE(field < 65, "digits file '", f, "' line ", line, ": more than 65 values");
      const auto r = std::from_chars(q, eol, v[field]);
      EBM_REQUIRE(r.ec == std::errc(), "digits file '", f, "' line ", line, ": value ", field + 1,
                  " is not a number");
      q = r.ptr;
      while (q < eol && (*q == ' ' || *q == '\t' || *q == '\r')) ++q;
      if (q < eol) {
        EBM_REQUIRE(*q == ',', "digits file '", f, "' line ", line, ": expected ',' after value ", field + 1);
        ++q;
      }
    }
    if (!blank) {
      EBM_REQUIRE(field == 65, "digits file '", f, "' line ", line, ": expected 65 values (64 pixels and a label), got ",
                  field);
      for (int k = 0; k < 64; ++k) {
        EBM_REQUIRE(v[k] >= 0 && v[k] <= 16, "digits file '", f, "' line ", line, ": pixel ", k, " = ", v[k],
                    " outside 0..16");
        pixels.push_back(static_cast<T>(v[k] / 8.0 - 1.0));
      }
      const int label = static_cast<int>(v[64]);
      EBM_REQUIRE(label == v[64] && label >= 0 && label <= 9, "digits file '", f, "' line ", line, ": label ", v[64],
                  " is not one of 0..9");
      labels.push_back(label);
    }
    p = eol + (eol < end ? 1 : 0);
  }
  EBM_REQUIRE(!labels.empty(), "digits file '", f, "' holds no rows");
  tensor<T> images;
  images.resize(shape{index_t(labels.size()), 1, 8, 8});
  std::copy(pixels.begin(), pixels.end(), images.begin());
  return image_dataset<T>(std::move(images), std::move(labels));
}

}  // namespace ebm::data
