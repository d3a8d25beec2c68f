#include <doctest/doctest.h>

#include <ebm/data/digits.hpp>
#include <filesystem>
#include <string>

#include "temp_dir.hpp"

using ebm::shape;
namespace data = ebm::data;

namespace {
void write_gz_text(const std::filesystem::path& p, const std::string& text) {
  const auto packed = data::detail::gzip_compress(
      std::span<const unsigned char>(reinterpret_cast<const unsigned char*>(text.data()), text.size()));
  ebm_test::write_bytes(p, packed);
}
std::string row(int pixel, int label) {
  std::string s;
  for (int k = 0; k < 64; ++k) s += std::to_string(k == 0 ? pixel : 0) + ",";
  return s + std::to_string(label) + "\n";
}
}  // namespace

TEST_CASE("digits CSV rows become 8x8 images in [-1, 1] with labels") {
  ebm_test::temp_dir dir("digits");
  write_gz_text(dir / "d.csv.gz", row(16, 3) + row(8, 7) + "\n" + row(0, 0));
  const auto ds = data::load_digits<float>(dir / "d.csv.gz");
  REQUIRE(ds.size() == 3);
  CHECK(ds.images().shape() == shape{3, 1, 8, 8});
  CHECK(ds.labels() == std::vector<int>{3, 7, 0});
  CHECK(ds.images()(0, 0, 0, 0) == 1.0f);
  CHECK(ds.images()(1, 0, 0, 0) == 0.0f);
  CHECK(ds.images()(2, 0, 0, 0) == -1.0f);
  CHECK(ds.images()(0, 0, 7, 7) == -1.0f);
}

TEST_CASE("malformed, empty and missing digits files are errors naming the file") {
  ebm_test::temp_dir dir("digits_bad");
  write_gz_text(dir / "short.csv.gz", row(1, 1) + "1,2,3\n");
  CHECK_THROWS_WITH_AS(data::load_digits<float>(dir / "short.csv.gz"),
                       doctest::Contains("short.csv.gz' line 2: expected 65 values"), ebm::error);
  write_gz_text(dir / "range.csv.gz", row(17, 1));
  CHECK_THROWS_WITH_AS(data::load_digits<float>(dir / "range.csv.gz"), doctest::Contains("outside 0..16"), ebm::error);
  write_gz_text(dir / "label.csv.gz", row(1, 12));
  CHECK_THROWS_WITH_AS(data::load_digits<float>(dir / "label.csv.gz"), doctest::Contains("label 12"), ebm::error);
  write_gz_text(dir / "text.csv.gz", "hello\n");
  CHECK_THROWS_WITH_AS(data::load_digits<float>(dir / "text.csv.gz"), doctest::Contains("is not a number"), ebm::error);
  ebm_test::write_bytes(dir / "empty.csv.gz", {});
  CHECK_THROWS_WITH_AS(data::load_digits<float>(dir / "empty.csv.gz"), doctest::Contains("empty.csv.gz' is empty"),
                       ebm::error);
  CHECK_THROWS_WITH_AS(data::load_digits<float>(dir / "absent.csv.gz"),
                       doctest::Contains("absent.csv.gz' does not exist (Debian's python3-sklearn ships it"), ebm::error);
}

TEST_CASE("scikit-learn's digits from python3-sklearn, when installed") {
  if (!std::filesystem::exists(data::sklearn_digits_default_path)) {
    MESSAGE("skipped: " << data::sklearn_digits_default_path << " is absent (install python3-sklearn)");
    return;
  }
  const auto ds = data::load_digits<float>();
  CHECK(ds.size() == 1797);
  CHECK(ds.images().shape() == shape{1797, 1, 8, 8});
  int hist[10] = {};
  for (int l : ds.labels()) ++hist[l];
  for (int c = 0; c < 10; ++c) CHECK((hist[c] >= 170 && hist[c] <= 190));
  float lo = 1, hi = -1;
  for (float v : ds.images()) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  CHECK(lo == -1.0f);
  CHECK(hi == 1.0f);
}
