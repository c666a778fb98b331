#include "relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "leg.h"

/** Datagrams read from one socket per recvmmsg. */
#define RELAY_BATCH 32
/** Sockets served per epoll_wait. */
#define RELAY_EVENTS 128
/** The largest UDP payload, so no datagram is ever truncated. */
#define MAX_DATAGRAM 65536
#define WAKE_TAG UINT64_MAX

struct relay_engine {
  /** guards the legs; the relay thread holds it while it serves one socket */
  pthread_mutex_t lock;
  pthread_t thread;
  int started;
  int stopping;
  int stopped;
  int epoll_fd;
  int wake_fd;
  uint16_t first_port;
  uint32_t pairs;
  relay_leg *legs;
  uint32_t next_id;
  int64_t relatch_quiet_ns;
  uint64_t undelivered;

  // the relay thread's batch buffers, set up once
  unsigned char *rx_data;
  struct mmsghdr rx[RELAY_BATCH];
  struct iovec rx_iov[RELAY_BATCH];
  struct sockaddr_storage rx_from[RELAY_BATCH];
  struct mmsghdr tx[RELAY_BATCH];
  struct iovec tx_iov[RELAY_BATCH];

  relay_ring ring;
  /** written by the relay thread only */
  _Atomic uint32_t ring_write;
  /** written by JS only */
  _Atomic uint32_t ring_read;
  /** a wake-up is on its way to JS, or JS is draining */
  _Atomic int wake_pending;
  relay_wake_fn wake;
  void *wake_context;
};

static int64_t monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t tag_of(uint32_t id, uint32_t slot, int kind) {
  return ((uint64_t)id << 32) | ((uint64_t)slot << 1) | (uint64_t)kind;
}

/** The open leg on `rtp_port`, or NULL. */
static relay_leg *leg_at(relay_engine *e, uint16_t rtp_port) {
  if (rtp_port < e->first_port || (rtp_port - e->first_port) % 2 != 0) return NULL;
  uint32_t slot = (uint32_t)(rtp_port - e->first_port) / 2;
  if (slot >= e->pairs || e->legs[slot].id == 0) return NULL;
  return &e->legs[slot];
}

static relay_leg *target_of(relay_engine *e, const relay_leg *leg, int kind) {
  const leg_target *t = &leg->forward[kind];
  if (t->slot < 0) return NULL;
  relay_leg *target = &e->legs[t->slot];
  // a target that closed (and maybe reopened for another call) is no target
  return target->id == t->id ? target : NULL;
}

/** Copies a packet into the ring for JS; 1 when it went in. */
static int ring_put(relay_engine *e, uint32_t id, const unsigned char *data, size_t len) {
  uint32_t w = atomic_load_explicit(&e->ring_write, memory_order_relaxed);
  uint32_t r = atomic_load_explicit(&e->ring_read, memory_order_acquire);
  if (w - r >= e->ring.slots || len > e->ring.slot_bytes) {
    e->undelivered++;
    return 0;
  }
  uint32_t slot = w & (e->ring.slots - 1);
  memcpy(e->ring.data + (size_t)slot * e->ring.slot_bytes, data, len);
  e->ring.meta[2 * slot] = id;
  e->ring.meta[2 * slot + 1] = (uint32_t)len;
  atomic_store_explicit(&e->ring_write, w + 1, memory_order_release);
  return 1;
}

/** Sends the batch's `count` packets to `target`'s party; what the kernel refuses is lost, as UDP is. */
static void flush(relay_leg *target, int kind, struct mmsghdr *tx, int count) {
  socklen_t len;
  int latched;
  const struct sockaddr *to = leg_destination(target, kind, &len, &latched);
  if (!to || count == 0) return;
  for (int i = 0; i < count; i++) {
    tx[i].msg_hdr.msg_name = (void *)to;
    tx[i].msg_hdr.msg_namelen = len;
  }
  int sent = 0;
  while (sent < count) {
    int n = sendmmsg(target->fd[kind], tx + sent, (unsigned)(count - sent), MSG_DONTWAIT);
    if (n > 0) {
      sent += n;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      target->dropped += (uint64_t)(count - sent);
      return;
    } else {
      // this one packet failed (say, no route): count it as the Node engine does a send error, go on
      target->dropped++;
      sent++;
    }
  }
}

