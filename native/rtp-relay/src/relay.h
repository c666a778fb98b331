// The relay engine: every leg's RTP and RTCP socket in one epoll set, served by one thread that
// reads with recvmmsg, applies latching and writes to the target leg with sendmmsg. Packets the
// server itself terminates are copied into a ring that JS drains.
#ifndef RTP_RELAY_RELAY_H
#define RTP_RELAY_RELAY_H

#include <stddef.h>
#include <stdint.h>

typedef struct relay_engine relay_engine;

/** Tells JS there are packets in the ring; called from the relay thread, at most once until JS drained it. */
typedef void (*relay_wake_fn)(void *context);

/** Memory JS owns and the relay thread writes: `slots` packets of up to `slot_bytes` each. */
typedef struct {
  unsigned char *data;
  /** per slot: the leg's id, the packet's length */
  uint32_t *meta;
  /** a power of two */
  uint32_t slots;
  uint32_t slot_bytes;
} relay_ring;

typedef struct {
  double received;
  double dropped;
  double ms_since_received;
  /** -1 until the party's first RTP packet (or since its SDP address changed) */
  double ssrc;
  double sequence;
  double timestamp;
  double ms_since_rtp;
} relay_leg_stats;

/** An engine for the even ports first_port, first_port + 2, ... (`pairs` of them); NULL with errno set. */
relay_engine *relay_create(uint16_t first_port, uint32_t pairs, int64_t relatch_quiet_ms, relay_ring ring,
                           relay_wake_fn wake, void *wake_context);
/** Stops and joins the thread, then closes every socket; idempotent. */
void relay_stop(relay_engine *e);
/** Frees what relay_create allocated; after relay_stop. */
void relay_destroy(relay_engine *e);

/** Binds the pair on the wildcard address of `family` (4 or 6); the leg's id (> 0), or -errno. */
int64_t relay_open_leg(relay_engine *e, uint16_t rtp_port, int family);
void relay_close_leg(relay_engine *e, uint16_t rtp_port);
void relay_set_signalling(relay_engine *e, uint16_t rtp_port, const char *trusted, const char *sdp_address,
                          uint16_t sdp_rtp_port, uint16_t sdp_rtcp_port, int send_to_signalled, int reset);
/** RTP (kind 0) or RTCP (kind 1) of the leg on rtp_port goes out of the leg on target_port; 0 stops it. */
void relay_forward(relay_engine *e, uint16_t rtp_port, int kind, uint16_t target_port);
/** Unforwarded RTP of the leg is copied into the ring for JS. */
void relay_set_deliver(relay_engine *e, uint16_t rtp_port, int deliver);
/** Sends a packet from JS to the party's current RTP destination: 1 sent, 0 nowhere to send, -errno. */
int relay_send(relay_engine *e, uint16_t rtp_port, const unsigned char *data, size_t len);
/** 0 when no leg is open on the port. */
int relay_stats(relay_engine *e, uint16_t rtp_port, relay_leg_stats *out);
/** Where RTP to the party goes now: 1 and the address, else 0. */
int relay_destination(relay_engine *e, uint16_t rtp_port, char *address, size_t address_size, uint16_t *port,
                      int *latched);
/** Packets for JS lost because the ring was full or they were larger than a slot. */
uint64_t relay_undelivered(relay_engine *e);
/** Moves the relay thread to real-time round-robin scheduling at `priority`; 0, or an errno (EPERM without CAP_SYS_NICE). */
int relay_set_realtime(relay_engine *e, int priority);

/** Packets waiting in the ring: [*from, *to), indexes modulo the slot count. */
void relay_ring_pending(relay_engine *e, uint32_t *from, uint32_t *to);
void relay_ring_consumed(relay_engine *e, uint32_t to);
/** JS found the ring empty and goes idle; 1 when a packet raced in and JS must drain again. */
int relay_ring_idle(relay_engine *e);

#endif
