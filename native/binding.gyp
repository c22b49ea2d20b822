{
  "targets": [
    {
      "target_name": "gradia_onednn",
      "sources": ["src/addon.cc", "src/conv.cc", "src/pool.cc", "src/matmul.cc", "src/elementwise.cc", "src/batchnorm.cc", "src/relu.cc", "src/adam.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-fopenmp", "-fexceptions", "-ffp-contract=off", "-march=<!(node -p \"process.env.GRADIA_NATIVE_MARCH || 'native'\")"],
      "libraries": ["-ldnnl", "-fopenmp"]
    }
  ]
}
