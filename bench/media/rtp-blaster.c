// rtp-blaster: the RTP load of bench/media-relay.ts, built with `cc -O2` when the bench runs.
//
// Every call has two streams, the caller's (A) and the callee's (B). Each stream sends from its own
// 127.0.0.1 port to the server's relay port for its leg, and receives on that same port what the server
// relays from the other stream (symmetric RTP, which the server's latching expects). Packets carry their
// send time, so the one-way delay through the server is measured without any clock but our own.
//
// usage: rtp-blaster CALLS SECONDS PORTS_FILE PAIRS_FILE
//   1. binds 2 x CALLS sockets on 127.0.0.1 (ports from the kernel, so nobody can take them while the
//      calls are set up) and writes "PORT_A PORT_B" per call to PORTS_FILE; prints "bound" on stderr;
//   2. waits for SIGUSR1 (at most GO_TIMEOUT_SECONDS), then reads PAIRS_FILE: per call, in the same order,
//      "SERVER_IP_A SERVER_PORT_A SERVER_IP_B SERVER_PORT_B", or "-" for a call that carries no media;
//   3. prints "sending" on stderr, sends for SECONDS and prints one JSON object on stdout.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PERIOD_NS 20000000LL             // one PCMU frame: 160 samples at 8 kHz
#define TICK_NS 250000LL                 // how often the loop wakes: sends are at most this late
#define START_DELAY_NS 50000000LL        // lets "sending" reach the bench before the first packet
#define DRAIN_NS 2000000000LL            // packets later than this after the last send count as lost
#define HEADER_BYTES 12
#define PAYLOAD_BYTES 160
#define PACKET_BYTES (HEADER_BYTES + PAYLOAD_BYTES)
#define STAMP_BYTES 8
#define SEND_BATCH 16                    // packets a late stream owes, sent in one sendmmsg
#define RECV_BATCH 16
#define EPOLL_BATCH 1024
#define MAX_CALLS 20000
#define MAX_SECONDS 1200                 // keeps a stream's packet count below 2^16: sequence offsets stay unambiguous
#define PCMU_SILENCE 0xFF
#define NOT_RECEIVED UINT32_MAX
#define MAX_DELAY_US (UINT32_MAX - 1)
#define WATCHDOG_EXTRA_SECONDS 15        // SIGALRM ends the process whatever happens
#define GO_TIMEOUT_SECONDS 900            // call set-up of the largest runs takes minutes, not this long

struct stream {
  int fd;
  struct sockaddr_in server;
  uint32_t ssrc;
  uint16_t first_seq;
  uint32_t first_timestamp;
  int64_t offset_ns;                     // where in the 20 ms period this stream sends
  uint32_t sent;
  // What arrives on this stream's socket: the other stream of the call, relayed by the server.
  uint32_t *delay_us;                    // by sequence offset of the other stream
  uint32_t received;
  uint32_t duplicates;
  uint32_t reordered;
  uint32_t foreign;                      // another stream's SSRC, or a sequence number never sent
  uint32_t malformed;                    // not a 172-byte PCMU packet with our payload
  int32_t highest_offset;
};

static struct stream *streams;
static size_t stream_count;
static uint32_t packets_per_stream;
static int64_t start_ns;

static uint8_t send_buffers[SEND_BATCH][PACKET_BYTES];
static struct iovec send_iov[SEND_BATCH];
static struct mmsghdr send_msgs[SEND_BATCH];
static uint8_t recv_buffers[RECV_BATCH][PACKET_BYTES + 1];  // + 1: a longer datagram shows as malformed
static char recv_control[RECV_BATCH][CMSG_SPACE(sizeof(struct timespec))];
static struct iovec recv_iov[RECV_BATCH];
static struct mmsghdr recv_msgs[RECV_BATCH];
static struct epoll_event events[EPOLL_BATCH];
static uint8_t silence[PAYLOAD_BYTES - STAMP_BYTES];

static uint64_t sent_total;
static uint64_t received_total;
static uint64_t send_errors;
static uint64_t catch_up_batches;        // sendmmsg calls that carried more than one packet
static int64_t max_send_lag_ns;

static void fail(const char *what) {
  fprintf(stderr, "rtp-blaster: %s: %s\n", what, strerror(errno));
  exit(2);
}

static int64_t clock_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

static uint32_t random32(void) {
  uint32_t value;
  if (getrandom(&value, sizeof value, 0) != sizeof value) fail("getrandom");
  return value;
}

