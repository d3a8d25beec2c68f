#pragma once
// ebm: energy-based models in header-only C++20.  This umbrella header
// includes the CPU part of the library; the CUDA backend lives under
// ebm/device/cuda/ and is included explicitly from .cu translation units.
#include "core/config.hpp"
#include "core/error.hpp"
#include "core/philox.hpp"
#include "core/shape.hpp"
#include "core/tensor.hpp"
#include "device/cpu/device.hpp"
#include "nn/activation.hpp"
#include "nn/elementwise.hpp"
#include "nn/init.hpp"
#include "nn/layer.hpp"
#include "nn/linear.hpp"
#include "nn/sequential.hpp"
