# Detects the CUDA toolkit and cuDNN.  CUDA is never required: without them
# ebm::cuda simply does not exist and one status line says why.
#
# cuDNN hints: -DCUDNN_ROOT=... or the environment variable CUDNN_ROOT (on a
# machine where cuDNN comes from PyTorch's wheel, point it at
# site-packages/nvidia/cudnn).
set(EBM_HAS_CUDA OFF)
if(NOT EBM_ENABLE_CUDA)
  message(STATUS "ebm: CUDA backend disabled (EBM_ENABLE_CUDA=OFF)")
  return()
endif()
include(CheckLanguage)
check_language(CUDA)
if(NOT CMAKE_CUDA_COMPILER)
  message(STATUS "ebm: CUDA backend off (no CUDA compiler found)")
  return()
endif()
find_package(CUDAToolkit QUIET)
if(NOT CUDAToolkit_FOUND)
  message(STATUS "ebm: CUDA backend off (CUDA toolkit not found)")
  return()
endif()
set(_cudnn_hints ${CUDNN_ROOT} $ENV{CUDNN_ROOT} $ENV{CUDNN_HOME} ${CUDAToolkit_LIBRARY_ROOT})
find_path(CUDNN_INCLUDE_DIR cudnn.h HINTS ${_cudnn_hints} ${CUDAToolkit_INCLUDE_DIRS}
          PATH_SUFFIXES include)
find_library(CUDNN_LIBRARY NAMES cudnn libcudnn.so.9 libcudnn.so.8 HINTS ${_cudnn_hints}
             ${CUDAToolkit_LIBRARY_DIR} PATH_SUFFIXES lib lib64 lib/x64)
if(NOT CUDNN_INCLUDE_DIR OR NOT CUDNN_LIBRARY)
  message(STATUS "ebm: CUDA backend off (cuDNN not found; set CUDNN_ROOT)")
  return()
endif()
enable_language(CUDA)
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES OR CMAKE_CUDA_ARCHITECTURES STREQUAL "52")
  set(CMAKE_CUDA_ARCHITECTURES 80 90)
endif()
set(CMAKE_CUDA_STANDARD 20)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)

add_library(ebm_cuda INTERFACE)
add_library(ebm::cuda ALIAS ebm_cuda)
set_target_properties(ebm_cuda PROPERTIES EXPORT_NAME cuda)
target_link_libraries(ebm_cuda INTERFACE ebm CUDA::cudart CUDA::cublas ${CUDNN_LIBRARY})
target_include_directories(ebm_cuda INTERFACE $<BUILD_INTERFACE:${CUDNN_INCLUDE_DIR}>)
target_compile_definitions(ebm_cuda INTERFACE EBM_HAS_CUDA=1)
set(EBM_HAS_CUDA ON)
message(STATUS "ebm: CUDA backend on (CUDA ${CUDAToolkit_VERSION}, cuDNN ${CUDNN_LIBRARY})")
