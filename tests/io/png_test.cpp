#include <doctest/doctest.h>

#include <stb_image.h>

#include <ebm/io/png.hpp>
#include <filesystem>

TEST_CASE("save_grid writes a PNG that decodes to the tiled images") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "ebm_png_test";
  fs::create_directories(dir);
  ebm::tensor<float> imgs(ebm::shape{3, 1, 2, 2});
  for (ebm::index_t i = 0; i < imgs.size(); ++i) imgs[i] = (i % 2) ? 1.0f : -1.0f;
  const fs::path p = dir / "grid.png";
  ebm::io::save_grid<float>(p, imgs.view(), 2, 1);
  int w, h, c;
  unsigned char* data = stbi_load(p.c_str(), &w, &h, &c, 0);
  REQUIRE(data);
  CHECK(w == 2 * 3 + 1);
  CHECK(h == 2 * 3 + 1);
  CHECK(c == 1);
  CHECK(data[1 * w + 1] == 0);    // first image, pixel (0,0) = -1
  CHECK(data[1 * w + 2] == 255);  // pixel (0,1) = +1
  stbi_image_free(data);
  // No temporary files are left behind.
  int files = 0;
  for (auto& e : fs::directory_iterator(dir)) files += e.path().filename().string()[0] == '.';
  CHECK(files == 0);
  fs::remove_all(dir);
}

TEST_CASE("a write into a missing directory fails with the file's name") {
  ebm::io::image8 img(2, 2, 1);
  CHECK_THROWS_WITH_AS(ebm::io::write_png("/nonexistent-dir/x.png", img),
                       doctest::Contains("/nonexistent-dir/x.png"), ebm::error);
}
