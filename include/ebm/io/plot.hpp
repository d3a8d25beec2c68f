#pragma once
// Line charts written as PNG files, with no dependency beyond png.hpp: for
// examples that show curves (accuracy against attack strength, loss against
// step).  White background, a framed plot area with about five "nice" ticks
// (1, 2 or 5 times a power of ten) per axis and light grid lines, a title,
// axis labels, and a legend naming each series in its colour.  Lines are 2 px
// wide Bresenham segments; text uses an embedded 5x7 bitmap font (printable
// ASCII, with descenders) drawn at an integer scale.
//
// Points whose x or y is NaN or infinite (or, with log_x, whose x <= 0) are
// skipped and break the line.  An empty list, a series with no finite point
// and all-equal values draw without error (an empty or zero-width range is
// padded).  A series whose x and y differ in length is an ebm::error naming it.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../core/error.hpp"
#include "png.hpp"

namespace ebm::io {

/// One line of a chart: points (x[i], y[i]) joined in order, with markers.
struct series {
  std::string name;  ///< legend entry; series with an empty name are left out of the legend
  std::vector<double> x, y;
};

struct plot_options {
  int width = 640, height = 420;  ///< image size in pixels
  std::string title, x_label, y_label;
  /// Axis range; a side left unset follows the data (with a 5% margin).
  std::optional<double> y_min, y_max, x_min, x_max;
  bool log_x = false;   ///< logarithmic x axis (x must be > 0; other points are skipped)
  bool markers = true;  ///< draw a marker at every point
};

/// Inclusive pixel bounds of the plot area inside the image.
struct plot_rect {
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};

using rgb8 = std::array<unsigned char, 3>;

/// Series i is drawn in plot_palette[i % 8] (markers also change shape every
/// series, so that series 8 and up stay distinguishable).
inline constexpr std::array<rgb8, 8> plot_palette{{
    {31, 119, 180},   // blue
    {230, 110, 0},    // orange
    {44, 160, 44},    // green
    {214, 39, 40},    // red
    {148, 103, 189},  // purple
    {140, 86, 75},    // brown
    {210, 80, 170},   // pink
    {0, 160, 175},    // teal
}};

namespace detail {

// 5x8 glyphs for ASCII 32..126: byte r (most significant first) is row r,
// bit 4 the leftmost column.  Rows 0-6 hold capitals, row 7 descenders.
inline constexpr std::uint64_t plot_font[95] = {
    0x0000000000000000, 0x0404040404000400, 0x0A0A0A0000000000, 0x0A0A1F0A1F0A0A00,  //  !"#
    0x040F140E051E0400, 0x1819020408130300, 0x0C12140815120D00, 0x0404080000000000,  // $%&'
    0x0204080808040200, 0x0804020202040800, 0x0004150E15040000, 0x0004041F04040000,  // ()*+
    0x00000000000C0408, 0x0000001F00000000, 0x00000000000C0C00, 0x0001020408100000,  // ,-./
    0x0E11131519110E00, 0x040C040404040E00, 0x0E11010204081F00, 0x1F02040201110E00,  // 0123
    0x02060A121F020200, 0x1F101E0101110E00, 0x0608101E11110E00, 0x1F01020408080800,  // 4567
    0x0E11110E11110E00, 0x0E11110F01020C00, 0x000C0C000C0C0000, 0x000C0C000C040800,  // 89:;
    0x0204081008040200, 0x00001F001F000000, 0x0804020102040800, 0x0E11010204000400,  // <=>?
    0x0E11010D15150E00, 0x0E11111F11111100, 0x1E11111E11111E00, 0x0E11101010110E00,  // @ABC
    0x1C12111111121C00, 0x1F10101E10101F00, 0x1F10101E10101000, 0x0E11101711110F00,  // DEFG
    0x1111111F11111100, 0x0E04040404040E00, 0x0702020202120C00, 0x1112141814121100,  // HIJK
    0x1010101010101F00, 0x111B151511111100, 0x1111191513111100, 0x0E11111111110E00,  // LMNO
    0x1E11111E10101000, 0x0E11111115120D00, 0x1E11111E14121100, 0x0F10100E01011E00,  // PQRS
    0x1F04040404040400, 0x1111111111110E00, 0x11111111110A0400, 0x1111111515150A00,  // TUVW
    0x11110A040A111100, 0x11110A0404040400, 0x1F01020408101F00, 0x0E08080808080E00,  // XYZ[
    0x0010080402010000, 0x0E02020202020E00, 0x040A110000000000, 0x000000000000001F,  // (backslash)]^_
    0x0804020000000000, 0x00000E010F110F00, 0x1010161911111E00, 0x00000E1010110E00,  // `abc
    0x01010D1311110F00, 0x00000E111F100E00, 0x0609081C08080800, 0x00000F11110F010E,  // defg
    0x1010161911111100, 0x04000C0404040E00, 0x020006020202120C, 0x1010121418141200,  // hijk
    0x0C04040404040E00, 0x00001A1515151500, 0x0000161911111100, 0x00000E1111110E00,  // lmno
    0x00001E11111E1010, 0x00000F11110F0101, 0x0000161910101000, 0x00000F100E011E00,  // pqrs
    0x08081C0808090600, 0x0000111111130D00, 0x00001111110A0400, 0x0000111115150A00,  // tuvw
    0x0000110A040A1100, 0x00001111110F010E, 0x00001F0204081F00, 0x0204040804040200,  // xyz{
    0x0404040404040400, 0x0804040204040800, 0x0000081502000000,  // |}~
};

inline constexpr int glyph_w = 6, glyph_h = 8;  // cell size at scale 1 (glyph + spacing)

/// Draws into an RGB image, writing only pixels inside `clip`.
struct canvas {
  image8& img;
  plot_rect clip;
  void set(int x, int y, rgb8 c) const {
    if (x < clip.x0 || x > clip.x1 || y < clip.y0 || y > clip.y1) return;
    unsigned char* p = &img.pixels[(static_cast<std::size_t>(y) * img.width + x) * 3];
    p[0] = c[0], p[1] = c[1], p[2] = c[2];
  }
  void fill(int x0, int y0, int x1, int y1, rgb8 c) const {
    for (int y = std::max(y0, clip.y0); y <= std::min(y1, clip.y1); ++y)
      for (int x = std::max(x0, clip.x0); x <= std::min(x1, clip.x1); ++x) set(x, y, c);
  }
  void hline(int x0, int x1, int y, rgb8 c) const { fill(std::min(x0, x1), y, std::max(x0, x1), y, c); }
  void vline(int x, int y0, int y1, rgb8 c) const { fill(x, std::min(y0, y1), x, std::max(y0, y1), c); }
  void frame(int x0, int y0, int x1, int y1, rgb8 c) const {
    hline(x0, x1, y0, c), hline(x0, x1, y1, c), vline(x0, y0, y1, c), vline(x1, y0, y1, c);
  }
};

inline int text_width(std::string_view s, int scale) {
  return s.empty() ? 0 : static_cast<int>(s.size()) * glyph_w * scale - scale;
}

/// Draws `s` with its top-left corner at (x, y); vertical text reads bottom to
/// top and then starts at its bottom-left corner (x, y).
inline void draw_text(const canvas& cv, int x, int y, std::string_view s, rgb8 c, int scale,
                      bool vertical = false) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const int ch = static_cast<unsigned char>(s[i]);
    const std::uint64_t g = plot_font[(ch >= 32 && ch <= 126) ? ch - 32 : '?' - 32];
    const int along = static_cast<int>(i) * glyph_w * scale;
    for (int r = 0; r < 8; ++r) {
      const unsigned bits = static_cast<unsigned>(g >> (8 * (7 - r))) & 0x1Fu;
      for (int col = 0; col < 5; ++col) {
        if (!(bits & (0x10u >> col))) continue;
        if (vertical)
          cv.fill(x + r * scale, y - along - (col + 1) * scale + 1, x + (r + 1) * scale - 1,
                  y - along - col * scale, c);
        else
          cv.fill(x + along + col * scale, y + r * scale, x + along + (col + 1) * scale - 1,
                  y + (r + 1) * scale - 1, c);
      }
    }
  }
}