static void fail_with(const char *what) {
  fprintf(stderr, "rtp-blaster: %s\n", what);
  exit(2);
}

static int open_socket(void) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("socket");
  // Kernel receive times: the delay we report must not include how late this loop drains its sockets.
  int on = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) < 0) fail("SO_TIMESTAMPNS");
  struct sockaddr_in local = {.sin_family = AF_INET};
  inet_pton(AF_INET, "127.0.0.1", &local.sin_addr);
  if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0) fail("bind 127.0.0.1");
  return fd;
}

static int port_of(int fd) {
  struct sockaddr_in local;
  socklen_t length = sizeof local;
  if (getsockname(fd, (struct sockaddr *)&local, &length) < 0) fail("getsockname");
  return ntohs(local.sin_port);
}

/** Opens both sockets of every call and publishes their ports, atomically, in `file`. */
static void bind_all(size_t calls, const char *file) {
  stream_count = 2 * calls;
  streams = calloc(stream_count, sizeof *streams);
  if (!streams) fail("out of memory for the streams");
  char temporary[4096];
  snprintf(temporary, sizeof temporary, "%s.tmp", file);
  FILE *out = fopen(temporary, "w");
  if (!out) fail(temporary);
  for (size_t c = 0; c < calls; c++) {
    streams[2 * c].fd = open_socket();
    streams[2 * c + 1].fd = open_socket();
    fprintf(out, "%d %d\n", port_of(streams[2 * c].fd), port_of(streams[2 * c + 1].fd));
  }
  if (fclose(out) != 0 || rename(temporary, file) != 0) fail(file);
}

static void wait_for_go(void) {
  sigset_t go;
  sigemptyset(&go);
  sigaddset(&go, SIGUSR1);
  struct timespec limit = {.tv_sec = GO_TIMEOUT_SECONDS};
  while (sigtimedwait(&go, NULL, &limit) < 0) {
    if (errno == EAGAIN) fail_with("no go signal in time");
    if (errno != EINTR) fail("sigtimedwait");
  }
}

static void set_server(struct stream *s, const char *ip, int port) {
  s->server.sin_family = AF_INET;
  s->server.sin_port = htons((uint16_t)port);
  if (port < 1 || port > 65535 || inet_pton(AF_INET, ip, &s->server.sin_addr) != 1) {
    fprintf(stderr, "rtp-blaster: not an IPv4 address and port: %s %d\n", ip, port);
    exit(2);
  }
}

/** Reads where the server relays each call and keeps the calls that carry media, in order, at the front. */
static size_t read_pairs(const char *file, size_t calls) {
  FILE *in = fopen(file, "r");
  if (!in) fail(file);
  size_t kept = 0;
  char line[256];
  for (size_t c = 0; c < calls; c++) {
    if (!fgets(line, sizeof line, in)) fail_with("PAIRS_FILE has fewer lines than CALLS");
    char ip_a[64], ip_b[64];
    int port_a, port_b;
    if (line[0] == '-') {
      close(streams[2 * c].fd);
      close(streams[2 * c + 1].fd);
      continue;
    }
    if (sscanf(line, "%63s %d %63s %d", ip_a, &port_a, ip_b, &port_b) != 4) fail_with("PAIRS_FILE: want SERVER_IP_A PORT SERVER_IP_B PORT or -");
    streams[2 * kept] = (struct stream){.fd = streams[2 * c].fd};
    streams[2 * kept + 1] = (struct stream){.fd = streams[2 * c + 1].fd};
    set_server(&streams[2 * kept], ip_a, port_a);
    set_server(&streams[2 * kept + 1], ip_b, port_b);
    kept++;
  }
  fclose(in);
  stream_count = 2 * kept;
  return kept;
}

/** Per stream: identifiers, its slot in the period and its row of the delay table. */
static void prepare_streams(void) {
  uint32_t *delays = malloc(stream_count * packets_per_stream * sizeof *delays + 1);
  if (!delays) fail("out of memory for the delay table");
  memset(delays, 0xFF, stream_count * packets_per_stream * sizeof *delays);
  for (size_t i = 0; i < stream_count; i++) {
    struct stream *s = &streams[i];
    s->ssrc = random32();
    s->first_seq = (uint16_t)random32();
    s->first_timestamp = random32();
    s->delay_us = delays + i * packets_per_stream;
    s->highest_offset = -1;
    // Streams spread evenly over the period, so the server gets a steady flow instead of bursts.
    s->offset_ns = (int64_t)i * PERIOD_NS / (int64_t)stream_count;
  }
}

