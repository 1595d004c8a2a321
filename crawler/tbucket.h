/*
 * Token bucket: a sustained rate with a burst allowance. Server shapers cap
 * what one c2s account may send (Prosody's default 10 kB/s is about 50
 * disco#info/s, ejabberd about 15/s), so every account paces its sends
 * through one of these instead of letting libstrophe's unbounded send
 * queue grow. Pure arithmetic on a caller-supplied monotonic clock.
 */
#ifndef XC_TBUCKET_H
#define XC_TBUCKET_H

#include <stdbool.h>
#include <stdint.h>

struct tbucket {
    double rate;   /* tokens per second, > 0 */
    double burst;  /* capacity, >= 1 */
    double tokens; /* available now */
    int64_t last_ms;
};

/* Starts full at time now_ms. */
void tbucket_init(struct tbucket *b, double rate, double burst, int64_t now_ms);
/* Takes n tokens if available at now_ms; returns whether it did. */
bool tbucket_take(struct tbucket *b, double n, int64_t now_ms);
/* Milliseconds from now_ms until n tokens are available (0 if now). */
int64_t tbucket_wait_ms(struct tbucket *b, double n, int64_t now_ms);

#endif