/** Reads one batch from a socket and passes it on; 1 when packets went into the ring. */
static int serve_socket(relay_engine *e, uint64_t tag) {
  uint32_t id = (uint32_t)(tag >> 32);
  uint32_t slot = (uint32_t)(tag & 0xffffffffu) >> 1;
  int kind = (int)(tag & 1);
  if (slot >= e->pairs || e->legs[slot].id != id) return 0;
  relay_leg *leg = &e->legs[slot];
  for (int i = 0; i < RELAY_BATCH; i++) e->rx[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
  int n = recvmmsg(leg->fd[kind], e->rx, RELAY_BATCH, MSG_DONTWAIT, NULL);
  if (n <= 0) return 0;
  int64_t now = monotonic_ns();
  relay_leg *target = target_of(e, leg, kind);
  int forwarded = 0;
  int delivered = 0;
  for (int i = 0; i < n; i++) {
    const unsigned char *data = e->rx_iov[i].iov_base;
    size_t len = e->rx[i].msg_len;
    if (!leg_accept(leg, kind, &e->rx_from[i], data, len, now, e->relatch_quiet_ns)) continue;
    if (target) {
      e->tx_iov[forwarded].iov_base = (void *)data;
      e->tx_iov[forwarded].iov_len = len;
      forwarded++;
    } else if (kind == LEG_RTP && leg->deliver) {
      delivered |= ring_put(e, leg->id, data, len);
    }
  }
  if (target) flush(target, kind, e->tx, forwarded);
  return delivered;
}

static void *relay_main(void *arg) {
  relay_engine *e = arg;
  struct epoll_event events[RELAY_EVENTS];
  for (;;) {
    int n = epoll_wait(e->epoll_fd, events, RELAY_EVENTS, -1);
    if (n < 0 && errno != EINTR) return NULL;
    int delivered = 0;
    for (int i = 0; i < n; i++) {
      pthread_mutex_lock(&e->lock);
      int stopping = e->stopping;
      if (!stopping && events[i].data.u64 != WAKE_TAG) delivered |= serve_socket(e, events[i].data.u64);
      pthread_mutex_unlock(&e->lock);
      if (stopping) return NULL;
    }
    // one wake-up per round, and none while JS has one outstanding
    if (delivered && !atomic_exchange(&e->wake_pending, 1)) e->wake(e->wake_context);
  }
}

/** Starts the relay thread; 0, or an errno. */
static int start_thread(relay_engine *e) {
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = WAKE_TAG};
  if (epoll_ctl(e->epoll_fd, EPOLL_CTL_ADD, e->wake_fd, &ev) < 0) return errno;
  int err = pthread_create(&e->thread, NULL, relay_main, e);
  if (err) return err;
  e->started = 1;
  // so top -H and ps -L show where the relay's CPU goes
  pthread_setname_np(e->thread, "rtp-relay");
  return 0;
}

relay_engine *relay_create(uint16_t first_port, uint32_t pairs, int64_t relatch_quiet_ms, relay_ring ring,
                           relay_wake_fn wake, void *wake_context) {
  relay_engine *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  e->legs = calloc(pairs, sizeof *e->legs);
  e->rx_data = malloc((size_t)RELAY_BATCH * MAX_DATAGRAM);
  e->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  e->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  int err = errno;
  if (!e->legs || !e->rx_data || e->epoll_fd < 0 || e->wake_fd < 0) {
    if (e->epoll_fd >= 0) close(e->epoll_fd);
    if (e->wake_fd >= 0) close(e->wake_fd);
    free(e->legs);
    free(e->rx_data);
    free(e);
    errno = err ? err : ENOMEM;
    return NULL;
  }
  pthread_mutex_init(&e->lock, NULL);
  e->first_port = first_port;
  e->pairs = pairs;
  e->next_id = 1;
  e->relatch_quiet_ns = relatch_quiet_ms * 1000000;
  e->ring = ring;
  e->wake = wake;
  e->wake_context = wake_context;
  for (int i = 0; i < RELAY_BATCH; i++) {
    e->rx_iov[i].iov_base = e->rx_data + (size_t)i * MAX_DATAGRAM;
    e->rx_iov[i].iov_len = MAX_DATAGRAM;
    e->rx[i].msg_hdr.msg_iov = &e->rx_iov[i];
    e->rx[i].msg_hdr.msg_iovlen = 1;
    e->rx[i].msg_hdr.msg_name = &e->rx_from[i];
    e->tx[i].msg_hdr.msg_iov = &e->tx_iov[i];
    e->tx[i].msg_hdr.msg_iovlen = 1;
  }
  err = start_thread(e);
  if (err) {
    e->stopped = 1;
    close(e->epoll_fd);
    close(e->wake_fd);
    relay_destroy(e);
    errno = err;
    return NULL;
  }
  return e;
}

