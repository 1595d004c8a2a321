/*
 * Token bucket arithmetic.
 */
#include "tbucket.h"

#include <math.h>

static void refill(struct tbucket *b, int64_t now_ms)
{
    if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * b->rate / 1000.0;
        if (b->tokens > b->burst)
            b->tokens = b->burst;
        b->last_ms = now_ms;
    }
}

void tbucket_init(struct tbucket *b, double rate, double burst, int64_t now_ms)
{
    b->rate = rate > 0 ? rate : 1;
    b->burst = burst >= 1 ? burst : 1;
    b->tokens = b->burst;
    b->last_ms = now_ms;
}

bool tbucket_take(struct tbucket *b, double n, int64_t now_ms)
{
    refill(b, now_ms);
    if (b->tokens + 1e-9 < n)
        return false;
    b->tokens -= n;
    return true;
}

int64_t tbucket_wait_ms(struct tbucket *b, double n, int64_t now_ms)
{
    refill(b, now_ms);
    if (b->tokens + 1e-9 >= n)
        return 0;
    return (int64_t)ceil((n - b->tokens) * 1000.0 / b->rate);
}
