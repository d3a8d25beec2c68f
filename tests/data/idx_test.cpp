#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <ebm/data/idx.hpp>
#include <limits>

#include "temp_dir.hpp"

using ebm::index_t;
using ebm::shape;
using ebm::tensor;
namespace data = ebm::data;

namespace {
/// Images whose values are exactly representable as bytes.
template <class T = float>
tensor<T> byte_images(const shape& s) {
  tensor<T> t(s);
  for (index_t i = 0; i < t.size(); ++i) t[i] = static_cast<T>(((i * 37 + 11) % 256) / 127.5 - 1.0);
  return t;
}
}  // namespace

TEST_CASE("IDX images round-trip bit-exactly, raw and gzip-compressed") {
  ebm_test::temp_dir dir("idx_roundtrip");
  const tensor<float> x = byte_images(shape{5, 1, 4, 3});
  for (const char* name : {"img-idx3-ubyte", "img-idx3-ubyte.gz"}) {
    CAPTURE(name);
    data::write_idx_images<float>(dir / name, x.view());
    const tensor<float> y = data::read_idx_images<float>(dir / name);
    REQUIRE(y.shape() == x.shape());
    CHECK(std::memcmp(x.data(), y.data(), sizeof(float) * x.size()) == 0);
  }
  // The raw file has the MNIST layout: 00 00 08 03, extents big-endian, then pixels.
  const auto raw = ebm_test::read_bytes(dir / "img-idx3-ubyte");
  REQUIRE(raw.size() == 16 + 60);
  CHECK(raw[0] == 0);
  CHECK(raw[1] == 0);
  CHECK(raw[2] == 0x08);
  CHECK(raw[3] == 3);
  CHECK(raw[7] == 5);
  CHECK(raw[11] == 4);
  CHECK(raw[15] == 3);
  CHECK(raw[16] == 11);
  // The .gz file really is gzip.
  const auto gz = ebm_test::read_bytes(dir / "img-idx3-ubyte.gz");
  REQUIRE(gz.size() > 2);
  CHECK(gz[0] == 0x1f);
  CHECK(gz[1] == 0x8b);
}

TEST_CASE("colour images are written as [N, C, H, W] and read back") {
  ebm_test::temp_dir dir("idx_rgb");
  const tensor<double> x = byte_images<double>(shape{2, 3, 2, 2});
  data::write_idx_images<double>(dir / "rgb", x.view());
  const auto a = data::read_idx(dir / "rgb");
  CHECK(a.dims == shape{2, 3, 2, 2});
  const tensor<double> y = data::read_idx_images<double>(dir / "rgb");
  REQUIRE(y.shape() == x.shape());
  for (index_t i = 0; i < x.size(); ++i) CHECK(y[i] == x[i]);
}

TEST_CASE("writing quantises [-1, 1] to bytes: rounding, clamping, NaN") {
  ebm_test::temp_dir dir("idx_quant");
  tensor<float> x(shape{1, 1, 1, 6});
  const float v[6] = {-1.0f, 1.0f, 0.0f, 5.0f, -3.0f, std::numeric_limits<float>::quiet_NaN()};
  std::copy(v, v + 6, x.data());
  data::write_idx_images<float>(dir / "q", x.view());
  const tensor<std::uint8_t> b = data::read_idx(dir / "q").as<std::uint8_t>();
  REQUIRE(b.shape() == shape{1, 1, 6});
  const int expect[6] = {0, 255, 128, 255, 0, 0};
  for (int i = 0; i < 6; ++i) CHECK(int(b[i]) == expect[i]);
}

TEST_CASE("every IDX element type round-trips through write_idx and read_idx") {
  ebm_test::temp_dir dir("idx_types");
  auto check = [&]<class T>(T, ebm::data::idx_type code) {
    tensor<T> x(shape{2, 3});
    for (index_t i = 0; i < x.size(); ++i) x[i] = static_cast<T>((i - 2) * (std::is_floating_point_v<T> ? 1.25 : 3.0));
    data::write_idx<T>(dir / "t.gz", x.view());
    const auto a = data::read_idx(dir / "t.gz");
    CHECK(a.type == code);
    CHECK(a.dims == shape{2, 3});
    const tensor<T> y = a.template as<T>();
    for (index_t i = 0; i < x.size(); ++i) CHECK(y[i] == x[i]);
  };
  check(std::int8_t{}, data::idx_type::i8);
  check(std::int16_t{}, data::idx_type::i16);
  check(std::int32_t{}, data::idx_type::i32);
  check(float{}, data::idx_type::f32);
  check(double{}, data::idx_type::f64);
  // Big-endian on disk: an i32 of value 0x01020304 is stored as 01 02 03 04.
  tensor<std::int32_t> one(shape{1}, 0x01020304);
  data::write_idx<std::int32_t>(dir / "be", one.view());
  const auto b = ebm_test::read_bytes(dir / "be");
  REQUIRE(b.size() == 12);
  CHECK(b[8] == 1);
  CHECK(b[11] == 4);
}

TEST_CASE("labels round-trip; out-of-range labels and wrong shapes are rejected") {
  ebm_test::temp_dir dir("idx_labels");
  const std::vector<int> labels = {3, 0, 9, 255, 1};
  data::write_idx_labels(dir / "l.gz", labels);
  CHECK(data::read_idx_labels(dir / "l.gz") == labels);
  const std::vector<int> bad = {1, 256};
  CHECK_THROWS_WITH_AS(data::write_idx_labels(dir / "bad", bad), doctest::Contains("256"), ebm::error);
  data::write_idx_images<float>(dir / "img", byte_images(shape{2, 1, 2, 2}).view());
  CHECK_THROWS_WITH_AS(data::read_idx_labels(dir / "img"), doctest::Contains("labels must be [N]"), ebm::error);
  CHECK_THROWS_WITH_AS(data::read_idx_images<float>(dir / "l.gz"), doctest::Contains("images must be"), ebm::error);
}

