/*
 * bench/policy-client.c: a Postfix policy client for benchmarks.
 *
 *   policy-client HOST PORT REQUESTS CONNECTIONS
 *
 * CONNECTIONS threads, each on its own connection, each sending
 * REQUESTS/CONNECTIONS requests one after another (as smtpd does: a
 * request, then wait for its answer), with triplets drawn from a fixed
 * pool so that the server both creates and finds entries.  Prints
 * requests/s and the 50th and 99th percentile latency.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *host;
static int port, per;
static double *lat;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *
run(void *arg)
{
	long id = (long)arg;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	char req[512], buf[4096];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, host, &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("connect");
		exit(1);
	}
	for (int i = 0; i < per; i++) {
		unsigned k = (unsigned)(id * 7919 + i * 104729) % 5000;
		int n = snprintf(req, sizeof(req),
		    "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
		    "client_address=10.%u.%u.%u\nclient_name=unknown\nhelo_name=h%u.test\n"
		    "sender=s%u@sender%u.test\nrecipient=jo@example.test\nqueue_id=\n"
		    "instance=%lx.%d\nsize=0\n\n",
		    k / 250 % 250, k % 250, k % 200 + 1, k, k, k % 50, id, i);
		size_t got = 0;
		double t0 = now();

		if (write(fd, req, n) != n)
			exit(1);
		/* the answer ends with an empty line */
		while (got < 2 || memcmp(buf + got - 2, "\n\n", 2) != 0) {
			ssize_t r = read(fd, buf + got, sizeof(buf) - got);

			if (r <= 0)
				exit(1);
			got += r;
		}
		lat[id * per + i] = now() - t0;
	}
	close(fd);
	return NULL;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	int total, conns;
	pthread_t *t;
	double t0, secs;

	if (argc != 5)
		return 64;
	host = argv[1];
	port = atoi(argv[2]);
	total = atoi(argv[3]);
	conns = atoi(argv[4]);
	per = total / conns;
	lat = calloc((size_t)per * conns, sizeof(double));
	t = calloc(conns, sizeof(pthread_t));
	t0 = now();
	for (long i = 0; i < conns; i++)
		pthread_create(&t[i], NULL, run, (void *)i);
	for (int i = 0; i < conns; i++)
		pthread_join(t[i], NULL);
	secs = now() - t0;
	qsort(lat, (size_t)per * conns, sizeof(double), cmp);
	printf("%.0f %.3f %.3f\n", per * conns / secs, lat[per * conns / 2] * 1000,
	    lat[(size_t)(per * conns * 0.99)] * 1000);
	return 0;
}
