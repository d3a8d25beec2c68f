#include <doctest/doctest.h>

#include <stb_image_write.h>

#include <ebm/data/image_folder.hpp>
#include <vector>

#include "temp_dir.hpp"

using ebm::index_t;
using ebm::shape;
using ebm::tensor;
namespace data = ebm::data;
namespace fs = std::filesystem;

namespace {
void write_png(const fs::path& p, int w, int h, int c, const std::vector<unsigned char>& px) {
  REQUIRE(stbi_write_png(p.c_str(), w, h, c, px.data(), w * c) != 0);
}
float to_unit(int byte) { return static_cast<float>(byte / 127.5 - 1.0); }
}  // namespace

TEST_CASE("a folder of PNG and JPEG files loads in sorted order, converted and resized") {
  ebm_test::temp_dir dir("image_folder");
  // b.png: 8x8 grey, constant 200.  a.png: 4x4 RGB, constant (255, 0, 51).
  write_png(dir / "b.png", 8, 8, 1, std::vector<unsigned char>(64, 200));
  std::vector<unsigned char> rgb;
  for (int i = 0; i < 16; ++i) rgb.insert(rgb.end(), {255, 0, 51});
  write_png(dir / "a.png", 4, 4, 3, rgb);
  // c.JPG: a flat grey JPEG (flat blocks survive JPEG exactly up to rounding).
  std::vector<unsigned char> grey(16 * 16, 128);
  REQUIRE(stbi_write_jpg((dir / "c.JPG").c_str(), 16, 16, 1, grey.data(), 95) != 0);
  ebm_test::write_bytes(dir / "notes.txt", {'h', 'i'});
  fs::create_directories(dir / "sub");
  write_png(dir / "sub" / "d.png", 2, 2, 1, std::vector<unsigned char>(4, 0));

  std::vector<fs::path> files;
  const tensor<float> x = data::load_image_folder<float>(dir.path, {.height = 4, .width = 4, .channels = 3}, &files);
  REQUIRE(files.size() == 3);
  CHECK(files[0].filename() == "a.png");
  CHECK(files[1].filename() == "b.png");
  CHECK(files[2].filename() == "c.JPG");
  REQUIRE(x.shape() == shape{3, 3, 4, 4});
  for (index_t y = 0; y < 4; ++y)
    for (index_t xx = 0; xx < 4; ++xx) {
      CHECK(x(0, 0, y, xx) == doctest::Approx(to_unit(255)));
      CHECK(x(0, 1, y, xx) == doctest::Approx(to_unit(0)));
      CHECK(x(0, 2, y, xx) == doctest::Approx(to_unit(51)));
      for (index_t c = 0; c < 3; ++c) {
        CHECK(x(1, c, y, xx) == doctest::Approx(to_unit(200)));  // grey replicated to RGB
        CHECK(x(2, c, y, xx) == doctest::Approx(to_unit(128)).epsilon(0.02));
      }
    }

  const tensor<float> r = data::load_image_folder<float>(dir.path, {.height = 2, .width = 2, .channels = 1,
                                                                    .recursive = true});
  CHECK(r.shape() == shape{4, 1, 2, 2});
  CHECK(r(3, 0, 1, 1) == -1.0f);  // sub/d.png is black
}

TEST_CASE("centre cropping keeps the middle of a wide image; growing is bilinear") {
  ebm_test::temp_dir dir("image_crop");
  // 8x4: columns 0..3 black, 4..7 white.  The centred 4x4 square is columns 2..5.
  std::vector<unsigned char> px(32);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 8; ++x) px[static_cast<std::size_t>(y * 8 + x)] = x < 4 ? 0 : 255;
  write_png(dir / "wide.png", 8, 4, 1, px);
  tensor<float> img;
  data::load_image<float>(dir / "wide.png", {.height = 4, .width = 4, .channels = 1}, img);
  REQUIRE(img.shape() == shape{1, 4, 4});
  for (index_t y = 0; y < 4; ++y) {
    CHECK(img[y * 4 + 0] == -1.0f);
    CHECK(img[y * 4 + 1] == -1.0f);
    CHECK(img[y * 4 + 2] == 1.0f);
    CHECK(img[y * 4 + 3] == 1.0f);
  }
  // Without cropping the whole width is squeezed: 8 -> 4 averages column pairs.
  data::load_image<float>(dir / "wide.png", {.height = 4, .width = 4, .channels = 1, .center_crop = false}, img);
  CHECK(img[0] == -1.0f);
  CHECK(img[3] == 1.0f);
  // A 2x2 checkerboard grown to 4x4: the inner pixels blend their neighbours.
  write_png(dir / "tiny.png", 2, 2, 1, {0, 255, 255, 0});
  data::load_image<float>(dir / "tiny.png", {.height = 4, .width = 4, .channels = 1}, img);
  CHECK(img[0] == -1.0f);                             // corner: clamped, pure
  CHECK(img[1] == doctest::Approx(-0.5f));            // 0.75 black + 0.25 white
  CHECK(img[5] == doctest::Approx(-0.25f));           // (0.75^2 + 0.25^2) black, rest white
}

TEST_CASE("unreadable files and empty or missing folders are errors naming them") {
  ebm_test::temp_dir dir("image_bad");
  CHECK_THROWS_WITH_AS(data::load_image_folder<float>(dir.path),
                       doctest::Contains(("image folder '" + dir.path.string() + "' contains no PNG or JPEG files").c_str()),
                       ebm::error);
  CHECK_THROWS_WITH_AS(data::load_image_folder<float>(dir / "missing"), doctest::Contains("missing' does not exist"),
                       ebm::error);
  write_png(dir / "good.png", 2, 2, 1, {1, 2, 3, 4});
  ebm_test::write_bytes(dir / "broken.png", {0x89, 'P', 'N', 'G', 0, 1, 2});
  CHECK_THROWS_WITH_AS(data::load_image_folder<float>(dir.path),
                       doctest::Contains(("cannot read image '" + (dir / "broken.png").string() + "'").c_str()),
                       ebm::error);
}
