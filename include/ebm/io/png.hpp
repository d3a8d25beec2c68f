#pragma once
// PNG output: single images and sample grids, written atomically.  Uses
// stb_image_write (Debian's libstb-dev, linked through ebm::ebm).
#include <stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <vector>

#include "../core/tensor.hpp"
#include "atomic_file.hpp"

namespace ebm::io {

/// An 8-bit image, rows top to bottom, channels interleaved (1 = gray, 3 = RGB).
struct image8 {
  int width = 0, height = 0, channels = 1;
  std::vector<unsigned char> pixels;
  image8() = default;
  image8(int w, int h, int c, unsigned char fill = 0)
      : width(w), height(h), channels(c), pixels(static_cast<std::size_t>(w) * h * c, fill) {}
  unsigned char& at(int x, int y, int c = 0) {
    return pixels[(static_cast<std::size_t>(y) * width + x) * channels + c];
  }
};

inline void write_png(const std::filesystem::path& path, const image8& img) {
  EBM_REQUIRE(img.width > 0 && img.height > 0 && (img.channels == 1 || img.channels == 3 || img.channels == 4),
              "write_png: bad image ", img.width, "x", img.height, "x", img.channels, " for '",
              path.string(), "'");
  std::vector<unsigned char> out;
  auto sink = [](void* ctx, void* data, int size) {
    auto* v = static_cast<std::vector<unsigned char>*>(ctx);
    v->insert(v->end(), static_cast<unsigned char*>(data), static_cast<unsigned char*>(data) + size);
  };
  const int ok = stbi_write_png_to_func(sink, &out, img.width, img.height, img.channels,
                                        img.pixels.data(), img.width * img.channels);
  EBM_REQUIRE(ok, "write_png: encoding '", path.string(), "' failed");
  write_file_atomic(path, out);
}

/// Maps a value in [lo, hi] to 0..255 (clamped).
template <class T>
unsigned char to_byte(T v, T lo = T(-1), T hi = T(1)) {
  const double u = (static_cast<double>(v) - lo) / (static_cast<double>(hi) - lo);
  return static_cast<unsigned char>(std::lround(std::clamp(u, 0.0, 1.0) * 255.0));
}

/// Tiles a batch of images [N, C, H, W] (C = 1 or 3, values in [lo, hi]) into
/// a grid with `cols` columns and `pad` pixels of padding.
template <class T>
image8 make_grid(tensor_view<const T> images, int cols, int pad = 2, T lo = T(-1), T hi = T(1),
                 unsigned char background = 255) {
  const shape& s = images.shape();
  EBM_REQUIRE(s.rank() == 4 && (s[1] == 1 || s[1] == 3) && s[0] > 0,
              "make_grid: expected images [N, 1 or 3, H, W], got ", s);
  const int n = static_cast<int>(s[0]), c = static_cast<int>(s[1]), h = static_cast<int>(s[2]),
            w = static_cast<int>(s[3]);
  cols = std::max(1, std::min(cols, n));
  const int rows = (n + cols - 1) / cols;
  image8 img(cols * (w + pad) + pad, rows * (h + pad) + pad, c, background);
  for (int i = 0; i < n; ++i) {
    const int x0 = pad + (i % cols) * (w + pad), y0 = pad + (i / cols) * (h + pad);
    for (int ch = 0; ch < c; ++ch)
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
          img.at(x0 + x, y0 + y, ch) = to_byte<T>(images[((static_cast<index_t>(i) * c + ch) * h + y) * w + x], lo, hi);
  }
  return img;
}

template <class T>
void save_grid(const std::filesystem::path& path, tensor_view<const T> images, int cols, int pad = 2,
               T lo = T(-1), T hi = T(1)) {
  write_png(path, make_grid<T>(images, cols, pad, lo, hi));
}

}  // namespace ebm::io