static void write_packet(uint8_t *p, const struct stream *s, uint32_t index, int64_t stamp) {
  uint16_t seq = (uint16_t)(s->first_seq + index);
  uint32_t timestamp = s->first_timestamp + index * PAYLOAD_BYTES;
  uint32_t ssrc = s->ssrc;
  p[0] = 0x80;                           // version 2
  p[1] = index == 0 ? 0x80 : 0x00;       // marker on the first packet, payload type 0 (PCMU)
  p[2] = (uint8_t)(seq >> 8);
  p[3] = (uint8_t)seq;
  for (int i = 0; i < 4; i++) p[4 + i] = (uint8_t)(timestamp >> (24 - 8 * i));
  for (int i = 0; i < 4; i++) p[8 + i] = (uint8_t)(ssrc >> (24 - 8 * i));
  memcpy(p + HEADER_BYTES, &stamp, STAMP_BYTES);
}

/** Sends every packet of `s` due by `now`: normally one; after a stall, what it owes in batches. */
static void send_owed(struct stream *s, int64_t now) {
  int64_t elapsed = now - start_ns - s->offset_ns;
  if (elapsed < 0) return;
  int64_t due = elapsed / PERIOD_NS + 1;
  if (due > packets_per_stream) due = packets_per_stream;
  int64_t lag = elapsed - (int64_t)s->sent * PERIOD_NS;
  if (lag > max_send_lag_ns) max_send_lag_ns = lag;
  while ((int64_t)s->sent < due) {
    unsigned count = (unsigned)(due - s->sent < SEND_BATCH ? due - s->sent : SEND_BATCH);
    int64_t stamp = now_ns();
    for (unsigned i = 0; i < count; i++) {
      write_packet(send_buffers[i], s, s->sent + i, stamp);
      send_msgs[i].msg_hdr.msg_name = &s->server;
      send_msgs[i].msg_hdr.msg_namelen = sizeof s->server;
    }
    int done = sendmmsg(s->fd, send_msgs, count, 0);
    if (count > 1) catch_up_batches++;
    // A packet the kernel refused is still "sent" as far as sequence numbers go: the receiver sees a gap.
    if (done < (int)count) send_errors += count - (done < 0 ? 0 : (unsigned)done);
    s->sent += count;
    sent_total += count;
  }
}

static void take_packet(struct stream *r, const uint8_t *p, unsigned length, int64_t arrival) {
  const struct stream *peer = &streams[(size_t)(r - streams) ^ 1];
  if (length != PACKET_BYTES || (p[0] & 0xC0) != 0x80 || (p[1] & 0x7F) != 0 ||
      memcmp(p + HEADER_BYTES + STAMP_BYTES, silence, sizeof silence) != 0) {
    r->malformed++;
    return;
  }
  uint32_t ssrc = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 | p[11];
  uint16_t offset = (uint16_t)(((uint16_t)(p[2] << 8 | p[3])) - peer->first_seq);
  if (ssrc != peer->ssrc || offset >= peer->sent) {
    r->foreign++;
    return;
  }
  int64_t stamp;
  memcpy(&stamp, p + HEADER_BYTES, STAMP_BYTES);
  int64_t delay = (arrival - stamp) / 1000;
  if (delay < 0) delay = 0;
  if (delay > MAX_DELAY_US) delay = MAX_DELAY_US;
  if (r->delay_us[offset] != NOT_RECEIVED) {
    r->duplicates++;
    return;
  }
  r->delay_us[offset] = (uint32_t)delay;
  r->received++;
  received_total++;
  if ((int32_t)offset < r->highest_offset) r->reordered++;
  else r->highest_offset = offset;
}