/// Clips segment a-b to [x0, x1] x [y0, y1] (Liang-Barsky); false when outside.
inline bool clip_segment(double& ax, double& ay, double& bx, double& by, double x0, double y0,
                         double x1, double y1) {
  const double dx = bx - ax, dy = by - ay;
  double t0 = 0, t1 = 1;
  auto edge = [&](double p, double q) {
    if (p == 0) return q >= 0;
    const double r = q / p;
    if (p < 0) {
      if (r > t1) return false;
      t0 = std::max(t0, r);
    } else {
      if (r < t0) return false;
      t1 = std::min(t1, r);
    }
    return true;
  };
  if (!edge(-dx, ax - x0) || !edge(dx, x1 - ax) || !edge(-dy, ay - y0) || !edge(dy, y1 - ay)) return false;
  const double sx = ax, sy = ay;
  ax = sx + t0 * dx, ay = sy + t0 * dy;
  bx = sx + t1 * dx, by = sy + t1 * dy;
  return true;
}

/// A 2 px wide line from a to b (pixel coordinates, any magnitude), clipped to cv.clip.
inline void draw_line(const canvas& cv, double ax, double ay, double bx, double by, rgb8 c) {
  const plot_rect& k = cv.clip;
  if (!std::isfinite(ax) || !std::isfinite(ay) || !std::isfinite(bx) || !std::isfinite(by)) return;
  if (!clip_segment(ax, ay, bx, by, k.x0 - 2.0, k.y0 - 2.0, k.x1 + 2.0, k.y1 + 2.0)) return;
  int x = static_cast<int>(std::lround(ax)), y = static_cast<int>(std::lround(ay));
  const int xe = static_cast<int>(std::lround(bx)), ye = static_cast<int>(std::lround(by));
  const int dx = std::abs(xe - x), dy = -std::abs(ye - y), sx = x < xe ? 1 : -1, sy = y < ye ? 1 : -1;
  int err = dx + dy;
  for (;;) {  // Bresenham, stamping 2x2 pixels
    cv.fill(x, y, x + 1, y + 1, c);
    if (x == xe && y == ye) break;
    const int e2 = 2 * err;
    if (e2 >= dy) err += dy, x += sx;
    if (e2 <= dx) err += dx, y += sy;
  }
}

