#pragma once
// The tiny EGC network the EGC tests use on the host (energy/egc_test.cpp)
// and against the device (cuda/egc_layers_test.cu, cuda/egc_test.cu):
// 8x8 single-channel images, 3 classes, channels 4 and 8, one residual block
// per level, 2 groups.
#include <ebm/energy/egc.hpp>

namespace ebm::test_configs {

inline egc::config tiny(bool unet, bool label_input = false) {
  egc::config c;
  c.image_channels = 1;
  c.resolution = 8;
  c.classes = 3;
  c.channels = 4;
  c.multipliers = {1, 2};
  c.res_blocks = 1;
  c.groups = 2;
  c.unet = unet;
  c.label_input = label_input;
  return c;
}

}  // namespace ebm::test_configs