static void receive_ready(int epoll_fd) {
  // Kernel stamps are CLOCK_REALTIME; packets carry CLOCK_MONOTONIC. Sampled per drain, so slewing cannot add up.
  int64_t mono_before = now_ns();
  int64_t realtime = clock_ns(CLOCK_REALTIME);
  int64_t mono_now = now_ns();
  int64_t realtime_minus_mono = realtime - (mono_before + mono_now) / 2;
  for (size_t rounds = 0; rounds <= stream_count / EPOLL_BATCH; rounds++) {
    int ready = epoll_wait(epoll_fd, events, EPOLL_BATCH, 0);
    if (ready < 0 && errno != EINTR) fail("epoll_wait");
    for (int e = 0; e < ready; e++) {
      struct stream *r = &streams[events[e].data.u32];
      for (int i = 0; i < RECV_BATCH; i++) {
        recv_msgs[i].msg_hdr.msg_control = recv_control[i];
        recv_msgs[i].msg_hdr.msg_controllen = sizeof recv_control[i];
      }
      int n = recvmmsg(r->fd, recv_msgs, RECV_BATCH, MSG_DONTWAIT, NULL);
      for (int i = 0; i < n; i++) {
        int64_t arrival = mono_now;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&recv_msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&recv_msgs[i].msg_hdr, c)) {
          if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(c), sizeof ts);
            arrival = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec - realtime_minus_mono;
          }
        }
        take_packet(r, recv_buffers[i], recv_msgs[i].msg_len, arrival);
      }
    }
    if (ready < EPOLL_BATCH) break;
  }
}

static int compare_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/** Nearest rank, like bench/statistics.ts; `sorted` ascending. */
static long long quantile(const uint32_t *sorted, size_t n, double q) {
  if (n == 0) return -1;
  size_t rank = (size_t)(q * (double)n + 0.999999999);
  if (rank < 1) rank = 1;
  if (rank > n) rank = n;
  return sorted[rank - 1];
}

static double cpu_seconds(void) {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return (double)usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + (double)usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
}