/// Marker `shape` (0 circle, 1 square, 2 diamond, 3 triangle) of radius r centred at (x, y).
inline void draw_marker(const canvas& cv, int x, int y, int shape, int r, rgb8 c) {
  for (int dy = -r; dy <= r; ++dy)
    for (int dx = -r; dx <= r; ++dx) {
      bool in = false;
      switch (shape) {
        case 0: in = dx * dx + dy * dy <= r * r + r / 2; break;
        case 1: in = std::abs(dx) < r && std::abs(dy) < r; break;
        case 2: in = std::abs(dx) + std::abs(dy) <= r; break;
        default: in = 2 * std::abs(dx) <= dy + r; break;  // apex up
      }
      if (in) cv.set(x + dx, y + dy, c);
    }
}

/// Prints a tick value with as many decimals as `step` needs.
inline std::string tick_label(double v, double step) {
  char buf[48];
  const double mag = std::max(std::abs(v), step);
  const int decimals = std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9)));
  if (mag >= 1e6 || decimals > 5) {
    const int digits = std::clamp(
        static_cast<int>(std::floor(std::log10(mag)) - std::floor(std::log10(step) + 1e-9)) + 1, 1, 10);
    std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  } else {
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  }
  return buf;
}

/// Ticks at multiples of a 1/2/5 x 10^k step inside [lo, hi], about `target` of them.
inline std::vector<double> linear_ticks(double lo, double hi, int target, double& step) {
  const double base = std::pow(10.0, std::floor(std::log10((hi - lo) / target)));
  step = base;
  long best_err = -1;
  for (const double m : {0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0}) {
    const double st = m * base;
    const long n = static_cast<long>(std::floor(hi / st + 1e-9) - std::ceil(lo / st - 1e-9)) + 1;
    const long err = std::abs(n - target) * 2 + (n > target);  // ties: fewer ticks
    if (n >= 2 && (best_err < 0 || err < best_err)) best_err = err, step = st;
  }
  std::vector<double> t;
  const double k0 = std::ceil(lo / step - 1e-9), k1 = std::floor(hi / step + 1e-9);
  for (double k = k0; k <= k1 && t.size() < 100; k += 1) t.push_back(std::abs(k) < 0.5 ? 0.0 : k * step);
  return t;
}

