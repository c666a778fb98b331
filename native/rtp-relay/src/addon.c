// The Node-API face of the relay engine (relay.h): a handle per engine and plain functions on it.
// src/media/relay/native-addon.ts describes the same surface in TypeScript.
#include <errno.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay.h"

/** Bumped whenever the functions below change, so a stale build is refused rather than misused. */
#define ADDON_ABI 2
#define MAX_ARGS 8
/** Longer than any IP literal, so a longer string cannot be one. */
#define ADDRESS_CHARS 64

typedef struct {
  relay_engine *engine;
  napi_threadsafe_function deliver;
  napi_ref ring_ref;
  napi_ref meta_ref;
  int stopped;
  int closed;
  /** the JS handle and the threadsafe function; freed when both are gone */
  int owners;
} addon_engine;

#define CHECK(env, call)                                              \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error((env), NULL, "rtp_relay: " #call " failed");   \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

static void release_owner(addon_engine *a) {
  if (--a->owners > 0) return;
  if (a->engine) relay_destroy(a->engine);
  free(a);
}

static void stop_engine(addon_engine *a) {
  if (a->stopped) return;
  a->stopped = 1;
  relay_stop(a->engine);
}

/** The environment is going away (process or worker exit): the thread must not outlive it. */
static void cleanup_hook(void *arg) {
  stop_engine(arg);
}

static void close_engine(napi_env env, addon_engine *a) {
  if (a->closed) return;
  a->closed = 1;
  stop_engine(a);
  napi_remove_env_cleanup_hook(env, cleanup_hook, a);
  napi_release_threadsafe_function(a->deliver, napi_tsfn_abort);
  napi_delete_reference(env, a->ring_ref);
  napi_delete_reference(env, a->meta_ref);
}

static void finalize_handle(napi_env env, void *data, void *hint) {
  addon_engine *a = data;
  close_engine(env, a);
  release_owner(a);
}

static void finalize_deliver(napi_env env, void *data, void *hint) {
  release_owner(data);
}

/** Relay thread: wakes JS to drain the ring. */
static void wake_js(void *context) {
  addon_engine *a = context;
  napi_call_threadsafe_function(a->deliver, NULL, napi_tsfn_nonblocking);
}

/** JS thread: hands the ring's packets to the wrapper's deliver(from, to) until the ring is empty. */
static void call_deliver(napi_env env, napi_value deliver, void *context, void *data) {
  addon_engine *a = context;
  if (env == NULL || a->closed) return;
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  for (;;) {
    uint32_t from, to;
    relay_ring_pending(a->engine, &from, &to);
    if (from == to) {
      if (!relay_ring_idle(a->engine)) return;
      continue;
    }
    napi_value args[2];
    napi_create_uint32(env, from, &args[0]);
    napi_create_uint32(env, to, &args[1]);
    napi_status status = napi_call_function(env, undefined, deliver, 2, args, NULL);
    relay_ring_consumed(a->engine, to);
    if (status == napi_pending_exception) {
      // a handler threw: the process hears of it as of any uncaught exception in a socket callback
      napi_value error;
      napi_get_and_clear_last_exception(env, &error);
      napi_fatal_exception(env, error);
    }
    if (a->closed) return;
  }
}

static napi_value make_number(napi_env env, double value) {
  napi_value v;
  napi_create_double(env, value, &v);
  return v;
}

static napi_value make_undefined(napi_env env) {
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}

/** The call's arguments; throws unless there are `count` of them and the first is a live engine handle. */
static addon_engine *engine_args(napi_env env, napi_callback_info info, size_t count, napi_value *argv) {
  size_t argc = MAX_ARGS;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < count) {
    napi_throw_type_error(env, NULL, "rtp_relay: too few arguments");
    return NULL;
  }
  void *data = NULL;
  if (napi_get_value_external(env, argv[0], &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, NULL, "rtp_relay: not an engine handle");
    return NULL;
  }
  addon_engine *a = data;
  if (a->closed) {
    napi_throw_error(env, NULL, "rtp_relay: the engine is closed");
    return NULL;
  }
  return a;
}

