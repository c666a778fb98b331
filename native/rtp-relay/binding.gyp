{
  "targets": [
    {
      "target_name": "rtp_relay",
      "sources": ["src/addon.c", "src/relay.c", "src/leg.c"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags_c": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-lpthread"]
    }
  ]
}
