#include <doctest/doctest.h>

#include <ebm/io/npy.hpp>
#include <filesystem>

TEST_CASE("npy: float and double round trips keep shape and bits") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "ebm_npy_test";
  fs::create_directories(dir);
  ebm::tensor<float> a(ebm::shape{2, 3, 4});
  for (ebm::index_t i = 0; i < a.size(); ++i) a[i] = 0.1f * float(i) - 1.0f;
  ebm::io::save_npy<float>(dir / "a.npy", a.view());
  auto b = ebm::io::load_npy<float>(dir / "a.npy");
  CHECK(b.shape() == a.shape());
  for (ebm::index_t i = 0; i < a.size(); ++i) CHECK(b[i] == a[i]);
  ebm::tensor<double> v(ebm::shape{5});
  v[4] = 3.25;
  ebm::io::save_npy<double>(dir / "v.npy", v.view());
  auto w = ebm::io::load_npy<double>(dir / "v.npy");
  CHECK(w.shape() == ebm::shape{5});
  CHECK(w[4] == 3.25);
  CHECK_THROWS_AS(ebm::io::load_npy<float>(dir / "missing.npy"), ebm::error);
  fs::remove_all(dir);
}