struct axis {
  double lo = 0, hi = 1;          // range, in log10 units for a log axis
  std::vector<double> ticks;      // positions, same units
  std::vector<std::string> labels;
  int label_width(int scale) const {
    int w = 0;
    for (const auto& s : labels) w = std::max(w, text_width(s, scale));
    return w;
  }
};

inline void make_ticks(axis& a, bool log, int target) {
  a.ticks.clear(), a.labels.clear();
  if (log) {
    // Decades, 1-2-5 or 1..9 multiples of powers of ten: whichever count is
    // closest to the target (decades on ties).
    std::vector<double> best_t;
    std::vector<std::string> best_l;
    for (const int per : {1, 3, 9}) {
      std::vector<double> ts;
      std::vector<std::string> ls;
      const int d0 = static_cast<int>(std::floor(a.lo)), d1 = static_cast<int>(std::ceil(a.hi));
      const int stride = per == 1 ? std::max(1, (d1 - d0 + target - 1) / target) : 1;
      for (int d = d0; d <= d1 && ts.size() < 100; ++d) {
        if (per == 1 && (d % stride) != 0) continue;
        for (int m = 1; m <= 9; ++m) {
          if ((per == 1 && m != 1) || (per == 3 && m != 1 && m != 2 && m != 5)) continue;
          const double v = m * std::pow(10.0, d), t = std::log10(v);
          if (t < a.lo - 1e-9 || t > a.hi + 1e-9) continue;
          char buf[32];
          std::snprintf(buf, sizeof buf, "%g", v);
          ts.push_back(t), ls.emplace_back(buf);
        }
      }
      const auto err = [&](std::size_t n) { return std::abs(static_cast<long>(n) - target); };
      if (ts.size() >= 2 && (best_t.empty() || err(ts.size()) < err(best_t.size())))
        best_t = std::move(ts), best_l = std::move(ls);
    }
    if (!best_t.empty()) {
      a.ticks = std::move(best_t), a.labels = std::move(best_l);
      return;
    }
    // Less than a factor of two: linear ticks in value space, placed logarithmically.
    double step = 1;
    const auto vs = linear_ticks(std::pow(10.0, a.lo), std::pow(10.0, a.hi), target, step);
    a.ticks.clear(), a.labels.clear();
    for (const double v : vs)
      if (v > 0) a.ticks.push_back(std::log10(v)), a.labels.push_back(tick_label(v, step));
    return;
  }
  double step = 1;
  a.ticks = linear_ticks(a.lo, a.hi, target, step);
  for (const double v : a.ticks) a.labels.push_back(tick_label(v, step));
}

/// Range of one axis: explicit ends win, the others follow the data with a
/// 5% margin; empty or degenerate ranges are padded.
inline void set_range(axis& a, double dlo, double dhi, std::optional<double> omin, std::optional<double> omax,
                      bool log, const char* name) {
  auto conv = [&](std::optional<double> v, const char* which) -> std::optional<double> {
    if (!v) return v;
    EBM_REQUIRE(std::isfinite(*v) && (!log || *v > 0), "render_plot: ", name, "_", which, " = ", *v,
                log ? " must be finite and > 0 on a log axis" : " must be finite");
    return log ? std::log10(*v) : *v;
  };
  const auto mn = conv(omin, "min"), mx = conv(omax, "max");
  if (mn && mx)
    EBM_REQUIRE(*mn < *mx, "render_plot: ", name, "_min (", *omin, ") must be below ", name, "_max (", *omax, ")");
  if (!(dlo <= dhi)) dlo = 0, dhi = 1;  // no finite data
  constexpr double big = 1e307;          // keeps hi - lo and the margins finite
  double lo = std::clamp(mn.value_or(dlo), -big, big), hi = std::clamp(mx.value_or(dhi), -big, big);
  if (mn && !mx && hi <= lo) hi = lo;
  if (mx && !mn && lo >= hi) lo = hi;
  const double scale = std::max(std::abs(lo), std::abs(hi));
  if (!(hi - lo > 1e-12 * scale) || hi - lo < 1e-300) {
    const double pad = scale > 0 ? 0.1 * scale : 1.0;
    const bool both = mn && mx;  // only when clamping made them equal
    if (!mn || both) lo -= pad;
    if (!mx || both) hi += pad;
  } else {
    const double margin = 0.05 * (hi - lo);
    if (!mn) lo -= margin;
    if (!mx) hi += margin;
  }
  a.lo = lo, a.hi = hi;
}

