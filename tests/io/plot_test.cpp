#include <doctest/doctest.h>

#include <stb_image.h>

#include <cmath>
#include <ebm/io/plot.hpp>
#include <filesystem>
#include <limits>
#include <vector>

namespace {

using ebm::io::plot_options;
using ebm::io::series;

bool has_colour(ebm::io::image8& img, int x, int y, const ebm::io::rgb8& c) {
  return img.at(x, y, 0) == c[0] && img.at(x, y, 1) == c[1] && img.at(x, y, 2) == c[2];
}

int count_colour(ebm::io::image8& img, const ebm::io::plot_rect& r, const ebm::io::rgb8& c) {
  int n = 0;
  for (int y = r.y0 + 1; y < r.y1; ++y)
    for (int x = r.x0 + 1; x < r.x1; ++x) n += has_colour(img, x, y, c);
  return n;
}

std::vector<series> three_curves() {
  std::vector<series> s(3);
  s[0].name = "clean", s[1].name = "eps = 0.03", s[2].name = "eps = 0.1";
  for (int i = 0; i <= 10; ++i) {
    const double x = i * 0.1;
    s[0].x.push_back(x), s[0].y.push_back(0.9 - 0.2 * x * x);
    s[1].x.push_back(x), s[1].y.push_back(0.8 * std::exp(-2 * x));
    s[2].x.push_back(x), s[2].y.push_back(0.3 + 0.2 * std::sin(6 * x));
  }
  return s;
}

}  // namespace

TEST_CASE("render_plot makes an image of the requested size") {
  const auto s = three_curves();
  for (const auto& [w, h] : {std::pair{640, 420}, std::pair{300, 200}, std::pair{1280, 840}}) {
    plot_options opt;
    opt.width = w, opt.height = h, opt.title = "Accuracy", opt.x_label = "x", opt.y_label = "y";
    const auto img = ebm::io::render_plot(s, opt);
    CHECK(img.width == w);
    CHECK(img.height == h);
    CHECK(img.channels == 3);
    CHECK(img.pixels.size() == static_cast<std::size_t>(w) * h * 3);
  }
}

TEST_CASE("every series' colour appears inside the plot area") {
  auto s = three_curves();
  for (auto& l : s) l.name.clear();  // no legend: only the curves carry colour
  plot_options opt;
  opt.title = "t";
  auto img = ebm::io::render_plot(s, opt);
  const auto area = ebm::io::plot_area(s, opt);
  CHECK(area.x0 > 0);
  CHECK(area.x1 < img.width - 1);
  CHECK(area.y1 < img.height - 1);
  for (std::size_t k = 0; k < s.size(); ++k) {
    CAPTURE(k);
    CHECK(count_colour(img, area, ebm::io::plot_palette[k]) > 100);
  }
  // No colour of an absent series.
  CHECK(count_colour(img, area, ebm::io::plot_palette[5]) == 0);
}

TEST_CASE("a horizontal line at y = 0.5 on [0, 1] lands in the vertical middle") {
  std::vector<series> s{{"half", {0.0, 1.0}, {0.5, 0.5}}};
  plot_options opt;
  opt.y_min = 0.0, opt.y_max = 1.0, opt.markers = false;
  auto img = ebm::io::render_plot(s, opt);
  const auto area = ebm::io::plot_area(s, opt);
  const int mid = (area.y0 + area.y1) / 2;
  for (const int x : {(3 * area.x0 + area.x1) / 4, (area.x0 + area.x1) / 2, (area.x0 + 3 * area.x1) / 4}) {
    double sum = 0;
    int n = 0;
    for (int y = area.y0; y <= area.y1; ++y)
      if (has_colour(img, x, y, ebm::io::plot_palette[0])) sum += y, ++n;
    CAPTURE(x);
    REQUIRE(n >= 1);
    CHECK(n <= 3);
    CHECK(std::abs(sum / n - mid) <= 2.0);
  }
}