static int get_port(napi_env env, napi_value v, uint16_t *out) {
  uint32_t n;
  if (napi_get_value_uint32(env, v, &n) != napi_ok || n > 65535) {
    napi_throw_range_error(env, NULL, "rtp_relay: not a port number");
    return 0;
  }
  *out = (uint16_t)n;
  return 1;
}

static int get_bool(napi_env env, napi_value v) {
  bool b = false;
  napi_get_value_bool(env, v, &b);
  return b;
}

/** An IP literal argument; anything else (or too long to be one) reads as "". */
static void get_address(napi_env env, napi_value v, char out[ADDRESS_CHARS]) {
  size_t length = 0;
  if (napi_get_value_string_utf8(env, v, out, ADDRESS_CHARS, &length) != napi_ok || length >= ADDRESS_CHARS - 1) out[0] = 0;
}

/** create(firstPort, pairs, relatchQuietMs, ring: Buffer, meta: Uint32Array, slotBytes, deliver(from, to)) */
static napi_value create(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t first_port, pairs, quiet_ms, slot_bytes;
  void *ring_data;
  size_t ring_bytes;
  napi_typedarray_type meta_type;
  size_t meta_length;
  void *meta_data;
  if (argc < 7 || napi_get_value_uint32(env, argv[0], &first_port) != napi_ok ||
      napi_get_value_uint32(env, argv[1], &pairs) != napi_ok || napi_get_value_uint32(env, argv[2], &quiet_ms) != napi_ok ||
      napi_get_buffer_info(env, argv[3], &ring_data, &ring_bytes) != napi_ok ||
      napi_get_typedarray_info(env, argv[4], &meta_type, &meta_length, &meta_data, NULL, NULL) != napi_ok ||
      napi_get_value_uint32(env, argv[5], &slot_bytes) != napi_ok) {
    napi_throw_type_error(env, NULL, "rtp_relay: create(firstPort, pairs, relatchQuietMs, ring, meta, slotBytes, deliver)");
    return NULL;
  }
  uint32_t slots = (uint32_t)(meta_length / 2);
  if (meta_type != napi_uint32_array || slots == 0 || (slots & (slots - 1)) != 0 ||
      ring_bytes < (size_t)slots * slot_bytes || first_port + 2 * (uint64_t)pairs > 65536 || pairs == 0) {
    napi_throw_range_error(env, NULL, "rtp_relay: ring, meta or port range do not fit together");
    return NULL;
  }
  napi_value name;
  CHECK(env, napi_create_string_utf8(env, "rtp_relay.deliver", NAPI_AUTO_LENGTH, &name));
  addon_engine *a = calloc(1, sizeof *a);
  if (!a) {
    napi_throw_error(env, NULL, "rtp_relay: out of memory");
    return NULL;
  }
  if (napi_create_threadsafe_function(env, argv[6], NULL, name, 0, 1, a, finalize_deliver, a, call_deliver, &a->deliver) != napi_ok) {
    free(a);
    napi_throw_error(env, NULL, "rtp_relay: cannot create the delivery callback");
    return NULL;
  }
  // the relay keeps no process alive by itself; the server's sockets and timers do
  napi_unref_threadsafe_function(env, a->deliver);
  a->owners = 1;
  relay_ring ring = {.data = ring_data, .meta = meta_data, .slots = slots, .slot_bytes = slot_bytes};
  a->engine = relay_create((uint16_t)first_port, pairs, quiet_ms, ring, wake_js, a);
  if (!a->engine) {
    char message[128];
    snprintf(message, sizeof message, "rtp_relay: cannot start the relay thread: %s", strerror(errno));
    // the threadsafe function's finalizer frees `a`
    a->closed = 1;
    napi_release_threadsafe_function(a->deliver, napi_tsfn_abort);
    napi_throw_error(env, NULL, message);
    return NULL;
  }
  napi_create_reference(env, argv[3], 1, &a->ring_ref);
  napi_create_reference(env, argv[4], 1, &a->meta_ref);
  napi_add_env_cleanup_hook(env, cleanup_hook, a);
  napi_value handle;
  CHECK(env, napi_create_external(env, a, finalize_handle, NULL, &handle));
  a->owners = 2;
  return handle;
}