struct plot_layout {
  plot_rect area;
  axis x, y;
  int scale = 1;  // text scale for ticks and labels; the title uses twice this
};

inline bool point_ok(double x, double y, bool log_x) {
  return std::isfinite(x) && std::isfinite(y) && (!log_x || x > 0);
}

inline void check_plot_args(std::span<const series> lines, const plot_options& opt) {
  EBM_REQUIRE(opt.width >= 32 && opt.height >= 32 && opt.width <= 16384 && opt.height <= 16384,
              "render_plot: image size ", opt.width, "x", opt.height, " is outside 32..16384");
  for (std::size_t i = 0; i < lines.size(); ++i)
    EBM_REQUIRE(lines[i].x.size() == lines[i].y.size(), "render_plot: series '", lines[i].name, "' (#", i,
                ") has ", lines[i].x.size(), " x values but ", lines[i].y.size(), " y values");
}

inline plot_layout layout_plot(std::span<const series> lines, const plot_options& opt) {
  check_plot_args(lines, opt);
  plot_layout L;
  L.scale = std::max(1, std::min(opt.width / 640, opt.height / 420));
  const int s = L.scale, cw = glyph_w * s, ch = glyph_h * s, pad = 8 * s, tick = 4 * s, gap = 3 * s;

  double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
  for (const auto& l : lines)
    for (std::size_t i = 0; i < l.x.size(); ++i)
      if (point_ok(l.x[i], l.y[i], opt.log_x)) {
        const double x = opt.log_x ? std::log10(l.x[i]) : l.x[i];
        xlo = std::min(xlo, x), xhi = std::max(xhi, x);
        ylo = std::min(ylo, l.y[i]), yhi = std::max(yhi, l.y[i]);
      }
  set_range(L.x, xlo, xhi, opt.x_min, opt.x_max, opt.log_x, "x");
  set_range(L.y, ylo, yhi, opt.y_min, opt.y_max, false, "y");

  const int top = pad + (opt.title.empty() ? ch / 2 : 2 * ch + pad);
  const int bottom = tick + gap + ch + (opt.x_label.empty() ? 0 : gap + ch) + pad;
  const int plot_h = opt.height - top - bottom;
  int target = 5;  // fewer y ticks when their labels would touch
  do make_ticks(L.y, false, target);
  while (--target >= 2 && static_cast<int>(L.y.ticks.size()) * (ch + gap) > plot_h);
  const int left = pad + (opt.y_label.empty() ? 0 : ch + 2 * gap) + L.y.label_width(s) + gap + tick;
  int right = pad + cw;
  for (target = 5; target >= 2; --target) {  // fewer x ticks when their labels would touch
    make_ticks(L.x, opt.log_x, target);
    const int plot_w = opt.width - left - right;
    int need = 0;
    for (const auto& t : L.x.labels) need += text_width(t, s) + 2 * cw;
    if (need <= plot_w) break;
  }
  if (!L.x.labels.empty()) right = std::max(pad, text_width(L.x.labels.back(), s) / 2 + gap);
  L.area = {left, top, opt.width - 1 - right, opt.height - 1 - bottom};
  EBM_REQUIRE(L.area.x1 - L.area.x0 >= 16 && L.area.y1 - L.area.y0 >= 16, "render_plot: a ", opt.width, "x",
              opt.height, " image leaves no room for the plot area next to its labels");
  return L;
}

}  // namespace detail

