// One party's side of a relayed stream: symmetric-RTP latching, the same rules as
// src/media/relay/media-leg.ts (docs/media.md "Symmetric RTP and latching").
#ifndef RTP_RELAY_LEG_H
#define RTP_RELAY_LEG_H

#include <stdint.h>
#include <sys/socket.h>

enum { LEG_RTP = 0, LEG_RTCP = 1 };

/** Where one socket of the leg takes its party's packets from, and sends back to. */
typedef struct {
  struct sockaddr_storage addr;
  socklen_t addr_len;
  int latched;
  int64_t last_ns;
  /** of the last RTP packet; -1 before the first (or since a new SDP address) */
  int64_t ssrc;
  int32_t sequence;
  uint32_t timestamp;
} leg_remote;

/** A forwarding target, by table slot; `id` tells a reopened slot from the leg that was there. */
typedef struct {
  int32_t slot;
  uint32_t id;
} leg_target;

typedef struct {
  /** 0 while the slot is free */
  uint32_t id;
  int family;
  int fd[2];
  uint16_t rtp_port;
  /** the only source IP taken: the party's signalling source */
  int has_trusted;
  struct sockaddr_storage trusted;
  /** whether the SDP address may be sent to before the party's first packet */
  int send_to_signalled;
  struct sockaddr_storage signalled[2];
  socklen_t signalled_len;
  leg_remote remote[2];
  leg_target forward[2];
  /** unforwarded RTP goes to JS (onRtp is set) */
  int deliver;
  uint64_t received;
  uint64_t dropped;
  int64_t last_received_ns;
} relay_leg;

/** Fresh state for a leg that has just been bound. */
void leg_init(relay_leg *leg, uint32_t id, int family, int rtp_fd, int rtcp_fd, uint16_t rtp_port, int64_t now_ns);

/**
 * What the party's SDP and SIP say. `trusted` and `sdp_address` are IP literals; an unreadable or
 * other-family SDP address is never sent to. `reset` drops the latch (a new SDP address or port).
 */
void leg_set_signalling(relay_leg *leg, const char *trusted, const char *sdp_address, uint16_t rtp_port,
                        uint16_t rtcp_port, int send_to_signalled, int reset);

/**
 * Applies latching to a packet from `from` on socket `kind`; counts it as received or dropped.
 * Returns 1 when the packet is the party's and may be passed on.
 */
int leg_accept(relay_leg *leg, int kind, const struct sockaddr_storage *from, const unsigned char *data, size_t len,
               int64_t now_ns, int64_t relatch_quiet_ns);

/** Where packets to the party on socket `kind` go now; NULL when nowhere yet. */
const struct sockaddr *leg_destination(const relay_leg *leg, int kind, socklen_t *len, int *latched);

#endif
