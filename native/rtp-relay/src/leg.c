#include "leg.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

void leg_init(relay_leg *leg, uint32_t id, int family, int rtp_fd, int rtcp_fd, uint16_t rtp_port, int64_t now_ns) {
  memset(leg, 0, sizeof *leg);
  leg->id = id;
  leg->family = family;
  leg->fd[LEG_RTP] = rtp_fd;
  leg->fd[LEG_RTCP] = rtcp_fd;
  leg->rtp_port = rtp_port;
  leg->forward[LEG_RTP].slot = -1;
  leg->forward[LEG_RTCP].slot = -1;
  for (int k = 0; k < 2; k++) {
    leg->remote[k].ssrc = -1;
    leg->remote[k].sequence = -1;
  }
  // as in the Node engine, a leg that never hears its party times out from when it was opened
  leg->last_received_ns = now_ns;
}

/** An IP literal of `family` into `out` with `port`; 0 when it is not one. */
static int parse_address(int family, const char *text, uint16_t port, struct sockaddr_storage *out) {
  memset(out, 0, sizeof *out);
  if (family == AF_INET) {
    struct sockaddr_in *in = (struct sockaddr_in *)out;
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    return inet_pton(AF_INET, text, &in->sin_addr) == 1;
  }
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(port);
  return inet_pton(AF_INET6, text, &in6->sin6_addr) == 1;
}

static socklen_t address_length(int family) {
  return family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

void leg_set_signalling(relay_leg *leg, const char *trusted, const char *sdp_address, uint16_t rtp_port,
                        uint16_t rtcp_port, int send_to_signalled, int reset) {
  leg->has_trusted = parse_address(leg->family, trusted, 0, &leg->trusted);
  int readable = parse_address(leg->family, sdp_address, rtp_port, &leg->signalled[LEG_RTP]) &&
                 parse_address(leg->family, sdp_address, rtcp_port, &leg->signalled[LEG_RTCP]);
  leg->signalled_len = address_length(leg->family);
  leg->send_to_signalled = send_to_signalled && readable;
  if (reset) {
    leg->remote[LEG_RTP].latched = 0;
    leg->remote[LEG_RTCP].latched = 0;
    leg->remote[LEG_RTP].ssrc = -1;
  }
}

static int same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
  if (a->ss_family != b->ss_family) return 0;
  if (a->ss_family == AF_INET) {
    return ((const struct sockaddr_in *)a)->sin_addr.s_addr == ((const struct sockaddr_in *)b)->sin_addr.s_addr;
  }
  return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr, &((const struct sockaddr_in6 *)b)->sin6_addr,
                sizeof(struct in6_addr)) == 0;
}

static uint16_t port_of(const struct sockaddr_storage *a) {
  return a->ss_family == AF_INET ? ((const struct sockaddr_in *)a)->sin_port : ((const struct sockaddr_in6 *)a)->sin6_port;
}

static uint32_t read32(const unsigned char *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void latch(leg_remote *r, const struct sockaddr_storage *from, int family, int64_t ssrc) {
  memcpy(&r->addr, from, sizeof *from);
  r->addr_len = address_length(family);
  r->latched = 1;
  r->ssrc = ssrc;
}

int leg_accept(relay_leg *leg, int kind, const struct sockaddr_storage *from, const unsigned char *data, size_t len,
               int64_t now_ns, int64_t relatch_quiet_ns) {
  if (!leg->has_trusted || !same_ip(from, &leg->trusted)) {
    leg->dropped++;
    return 0;
  }
  leg_remote *r = &leg->remote[kind];
  int has_header = kind == LEG_RTP && len >= 12;
  int64_t ssrc = has_header ? (int64_t)read32(data + 8) : -1;
  if (!r->latched) {
    latch(r, from, leg->family, ssrc);
  } else if (port_of(from) != port_of(&r->addr) || !same_ip(from, &r->addr)) {
    // a new source (another SSRC, or a NAT that rebound the port) replaces the old one only once that fell quiet
    if (now_ns - r->last_ns < relatch_quiet_ns) {
      leg->dropped++;
      return 0;
    }
    latch(r, from, leg->family, ssrc);
  } else if (ssrc != -1) {
    r->ssrc = ssrc;
  }
  r->last_ns = now_ns;
  if (has_header) {
    r->sequence = (int32_t)(((uint32_t)data[2] << 8) | data[3]);
    r->timestamp = read32(data + 4);
  }
  leg->last_received_ns = now_ns;
  leg->received++;
  return 1;
}

const struct sockaddr *leg_destination(const relay_leg *leg, int kind, socklen_t *len, int *latched) {
  const leg_remote *r = &leg->remote[kind];
  *latched = r->latched;
  if (r->latched) {
    *len = r->addr_len;
    return (const struct sockaddr *)&r->addr;
  }
  if (leg->send_to_signalled) {
    *len = leg->signalled_len;
    return (const struct sockaddr *)&leg->signalled[kind];
  }
  return NULL;
}