/** openLeg(h, rtpPort, family): the leg's id (> 0), or -errno (EADDRINUSE: another program holds a port) */
static napi_value open_leg(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  addon_engine *a = engine_args(env, info, 3, argv);
  uint16_t port;
  uint32_t family;
  if (!a || !get_port(env, argv[1], &port)) return NULL;
  if (napi_get_value_uint32(env, argv[2], &family) != napi_ok || (family != 4 && family != 6)) {
    napi_throw_range_error(env, NULL, "rtp_relay: family must be 4 or 6");
    return NULL;
  }
  return make_number(env, (double)relay_open_leg(a->engine, port, (int)family));
}

/** closeLeg(h, rtpPort) */
static napi_value close_leg(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  addon_engine *a = engine_args(env, info, 2, argv);
  uint16_t port;
  if (!a || !get_port(env, argv[1], &port)) return NULL;
  relay_close_leg(a->engine, port);
  return make_undefined(env);
}

/** setSignalling(h, rtpPort, trustedIp, sdpAddress, sdpRtpPort, sdpRtcpPort, sendToSignalled, resetLatch) */
static napi_value set_signalling(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  addon_engine *a = engine_args(env, info, 8, argv);
  uint16_t port, sdp_rtp, sdp_rtcp;
  if (!a || !get_port(env, argv[1], &port) || !get_port(env, argv[4], &sdp_rtp) || !get_port(env, argv[5], &sdp_rtcp)) return NULL;
  char trusted[ADDRESS_CHARS];
  char sdp_address[ADDRESS_CHARS];
  get_address(env, argv[2], trusted);
  get_address(env, argv[3], sdp_address);
  relay_set_signalling(a->engine, port, trusted, sdp_address, sdp_rtp, sdp_rtcp, get_bool(env, argv[6]), get_bool(env, argv[7]));
  return make_undefined(env);
}

/** forward(h, rtpPort, kind (0 RTP, 1 RTCP), targetRtpPort (0: none)) */
static napi_value forward(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  addon_engine *a = engine_args(env, info, 4, argv);
  uint16_t port, target;
  uint32_t kind;
  if (!a || !get_port(env, argv[1], &port) || !get_port(env, argv[3], &target)) return NULL;
  if (napi_get_value_uint32(env, argv[2], &kind) != napi_ok || kind > 1) {
    napi_throw_range_error(env, NULL, "rtp_relay: kind must be 0 (RTP) or 1 (RTCP)");
    return NULL;
  }
  relay_forward(a->engine, port, (int)kind, target);
  return make_undefined(env);
}

/** setDeliver(h, rtpPort, on) */
static napi_value set_deliver(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  addon_engine *a = engine_args(env, info, 3, argv);
  uint16_t port;
  if (!a || !get_port(env, argv[1], &port)) return NULL;
  relay_set_deliver(a->engine, port, get_bool(env, argv[2]));
  return make_undefined(env);
}

/** send(h, rtpPort, packet: Uint8Array, length): 1 sent, 0 nowhere to send yet, -errno */
static napi_value send_packet(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  addon_engine *a = engine_args(env, info, 4, argv);
  uint16_t port;
  uint32_t length;
  napi_typedarray_type type;
  size_t count;
  void *data;
  if (!a || !get_port(env, argv[1], &port)) return NULL;
  if (napi_get_typedarray_info(env, argv[2], &type, &count, &data, NULL, NULL) != napi_ok || type != napi_uint8_array ||
      napi_get_value_uint32(env, argv[3], &length) != napi_ok) {
    napi_throw_type_error(env, NULL, "rtp_relay: send(h, rtpPort, packet: Uint8Array, length)");
    return NULL;
  }
  if (length > count) length = (uint32_t)count;
  return make_number(env, relay_send(a->engine, port, data, length));
}