TEST_CASE("truncated IDX files are errors naming the file and the sizes") {
  ebm_test::temp_dir dir("idx_trunc");
  const tensor<float> x = byte_images(shape{10, 1, 8, 8});
  data::write_idx_images<float>(dir / "full", x.view());
  auto bytes = ebm_test::read_bytes(dir / "full");
  REQUIRE(bytes.size() == 16 + 640);
  bytes.resize(bytes.size() - 100);
  ebm_test::write_bytes(dir / "cut", bytes);
  const std::string cut = (dir / "cut").string();
  CHECK_THROWS_WITH_AS(data::read_idx_images<float>(dir / "cut"),
                       doctest::Contains(("IDX file '" + cut + "' is truncated: expected 656 bytes").c_str()), ebm::error);
  CHECK_THROWS_WITH_AS(data::read_idx(dir / "cut"), doctest::Contains("got 556"), ebm::error);
  // Cut inside the header.
  bytes.resize(10);
  ebm_test::write_bytes(dir / "head", bytes);
  CHECK_THROWS_WITH_AS(data::read_idx(dir / "head"), doctest::Contains("expected at least 16 bytes of header, got 10"),
                       ebm::error);

  // A gzip stream cut in the middle.
  data::write_idx_images<float>(dir / "full.gz", x.view());
  auto gz = ebm_test::read_bytes(dir / "full.gz");
  gz.resize(gz.size() / 2);
  ebm_test::write_bytes(dir / "cut.gz", gz);
  CHECK_THROWS_WITH_AS(data::read_idx(dir / "cut.gz"),
                       doctest::Contains(("'" + (dir / "cut.gz").string() + "' is truncated").c_str()), ebm::error);
  // Only the gzip trailer missing: the data is complete but the stream is not.
  gz = ebm_test::read_bytes(dir / "full.gz");
  gz.resize(gz.size() - 4);
  ebm_test::write_bytes(dir / "notrailer.gz", gz);
  CHECK_THROWS_WITH_AS(data::read_idx(dir / "notrailer.gz"), doctest::Contains("truncated"), ebm::error);
}

TEST_CASE("foreign, empty, oversized, corrupt and missing files are errors naming the file") {
  ebm_test::temp_dir dir("idx_bad");
  const std::string png = "\x89PNG\r\n\x1a\n and more";
  ebm_test::write_bytes(dir / "foreign", std::vector<unsigned char>(png.begin(), png.end()));
  CHECK_THROWS_WITH_AS(data::read_idx(dir / "foreign"),
                       doctest::Contains(("'" + (dir / "foreign").string() + "' is not an IDX file: bad magic 0x89504e47")
                                             .c_str()),
                       ebm::error);
  ebm_test::write_bytes(dir / "typo", {0, 0, 0x07, 1, 0, 0, 0, 0});
  CHECK_THROWS_WITH_AS(data::read_idx(dir / "typo"), doctest::Contains("bad magic 0x00000701"), ebm::error);

  ebm_test::write_bytes(dir / "empty", {});
  CHECK_THROWS_WITH_AS(data::read_idx(dir / "empty"),
                       doctest::Contains(("IDX file '" + (dir / "empty").string() + "' is empty").c_str()), ebm::error);
  ebm_test::write_bytes(dir / "empty.gz", {});
  CHECK_THROWS_WITH_AS(data::read_idx(dir / "empty.gz"), doctest::Contains("is empty"), ebm::error);
  const auto packed_nothing = data::detail::gzip_compress({});
  ebm_test::write_bytes(dir / "nothing.gz", packed_nothing);
  CHECK_THROWS_WITH_AS(data::read_idx(dir / "nothing.gz"), doctest::Contains("nothing.gz' is empty"), ebm::error);

  data::write_idx_labels(dir / "long", std::vector<int>{1, 2, 3});
  auto b = ebm_test::read_bytes(dir / "long");
  b.push_back(7);
  ebm_test::write_bytes(dir / "long", b);
  CHECK_THROWS_WITH_AS(data::read_idx(dir / "long"), doctest::Contains("has 12 bytes but its header declares 11"),
                       ebm::error);

  // A flipped byte in the gzip trailer's CRC.
  data::write_idx_labels(dir / "crc.gz", std::vector<int>{1, 2, 3});
  auto g = ebm_test::read_bytes(dir / "crc.gz");
  g[g.size() - 8] ^= 0x5a;
  ebm_test::write_bytes(dir / "crc.gz", g);
  CHECK_THROWS_WITH_AS(data::read_idx(dir / "crc.gz"), doctest::Contains("crc.gz' holds corrupt gzip data"), ebm::error);

  CHECK_THROWS_WITH_AS(data::read_idx(dir / "absent"), doctest::Contains((dir / "absent").string().c_str()), ebm::error);
  CHECK_THROWS_WITH_AS(data::read_idx(dir.path), doctest::Contains("is a directory"), ebm::error);
  CHECK_THROWS_WITH_AS(data::write_idx_labels(dir / "no-such-dir" / "l", std::vector<int>{1}),
                       doctest::Contains("no-such-dir"), ebm::error);
}
