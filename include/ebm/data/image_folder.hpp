#pragma once
// Loads every PNG/JPEG image of a folder into one tensor [N, C, H, W] in
// [-1, 1], for training on one's own pictures.
//
// Files are taken in sorted path order (deterministic across machines and
// runs).  Each image is decoded with stb_image and converted to the requested
// channel count by stb (grey -> RGB replicates, RGB -> grey uses stb's
// luminance weights; alpha is dropped, not composited), optionally
// centre-cropped to the target aspect ratio, then resized with
// resize_images() (area averaging when shrinking, bilinear when growing).
// Unreadable files and folders without images are errors naming them.
#include <stb_image.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "../core/tensor.hpp"
#include "transform.hpp"

namespace ebm::data {

struct image_folder_options {
  index_t height = 32;
  index_t width = 32;
  int channels = 3;          ///< 1 (grey) or 3 (RGB)
  bool center_crop = true;   ///< crop to the target aspect ratio before resizing (else stretch)
  bool recursive = false;    ///< also descend into sub-folders
};

namespace detail {
inline bool is_image_path(const std::filesystem::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}
}  // namespace detail

/// The PNG/JPEG files (by extension, case-insensitive) of a folder, sorted.
inline std::vector<std::filesystem::path> list_image_files(const std::filesystem::path& dir,
                                                           bool recursive = false) {
  namespace fs = std::filesystem;
  std::error_code ec;
  EBM_REQUIRE(fs::is_directory(dir, ec), "image folder '", dir.string(), "' does not exist or is not a directory");
  std::vector<fs::path> files;
  auto take = [&](const fs::directory_entry& e) {
    if (e.is_regular_file() && detail::is_image_path(e.path())) files.push_back(e.path());
  };
  if (recursive)
    for (const auto& e : fs::recursive_directory_iterator(dir)) take(e);
  else
    for (const auto& e : fs::directory_iterator(dir)) take(e);
  std::sort(files.begin(), files.end());
  return files;
}

/// Loads one image as [C, height, width] in [-1, 1] into `out` (resized).
template <class T = float>
void load_image(const std::filesystem::path& file, const image_folder_options& opt, tensor<T>& out) {
  EBM_REQUIRE(opt.channels == 1 || opt.channels == 3, "load_image: channels must be 1 or 3, got ", opt.channels);
  int w = 0, h = 0, c = 0;
  const std::unique_ptr<unsigned char, void (*)(void*)> pixels(
      ::stbi_load(file.c_str(), &w, &h, &c, opt.channels), ::stbi_image_free);
  EBM_REQUIRE(pixels != nullptr, "cannot read image '", file.string(), "': ", ::stbi_failure_reason());
  const unsigned char* px = pixels.get();
  // Crop window with the target's aspect ratio (the largest, centred).
  index_t x0 = 0, y0 = 0, cw = w, ch = h;
  if (opt.center_crop) {
    if (index_t(w) * opt.height > index_t(h) * opt.width)
      cw = std::max<index_t>(1, (index_t(h) * opt.width + opt.height / 2) / opt.height);
    else
      ch = std::max<index_t>(1, (index_t(w) * opt.height + opt.width / 2) / opt.width);
    x0 = (w - cw) / 2;
    y0 = (h - ch) / 2;
  }
  const index_t nc = opt.channels;
  tensor<T> planar(shape{1, nc, ch, cw});
  for (index_t k = 0; k < nc; ++k)
    for (index_t y = 0; y < ch; ++y)
      for (index_t x = 0; x < cw; ++x)
        planar(0, k, y, x) = static_cast<T>(px[((y0 + y) * w + (x0 + x)) * nc + k] / 127.5 - 1.0);
  resize_images<T>(planar.view(), opt.height, opt.width, out);
  out.reshape(shape{nc, opt.height, opt.width});
}

/// Loads every image of a folder as [N, C, height, width] in [-1, 1].  When
/// `files` is given it receives the paths in the order of the samples.
template <class T = float>
tensor<T> load_image_folder(const std::filesystem::path& dir, const image_folder_options& opt = {},
                            std::vector<std::filesystem::path>* files = nullptr) {
  const auto paths = list_image_files(dir, opt.recursive);
  EBM_REQUIRE(!paths.empty(), "image folder '", dir.string(), "' contains no PNG or JPEG files",
              opt.recursive ? "" : " (sub-folders are not searched unless recursive is set)");
  const index_t per = index_t(opt.channels) * opt.height * opt.width;
  tensor<T> out(shape{index_t(paths.size()), opt.channels, opt.height, opt.width});
  tensor<T> one;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    load_image<T>(paths[i], opt, one);
    std::copy_n(one.data(), per, out.data() + index_t(i) * per);
  }
  if (files) *files = paths;
  return out;
}

}  // namespace ebm::data