static void raise_file_limit(size_t needed) {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= needed) return;
  limit.rlim_cur = needed < limit.rlim_max ? needed : limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: rtp-blaster CALLS SECONDS PORTS_FILE PAIRS_FILE\n");
    return 2;
  }
  long calls_asked = atol(argv[1]);
  int seconds = atoi(argv[2]);
  if (calls_asked < 1 || calls_asked > MAX_CALLS) fail_with("CALLS out of range");
  if (seconds < 1 || seconds > MAX_SECONDS) fail_with("SECONDS out of range");
  // Blocked before anything else, so a go that comes early waits for sigtimedwait instead of killing us.
  sigset_t go;
  sigemptyset(&go);
  sigaddset(&go, SIGUSR1);
  sigprocmask(SIG_BLOCK, &go, NULL);
  raise_file_limit(2 * (size_t)calls_asked + 64);
  bind_all((size_t)calls_asked, argv[3]);
  fprintf(stderr, "bound\n");
  wait_for_go();
  alarm((unsigned)seconds + WATCHDOG_EXTRA_SECONDS);

  packets_per_stream = (uint32_t)((int64_t)seconds * 1000000000LL / PERIOD_NS);
  size_t calls = read_pairs(argv[4], (size_t)calls_asked);
  if (calls == 0) fail_with("no call carries media");
  prepare_streams();
  memset(silence, PCMU_SILENCE, sizeof silence);
  for (int i = 0; i < SEND_BATCH; i++) {
    memset(send_buffers[i], PCMU_SILENCE, PACKET_BYTES);
    send_iov[i] = (struct iovec){.iov_base = send_buffers[i], .iov_len = PACKET_BYTES};
    send_msgs[i].msg_hdr.msg_iov = &send_iov[i];
    send_msgs[i].msg_hdr.msg_iovlen = 1;
  }
  for (int i = 0; i < RECV_BATCH; i++) {
    recv_iov[i] = (struct iovec){.iov_base = recv_buffers[i], .iov_len = sizeof recv_buffers[i]};
    recv_msgs[i].msg_hdr.msg_iov = &recv_iov[i];
    recv_msgs[i].msg_hdr.msg_iovlen = 1;
  }
  int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) fail("epoll_create1");
  for (size_t i = 0; i < stream_count; i++) {
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, streams[i].fd, &ev) < 0) fail("epoll_ctl");
  }

  start_ns = now_ns() + START_DELAY_NS;
  int64_t send_end = start_ns + (int64_t)packets_per_stream * PERIOD_NS;
  int64_t stop = send_end + DRAIN_NS;
  // Every wake moves the deadline by at least one tick, so this bounds the loop as well as `stop` does.
  int64_t max_wakes = (stop - start_ns) / TICK_NS + 2;
  // Send slots in time order across all streams: slot k is stream k % n's packet k / n.
  uint64_t total_slots = (uint64_t)stream_count * packets_per_stream;
  uint64_t next_slot = 0;
  fprintf(stderr, "sending\n");
  double cpu_start = cpu_seconds();
  double send_cpu = 0;
  double send_wall = 0;
  int64_t deadline = start_ns;
  for (int64_t wake = 0; wake < max_wakes; wake++) {
    struct timespec at = {.tv_sec = deadline / 1000000000LL, .tv_nsec = deadline % 1000000000LL};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) == EINTR) {}
    int64_t now = now_ns();
    if (now >= send_end && send_wall == 0) {
      send_cpu = cpu_seconds() - cpu_start;
      send_wall = (double)(now - start_ns) / 1e9;
    }
    if (now >= stop || (next_slot == total_slots && received_total == sent_total)) break;
    while (next_slot < total_slots) {
      struct stream *s = &streams[next_slot % stream_count];
      uint32_t index = (uint32_t)(next_slot / stream_count);
      if (start_ns + s->offset_ns + (int64_t)index * PERIOD_NS > now) break;
      if (s->sent <= index) send_owed(s, now);
      next_slot++;
    }
    receive_ready(epoll_fd);
    deadline += TICK_NS;
    if (deadline <= now) deadline = now + TICK_NS - (now - start_ns) % TICK_NS;
  }
  if (send_wall == 0) {
    send_cpu = cpu_seconds() - cpu_start;
    send_wall = (double)(now_ns() - start_ns) / 1e9;
  }

  uint64_t sent = 0, received = 0, duplicates = 0, reordered = 0, foreign = 0, malformed = 0, silent = 0;
  for (size_t i = 0; i < stream_count; i++) {
    struct stream *s = &streams[i];
    sent += s->sent;
    received += s->received;
    duplicates += s->duplicates;
    reordered += s->reordered;
    foreign += s->foreign;
    malformed += s->malformed;
    if (s->received == 0) silent++;
  }
  uint32_t *all = malloc((received + 1) * sizeof *all);
  uint32_t *deviation = malloc((received + 1) * sizeof *deviation);
  uint32_t *own = malloc((packets_per_stream + 1) * sizeof *own);
  if (!all || !deviation || !own) fail("out of memory for the statistics");
  size_t n_all = 0;
  for (size_t i = 0; i < stream_count; i++) {
    struct stream *r = &streams[i];
    size_t n_own = 0;
    for (uint32_t k = 0; k < packets_per_stream; k++) {
      if (r->delay_us[k] != NOT_RECEIVED) own[n_own++] = r->delay_us[k];
    }
    if (n_own == 0) continue;
    memcpy(all + n_all, own, n_own * sizeof *own);
    qsort(own, n_own, sizeof *own, compare_u32);
    uint32_t median = own[(n_own + 1) / 2 - 1];
    for (size_t k = 0; k < n_own; k++) {
      uint32_t d = all[n_all + k];
      deviation[n_all + k] = d > median ? d - median : median - d;
    }
    n_all += n_own;
  }
  qsort(all, n_all, sizeof *all, compare_u32);
  qsort(deviation, n_all, sizeof *deviation, compare_u32);
  uint64_t lost = sent - received;

  printf("{\"calls\":%zu,\"streams\":%zu,\"seconds\":%d,\"expected\":%llu,\"sent\":%llu,\"received\":%llu,\"lost\":%llu,\"lossRatio\":%.9f,"
         "\"duplicates\":%llu,\"reordered\":%llu,\"foreign\":%llu,\"malformed\":%llu,\"silentStreams\":%llu,\"sendErrors\":%llu,"
         "\"delayUs\":{\"p50\":%lld,\"p99\":%lld,\"max\":%lld},\"addedJitterUs\":{\"p99\":%lld},"
         "\"maxSendLagUs\":%.1f,\"catchUpBatches\":%llu,\"cpuPercent\":%.2f,\"sendSeconds\":%.3f}\n",
         calls, stream_count, seconds, (unsigned long long)stream_count * packets_per_stream, (unsigned long long)sent, (unsigned long long)received, (unsigned long long)lost,
         sent == 0 ? 0.0 : (double)lost / (double)sent, (unsigned long long)duplicates, (unsigned long long)reordered,
         (unsigned long long)foreign, (unsigned long long)malformed, (unsigned long long)silent, (unsigned long long)send_errors,
         quantile(all, n_all, 0.5), quantile(all, n_all, 0.99), n_all ? (long long)all[n_all - 1] : -1LL,
         quantile(deviation, n_all, 0.99), max_send_lag_ns / 1000.0, (unsigned long long)catch_up_batches,
         send_wall > 0 ? 100.0 * send_cpu / send_wall : 0.0, send_wall);
  return 0;
}