static void close_leg(relay_engine *e, relay_leg *leg) {
  for (int k = 0; k < 2; k++) {
    // out of the epoll set first, so the relay thread is never told about a descriptor number that is reused
    epoll_ctl(e->epoll_fd, EPOLL_CTL_DEL, leg->fd[k], NULL);
    close(leg->fd[k]);
  }
  leg->id = 0;
}

void relay_stop(relay_engine *e) {
  if (e->stopped) return;
  e->stopped = 1;
  pthread_mutex_lock(&e->lock);
  e->stopping = 1;
  pthread_mutex_unlock(&e->lock);
  if (e->started) {
    uint64_t one = 1;
    ssize_t written = write(e->wake_fd, &one, sizeof one);
    (void)written;
    pthread_join(e->thread, NULL);
  }
  for (uint32_t i = 0; i < e->pairs; i++) {
    if (e->legs[i].id != 0) close_leg(e, &e->legs[i]);
  }
  close(e->epoll_fd);
  close(e->wake_fd);
}

void relay_destroy(relay_engine *e) {
  pthread_mutex_destroy(&e->lock);
  free(e->legs);
  free(e->rx_data);
  free(e);
}

static int open_socket(int family, uint16_t port) {
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int rc;
  if (family == AF_INET6) {
    int one = 1;
    struct sockaddr_in6 any = {.sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = IN6ADDR_ANY_INIT};
    rc = setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (rc == 0) rc = bind(fd, (struct sockaddr *)&any, sizeof any);
  } else {
    struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY)};
    rc = bind(fd, (struct sockaddr *)&any, sizeof any);
  }
  if (rc < 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  return fd;
}

int64_t relay_open_leg(relay_engine *e, uint16_t rtp_port, int family) {
  int af = family == 6 ? AF_INET6 : AF_INET;
  if (rtp_port < e->first_port || (rtp_port - e->first_port) % 2 != 0 || (uint32_t)(rtp_port - e->first_port) / 2 >= e->pairs) {
    return -EINVAL;
  }
  int rtp = open_socket(af, rtp_port);
  if (rtp < 0) return rtp;
  int rtcp = open_socket(af, (uint16_t)(rtp_port + 1));
  if (rtcp < 0) {
    close(rtp);
    return rtcp;
  }
  uint32_t slot = (uint32_t)(rtp_port - e->first_port) / 2;
  pthread_mutex_lock(&e->lock);
  relay_leg *leg = &e->legs[slot];
  int64_t result;
  if (e->stopping || leg->id != 0) {
    close(rtp);
    close(rtcp);
    result = e->stopping ? -ESHUTDOWN : -EBUSY;
  } else {
    uint32_t id = e->next_id++;
    if (e->next_id == 0) e->next_id = 1;
    leg_init(leg, id, af, rtp, rtcp, rtp_port, monotonic_ns());
    struct epoll_event rtp_ev = {.events = EPOLLIN, .data.u64 = tag_of(id, slot, LEG_RTP)};
    struct epoll_event rtcp_ev = {.events = EPOLLIN, .data.u64 = tag_of(id, slot, LEG_RTCP)};
    if (epoll_ctl(e->epoll_fd, EPOLL_CTL_ADD, rtp, &rtp_ev) < 0 || epoll_ctl(e->epoll_fd, EPOLL_CTL_ADD, rtcp, &rtcp_ev) < 0) {
      result = -errno;
      close_leg(e, leg);
    } else {
      result = id;
    }
  }
  pthread_mutex_unlock(&e->lock);
  return result;
}

void relay_close_leg(relay_engine *e, uint16_t rtp_port) {
  pthread_mutex_lock(&e->lock);
  relay_leg *leg = leg_at(e, rtp_port);
  if (leg) close_leg(e, leg);
  pthread_mutex_unlock(&e->lock);
}

void relay_set_signalling(relay_engine *e, uint16_t rtp_port, const char *trusted, const char *sdp_address,
                          uint16_t sdp_rtp_port, uint16_t sdp_rtcp_port, int send_to_signalled, int reset) {
  pthread_mutex_lock(&e->lock);
  relay_leg *leg = leg_at(e, rtp_port);
  if (leg) leg_set_signalling(leg, trusted, sdp_address, sdp_rtp_port, sdp_rtcp_port, send_to_signalled, reset);
  pthread_mutex_unlock(&e->lock);
}

void relay_forward(relay_engine *e, uint16_t rtp_port, int kind, uint16_t target_port) {
  pthread_mutex_lock(&e->lock);
  relay_leg *leg = leg_at(e, rtp_port);
  relay_leg *target = target_port ? leg_at(e, target_port) : NULL;
  if (leg) {
    leg->forward[kind].slot = target ? (int32_t)(target - e->legs) : -1;
    leg->forward[kind].id = target ? target->id : 0;
  }
  pthread_mutex_unlock(&e->lock);
}

