#pragma once
// Fashion-MNIST (Xiao et al. 2017) as shipped by Debian's dataset-fashion-mnist:
// /usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz,
// 60000 training and 10000 test images of 28 x 28 grey pixels, labels 0..9.
//
// The coarse-to-fine models want sides that halve down to 4 (32, 16, 8, 4),
// so by default the 28 x 28 images are padded to 32 x 32 with -1 (black, the
// images' own background): the pixels stay exactly as published, nothing is
// interpolated, and the object keeps its size.  This is what the examples
// use.  fit_mode::resize interpolates to size x size instead (bilinear),
// fit_mode::none keeps 28 x 28 (whose pyramid stops at 7).
#include <array>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "dataset.hpp"
#include "idx.hpp"
#include "transform.hpp"

namespace ebm::data {

inline const std::filesystem::path fashion_mnist_default_dir{"/usr/share/datasets/fashion-mnist"};

/// Class names, indexed by label.
inline constexpr std::array<const char*, 10> fashion_mnist_classes = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

enum class fashion_mnist_split { train, test };
enum class fit_mode { none, pad, resize };

struct fashion_mnist_options {
  std::filesystem::path dir = fashion_mnist_default_dir;
  fit_mode fit = fit_mode::pad;
  index_t size = 32;  ///< side after padding or resizing
};

namespace detail {
/// "<dir>/<stem>.gz" when present, else the uncompressed "<dir>/<stem>".
inline std::filesystem::path find_idx(const std::filesystem::path& dir, const std::string& stem) {
  const auto gz = dir / (stem + ".gz");
  return std::filesystem::exists(gz) ? gz : dir / stem;
}
}  // namespace detail

/// Whether both files of the split are present in `dir`.
inline bool fashion_mnist_available(fashion_mnist_split split,
                                    const std::filesystem::path& dir = fashion_mnist_default_dir) {
  const std::string p = split == fashion_mnist_split::train ? "train" : "t10k";
  return std::filesystem::exists(detail::find_idx(dir, p + "-images-idx3-ubyte")) &&
         std::filesystem::exists(detail::find_idx(dir, p + "-labels-idx1-ubyte"));
}

/// Loads one split with labels, images in [-1, 1] fitted as `opt` says.
template <class T = float>
image_dataset<T> load_fashion_mnist(fashion_mnist_split split, const fashion_mnist_options& opt = {}) {
  EBM_REQUIRE(std::filesystem::is_directory(opt.dir), "Fashion-MNIST not found: '", opt.dir.string(),
              "' is not a directory (Debian's dataset-fashion-mnist installs it; see scripts/install-deps.sh)");
  const std::string p = split == fashion_mnist_split::train ? "train" : "t10k";
  const auto img_path = detail::find_idx(opt.dir, p + "-images-idx3-ubyte");
  const auto lbl_path = detail::find_idx(opt.dir, p + "-labels-idx1-ubyte");
  tensor<T> images = read_idx_images<T>(img_path);
  std::vector<int> labels = read_idx_labels(lbl_path);
  EBM_REQUIRE(index_t(labels.size()) == images.extent(0), "Fashion-MNIST: '", lbl_path.string(), "' has ",
              labels.size(), " labels but '", img_path.string(), "' has ", images.extent(0), " images");
  switch (opt.fit) {
    case fit_mode::none: break;
    case fit_mode::pad: images = pad_images<T>(images.view(), opt.size, opt.size, T(-1)); break;
    case fit_mode::resize: images = resize_images<T>(images.view(), opt.size, opt.size); break;
  }
  return image_dataset<T>(std::move(images), std::move(labels));
}

}  // namespace ebm::data
