/* The loopback TCP floor of this machine: two processes (a fork) bounce a message over one
 * TCP connection on 127.0.0.1 with nothing else in the way: TCP_NODELAY, non-blocking sockets
 * polled in a busy loop, the same buffer sent and received, sends cut into `chunk`-byte
 * send() calls. What Kolo's or Open MPI's TCP ping-pong takes beyond this is theirs; the VM's
 * own drift shows in it too, so run it beside them.
 *   tcp_floor [min_bytes max_bytes iters warmup chunk]
 * Prints, per size (doubling), the median one-way time (half the round trip) in microseconds.
 * Exits 1 if the bytes that came back differ from those sent. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int cmp_double(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void die(const char* what) {
  perror(what);
  exit(2);
}

static void send_all(int fd, const char* p, size_t n, size_t chunk) {
  size_t off = 0;
  while (off < n) {
    size_t want = n - off < chunk ? n - off : chunk;
    ssize_t w = send(fd, p + off, want, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w > 0) off += (size_t)w;
    else if (w < 0 && errno != EAGAIN && errno != EINTR) die("send");
  }
}

static void recv_all(int fd, char* p, size_t n) {
  size_t off = 0;
  while (off < n) {
    ssize_t r = recv(fd, p + off, n - off, MSG_DONTWAIT);
    if (r > 0) off += (size_t)r;
    else if (r == 0) {
      fprintf(stderr, "tcp_floor: the peer closed the connection\n");
      exit(2);
    } else if (errno != EAGAIN && errno != EINTR) die("recv");
  }
}

/* Connects the child to the parent over 127.0.0.1; returns the connected socket. */
static int connect_pair(pid_t* child) {
  int one = 1, listener = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr;
  socklen_t len = sizeof addr;
  if (listener < 0) die("socket");
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, (struct sockaddr*)&addr, sizeof addr) != 0) die("bind");
  if (getsockname(listener, (struct sockaddr*)&addr, &len) != 0) die("getsockname");
  if (listen(listener, 1) != 0) die("listen");
  *child = fork();
  if (*child < 0) die("fork");
  int fd;
  if (*child == 0) {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr*)&addr, sizeof addr) != 0) die("connect");
  } else {
    fd = accept(listener, NULL, NULL);
    if (fd < 0) die("accept");
  }
  close(listener);
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

int main(int argc, char** argv) {
  size_t min_bytes = argc > 1 ? strtoull(argv[1], NULL, 10) : 8;
  size_t max_bytes = argc > 2 ? strtoull(argv[2], NULL, 10) : (size_t)16 << 20;
  int iters = argc > 3 ? atoi(argv[3]) : 200;
  int warmup = argc > 4 ? atoi(argv[4]) : 20;
  size_t chunk = argc > 5 ? strtoull(argv[5], NULL, 10) : (size_t)256 << 10;
  if (min_bytes == 0 || max_bytes < min_bytes || iters < 1 || warmup < 0 || chunk == 0) {
    fprintf(stderr, "usage: tcp_floor [min_bytes max_bytes iters warmup chunk]\n");
    return 2;
  }
  pid_t child;
  int fd = connect_pair(&child);
  char* buf = malloc(max_bytes);
  char* want = malloc(max_bytes);
  double* times = malloc(sizeof(double) * (size_t)iters);
  if (!buf || !want || !times) die("malloc");
  int wrong = 0;
  if (child != 0) printf("%12s %14s\n", "bytes", "one-way_us");
  for (size_t size = min_bytes; size <= max_bytes; size *= 2) {
    for (size_t i = 0; i < size; ++i) want[i] = (char)((i * 7 + size) & 0xff);
    for (int it = 0; it < warmup + iters; ++it) {
      if (child != 0) memcpy(buf, want, size);
      double start = now_us();
      if (child != 0) {
        send_all(fd, buf, size, chunk);
        recv_all(fd, buf, size);
      } else {
        recv_all(fd, buf, size);
        send_all(fd, buf, size, chunk);
      }
      double took = (now_us() - start) / 2;
      if (it >= warmup) times[it - warmup] = took;
      if (child != 0 && memcmp(buf, want, size) != 0) wrong = 1;
    }
    if (child != 0) {
      qsort(times, (size_t)iters, sizeof *times, cmp_double);
      printf("%12zu %14.2f\n", size, times[iters / 2]);
      fflush(stdout);
    }
  }
  close(fd);
  if (child == 0) return 0;
  int status = 0;
  waitpid(child, &status, 0);
  if (wrong) fprintf(stderr, "tcp_floor: the bytes that came back differ from those sent\n");
  return wrong || !WIFEXITED(status) || WEXITSTATUS(status) != 0;
}