/// Where render_plot puts the plot area (axes frame) for these arguments.
inline plot_rect plot_area(std::span<const series> lines, const plot_options& opt = {}) {
  return detail::layout_plot(lines, opt).area;
}

/// Renders the chart into an RGB image of opt.width x opt.height pixels.
inline image8 render_plot(std::span<const series> lines, const plot_options& opt = {}) {
  using namespace detail;
  const plot_layout L = layout_plot(lines, opt);
  const int s = L.scale, ch = glyph_h * s, tick = 4 * s, gap = 3 * s;
  const plot_rect& A = L.area;
  constexpr rgb8 ink{30, 30, 30}, grid{228, 228, 228}, frame_c{90, 90, 90}, white{255, 255, 255};

  image8 img(opt.width, opt.height, 3, 255);
  const canvas whole{img, {0, 0, opt.width - 1, opt.height - 1}};
  const canvas inside{img, A};

  auto px = [&](double x) { return A.x0 + (x - L.x.lo) / (L.x.hi - L.x.lo) * (A.x1 - A.x0); };
  auto py = [&](double y) { return A.y1 - (y - L.y.lo) / (L.y.hi - L.y.lo) * (A.y1 - A.y0); };
  auto tx = [&](double x) { return opt.log_x ? std::log10(x) : x; };
  auto bounded = [](double v) { return std::clamp(v, -1e9, 1e9); };

  // Grid, ticks and tick labels.
  for (std::size_t i = 0; i < L.x.ticks.size(); ++i) {
    const int x = static_cast<int>(std::lround(px(L.x.ticks[i])));
    inside.vline(x, A.y0, A.y1, grid);
    whole.vline(x, A.y1 + 1, A.y1 + tick, frame_c);
    draw_text(whole, x - text_width(L.x.labels[i], s) / 2, A.y1 + tick + gap, L.x.labels[i], ink, s);
  }
  for (std::size_t i = 0; i < L.y.ticks.size(); ++i) {
    const int y = static_cast<int>(std::lround(py(L.y.ticks[i])));
    inside.hline(A.x0, A.x1, y, grid);
    whole.hline(A.x0 - tick, A.x0 - 1, y, frame_c);
    draw_text(whole, A.x0 - tick - gap - text_width(L.y.labels[i], s), y - 3 * s, L.y.labels[i], ink, s);
  }

  // Lines, then markers on top.
  const int mr = 3 * s;
  for (std::size_t k = 0; k < lines.size(); ++k) {
    const series& l = lines[k];
    const rgb8 c = plot_palette[k % plot_palette.size()];
    bool have_prev = false;
    double qx = 0, qy = 0;
    for (std::size_t i = 0; i < l.x.size(); ++i) {
      if (!point_ok(l.x[i], l.y[i], opt.log_x)) {
        have_prev = false;
        continue;
      }
      const double x = bounded(px(tx(l.x[i]))), y = bounded(py(l.y[i]));
      const bool next_ok = i + 1 < l.x.size() && point_ok(l.x[i + 1], l.y[i + 1], opt.log_x);
      if (have_prev) draw_line(inside, qx, qy, x, y, c);
      else if (!next_ok && !opt.markers) draw_line(inside, x, y, x, y, c);  // isolated point
      have_prev = true, qx = x, qy = y;
    }
    if (!opt.markers) continue;
    const int shape = static_cast<int>((k + k / plot_palette.size()) % 4);
    for (std::size_t i = 0; i < l.x.size(); ++i)
      if (point_ok(l.x[i], l.y[i], opt.log_x)) {
        const double x = bounded(px(tx(l.x[i]))), y = bounded(py(l.y[i]));
        if (x >= A.x0 - mr && x <= A.x1 + mr && y >= A.y0 - mr && y <= A.y1 + mr)
          draw_marker(inside, static_cast<int>(std::lround(x)), static_cast<int>(std::lround(y)), shape, mr, c);
      }
  }
  whole.frame(A.x0, A.y0, A.x1, A.y1, frame_c);

  // Legend, at the corner or edge of the plot area where it hides the fewest data.
  int entries = 0, name_w = 0;
  for (const auto& l : lines)
    if (!l.name.empty()) ++entries, name_w = std::max(name_w, text_width(l.name, s));
  if (entries > 0) {
    const int swatch = 22 * s, row = ch + 4 * s, inset = 8 * s, bpad = 5 * s;
    const int w = bpad + swatch + 2 * gap + name_w + bpad, h = bpad + entries * row - 4 * s + bpad;
    const int lx = A.x0 + inset, rx = A.x1 - inset - w, mx = (A.x0 + A.x1 - w) / 2;
    const int ty = A.y0 + inset, by = A.y1 - inset - h, my = (A.y0 + A.y1 - h) / 2;
    const std::array<std::array<int, 2>, 8> spots{
        {{rx, ty}, {lx, ty}, {rx, by}, {lx, by}, {rx, my}, {lx, my}, {mx, ty}, {mx, by}}};  // by preference
    std::array<long, spots.size()> cover{};
    for (std::size_t q = 0; q < spots.size(); ++q) {
      const int sx = spots[q][0], sy = spots[q][1];
      auto hit = [&](double x, double y) { return x >= sx - 2 && x <= sx + w + 2 && y >= sy - 2 && y <= sy + h + 2; };
      for (const auto& l : lines) {
        bool have_prev = false;
        double qx = 0, qy = 0;
        for (std::size_t i = 0; i < l.x.size(); ++i) {
          if (!point_ok(l.x[i], l.y[i], opt.log_x)) {
            have_prev = false;
            continue;
          }
          const double x = bounded(px(tx(l.x[i]))), y = bounded(py(l.y[i]));
          cover[q] += 4 * hit(x, y);
          if (have_prev)
            for (int t = 1; t < 16; ++t) cover[q] += hit(qx + (x - qx) * t / 16, qy + (y - qy) * t / 16);
          have_prev = true, qx = x, qy = y;
        }
      }
    }
    const auto q = static_cast<std::size_t>(std::min_element(cover.begin(), cover.end()) - cover.begin());
    const int bx = spots[q][0], bt = spots[q][1];
    whole.fill(bx, bt, bx + w - 1, bt + h - 1, white);
    whole.frame(bx, bt, bx + w - 1, bt + h - 1, {170, 170, 170});
    int yy = bt + bpad;
    for (std::size_t k = 0; k < lines.size(); ++k) {
      if (lines[k].name.empty()) continue;
      const rgb8 c = plot_palette[k % plot_palette.size()];
      const int cy = yy + 3 * s, x0 = bx + bpad;
      draw_line(whole, x0, cy, x0 + swatch - 2, cy, c);
      if (opt.markers)
        draw_marker(whole, x0 + swatch / 2, cy, static_cast<int>((k + k / plot_palette.size()) % 4), mr, c);
      draw_text(whole, x0 + swatch + 2 * gap, yy, lines[k].name, c, s);
      yy += row;
    }
  }

  // Title and axis labels.
  const int ts = 2 * s;
  if (!opt.title.empty()) {
    const int tw = text_width(opt.title, ts);
    const int x = tw <= opt.width - 16 * s ? (opt.width - tw) / 2 : 8 * s;
    draw_text(whole, x, 8 * s, opt.title, ink, ts);
  }
  if (!opt.x_label.empty())
    draw_text(whole, (A.x0 + A.x1 - text_width(opt.x_label, s)) / 2, A.y1 + tick + gap + ch + gap, opt.x_label,
              ink, s);
  if (!opt.y_label.empty())
    draw_text(whole, 8 * s, (A.y0 + A.y1 + text_width(opt.y_label, s)) / 2, opt.y_label, ink, s, true);
  return img;
}

/// Renders the chart and writes it to `png` atomically (see write_png).
inline void save_plot(const std::filesystem::path& png, std::span<const series> lines,
                      const plot_options& opt = {}) {
  write_png(png, render_plot(lines, opt));
}

}  // namespace ebm::io