void relay_set_deliver(relay_engine *e, uint16_t rtp_port, int deliver) {
  pthread_mutex_lock(&e->lock);
  relay_leg *leg = leg_at(e, rtp_port);
  if (leg) leg->deliver = deliver;
  pthread_mutex_unlock(&e->lock);
}

int relay_send(relay_engine *e, uint16_t rtp_port, const unsigned char *data, size_t len) {
  struct sockaddr_storage to;
  socklen_t to_len = 0;
  int fd = -1;
  pthread_mutex_lock(&e->lock);
  relay_leg *leg = leg_at(e, rtp_port);
  if (leg) {
    int latched;
    const struct sockaddr *dest = leg_destination(leg, LEG_RTP, &to_len, &latched);
    if (dest) {
      memcpy(&to, dest, to_len);
      fd = leg->fd[LEG_RTP];
    }
  }
  pthread_mutex_unlock(&e->lock);
  // only JS closes sockets, and JS is here: the descriptor stays valid without the lock
  if (fd < 0) return 0;
  if (sendto(fd, data, len, MSG_DONTWAIT, (struct sockaddr *)&to, to_len) >= 0) return 1;
  int err = errno;
  pthread_mutex_lock(&e->lock);
  leg = leg_at(e, rtp_port);
  if (leg) leg->dropped++;
  pthread_mutex_unlock(&e->lock);
  return -err;
}

static double ms_between(int64_t earlier_ns, int64_t later_ns) {
  return (double)(later_ns - earlier_ns) / 1e6;
}

int relay_stats(relay_engine *e, uint16_t rtp_port, relay_leg_stats *out) {
  int64_t now = monotonic_ns();
  pthread_mutex_lock(&e->lock);
  relay_leg *leg = leg_at(e, rtp_port);
  if (leg) {
    const leg_remote *rtp = &leg->remote[LEG_RTP];
    out->received = (double)leg->received;
    out->dropped = (double)leg->dropped;
    out->ms_since_received = ms_between(leg->last_received_ns, now);
    out->ssrc = (double)rtp->ssrc;
    out->sequence = rtp->sequence;
    out->timestamp = rtp->timestamp;
    out->ms_since_rtp = ms_between(rtp->last_ns, now);
  }
  pthread_mutex_unlock(&e->lock);
  return leg != NULL;
}

int relay_destination(relay_engine *e, uint16_t rtp_port, char *address, size_t address_size, uint16_t *port,
                      int *latched) {
  int found = 0;
  pthread_mutex_lock(&e->lock);
  relay_leg *leg = leg_at(e, rtp_port);
  socklen_t len;
  const struct sockaddr *dest = leg ? leg_destination(leg, LEG_RTP, &len, latched) : NULL;
  if (dest && dest->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)dest;
    found = inet_ntop(AF_INET, &in->sin_addr, address, (socklen_t)address_size) != NULL;
    *port = ntohs(in->sin_port);
  } else if (dest) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)dest;
    found = inet_ntop(AF_INET6, &in6->sin6_addr, address, (socklen_t)address_size) != NULL;
    *port = ntohs(in6->sin6_port);
  }
  pthread_mutex_unlock(&e->lock);
  return found;
}

uint64_t relay_undelivered(relay_engine *e) {
  pthread_mutex_lock(&e->lock);
  uint64_t n = e->undelivered;
  pthread_mutex_unlock(&e->lock);
  return n;
}

int relay_set_realtime(relay_engine *e, int priority) {
  struct sched_param param = {.sched_priority = priority};
  return pthread_setschedparam(e->thread, SCHED_RR, &param);
}

void relay_ring_pending(relay_engine *e, uint32_t *from, uint32_t *to) {
  *from = atomic_load_explicit(&e->ring_read, memory_order_relaxed);
  *to = atomic_load_explicit(&e->ring_write, memory_order_acquire);
}

void relay_ring_consumed(relay_engine *e, uint32_t to) {
  atomic_store_explicit(&e->ring_read, to, memory_order_release);
}

int relay_ring_idle(relay_engine *e) {
  atomic_store(&e->wake_pending, 0);
  uint32_t from, to;
  relay_ring_pending(e, &from, &to);
  // a packet that went in before wake_pending was cleared found it set and woke nobody: take it now,
  // unless the relay thread already saw it cleared and sent a wake-up of its own
  return from != to && !atomic_exchange(&e->wake_pending, 1);
}