TEST_CASE("NaN and infinite points break the line; degenerate inputs draw") {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  std::vector<series> s{{"gaps", {0, 1, 2, 3, 4, 5, nan}, {1, nan, 3, inf, 2, -inf, 4}},
                        {"all nan", {nan, nan}, {nan, nan}},
                        {"", {}, {}}};
  auto img = ebm::io::render_plot(s, {});
  CHECK(count_colour(img, ebm::io::plot_area(s, {}), ebm::io::plot_palette[0]) > 0);

  // Between x = 2 and x = 4 the line is broken by the infinite point at x = 3.
  std::vector<series> broken{{"b", {0, 1, 2, 3}, {0, 0, inf, 0}}};
  plot_options opt;
  opt.markers = false;
  auto bi = ebm::io::render_plot(broken, opt);
  const auto area = ebm::io::plot_area(broken, opt);
  auto column_has = [&](double xv) {
    const int x = static_cast<int>(area.x0 + (xv + 0.15) / 3.3 * (area.x1 - area.x0));  // 5% margins
    for (int y = area.y0; y <= area.y1; ++y)
      if (has_colour(bi, x, y, ebm::io::plot_palette[0])) return true;
    return false;
  };
  CHECK(column_has(0.5));
  CHECK_FALSE(column_has(2.0));

  // Empty list, all-equal values, a single point, huge values, log axis.
  CHECK(ebm::io::render_plot({}, {}).width == 640);
  std::vector<series> flat{{"flat", {1, 1, 1}, {2, 2, 2}}};
  auto fi = ebm::io::render_plot(flat, {});
  CHECK(count_colour(fi, ebm::io::plot_area(flat, {}), ebm::io::plot_palette[0]) > 0);
  std::vector<series> one{{"one", {3}, {0}}};
  CHECK_NOTHROW(ebm::io::render_plot(one, {}));
  std::vector<series> huge{{"huge", {-1e308, 1e308}, {-1e308, 1.7e308}}};
  CHECK_NOTHROW(ebm::io::render_plot(huge, {}));
  plot_options lg;
  lg.log_x = true;
  std::vector<series> logs{{"log", {0, 1e-3, 1e-2, 1e-1, 1}, {0.1, 0.2, 0.4, 0.6, 0.9}}};
  auto li = ebm::io::render_plot(logs, lg);
  CHECK(count_colour(li, ebm::io::plot_area(logs, lg), ebm::io::plot_palette[0]) > 0);
  std::vector<series> narrow{{"narrow", {2, 3}, {0, 1}}};
  CHECK_NOTHROW(ebm::io::render_plot(narrow, lg));
}

TEST_CASE("x and y of different lengths are an error naming the series") {
  std::vector<series> s{{"ok", {1, 2}, {1, 2}}, {"bad curve", {1, 2, 3}, {1, 2}}};
  CHECK_THROWS_WITH_AS(ebm::io::render_plot(s, {}), doctest::Contains("bad curve"), ebm::error);
  plot_options opt;
  opt.y_min = 1.0, opt.y_max = 0.0;
  std::vector<series> good{{"ok", {1, 2}, {1, 2}}};
  CHECK_THROWS_WITH_AS(ebm::io::render_plot(good, opt), doctest::Contains("y_min"), ebm::error);
  plot_options lg;
  lg.log_x = true, lg.x_min = 0.0;
  CHECK_THROWS_AS(ebm::io::render_plot(good, lg), ebm::error);
}

TEST_CASE("save_plot writes a PNG of the requested size") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "ebm_plot_test";
  fs::create_directories(dir);
  const fs::path p = dir / "plot.png";
  plot_options opt;
  opt.width = 500, opt.height = 300, opt.title = "Training loss", opt.x_label = "step", opt.y_label = "loss";
  ebm::io::save_plot(p, three_curves(), opt);
  int w = 0, h = 0, c = 0;
  unsigned char* data = stbi_load(p.c_str(), &w, &h, &c, 0);
  REQUIRE(data);
  CHECK(w == 500);
  CHECK(h == 300);
  CHECK(c == 3);
  CHECK(data[0] == 255);  // white background in the corner
  stbi_image_free(data);
  int hidden = 0;  // no temporary file is left behind
  for (auto& e : fs::directory_iterator(dir)) hidden += e.path().filename().string()[0] == '.';
  CHECK(hidden == 0);
  fs::remove_all(dir);

  // An example chart for a person to look at.
  plot_options ex;
  ex.title = "Accuracy vs attack strength";
  ex.x_label = "epsilon (L-inf)";
  ex.y_label = "accuracy";
  ex.y_min = 0.0, ex.y_max = 1.0;
  std::vector<series> curves(4);
  const char* names[] = {"standard", "adv. trained", "EBM purified", "random guess"};
  for (int k = 0; k < 4; ++k) {
    curves[k].name = names[k];
    for (int i = 0; i <= 8; ++i) {
      const double e = i / 255.0;
      curves[k].x.push_back(e);
      curves[k].y.push_back(k == 3 ? 0.1 : k == 0 ? 0.95 * std::exp(-3000 * e * e) : k == 1 ? 0.85 - 8 * e : 0.9 - 5 * e);
    }
  }
  ebm::io::save_plot(fs::temp_directory_path() / "plot_example.png", curves, ex);
}
