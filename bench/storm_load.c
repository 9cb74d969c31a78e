// SPDX-License-Identifier: Apache-2.0
/*
 * The storm's load generators (bench/storm.py compiles this with cc):
 *
 *   storm_load open PATH SECONDS       open(PATH) and close it in a loop, as fast as it can
 *   storm_load pace PATH RATE SECONDS  the same, RATE times a second (bench/detect_delivery.py)
 *   storm_load fork RATE SECONDS PROG  fork, exec PROG (no arguments), wait: RATE times a second
 *
 * Both stop by themselves after SECONDS and print how many iterations they did.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "open") == 0) {
		double end = now() + atof(argv[3]);
		unsigned long n = 0;
		while (1) {
			for (int i = 0; i < 1000; i++) {
				int fd = open(argv[2], O_RDONLY);
				if (fd >= 0)
					close(fd);
			}
			n += 1000;
			if (now() >= end)
				break;
		}
		printf("open %lu\n", n);
		return 0;
	}
	if (argc >= 5 && strcmp(argv[1], "pace") == 0) {
		double rate = atof(argv[3]);
		double start = now(), end = start + atof(argv[4]);
		unsigned long n = 0;
		/* Batches of 50 opens, then a sleep back onto the schedule: the rate holds without a
		 * timer call per open. */
		while (now() < end) {
			for (int i = 0; i < 50; i++) {
				int fd = open(argv[2], O_RDONLY);
				if (fd >= 0)
					close(fd);
			}
			n += 50;
			double d = start + n / rate - now();
			if (d > 0) {
				struct timespec ts = {(time_t)d, (long)((d - (time_t)d) * 1e9)};
				nanosleep(&ts, NULL);
			}
		}
		printf("pace %lu %.3f\n", n, now() - start);
		return 0;
	}
	if (argc >= 5 && strcmp(argv[1], "fork") == 0) {
		double rate = atof(argv[2]);
		double start = now(), end = start + atof(argv[3]);
		unsigned long n = 0;
		while (now() < end) {
			pid_t pid = fork();
			if (pid == 0) {
				execl(argv[4], argv[4], (char *)NULL);
				_exit(127);
			}
			if (pid > 0)
				waitpid(pid, NULL, 0);
			n++;
			double next = start + n / rate;
			double d = next - now();
			if (d > 0) {
				struct timespec ts = {(time_t)d, (long)((d - (time_t)d) * 1e9)};
				nanosleep(&ts, NULL);
			}
		}
		printf("fork %lu\n", n);
		return 0;
	}
	fprintf(stderr, "usage: storm_load open PATH SECONDS | pace PATH RATE SECONDS | fork RATE SECONDS PROG\n");
	return 2;
}