/** stats(h, rtpPort, out: Float64Array(7)): false when no leg is open on the port; see relay_leg_stats */
static napi_value stats(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  addon_engine *a = engine_args(env, info, 3, argv);
  uint16_t port;
  napi_typedarray_type type;
  size_t count;
  void *data;
  if (!a || !get_port(env, argv[1], &port)) return NULL;
  if (napi_get_typedarray_info(env, argv[2], &type, &count, &data, NULL, NULL) != napi_ok || type != napi_float64_array ||
      count * sizeof(double) < sizeof(relay_leg_stats)) {
    napi_throw_type_error(env, NULL, "rtp_relay: stats needs a Float64Array of 7");
    return NULL;
  }
  relay_leg_stats s;
  int open = relay_stats(a->engine, port, &s);
  if (open) memcpy(data, &s, sizeof s);
  napi_value result;
  napi_get_boolean(env, open, &result);
  return result;
}

/** destination(h, rtpPort): { address, port, latched } or undefined */
static napi_value destination(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  addon_engine *a = engine_args(env, info, 2, argv);
  uint16_t port;
  if (!a || !get_port(env, argv[1], &port)) return NULL;
  char address[ADDRESS_CHARS];
  uint16_t to_port;
  int latched;
  if (!relay_destination(a->engine, port, address, sizeof address, &to_port, &latched)) return make_undefined(env);
  napi_value result, address_value, latched_value;
  CHECK(env, napi_create_object(env, &result));
  CHECK(env, napi_create_string_utf8(env, address, NAPI_AUTO_LENGTH, &address_value));
  CHECK(env, napi_get_boolean(env, latched, &latched_value));
  CHECK(env, napi_set_named_property(env, result, "address", address_value));
  CHECK(env, napi_set_named_property(env, result, "port", make_number(env, to_port)));
  CHECK(env, napi_set_named_property(env, result, "latched", latched_value));
  return result;
}

/** undelivered(h): packets for JS lost to a full ring */
static napi_value undelivered(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  addon_engine *a = engine_args(env, info, 1, argv);
  if (!a) return NULL;
  return make_number(env, (double)relay_undelivered(a->engine));
}

/** setRealtime(h, priority): 0, or the errno that refused it */
static napi_value set_realtime(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  addon_engine *a = engine_args(env, info, 2, argv);
  if (!a) return NULL;
  int32_t priority;
  if (napi_get_value_int32(env, argv[1], &priority) != napi_ok) {
    napi_throw_type_error(env, NULL, "rtp_relay: the priority must be a number");
    return NULL;
  }
  return make_number(env, relay_set_realtime(a->engine, priority));
}

/** close(h): stops and joins the relay thread and closes every leg's sockets */
static napi_value close_handle(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  size_t argc = MAX_ARGS;
  void *data = NULL;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_external(env, argv[0], &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, NULL, "rtp_relay: not an engine handle");
    return NULL;
  }
  close_engine(env, data);
  return make_undefined(env);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor functions[] = {
      {"create", NULL, create, NULL, NULL, NULL, napi_enumerable, NULL},
      {"openLeg", NULL, open_leg, NULL, NULL, NULL, napi_enumerable, NULL},
      {"closeLeg", NULL, close_leg, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setSignalling", NULL, set_signalling, NULL, NULL, NULL, napi_enumerable, NULL},
      {"forward", NULL, forward, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setDeliver", NULL, set_deliver, NULL, NULL, NULL, napi_enumerable, NULL},
      {"send", NULL, send_packet, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stats", NULL, stats, NULL, NULL, NULL, napi_enumerable, NULL},
      {"destination", NULL, destination, NULL, NULL, NULL, napi_enumerable, NULL},
      {"undelivered", NULL, undelivered, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setRealtime", NULL, set_realtime, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, close_handle, NULL, NULL, NULL, napi_enumerable, NULL},
      {"abi", NULL, NULL, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_value abi;
  CHECK(env, napi_create_uint32(env, ADDON_ABI, &abi));
  functions[12].value = abi;
  CHECK(env, napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
