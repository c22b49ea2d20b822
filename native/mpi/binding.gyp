{
  "targets": [
    {
      "target_name": "gradia_mpi",
      "sources": ["../src/mpi/mpi_addon.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "OMPI_SKIP_MPICXX=1"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O2", "-fexceptions", "<!@(node -p \"process.env.GRADIA_MPI_COMPILE\")"],
      "libraries": ["<!@(node -p \"process.env.GRADIA_MPI_LINK\")", "-ldl"]
    }
  ]
}
