/*
 * bench/policy-client.c: a Postfix policy client for benchmarks.
 *
 *   policy-client HOST PORT REQUESTS CONNECTIONS [BASE]
 *
 * CONNECTIONS connections, each sending REQUESTS/CONNECTIONS requests one
 * after another (as smtpd does: a request, then wait for its answer),
 * with triplets drawn from a pool of 5000 starting at BASE (default 0):
 * the first request of each triplet is new to the server, the rest find
 * it.  A round with a new BASE sends the same mix again.
 *
 * One thread drives every connection with epoll: the client's own CPU is
 * small and the same whatever the server (20 threads woke a thread for
 * each answer, and on 2 processors took a third of the time the server
 * had).  The clock starts when every connection is open.  Prints
 * requests/s, the 50th and 99th percentile latency in ms, and the
 * client's own CPU seconds.
 */
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define POOL 5000

typedef struct {
	int fd;
	long id;
	int sent;	/* requests sent */
	size_t got;	/* bytes of the answer so far */
	double t0;	/* when the request went */
	char buf[4096];
} Conn;

static int per;
static unsigned base;
static double *lat;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The connection's next request; 0: it has sent all of its share. */
static int
send_next(Conn *c)
{
	char req[512];
	unsigned k;
	int n, i = c->sent;

	if (i == per)
		return 0;
	k = base + (unsigned)(c->id * 7919 + (long)i * 104729) % POOL;
	n = snprintf(req, sizeof(req),
	    "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
	    "client_address=10.%u.%u.%u\nclient_name=unknown\nhelo_name=h%u.test\n"
	    "sender=s%u@sender%u.test\nrecipient=jo@example.test\nqueue_id=\n"
	    "instance=%lx.%d\nsize=0\n\n",
	    k / 250 % 250, k % 250, k % 200 + 1, k, k, k % 50, c->id, i);
	c->got = 0;
	c->t0 = now();
	if (write(c->fd, req, n) != n) {
		perror("write");
		exit(1);
	}
	c->sent++;
	return 1;
}

/* Reads what came; 1 when the answer (ending with an empty line) is whole. */
static int
take(Conn *c)
{
	ssize_t r = read(c->fd, c->buf + c->got, sizeof(c->buf) - c->got);

	if (r <= 0) {
		fprintf(stderr, "policy-client: connection %ld: %s\n", c->id,
		    r == 0 ? "closed" : "read error");
		exit(1);
	}
	c->got += r;
	return c->got >= 2 && memcmp(c->buf + c->got - 2, "\n\n", 2) == 0;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	    ru.ru_stime.tv_usec / 1e6;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct epoll_event ev[64];
	int conns, ep, active;
	Conn *c;
	double t0, secs, cpu0;
	size_t total;

	if (argc != 5 && argc != 6)
		return 64;
	sa.sin_port = htons(atoi(argv[2]));
	if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1)
		return 64;
	conns = atoi(argv[4]);
	if (conns < 1 || atoi(argv[3]) < conns)
		return 64;
	per = atoi(argv[3]) / conns;
	base = argc == 6 ? (unsigned)strtoul(argv[5], NULL, 10) : 0;
	total = (size_t)per * conns;
	lat = calloc(total, sizeof(double));
	c = calloc(conns, sizeof(Conn));
	ep = epoll_create1(0);
	if (lat == NULL || c == NULL || ep < 0)
		return 70;
	for (int i = 0; i < conns; i++) {
		struct epoll_event e = { .events = EPOLLIN, .data.ptr = &c[i] };

		c[i].id = i;
		c[i].fd = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(c[i].fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			perror("connect");
			return 1;
		}
		epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &e);
	}
	cpu0 = cpu_seconds();
	t0 = now();
	for (int i = 0; i < conns; i++)
		send_next(&c[i]);
	active = conns;
	while (active > 0) {
		int n = epoll_wait(ep, ev, 64, -1);

		for (int i = 0; i < n; i++) {
			Conn *x = ev[i].data.ptr;

			if (!take(x))
				continue;
			lat[x->id * per + x->sent - 1] = now() - x->t0;
			if (!send_next(x))
				active--;
		}
	}
	secs = now() - t0;
	qsort(lat, total, sizeof(double), cmp);
	printf("%.0f %.3f %.3f %.2f\n", total / secs, lat[total / 2] * 1000,
	    lat[(size_t)(total * 0.99)] * 1000, cpu_seconds() - cpu0);
	return 0;
}
